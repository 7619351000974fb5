"""A realistic synthetic market, so that a new user sees recommendations at once.

Companies have their head offices in the three big metropolitan areas (Tokyo, Osaka, Nagoya); advisers live
all over Japan; needs are posted by real 過疎 municipalities. Everything is drawn from a fixed seed and
written under fixed ids (co_demo_…, adv_demo_…, need_demo_…), so loading again changes nothing.

`small` (100 companies, 60 advisers, needs of 80 過疎 municipalities) is for trying the API; `large` adds to it,
from a seed of its own, up to 2,000 companies, 500 advisers and needs of every 過疎 municipality, for benchmarks
and reviews. The small market is part of the large one, so either loads over the other.
"""

import random
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Adviser, Company, FieldOfWork, Municipality, Need
from common.models.matching import AdviserType, Market

SEED, LARGE_SEED = 2023, 2000
LOADED_AT = datetime(2023, 4, 1, tzinfo=UTC)
COMPANIES_PER_AREA = {"tokyo": 60, "osaka": 25, "nagoya": 15}
LARGE_COMPANIES_PER_AREA = {"tokyo": 1140, "osaka": 475, "nagoya": 285}  # with the small ones: 2,000
ADVISERS, LARGE_ADVISERS = 60, 440  # 500 in all
HOST_MUNICIPALITIES = 80
SIZES = ("small", "large")
HEAD_OFFICE_TYPES = ("special_ward", "designated_city", "city")
AREA_PREFIX = {"tokyo": "", "osaka": "関西", "nagoya": "中部"}  # names are unique within the market
NAME_HEADS = [
    "みらい",
    "あおぞら",
    "さくら",
    "ひかり",
    "つばさ",
    "やまびこ",
    "なないろ",
    "こだま",
    "いろは",
    "ことぶき",
]
NAME_TAILS = [
    "テック",
    "ソリューションズ",
    "デザイン",
    "コンサルティング",
    "ラボ",
    "エナジー",
    "ネットワークス",
    "商事",
]
ADVISER_FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田"]
ADVISER_GIVEN = ["健一", "美咲", "大輔", "陽子", "翔太", "由美", "誠", "彩", "拓也", "恵"]
NEED_TITLES = {
    "tourism": "観光振興：滞在型観光の企画と誘客",
    "ict_digital": "ICT・デジタル：役場業務のDXと人材育成",
    "local_economy": "地域経済活性化：事業承継と創業支援",
    "local_products": "地域産品の開発・販路拡大",
    "town_centre": "中心市街地活性化：空き店舗の活用",
    "energy_decarbonisation": "エネルギー・脱炭素：地域新電力の検討",
    "agriculture_forestry_fisheries": "農林水産業：スマート農業と6次産業化",
    "migration_settlement": "移住・定住：お試し住宅と移住相談",
    "childcare_education": "子育て・教育：ICTを活かした学び",
    "medical_welfare": "医療・福祉：見守りと遠隔医療",
}


Profile = TypeVar("Profile", Company, Adviser, Need)


def _fixed(row: Profile) -> Profile:
    row.created_at = row.updated_at = LOADED_AT
    return row


async def _municipalities(session: AsyncSession, *conditions: Any) -> list[Municipality]:
    query = select(Municipality).where(Municipality.type != "prefecture", *conditions).order_by(Municipality.code)
    return list((await session.exec(query)).all())


def _names(rng: random.Random, area: str, count: int, numbered: bool) -> list[str]:
    """`count` distinct company names of the area; numbered ones (the large market's) never meet the small's."""
    if not numbered:
        return rng.sample(
            [f"{AREA_PREFIX[area]}{head}{tail}株式会社" for head in NAME_HEADS for tail in NAME_TAILS], count
        )
    return [f"{AREA_PREFIX[area]}{rng.choice(NAME_HEADS)}{rng.choice(NAME_TAILS)}{n:04d}株式会社" for n in range(count)]


def _companies(
    rng: random.Random,
    heads_by_area: dict[str, list[Municipality]],
    fields: list[str],
    prefectures: list[str],
    per_area: dict[str, int] = COMPANIES_PER_AREA,
    id_prefix: str = "co_demo_",
    first: int = 1,
) -> list[Company]:
    companies: list[Company] = []
    for area, count in per_area.items():
        for name in _names(rng, area, count, numbered=id_prefix != "co_demo_"):
            number = len(companies) + first
            markets = rng.choice(
                [[Market.kigyojin], [Market.satellite_office], [Market.kigyojin, Market.satellite_office]]
            )
            companies.append(
                _fixed(
                    Company(
                        id=f"{id_prefix}{number:03d}",
                        name=name,
                        municipality_code=rng.choice(heads_by_area[area]).code,
                        markets=markets,
                        fields=rng.sample(fields, rng.randint(1, 3)),
                        capacity=rng.randint(1, 3),
                        dispatch_months=rng.choice([6, 12, 24, 36]) if Market.kigyojin in markets else None,
                        track_record=rng.randint(0, 15),
                        preferred_prefectures=rng.sample(prefectures, rng.randint(0, 2)),
                        description="合成データ (demo): 地方への人材派遣・サテライトオフィス開設を検討中",
                    )
                )
            )
    return companies


