"""A resident's application: eligibility, then for a fixed program its grant; and re-linking an application
whose payment account was unlinked.

The path every new resident takes is driver-level SQL: one query reads the program, the roster entry and any
earlier application (carried by the Idempotency-Key claim's round trip when there is a key), and one batch
writes the application, its grant (grants.grant_rows) and the reservation, stores the response and commits.
"""

from dataclasses import asdict
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import get_or_404
from common.driver_sql import DriverConnection, DriverStatement, Outcome, undone_on_failure
from common.eligibility import BUDGET_EXHAUSTED, Reason, resident_reasons
from common.error_codes import ErrorCode
from common.errors import NotFound, Unprocessable
from common.ids import new_id
from common.models import Application, Program
from common.models.mynapoint import GrantStatus, ProgramKind
from common.requestid import current_request_id
from common.settings import Settings
from common.timeutil import utcnow
from services.mynapoint import grants, ledger, repository
from services.mynapoint.applicant import APPLICANT, ProgramTerms, applicant_from
from services.mynapoint.idempotency import FORGET, Remember
from services.mynapoint.identity import could_be_my_number, myki_hash
from services.mynapoint.lifecycle import refuse_unless_open
from services.mynapoint.schemas import ApplicationCreate
from services.mynapoint.statements import INSERT_APPLICATION


def applicant_read(
    program_id: str, body: ApplicationCreate, settings: Settings
) -> tuple[DriverStatement, dict[str, Any]]:
    """The read an application starts with, for the Idempotency-Key claim to carry in its round trip."""
    return APPLICANT, {"program_id": program_id, "myki_hash": myki_hash(body.myki_id, settings.myki_secret_bytes())}


def refused(reasons: list[Reason], *, eligible: bool = False) -> dict[str, Any]:
    return {
        "application_id": None,
        "eligible": eligible,
        "reasons": [asdict(reason) for reason in reasons],
        "grant": None,
    }


async def apply(
    session: AsyncSession,
    program_id: str,
    body: ApplicationCreate,
    settings: Settings,
    remember: Remember = FORGET,
    applicant: Outcome | None = None,
) -> dict[str, Any]:
    """A resident's application; `remember` stores the response (Idempotency-Key) in this same transaction.
    `applicant`: APPLICANT's outcome, when the claim of the Idempotency-Key already ran it."""
    read, values = applicant_read(program_id, body, settings)
    sql = DriverConnection(session)
    found = applicant_from(applicant or (await sql.commit_with([(read, values)]))[0], program_id)
    if found is None:
        raise NotFound(f"no program {program_id}", field="program_id")
    if body.provider_id not in found.program.provider_ids:
        raise Unprocessable("this program does not run on that payment service", field="provider_id")
    if could_be_my_number(body.provider_account_id):
        raise Unprocessable(
            "a 12-digit 個人番号 (My Number) must never be sent; send the payment account's own id",
            code=ErrorCode.INVALID_IDENTITY,
            field="provider_account_id",
        )
    if found.earlier_application_id is not None:
        return await _apply_again(session, program_id, values["myki_hash"], body, settings)
    refuse_unless_open(program_id, found.program.status)
    reasons = resident_reasons(found.program, found.entry, utcnow())
    if reasons:
        return refused(reasons)
    return await _admit(session, sql, found.program, values["myki_hash"], body, settings, remember)


async def _apply_again(
    session: AsyncSession, program_id: str, digest: str, body: ApplicationCreate, settings: Settings
) -> dict[str, Any]:
    """The resident has an application: its outcome again, or re-linking it after the account was unlinked."""
    program = await get_or_404(session, Program, program_id, field="program_id")
    existing = await repository.application_for(session, program_id, digest)
    if existing is None:
        raise NotFound(f"no application of this resident to {program_id}", field="program_id")
    if existing.unlinked_at is not None:
        refuse_unless_open(program_id, program.status)  # re-linking is applying again
        return await relink(session, program, existing, body, settings)
    return await application_result(session, existing)


