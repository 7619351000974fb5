"""The matching service's queries. Scoring reads light rows (named columns, not table objects); the shapes
those rows have are the protocols below."""

import sys
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, String, cast, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from common.eligibility import MunicipalityFacts
from common.models import (
    Adviser,
    Company,
    FieldOfWork,
    Match,
    MatchTransition,
    Municipality,
    Need,
    Round,
    RoundPreference,
)
from common.models.matching import LIVE_STATUSES, MatchStatus
from common.pagination import PageParams, keyset
from services.matching.tiebreak import Ranking, shared

# Matches that hold a place: they count against both sides' capacity.
UNDER_WAY = (MatchStatus.accepted, MatchStatus.agreement_signed, MatchStatus.active)
Profile = TypeVar("Profile", Company, Adviser, Need)
PREFERENCES_PER_FETCH = 32  # rows of up to 5,000 names each


class PartnerRow(Protocol):
    """What scoring reads of a company or an adviser."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def municipality_code(self) -> str: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def capacity(self) -> int: ...
    @property
    def preferred_prefectures(self) -> list[str]: ...
    @property
    def wished_municipalities(self) -> list[str]: ...


class CompanyRow(PartnerRow, Protocol):
    @property
    def markets(self) -> list[str]: ...
    @property
    def head_office_function_in_three_metro_area(self) -> bool: ...
    @property
    def dispatch_months(self) -> int | None: ...
    @property
    def track_record(self) -> int: ...


class AdviserRow(PartnerRow, Protocol):
    @property
    def experience_years(self) -> int: ...


def _json_list_contains(column: Mapped[Any], value: str) -> ColumnElement[bool]:
    # JSON lists are stored as text like ["tourism", "ict_digital"], so the quoted value matches one element
    # exactly; the routes admit only [a-z_] values, and _ (a LIKE wildcard) is escaped.
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, String).like(f'%"{escaped}"%', escape="\\")


async def list_fields(session: AsyncSession) -> list[FieldOfWork]:
    query = select(FieldOfWork).order_by(col(FieldOfWork.sort_order), col(FieldOfWork.code))
    return list((await session.exec(query)).all())


async def field_codes(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(FieldOfWork.code))).all())


async def get_municipality(session: AsyncSession, code: str) -> Municipality | None:
    return await session.get(Municipality, code)


FACT_COLUMNS: tuple[Any, ...] = (
    Municipality.code,
    Municipality.name,
    Municipality.pref_code,
    Municipality.metro_area,
    Municipality.kaso_type,
)


async def municipality_facts(session: AsyncSession, codes: Collection[str]) -> dict[str, MunicipalityFacts]:
    """What eligibility and scoring read of each municipality, as light rows (not whole table objects)."""
    rows = (await session.exec(select(*FACT_COLUMNS).where(col(Municipality.code).in_(list(codes))))).all()
    return {row.code: row for row in rows}


# --- profiles --------------------------------------------------------------------------------------


def _profile_page(
    model: type[Profile], page: PageParams, *, market: str | None, field: str | None, prefecture: str | None
) -> SelectOfScalar[Profile]:
    query = keyset(select(model), col(model.id), page)
    if market and model is Company:
        query = query.where(_json_list_contains(col(Company.markets), market))
    if market and model is Need:
        query = query.where(Need.market == market)
    if field:
        query = query.where(_json_list_contains(col(model.fields), field))
    if prefecture:
        query = query.join(Municipality, col(Municipality.code) == col(model.municipality_code)).where(
            Municipality.pref_code == prefecture
        )
    return query


async def list_companies(
    session: AsyncSession, page: PageParams, *, market: str | None, field: str | None, prefecture: str | None
) -> list[Company]:
    query = _profile_page(Company, page, market=market, field=field, prefecture=prefecture)
    return list((await session.exec(query)).all())


async def list_advisers(
    session: AsyncSession, page: PageParams, *, field: str | None, prefecture: str | None
) -> list[Adviser]:
    query = _profile_page(Adviser, page, market=None, field=field, prefecture=prefecture)
    return list((await session.exec(query)).all())


async def list_needs(
    session: AsyncSession,
    page: PageParams,
    *,
    municipality_code: str | None = None,
    market: str | None,
    field: str | None,
    prefecture: str | None,
) -> list[Need]:
    query = _profile_page(Need, page, market=market, field=field, prefecture=prefecture)
    if municipality_code:
        query = query.where(Need.municipality_code == municipality_code)
    return list((await session.exec(query)).all())


async def open_needs(session: AsyncSession, market: str, codes: Collection[str] | None = None) -> list[Need]:
    """The open needs in `market` (of the municipalities `codes`, if given)."""
    query = select(Need).where(Need.market == market, col(Need.open).is_(True)).order_by(col(Need.id))
    if codes is not None:
        query = query.where(col(Need.municipality_code).in_(list(codes)))
    return list((await session.exec(query)).all())


# What the scoring reads of a company or an adviser: light rows, without descriptions.
COMPANY_COLUMNS: tuple[Any, ...] = (
    Company.id,
    Company.name,
    Company.municipality_code,
    Company.markets,
    Company.head_office_function_in_three_metro_area,
    Company.fields,
    Company.capacity,
    Company.dispatch_months,
    Company.track_record,
    Company.preferred_prefectures,
    Company.wished_municipalities,
)
ADVISER_COLUMNS: tuple[Any, ...] = (
    Adviser.id,
    Adviser.name,
    Adviser.municipality_code,
    Adviser.fields,
    Adviser.capacity,
    Adviser.experience_years,
    Adviser.preferred_prefectures,
    Adviser.wished_municipalities,
)


async def company_rows(
    session: AsyncSession, *, market: str | None = None, ids: Collection[str] | None = None
) -> list[CompanyRow]:
    """Companies in `market`, or exactly those with `ids`."""
    query = select(*COMPANY_COLUMNS).order_by(col(Company.id))
    if ids is not None:
        query = query.where(col(Company.id).in_(list(ids)))
    if market is not None:
        query = query.where(_json_list_contains(col(Company.markets), market))
    return list((await session.exec(query)).all())


async def adviser_rows(session: AsyncSession, *, ids: Collection[str] | None = None) -> list[AdviserRow]:
    """All advisers, or exactly those with `ids`."""
    query = select(*ADVISER_COLUMNS).order_by(col(Adviser.id))
    if ids is not None:
        query = query.where(col(Adviser.id).in_(list(ids)))
    return list((await session.exec(query)).all())


Stamp = tuple[int, datetime | None]  # rows, latest updated_at: it moves whenever a row is added or changed


@dataclass(frozen=True)
class Stamps:
    registry: Stamp  # the companies or advisers
    matches: Stamp  # matches under way, latest updated_at (a match moves only through `move_match`, which sets it)
    needs: Stamp  # the market's needs, open or not


async def stamps(session: AsyncSession, model: type[Company] | type[Adviser], market: str) -> Stamps:
    """The stamps of what recommendations read, in one statement."""

    def scalar(column: Any, table: Any, *where: ColumnElement[bool]) -> Any:
        return select(column).select_from(table).where(*where).scalar_subquery()

    under_way = col(Match.status).in_(UNDER_WAY)
    in_market = col(Need.market) == market
    columns: tuple[Any, ...] = (
        scalar(func.count(), model),
        scalar(func.max(col(model.updated_at)), model),
        scalar(func.count(), Match, under_way),
        scalar(func.max(col(Match.updated_at)), Match),
        scalar(func.count(), Need, in_market),
        scalar(func.max(col(Need.updated_at)), Need, in_market),
    )
    rows, latest, matches, latest_match, needs, latest_need = (await session.exec(select(*columns))).one()
    return Stamps((rows, latest), (matches, latest_match), (needs, latest_need))


async def existing_ids(session: AsyncSession, key: Mapped[str], ids: Collection[str]) -> set[str]:
    """Which of `ids` the primary-key column `key` holds."""
    return set((await session.exec(select(key).where(key.in_(list(ids))))).all())


# --- capacity in use -------------------------------------------------------------------------------


async def matches_under_way(
    session: AsyncSession, column: Mapped[str | None], market: str | None = None, keys: Collection[str] | None = None
) -> dict[str, int]:
    """How many matches under way each municipality, company or adviser has (by `column`; only `keys`, if
    given)."""
    query = select(column, func.count()).where(col(Match.status).in_(UNDER_WAY), column.is_not(None)).group_by(column)
    if market:
        query = query.where(Match.market == market)
    if keys is not None:
        query = query.where(column.in_(list(keys)))
    return {key: count for key, count in (await session.exec(query)).all() if key is not None}


# --- rounds ----------------------------------------------------------------------------------------


async def upsert_preference(
    session: AsyncSession, round_id: str, participant: str, capacity: int, ranking: list[str | list[str]]
) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(RoundPreference).values(
        round_id=round_id, participant=participant, capacity=capacity, ranking=ranking
    )
    statement = statement.on_conflict_do_update(
        index_elements=["round_id", "participant"],
        set_={"capacity": statement.excluded.capacity, "ranking": statement.excluded.ranking},
    )
    await session.exec(statement)


@dataclass(frozen=True)
class Preference:
    participant: str
    capacity: int
    ranking: Ranking  # every name the one shared string object for it (tiebreak.shared)


async def preferences(
    session: AsyncSession, round_id: str, participants: Collection[str] | None = None
) -> list[Preference]:
    """The round's preferences (or those of `participants`), by participant. The rows are streamed and each
    ranking shared as it arrives: a large round's rankings hold millions of names, and decoding them all before
    sharing them would hold every fresh copy at once."""
    query = (
        select(col(RoundPreference.participant), col(RoundPreference.capacity), col(RoundPreference.ranking))
        .where(RoundPreference.round_id == round_id)
        .order_by(col(RoundPreference.participant))
        .execution_options(yield_per=PREFERENCES_PER_FETCH)
    )
    if participants is not None:
        query = query.where(col(RoundPreference.participant).in_(list(participants)))
    return [
        Preference(sys.intern(row.participant), row.capacity, shared(row.ranking))
        async for row in await session.stream(query)
    ]


async def list_rounds(
    session: AsyncSession, page: PageParams, *, market: str | None, solved: bool | None
) -> list[Round]:
    query = keyset(select(Round), col(Round.id), page)
    if market:
        query = query.where(Round.market == market)
    if solved is not None:
        query = query.where(col(Round.solved_at).is_not(None) if solved else col(Round.solved_at).is_(None))
    return list((await session.exec(query)).all())


async def round_for_update(session: AsyncSession, round_id: str) -> Round | None:
    """The round, locked until the transaction ends (PostgreSQL), so that solving it and changing its preferences
    queue behind each other; SQLite sessions already hold the write lock from their first statement."""
    return await session.get(Round, round_id, with_for_update=True, populate_existing=True)


async def mark_solved(session: AsyncSession, round_id: str, result: dict[str, Any], now: datetime) -> bool:
    """Store the result once: False when another request solved the round first."""
    outcome = await session.exec(
        update(Round)
        .where(col(Round.id) == round_id, col(Round.solved_at).is_(None))
        .values(solved_at=now, result=result)
        .execution_options(synchronize_session=False)
    )
    return outcome.rowcount == 1


# --- matches ---------------------------------------------------------------------------------------


async def move_match(session: AsyncSession, match_id: str, from_status: str, to_status: str, now: datetime) -> bool:
    """Change the status only if it is still `from_status`, so two concurrent moves cannot both succeed."""
    outcome = await session.exec(
        update(Match)
        .where(col(Match.id) == match_id, col(Match.status) == from_status)
        .values(status=to_status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return outcome.rowcount == 1


async def live_matches(session: AsyncSession, market: str, municipality_codes: Collection[str]) -> list[Match]:
    """The matches in `market` of these municipalities that still hold their pair (see LIVE_STATUSES)."""
    query = select(Match).where(
        Match.market == market,
        col(Match.status).in_(LIVE_STATUSES),
        col(Match.municipality_code).in_(list(municipality_codes)),
    )
    return list((await session.exec(query.order_by(col(Match.id)))).all())


async def matches_of_round(session: AsyncSession, round_id: str) -> list[Match]:
    return list((await session.exec(select(Match).where(Match.round_id == round_id))).all())


async def transitions(session: AsyncSession, match_id: str) -> list[MatchTransition]:
    query = select(MatchTransition).where(MatchTransition.match_id == match_id).order_by(col(MatchTransition.id))
    return list((await session.exec(query)).all())


async def list_matches(
    session: AsyncSession, page: PageParams, *, municipality_code: str | None, status: str | None
) -> list[Match]:
    query = keyset(select(Match), col(Match.id), page)
    if municipality_code:
        query = query.where(Match.municipality_code == municipality_code)
    if status:
        query = query.where(Match.status == status)
    return list((await session.exec(query)).all())
