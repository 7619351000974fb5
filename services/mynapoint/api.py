"""Point-issuance routes for officers and resident apps: programs, their rosters, applications, grants and a
resident's status. Providers, deliveries, settlements and webhooks are in services/mynapoint/provider_api.py."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from common.auth import Authenticated
from common.db import SessionDep
from common.driver_sql import Outcome
from common.error_codes import ErrorCode
from common.models import Application, Grant, Program, ProgramChange, RosterEntry
from common.models.mynapoint import GrantPublic, GrantStatus, ProgramStatus
from common.openapi import error_responses
from common.pagination import Page, make_page
from services.mynapoint import applications, balances, grants, idempotency, lifecycle, listings, programs, resident
from services.mynapoint.deps import (
    AppOrOps,
    CreatedWindow,
    GrantReaders,
    IdempotencyKey,
    MunicipalityOrOps,
    Pages,
    ProgramReaders,
    settings_of,
)
from services.mynapoint.roster_upload import ROSTER_BODY, roster_rows
from services.mynapoint.schemas import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationResult,
    ApplicationStatus,
    Funding,
    ProgramChangePublic,
    ProgramCreate,
    ProgramPublic,
    ProgramUpdate,
    ResidentStatus,
    ResidentStatusQuery,
    RosterEntryPublic,
    RosterUpload,
    TemplateList,
)
from services.mynapoint.templates import TEMPLATES
from services.mynapoint.tenancy import program_for

router = APIRouter(prefix="/mynapoint", tags=["mynapoint"])
IDEMPOTENCY_CODES = (ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED)


# --- programs --------------------------------------------------------------------------------------------


@router.get(
    "/program-templates",
    response_model=TemplateList,
    summary="Built-in program templates",
    description="マイナポイント第1弾 and 第2弾 ①②③ with their windows, points and the card-application "
    "deadline each enforces (`eligibility.card_applied_by`).",
)
async def list_templates(_principal: Authenticated) -> dict[str, Any]:
    return {"items": [{"id": key, **value} for key, value in TEMPLATES.items()]}


def _program_json(program: Program) -> dict[str, Any]:
    return ProgramPublic.model_validate(program).model_dump(mode="json")


@router.get(
    "/programs",
    response_model=Page[ProgramPublic],
    summary="List point programs",
    description="A municipality key lists its own municipality's programs (another `municipality_code` is "
    "403); app and ops keys any. `open_on` keeps programs whose window overlaps that JST day.",
)
async def list_programs(
    session: SessionDep,
    principal: ProgramReaders,
    page: Pages,
    municipality_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    status: ProgramStatus | None = None,
    open_on: date | None = None,
) -> dict[str, Any]:
    rows = await listings.list_programs(
        session, principal, page, municipality_code=municipality_code, status=status, open_on=open_on
    )
    return make_page(rows, page, "id")


@router.post(
    "/programs",
    status_code=201,
    response_model=ProgramPublic,
    summary="Create a point program",
    description="From scratch or from a template, whose values fill what the body omits. Idempotency-Key recommended.",
    responses=error_responses(ErrorCode.NOT_FOUND, *IDEMPOTENCY_CODES),
)
async def create_program(
    body: ProgramCreate,
    request: Request,
    session: SessionDep,
    principal: MunicipalityOrOps,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        return _program_json(await programs.create_program(session, principal, body))

    return await idempotency.run(
        request, session, principal, idempotency_key, body.model_dump(mode="json"), work, status_code=201
    )


@router.get(
    "/programs/{program_id}",
    response_model=ProgramPublic,
    summary="Read a program",
    description="Its terms, status and balances (`budget_yen`, `reserved_yen`, `posted_yen`).",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_program(program_id: str, session: SessionDep, principal: ProgramReaders) -> Program:
    return await program_for(session, principal, program_id, manage=False)


@router.patch(
    "/programs/{program_id}",
    response_model=ProgramPublic,
    summary="Rename, reschedule, pause or close",
    description="Only the fields sent change: `name`, `closes_at` (never before now), `status` (`open`, "
    "`paused`, `closed`). Paused and closed programs refuse new applications; grants already "
    "reserved are untouched. Each change is recorded in the change log.",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def update_program(
    program_id: str, body: ProgramUpdate, session: SessionDep, principal: MunicipalityOrOps
) -> Program:
    return await lifecycle.update_program(session, principal, program_id, body)


@router.get(
    "/programs/{program_id}/changes",
    response_model=Page[ProgramChangePublic],
    summary="List a program's changes",
    description="Who changed what, when and in which request, oldest first, with the changed fields before and after.",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def list_program_changes(
    program_id: str, session: SessionDep, principal: MunicipalityOrOps, page: Pages
) -> dict[str, Any]:
    rows: list[ProgramChange] = await listings.list_changes(session, principal, program_id, page)
    return make_page(rows, page, "id")


@router.get(
    "/programs/{program_id}/balance-history",
    response_model=balances.BalanceHistory,
    summary="A program's balances over time",
    description="From its ledger: `budget_yen`, `reserved_yen` and `posted_yen` at the end of each day (Japan "
    "time) on which any of them moved, oldest first; the last item equals the program's balances.",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_balance_history(program_id: str, session: SessionDep, principal: MunicipalityOrOps) -> dict[str, Any]:
    program = await program_for(session, principal, program_id, manage=False)
    return {"program_id": program.id, "days": await balances.history(session, program.id)}


@router.post(
    "/programs/{program_id}/funding",
    response_model=ProgramPublic,
    summary="Top up a program's budget",
    description="A ledger entry that raises `budget_yen`. Idempotency-Key recommended.",
    responses=error_responses(ErrorCode.NOT_FOUND, *IDEMPOTENCY_CODES),
)
async def fund_program(
    program_id: str,
    body: Funding,
    request: Request,
    session: SessionDep,
    principal: MunicipalityOrOps,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        return _program_json(await programs.fund_program(session, principal, program_id, body.amount_yen))

    return await idempotency.run(request, session, principal, idempotency_key, body.model_dump(mode="json"), work)


# --- roster ----------------------------------------------------------------------------------------------


@router.post(
    "/programs/{program_id}/roster",
    response_model=RosterUpload,
    summary="Upsert a program's roster",
    description='JSON `{"residents": [...]}` or `text/csv`; all rows or none: with any error, `upserted` '
    "is 0 and nothing was written.",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.UNSUPPORTED_MEDIA_TYPE, ErrorCode.PAYLOAD_TOO_LARGE),
    openapi_extra=ROSTER_BODY,
)
async def upload_roster(
    program_id: str, request: Request, session: SessionDep, principal: MunicipalityOrOps
) -> dict[str, Any]:
    rows = roster_rows(request.headers.get("content-type", ""), await request.body())
    return await programs.upsert_roster(session, principal, program_id, rows, settings_of(request).myki_secret_bytes())


@router.get(
    "/programs/{program_id}/roster",
    response_model=Page[RosterEntryPublic],
    summary="List a roster",
    description="Each entry's attributes under its `entry_id`; never a マイキーID or its hash.",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def list_roster(
    program_id: str, session: SessionDep, principal: MunicipalityOrOps, page: Pages
) -> dict[str, Any]:
    rows: list[RosterEntry] = await listings.list_roster(session, principal, program_id, page)
    return make_page(rows, page, "entry_id")


# --- applications and a resident's status ----------------------------------------------------------------


@router.post(
    "/programs/{program_id}/applications",
    response_model=ApplicationResult,
    summary="Apply (a resident)",
    description="Eligibility, then for a fixed program a grant if the budget covers it. A refusal is a 200 "
    "with `eligible` and plain-language `reasons`. Idempotency-Key recommended.",
    responses=error_responses(
        ErrorCode.NOT_FOUND,
        ErrorCode.INVALID_IDENTITY,
        ErrorCode.PROGRAM_PAUSED,
        ErrorCode.PROGRAM_CLOSED,
        *IDEMPOTENCY_CODES,
    ),
)
async def create_application(
    program_id: str,
    body: ApplicationCreate,
    request: Request,
    session: SessionDep,
    principal: AppOrOps,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = settings_of(request)

    async def work(remember: idempotency.Remember, applicant: Outcome | None = None) -> dict[str, Any]:
        return await applications.apply(session, program_id, body, settings, remember, applicant)

    return await idempotency.run(
        request,
        session,
        principal,
        idempotency_key,
        body.model_dump(mode="json"),
        work,
        reads=[applications.applicant_read(program_id, body, settings)],
    )


@router.get(
    "/programs/{program_id}/applications",
    response_model=Page[ApplicationPublic],
    summary="List a program's applications",
    description="Filters: `status` (`active`, `unlinked`), `provider_id`, `created_from`/`created_to`.",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def list_applications(
    program_id: str,
    session: SessionDep,
    principal: MunicipalityOrOps,
    page: Pages,
    created: CreatedWindow,
    status: ApplicationStatus | None = None,
    provider_id: str | None = None,
) -> dict[str, Any]:
    rows = await listings.list_applications(
        session, principal, program_id, page, status=status, provider_id=provider_id, created=created
    )
    return make_page([_application_json(row) for row in rows], page, "id")


@router.get(
    "/programs/{program_id}/applications/{application_id}",
    response_model=ApplicationPublic,
    summary="Read an application",
    description="One application of the program, with its payment account and status; never the resident's マイキーID.",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_application(
    program_id: str, application_id: str, session: SessionDep, principal: MunicipalityOrOps
) -> ApplicationPublic:
    return _application_json(await listings.get_application(session, principal, program_id, application_id))


def _application_json(application: Application) -> ApplicationPublic:
    status = ApplicationStatus.unlinked if application.unlinked_at else ApplicationStatus.active
    return ApplicationPublic.model_validate({**application.model_dump(), "status": status})


@router.post(
    "/programs/{program_id}/status",
    response_model=ResidentStatus,
    summary="A resident's status",
    description="Where are my points? The マイキーID goes in the body, never in a URL. Answers whether the "
    "resident is on the roster and eligible, the application, and each grant with its state "
    "and a plain-language reason.",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.INVALID_IDENTITY),
)
async def get_resident_status(
    program_id: str, body: ResidentStatusQuery, request: Request, session: SessionDep, principal: ProgramReaders
) -> dict[str, Any]:
    return await resident.resident_status(
        session, principal, program_id, body.myki_id, settings_of(request).myki_secret_bytes()
    )


# --- grants ----------------------------------------------------------------------------------------------


@router.get(
    "/grants",
    response_model=Page[GrantPublic],
    summary="List grants",
    description="A municipality key sees its own programs' grants, a provider key its own provider's.",
)
async def list_grants(
    session: SessionDep,
    principal: GrantReaders,
    page: Pages,
    program: str | None = None,
    provider: str | None = None,
    status: Annotated[GrantStatus | None, Query()] = None,
) -> dict[str, Any]:
    rows: list[Grant] = await grants.list_grants(
        session, principal, page, program_id=program, provider_id=provider, status=status
    )
    return make_page(rows, page, "id")


@router.post(
    "/grants/{grant_id}/revoke",
    response_model=GrantPublic,
    summary="Take a grant back",
    description="Voids a reservation, or a compensating entry for a credited grant. Idempotency-Key "
    "recommended: a replay answers 200 again instead of 422 grant_resolved.",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.GRANT_RESOLVED, *IDEMPOTENCY_CODES),
)
async def revoke_grant(
    grant_id: str,
    request: Request,
    session: SessionDep,
    principal: MunicipalityOrOps,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        grant = await grants.revoke_grant(session, principal, grant_id)
        return GrantPublic.model_validate(grant).model_dump(mode="json")

    return await idempotency.run(request, session, principal, idempotency_key, {}, work)