async def _admit(
    session: AsyncSession,
    sql: DriverConnection,
    program: ProgramTerms,
    digest: str,
    body: ApplicationCreate,
    settings: Settings,
    remember: Remember,
) -> dict[str, Any]:
    """Record the application and, for a fixed program, reserve its grant — all or nothing, in one batch that
    also stores the response and commits (DriverConnection.commit_with), so one round trip does all of it.

    The reservation is the batch's last statement (the response is remembered before it), so the program row
    — which every application of the program contends for — stays locked only from that UPDATE to the
    COMMIT right behind it. When the budget does not cover the grant, the program's CHECK constraint fails
    the batch and the whole transaction is rolled back: the resident may apply again after a top-up.
    """
    application = {
        "id": new_id("appl"),
        "program_id": program.id,
        "myki_hash": digest,
        "provider_id": body.provider_id,
        "provider_account_id": body.provider_account_id,
        "granted_yen": 0,
        "request_id": current_request_id(),
        "created_at": utcnow(),
    }
    result: dict[str, Any] = {"application_id": application["id"], "eligible": True, "reasons": [], "grant": None}
    rows, reservation = [], []
    if program.kind == ProgramKind.fixed and program.points_per_person:
        grant = grants.new_grant(program.id, application, grants.FIXED_SOURCE, program.points_per_person, settings)
        result["grant"] = {"id": grant["id"], "points": grant["points"], "status": grant["status"]}
        rows = list(grants.grant_rows(grant, body.provider_account_id))
        reservation = [ledger.reservation_balance(grant)]
    try:
        await sql.commit_with([(INSERT_APPLICATION, application), *rows, *remember.statements(result), *reservation])
    except sql.integrity_error as error:
        if ledger.budget_refused(sql, error):
            return refused([BUDGET_EXHAUSTED], eligible=True)
        if await repository.application_for(session, program.id, digest) is None:
            raise
        # The same resident, admitted concurrently by another request that has committed since.
        return await _apply_again(session, program.id, digest, body, settings)
    return result


async def application_result(session: AsyncSession, application: Application) -> dict[str, Any]:
    program = await get_or_404(session, Program, application.program_id, field="program_id")
    grant = (
        await grants.latest_fixed_grant(session, program.id, application.myki_hash)
        if program.kind == ProgramKind.fixed
        else None
    )
    return {"application_id": application.id, "eligible": True, "reasons": [], "grant": grants.grant_brief(grant)}


async def relink(
    session: AsyncSession, program: Program, application: Application, body: ApplicationCreate, settings: Settings
) -> dict[str, Any]:
    """The resident applies again after the account was unlinked: the application moves to the new account.

    Re-linking is applying again, so the window and the roster are checked again. In a fixed program, when the
    resident's newest fixed grant is voided (its points never landed: the unlink voided the reservation, or it
    failed or expired before), a new grant is reserved with source `relink:<voided grant id>`. A voided grant is
    final, the UNIQUE (program, resident, source) lets each voided grant be replaced once, and a posted (or
    revoked) grant is never replaced, so a resident holds at most one live fixed grant at any time.
    """
    entry = await repository.roster_entry(session, program.id, application.myki_hash)
    reasons = resident_reasons(program, entry, utcnow())
    if reasons:
        return refused(reasons)
    try:
        async with undone_on_failure(session):
            await _relink_and_replace(session, program, application, body, settings)
    except ledger.BudgetExhausted:  # undone: the application stays unlinked; the resident may retry after a top-up
        return refused([BUDGET_EXHAUSTED], eligible=True)
    await session.refresh(application)
    return await application_result(session, application)


async def _relink_and_replace(
    session: AsyncSession, program: Program, application: Application, body: ApplicationCreate, settings: Settings
) -> None:
    relinked = await repository.relink(session, application.id, body.provider_id, body.provider_account_id)
    if not relinked or program.kind != ProgramKind.fixed or not program.points_per_person:
        return  # not relinked: a concurrent request just did it
    previous = await grants.latest_fixed_grant(session, program.id, application.myki_hash)
    if previous is None or previous.status != GrantStatus.voided:
        return
    await session.refresh(application)
    await grants.reserve_grant(
        session, program.id, application, f"{grants.RELINK_SOURCE}{previous.id}", program.points_per_person, settings
    )
