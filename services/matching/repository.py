from collections.abc import Sequence

from sqlalchemy import String, cast, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import (
    Adviser, Company, FieldOfWork, Match, MatchTransition, Municipality, Need, Round, RoundPreference,
)
from common.models.matching import MatchStatus
from common.pagination import PageParams

# Matches that hold a place: they count against both sides' capacity.
UNDER_WAY = (MatchStatus.accepted, MatchStatus.agreement_signed, MatchStatus.active)


def _json_list_contains(column, value: str):
    # JSON lists are stored as text like ["tourism", "ict_digital"], so the quoted value matches one element
    # exactly; the routes admit only [a-z_] values, and _ (a LIKE wildcard) is escaped.
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, String).like(f'%"{escaped}"%', escape="\\")


async def list_fields(session: AsyncSession) -> list[FieldOfWork]:
    query = select(FieldOfWork).order_by(FieldOfWork.sort_order, FieldOfWork.code)
    return list((await session.exec(query)).all())


async def field_codes(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(FieldOfWork.code))).all())


async def get_municipality(session: AsyncSession, code: str) -> Municipality | None:
    return await session.get(Municipality, code)


FACT_COLUMNS = (Municipality.code, Municipality.name, Municipality.pref_code, Municipality.metro_area,
                Municipality.kaso_type)


async def municipality_facts(session: AsyncSession, codes: Sequence[str]) -> dict:
    """What eligibility and scoring read of each municipality, as light rows (not whole table objects)."""
    rows = (await session.exec(select(*FACT_COLUMNS).where(Municipality.code.in_(list(codes))))).all()
    return {row.code: row for row in rows}


# --- profiles --------------------------------------------------------------------------------------

def _profile_page(model, page: PageParams, *, market: str | None, field: str | None, prefecture: str | None):
    query = select(model).order_by(model.id).limit(page.limit + 1)
    if page.after:
        query = query.where(model.id > page.after)
    if market and hasattr(model, "markets"):
        query = query.where(_json_list_contains(model.markets, market))
    if market and model is Need:
        query = query.where(Need.market == market)
    if field:
        query = query.where(_json_list_contains(model.fields, field))
    if prefecture:
        query = query.join(Municipality, Municipality.code == model.municipality_code).where(
            Municipality.pref_code == prefecture)
    return query


async def list_companies(session: AsyncSession, page: PageParams, **filters) -> list[Company]:
    return list((await session.exec(_profile_page(Company, page, **filters))).all())


async def list_advisers(session: AsyncSession, page: PageParams, **filters) -> list[Adviser]:
    return list((await session.exec(_profile_page(Adviser, page, **filters))).all())


async def list_needs(session: AsyncSession, page: PageParams, *, municipality_code: str | None = None,
                     **filters) -> list[Need]:
    query = _profile_page(Need, page, **filters)
    if municipality_code:
        query = query.where(Need.municipality_code == municipality_code)
    return list((await session.exec(query)).all())


async def open_needs(session: AsyncSession, market: str, municipality_code: str | None = None) -> list[Need]:
    query = select(Need).where(Need.market == market, Need.open.is_(True)).order_by(Need.id)
    if municipality_code:
        query = query.where(Need.municipality_code == municipality_code)
    return list((await session.exec(query)).all())


# What the scoring reads of a company or an adviser: light rows, without descriptions.
COMPANY_COLUMNS = (Company.id, Company.name, Company.municipality_code, Company.markets,
                   Company.head_office_function_in_three_metro_area, Company.fields, Company.capacity,
                   Company.dispatch_months, Company.track_record, Company.preferred_prefectures,
                   Company.wished_municipalities)
ADVISER_COLUMNS = (Adviser.id, Adviser.name, Adviser.municipality_code, Adviser.fields, Adviser.capacity,
                   Adviser.experience_years, Adviser.preferred_prefectures, Adviser.wished_municipalities)


async def partner_rows(session: AsyncSession, model, *, market: str | None = None,
                       ids: Sequence[str] | None = None) -> list:
    """Companies (in `market`, if given) or advisers, or exactly those with `ids`."""
    query = select(*(COMPANY_COLUMNS if model is Company else ADVISER_COLUMNS)).order_by(model.id)
    if ids is not None:
        query = query.where(model.id.in_(list(ids)))
    if market is not None and model is Company:
        query = query.where(_json_list_contains(Company.markets, market))
    return list((await session.exec(query)).all())


async def existing_ids(session: AsyncSession, model, ids: Sequence[str]) -> set[str]:
    key = model.code if model is Municipality else model.id
    return set((await session.exec(select(key).where(key.in_(list(ids))))).all())


# --- capacity in use -------------------------------------------------------------------------------

async def matches_under_way(session: AsyncSession, column, market: str | None = None) -> dict[str, int]:
    """How many matches under way each municipality, company or adviser has (by `column`)."""
    query = (select(column, func.count()).where(Match.status.in_(UNDER_WAY), column.is_not(None))
             .group_by(column))
    if market:
        query = query.where(Match.market == market)
    return dict((await session.exec(query)).all())


# --- rounds ----------------------------------------------------------------------------------------

async def upsert_preference(session: AsyncSession, round_id: str, participant: str, capacity: int,
                            ranking: list[str]) -> None:
    insert = (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert
    statement = insert(RoundPreference).values(round_id=round_id, participant=participant, capacity=capacity,
                                               ranking=ranking)
    statement = statement.on_conflict_do_update(
        index_elements=["round_id", "participant"],
        set_={"capacity": statement.excluded.capacity, "ranking": statement.excluded.ranking})
    await session.exec(statement)


async def preferences(session: AsyncSession, round_id: str) -> list:
    query = (select(RoundPreference.participant, RoundPreference.capacity, RoundPreference.ranking)
             .where(RoundPreference.round_id == round_id).order_by(RoundPreference.participant))
    return list((await session.exec(query)).all())


async def mark_solved(session: AsyncSession, round_id: str, result: dict, now) -> bool:
    """Store the result once: False when another request solved the round first."""
    outcome = await session.exec(
        update(Round).where(Round.id == round_id, Round.solved_at.is_(None)).values(solved_at=now, result=result)
        .execution_options(synchronize_session=False))
    return outcome.rowcount == 1


# --- matches ---------------------------------------------------------------------------------------

async def move_match(session: AsyncSession, match_id: str, from_status: str, to_status: str, now) -> bool:
    """Change the status only if it is still `from_status`, so two concurrent moves cannot both succeed."""
    outcome = await session.exec(
        update(Match).where(Match.id == match_id, Match.status == from_status)
        .values(status=to_status, updated_at=now).execution_options(synchronize_session=False))
    return outcome.rowcount == 1


async def matches_of_round(session: AsyncSession, round_id: str) -> list[Match]:
    return list((await session.exec(select(Match).where(Match.round_id == round_id))).all())


async def transitions(session: AsyncSession, match_id: str) -> list[MatchTransition]:
    query = select(MatchTransition).where(MatchTransition.match_id == match_id).order_by(MatchTransition.id)
    return list((await session.exec(query)).all())


async def list_matches(session: AsyncSession, page: PageParams, *, municipality_code: str | None,
                       status: str | None) -> list[Match]:
    query = select(Match).order_by(Match.id).limit(page.limit + 1)
    if page.after:
        query = query.where(Match.id > page.after)
    if municipality_code:
        query = query.where(Match.municipality_code == municipality_code)
    if status:
        query = query.where(Match.status == status)
    return list((await session.exec(query)).all())