def _advisers(
    rng: random.Random,
    homes: list[Municipality],
    fields: list[str],
    count: int = ADVISERS,
    id_prefix: str = "adv_demo_",
    first: int = 1,
) -> list[Adviser]:
    return [
        _fixed(
            Adviser(
                id=f"{id_prefix}{number:03d}",
                name=f"{rng.choice(ADVISER_FAMILY)} {rng.choice(ADVISER_GIVEN)}",
                adviser_type=AdviserType.municipal_staff if rng.random() < 0.1 else AdviserType.private_expert,
                municipality_code=rng.choice(homes).code,
                fields=rng.sample(fields, rng.randint(1, 3)),
                capacity=rng.randint(1, 4),
                experience_years=rng.randint(1, 30),
                description="合成データ (demo): 地域力創造アドバイザー",
            )
        )
        for number in range(first, first + count)
    ]


def _needs(rng: random.Random, hosts: list[Municipality], id_prefix: str = "need_demo_") -> list[Need]:
    needs: list[Need] = []
    for host in hosts:
        for market in rng.sample(list(Market), rng.randint(1, 2)):
            field = rng.choice(sorted(NEED_TITLES))
            needs.append(
                _fixed(
                    Need(
                        id=f"{id_prefix}{len(needs) + 1:03d}",
                        municipality_code=host.code,
                        market=market,
                        title=NEED_TITLES[field],
                        fields=[field, *rng.sample(sorted(NEED_TITLES), 1)],
                        capacity=rng.randint(1, 2),
                        dispatch_months=12 if market == Market.kigyojin else None,
                        description=f"合成データ (demo): {host.name}の課題",
                    )
                )
            )
            needs[-1].fields = list(dict.fromkeys(needs[-1].fields))
    return needs


async def _upsert(session: AsyncSession, rows: list[Profile]) -> None:
    """Add the rows; those already there (an earlier load) are merged, so loading again changes nothing."""
    if not rows:
        return
    model = type(rows[0])
    present = set((await session.exec(select(model.id).where(col(model.id).in_([row.id for row in rows])))).all())
    session.add_all([row for row in rows if row.id not in present])
    for row in rows:
        if row.id in present:
            await session.merge(row)


async def load_demo_data(session: AsyncSession, size: str = "small") -> dict[str, Any]:
    """Upsert the demo market of `size` (small or large); how many rows of each kind it holds, and a host to try."""
    if size not in SIZES:
        raise ValueError(f"size is one of {', '.join(SIZES)}")
    rng = random.Random(SEED)
    fields = sorted((await session.exec(select(FieldOfWork.code))).all())
    if not fields:
        raise RuntimeError("the fields-of-work vocabulary is empty: run `chiiki data load` first")
    cities = col(Municipality.type).in_(HEAD_OFFICE_TYPES)
    heads_by_area = {
        area: await _municipalities(session, Municipality.metro_area == area, cities) for area in COMPANIES_PER_AREA
    }
    everyone = await _municipalities(session)
    prefectures = sorted({m.pref_code for m in everyone})
    kaso = await _municipalities(session, col(Municipality.kaso_type).is_not(None))

    companies = _companies(rng, heads_by_area, fields, prefectures)
    advisers = _advisers(rng, everyone, fields)
    small_hosts = rng.sample(kaso, HOST_MUNICIPALITIES)
    needs = _needs(rng, small_hosts)
    if size == "large":
        more = random.Random(LARGE_SEED)
        companies += _companies(
            more, heads_by_area, fields, prefectures, LARGE_COMPANIES_PER_AREA, "co_demo_l", len(companies) + 1
        )
        advisers += _advisers(more, everyone, fields, LARGE_ADVISERS, "adv_demo_l", len(advisers) + 1)
        taken = {host.code for host in small_hosts}
        needs += _needs(more, [host for host in kaso if host.code not in taken], "need_demo_l")
    await _upsert(session, companies)
    await _upsert(session, advisers)
    await _upsert(session, needs)
    await session.flush()
    return {
        "companies": len(companies),
        "advisers": len(advisers),
        "needs": len(needs),
        "municipalities_with_needs": len({need.municipality_code for need in needs}),
        "example_municipality": next(n.municipality_code for n in needs if n.market == Market.kigyojin),
    }
