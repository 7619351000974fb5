"""A realistic synthetic market, so that a new user sees recommendations at once.

Companies have their head offices in the three big metropolitan areas (Tokyo, Osaka, Nagoya); advisers live
all over Japan; needs are posted by real 過疎 municipalities. Everything is drawn from a fixed seed and
written under fixed ids (co_demo_…, adv_demo_…, need_demo_…), so loading again changes nothing.
"""

import random
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import Adviser, Company, FieldOfWork, Municipality, Need
from common.models.matching import AdviserType, Market

SEED = 2023
LOADED_AT = datetime(2023, 4, 1, tzinfo=UTC)
COMPANIES_PER_AREA = {"tokyo": 60, "osaka": 25, "nagoya": 15}
ADVISERS = 60
HOST_MUNICIPALITIES = 80
HEAD_OFFICE_TYPES = ("special_ward", "designated_city", "city")
AREA_PREFIX = {"tokyo": "", "osaka": "関西", "nagoya": "中部"}  # names are unique within the market
NAME_HEADS = ["みらい", "あおぞら", "さくら", "ひかり", "つばさ", "やまびこ", "なないろ", "こだま", "いろは",
              "ことぶき"]
NAME_TAILS = ["テック", "ソリューションズ", "デザイン", "コンサルティング", "ラボ", "エナジー", "ネットワークス",
              "商事"]
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


def _companies(rng: random.Random, heads_by_area: dict[str, list[Municipality]], fields: list[str],
               prefectures: list[str]) -> list[Company]:
    companies: list[Company] = []
    for area, count in COMPANIES_PER_AREA.items():
        names = rng.sample([f"{AREA_PREFIX[area]}{head}{tail}株式会社" for head in NAME_HEADS for tail in NAME_TAILS],
                           count)
        for name in names:
            number = len(companies) + 1
            markets = rng.choice([[Market.kigyojin], [Market.satellite_office],
                                  [Market.kigyojin, Market.satellite_office]])
            companies.append(_fixed(Company(
                id=f"co_demo_{number:03d}", name=name,
                municipality_code=rng.choice(heads_by_area[area]).code, markets=markets,
                fields=rng.sample(fields, rng.randint(1, 3)), capacity=rng.randint(1, 3),
                dispatch_months=rng.choice([6, 12, 24, 36]) if Market.kigyojin in markets else None,
                track_record=rng.randint(0, 15), preferred_prefectures=rng.sample(prefectures, rng.randint(0, 2)),
                description="合成データ (demo): 地方への人材派遣・サテライトオフィス開設を検討中")))
    return companies


def _advisers(rng: random.Random, homes: list[Municipality], fields: list[str]) -> list[Adviser]:
    return [_fixed(Adviser(
        id=f"adv_demo_{number:03d}", name=f"{rng.choice(ADVISER_FAMILY)} {rng.choice(ADVISER_GIVEN)}",
        adviser_type=AdviserType.municipal_staff if rng.random() < 0.1 else AdviserType.private_expert,
        municipality_code=rng.choice(homes).code, fields=rng.sample(fields, rng.randint(1, 3)),
        capacity=rng.randint(1, 4), experience_years=rng.randint(1, 30),
        description="合成データ (demo): 地域力創造アドバイザー")) for number in range(1, ADVISERS + 1)]


def _needs(rng: random.Random, hosts: list[Municipality]) -> list[Need]:
    needs: list[Need] = []
    for host in hosts:
        for market in rng.sample(list(Market), rng.randint(1, 2)):
            field = rng.choice(sorted(NEED_TITLES))
            needs.append(_fixed(Need(
                id=f"need_demo_{len(needs) + 1:03d}", municipality_code=host.code, market=market,
                title=NEED_TITLES[field], fields=[field, *rng.sample(sorted(NEED_TITLES), 1)],
                capacity=rng.randint(1, 2), dispatch_months=12 if market == Market.kigyojin else None,
                description=f"合成データ (demo): {host.name}の課題")))
            needs[-1].fields = list(dict.fromkeys(needs[-1].fields))
    return needs


async def load_demo_data(session: AsyncSession) -> dict[str, Any]:
    """Upsert the demo market; returns how many rows of each kind it holds, and a host to try."""
    rng = random.Random(SEED)
    fields = sorted((await session.exec(select(FieldOfWork.code))).all())
    if not fields:
        raise RuntimeError("the fields-of-work vocabulary is empty: run `chiiki data load` first")
    cities = col(Municipality.type).in_(HEAD_OFFICE_TYPES)
    heads_by_area = {area: await _municipalities(session, Municipality.metro_area == area, cities)
                     for area in COMPANIES_PER_AREA}
    everyone = await _municipalities(session)
    prefectures = sorted({m.pref_code for m in everyone})
    kaso = await _municipalities(session, col(Municipality.kaso_type).is_not(None))

    companies = _companies(rng, heads_by_area, fields, prefectures)
    advisers = _advisers(rng, everyone, fields)
    needs = _needs(rng, rng.sample(kaso, HOST_MUNICIPALITIES))
    for row in [*companies, *advisers, *needs]:
        await session.merge(row)
    await session.flush()
    return {"companies": len(companies), "advisers": len(advisers), "needs": len(needs),
            "example_municipality": next(n.municipality_code for n in needs if n.market == Market.kigyojin)}
