"""Profiles: a municipality's needs (its own, or ops), and the registry of companies and advisers (ops).
Never commits: the request's session does."""

import re
from collections.abc import Collection
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.codes import local_government_code_problem
from common.db import get_or_404
from common.eligibility import dispatch_period_reasons
from common.errors import NotFound, Unprocessable
from common.ids import new_id
from common.models import Adviser, Company, Need
from common.models.matching import Market
from common.timeutil import current_fiscal_year, utcnow
from services.matching import repository
from services.matching.parties import ensure_acts_for, municipality
from services.matching.schemas import (
    AdviserCreate,
    AdviserUpdate,
    CompanyCreate,
    CompanyUpdate,
    NeedCreate,
    NeedUpdate,
)

MAX_FIELDS, MAX_LISTED = 15, 50
PREFECTURE = re.compile(r"^(0[1-9]|[1-3][0-9]|4[0-7])$")
PROFILE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


# --- validation shared by the profiles -------------------------------------------------------------


async def _check_fields(session: AsyncSession, fields: list[str]) -> list[str]:
    if len(fields) > MAX_FIELDS:
        raise Unprocessable(f"at most {MAX_FIELDS} fields of work", field="fields")
    unknown = sorted(set(fields) - await repository.field_codes(session))
    if unknown:
        raise Unprocessable(
            f"unknown field(s) of work: {', '.join(unknown)} (see GET /matching/fields)", field="fields"
        )
    return list(dict.fromkeys(fields))


def _check_prefectures(codes: list[str], field: str = "preferred_prefectures") -> list[str]:
    bad = [code for code in codes if not PREFECTURE.match(code)]
    if bad or len(codes) > 47:
        raise Unprocessable(
            f"prefecture codes are 01–47, at most 47 of them (got {bad[:3] or len(codes)})", field=field
        )
    return list(dict.fromkeys(codes))


def _check_codes(codes: list[str], field: str) -> list[str]:
    if len(codes) > MAX_LISTED:
        raise Unprocessable(f"at most {MAX_LISTED} entries", field=field)
    for code in codes:
        if problem := local_government_code_problem(code):
            raise Unprocessable(problem, field=field)
    return list(dict.fromkeys(codes))


def _check_ids(ids: list[str], field: str) -> list[str]:
    if len(ids) > MAX_LISTED or any(not PROFILE_ID.match(i) for i in ids):
        raise Unprocessable(f"at most {MAX_LISTED} ids of letters, digits, _ and -", field=field)
    return list(dict.fromkeys(ids))


async def _clean_lists(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """The body's lists checked and without repeats (each first occurrence kept, in order)."""
    if values.get("fields") is not None:
        values["fields"] = await _check_fields(session, values["fields"])
    if values.get("preferred_prefectures") is not None:
        values["preferred_prefectures"] = _check_prefectures(values["preferred_prefectures"])
    if values.get("wished_municipalities") is not None:
        values["wished_municipalities"] = _check_codes(values["wished_municipalities"], "wished_municipalities")
    if values.get("wished_partners") is not None:
        values["wished_partners"] = _check_ids(values["wished_partners"], "wished_partners")
    return values


def _apply(row: Need | Company | Adviser, changes: dict[str, Any], nullable: Collection[str] = ()) -> None:
    for name, value in changes.items():
        if value is None and name not in nullable:
            raise Unprocessable(f"{name} cannot be null", field=name)
        setattr(row, name, value)
    row.updated_at = utcnow()


def _check_markets(markets: list[Market]) -> None:
    if not markets:
        raise Unprocessable("name at least one market the company takes part in", field="markets")


# --- needs -----------------------------------------------------------------------------------------


def _check_need_period(market: Market, months: int | None) -> None:
    if market != Market.kigyojin or months is None:
        return
    if reasons := dispatch_period_reasons(months, current_fiscal_year()):
        raise Unprocessable(reasons[0].message, field="dispatch_months")


async def create_need(session: AsyncSession, principal: Principal, code: str, data: NeedCreate) -> Need:
    ensure_acts_for(principal, code)
    await municipality(session, code, "code")
    values = await _clean_lists(session, data.model_dump())
    _check_need_period(data.market, data.dispatch_months)
    need = Need(id=new_id("need"), municipality_code=code, **values)
    session.add(need)
    await session.flush()
    return need


async def get_need(session: AsyncSession, code: str, need_id: str) -> Need:
    need = await session.get(Need, need_id)
    if need is None or need.municipality_code != code:
        raise NotFound(f"municipality {code} has no need {need_id}", field="need_id")
    return need


async def update_need(session: AsyncSession, principal: Principal, code: str, need_id: str, data: NeedUpdate) -> Need:
    ensure_acts_for(principal, code)
    need = await get_need(session, code, need_id)
    changes = await _clean_lists(session, data.model_dump(exclude_unset=True))
    _apply(need, changes, nullable={"dispatch_months"})
    _check_need_period(need.market, need.dispatch_months)
    await session.flush()
    return need


# --- companies and advisers ------------------------------------------------------------------------


async def create_company(session: AsyncSession, data: CompanyCreate) -> Company:
    await municipality(session, data.municipality_code, "municipality_code")
    _check_markets(data.markets)
    values = await _clean_lists(session, data.model_dump())
    values["markets"] = list(dict.fromkeys(values["markets"]))
    company = Company(id=new_id("co"), **values)
    session.add(company)
    await session.flush()
    return company


async def get_company(session: AsyncSession, company_id: str) -> Company:
    return await get_or_404(session, Company, company_id, field="company_id")


async def update_company(session: AsyncSession, company_id: str, data: CompanyUpdate) -> Company:
    company = await get_company(session, company_id)
    changes = await _clean_lists(session, data.model_dump(exclude_unset=True))
    if "markets" in changes:
        _check_markets(changes["markets"])
    _apply(company, changes, nullable={"dispatch_months"})
    await session.flush()
    return company


async def create_adviser(session: AsyncSession, data: AdviserCreate) -> Adviser:
    await municipality(session, data.municipality_code, "municipality_code")
    adviser = Adviser(id=new_id("adv"), **await _clean_lists(session, data.model_dump()))
    session.add(adviser)
    await session.flush()
    return adviser


async def get_adviser(session: AsyncSession, adviser_id: str) -> Adviser:
    return await get_or_404(session, Adviser, adviser_id, field="adviser_id")


async def update_adviser(session: AsyncSession, adviser_id: str, data: AdviserUpdate) -> Adviser:
    adviser = await get_adviser(session, adviser_id)
    changes = await _clean_lists(session, data.model_dump(exclude_unset=True))
    if changes.get("municipality_code") is not None:
        await municipality(session, changes["municipality_code"], "municipality_code")
    _apply(adviser, changes)
    await session.flush()
    return adviser
