"""Point-issuance service: municipal point programs, their budget ledger and provider webhooks."""

import csv
import io
import itertools
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from common.auth import CurrentPrincipal, OpsOnly, Principal, require_roles
from common.db import SessionDep
from common.driver_sql import Outcome
from common.error_codes import ErrorCode
from common.errors import Unprocessable
from common.models import ApiKeyRole
from common.models.mynapoint import DeliveryPublic, DeliveryStatus, GrantPublic, GrantStatus, ProviderPublic
from common.openapi import error_responses
from common.pagination import Page, PageParams, make_page, page_params
from common.schemas import parse_json
from services.mynapoint import (
    applications,
    grants,
    idempotency,
    inbound,
    programs,
    providers,
    redelivery,
    repository,
    settlement,
)
from services.mynapoint.schemas import (
    ApplicationCreate,
    Funding,
    ProgramCreate,
    ProgramPublic,
    ProviderCreate,
    ProviderUpdate,
    SecretRotation,
)
from services.mynapoint.templates import TEMPLATES
from services.mynapoint.tenancy import program_for

router = APIRouter(prefix="/mynapoint", tags=["mynapoint"])
webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"])

MunicipalityOrOps = Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality))]
AppOrOps = Annotated[Principal, Depends(require_roles(ApiKeyRole.app))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                              max_length=idempotency.MAX_KEY_LENGTH)]
# So that the largest upload fits the gateway's timeout many times over (bench/roster.py: ≥ 20,000 rows/s).
MAX_ROSTER_ROWS = 50_000


def _settings(request: Request):
    return request.app.state.settings


# --- providers -------------------------------------------------------------------------------------------

@router.get("/providers", response_model=Page[ProviderPublic],
            summary="Payment providers (決済事業者) onboarded to point programs (ops)")
async def list_providers(session: SessionDep, _ops: OpsOnly,
                         page: Annotated[PageParams, Depends(page_params)]) -> dict:
    return make_page(await repository.list_providers(session, page), page, "id")


@router.post("/providers", status_code=201,
             summary="Onboard a provider (Idempotency-Key recommended); its whsec_ secret is shown only here",
             responses=error_responses(ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def create_provider(body: ProviderCreate, request: Request, session: SessionDep, ops: OpsOnly,
                          idempotency_key: IdempotencyKey = None):
    """A replay (same ops key, same Idempotency-Key, same body) returns the first response, secret included.

    The secret is stored in the provider row anyway (it must sign), the replay goes only to the API key that
    made the provider, and a client whose first response was lost needs the secret to use the provider at
    all. A replay after a rotation still shows the secret issued at creation: it answers the original request.
    """
    async def work(_remember) -> dict:
        provider, secret = await providers.create_provider(session, body.name, body.webhook_url, _settings(request))
        return {**ProviderPublic.model_validate(provider).model_dump(mode="json"), "webhook_secret": secret}

    return await idempotency.run(request, session, ops, idempotency_key, body.model_dump(mode="json"), work,
                                 status_code=201)


@router.patch("/providers/{provider_id}", response_model=ProviderPublic,
              summary="Change a provider's name or webhook endpoint URL (ops)",
              responses=error_responses(ErrorCode.NOT_FOUND))
async def update_provider(provider_id: str, body: ProviderUpdate, request: Request, session: SessionDep,
                          _ops: OpsOnly):
    return await providers.update_provider(session, provider_id, body, _settings(request))


@router.post("/providers/{provider_id}/enable-webhooks", response_model=ProviderPublic,
             summary="Deliver to an endpoint again after a 410 disabled it (ops); failed events stay to be redelivered",
             responses=error_responses(ErrorCode.NOT_FOUND))
async def enable_webhooks(provider_id: str, session: SessionDep, _ops: OpsOnly):
    return await providers.enable_webhooks(session, provider_id)


@router.post("/providers/{provider_id}/rotate-secret",
             summary="New signing secret (Idempotency-Key recommended); the old one keeps signing for the overlap",
             responses=error_responses(ErrorCode.NOT_FOUND,
                                       ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def rotate_secret(provider_id: str, body: SecretRotation, request: Request, session: SessionDep,
                        ops: OpsOnly, idempotency_key: IdempotencyKey = None):
    """A replay returns the secret of the one rotation the key made, as for provider creation; a retry
    without a key rotates again, and the secret of the first try stops signing."""
    async def work(_remember) -> dict:
        provider, secret = await providers.rotate_secret(session, provider_id, body.overlap_hours)
        return {"id": provider.id, "webhook_secret": secret,
                "previous_secret_expires_at": provider.previous_secret_expires_at.isoformat()}

    return await idempotency.run(request, session, ops, idempotency_key, body.model_dump(mode="json"), work)


# --- programs --------------------------------------------------------------------------------------------

@router.get("/program-templates", summary="Built-in templates (マイナポイント第1弾, 第2弾 ①②③)")
async def list_templates(_principal: Annotated[Principal, Depends(require_roles())]) -> dict:
    return {"items": [{"id": key, **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in value.items()}}
                      for key, value in TEMPLATES.items()]}


def _program_json(program) -> dict:
    return ProgramPublic.model_validate(program).model_dump(mode="json")


@router.post("/programs", status_code=201, response_model=ProgramPublic,
             summary="Create a point program (Idempotency-Key recommended)",
             responses=error_responses(ErrorCode.NOT_FOUND,
                                       ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def create_program(body: ProgramCreate, request: Request, session: SessionDep, principal: MunicipalityOrOps,
                         idempotency_key: IdempotencyKey = None):
    async def work(_remember) -> dict:
        return _program_json(await programs.create_program(session, principal, body))

    return await idempotency.run(request, session, principal, idempotency_key, body.model_dump(mode="json"), work,
                                 status_code=201)


@router.get("/programs/{program_id}", response_model=ProgramPublic, responses=error_responses(ErrorCode.NOT_FOUND))
async def get_program(program_id: str, session: SessionDep,
                      principal: Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality,
                                                                            ApiKeyRole.app))]):
    return await program_for(session, principal, program_id, manage=False)


@router.post("/programs/{program_id}/funding", response_model=ProgramPublic,
             summary="Top up the budget (a ledger entry; Idempotency-Key recommended)",
             responses=error_responses(ErrorCode.NOT_FOUND,
                                       ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def fund_program(program_id: str, body: Funding, request: Request, session: SessionDep,
                       principal: MunicipalityOrOps, idempotency_key: IdempotencyKey = None):
    async def work(_remember) -> dict:
        return _program_json(await programs.fund_program(session, principal, program_id, body.amount_yen))

    return await idempotency.run(request, session, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.post("/programs/{program_id}/roster",
             summary="Upsert the roster (JSON {residents: [...]} or text/csv); all rows or none",
             responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                                       ErrorCode.PAYLOAD_TOO_LARGE))
async def upload_roster(program_id: str, request: Request, session: SessionDep, principal: MunicipalityOrOps) -> dict:
    rows = await _roster_rows(request)
    # The contract's 200 either way: with errors, "upserted" is 0 and nothing was written.
    return await programs.upsert_roster(session, principal, program_id, rows, _settings(request).myki_secret_bytes())


async def _roster_rows(request: Request) -> list[dict]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type == "text/csv":
        try:
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
            rows = [_csv_row(row) for row in itertools.islice(reader, MAX_ROSTER_ROWS + 1)]
        except (UnicodeDecodeError, csv.Error):
            raise Unprocessable("the CSV must be UTF-8 with a header row", field="body") from None
    elif content_type == "application/json":
        try:
            rows = parse_json(raw)["residents"]
        except (ValueError, KeyError, TypeError):
            raise Unprocessable('send {"residents": [...]}', field="residents") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise Unprocessable("residents must be a list of objects", field="residents")
    else:
        raise Unprocessable("send application/json or text/csv", code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                            field="content-type")
    if len(rows) > MAX_ROSTER_ROWS:
        raise Unprocessable(f"at most {MAX_ROSTER_ROWS:,} rows per upload: split the roster into several uploads "
                            "(each is all rows or none); nothing was written", code=ErrorCode.PAYLOAD_TOO_LARGE,
                            field="residents")
    return rows


def _csv_row(row: dict) -> dict:
    """CSV cells are text: empty means absent, and booleans are true/false/1/0 (pydantic reads those)."""
    return {key.strip(): value.strip() for key, value in row.items()
            if key is not None and value is not None and value.strip() != ""}


# --- applications and grants -----------------------------------------------------------------------------

@router.post("/programs/{program_id}/applications",
             summary="A resident applies (Idempotency-Key recommended); eligibility, then a grant if budget remains",
             responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.INVALID_IDENTITY,
                                       ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def apply(program_id: str, body: ApplicationCreate, request: Request, session: SessionDep,
                principal: AppOrOps, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    settings = _settings(request)

    async def work(remember: idempotency.Remember, applicant: Outcome | None = None) -> dict:
        return await applications.apply(session, program_id, body, settings, remember, applicant)

    return await idempotency.run(request, session, principal, idempotency_key, body.model_dump(mode="json"), work,
                                 reads=[applications.applicant_read(program_id, body, settings)])


@router.get("/grants", response_model=Page[GrantPublic])
async def list_grants(session: SessionDep, principal: Annotated[Principal, Depends(require_roles(
                          ApiKeyRole.municipality, ApiKeyRole.provider))],
                      page: Annotated[PageParams, Depends(page_params)],
                      program: str | None = None, provider: str | None = None,
                      status: Annotated[GrantStatus | None, Query()] = None) -> dict:
    rows = await grants.list_grants(session, principal, page, program_id=program, provider_id=provider, status=status)
    return make_page(rows, page, "id")


@router.post("/grants/{grant_id}/revoke", response_model=GrantPublic,
             summary="Take a grant back: voids a reservation, or a compensating entry for a credited grant "
                     "(Idempotency-Key recommended: a replay answers 200 again instead of 422 grant_resolved)",
             responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.GRANT_RESOLVED,
                                       ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def revoke_grant(grant_id: str, request: Request, session: SessionDep, principal: MunicipalityOrOps,
                       idempotency_key: IdempotencyKey = None):
    async def work(_remember) -> dict:
        grant = await grants.revoke_grant(session, principal, grant_id)
        return GrantPublic.model_validate(grant).model_dump(mode="json")

    return await idempotency.run(request, session, principal, idempotency_key, {}, work)


# --- deliveries ------------------------------------------------------------------------------------------

@router.get("/deliveries", response_model=Page[DeliveryPublic], summary="Outbound webhooks (ops)")
async def list_deliveries(session: SessionDep, _ops: OpsOnly, page: Annotated[PageParams, Depends(page_params)],
                          status: Annotated[DeliveryStatus | None, Query()] = None) -> dict:
    return make_page(await repository.list_deliveries(session, page, status), page, "id")


@router.post("/deliveries/{event_id}/redeliver", response_model=DeliveryPublic,
             summary="Send a failed or delivered event again, from the first attempt (never a cancelled one); a "
                     "grant.created whose grant its failure voided reserves the grant again as a new grant and "
                     "sends that one's (ops; Idempotency-Key recommended: a replay does not queue it a second time)",
             responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.DELIVERY_CANCELLED, ErrorCode.ENDPOINT_DISABLED,
                                       ErrorCode.GRANT_RESOLVED, ErrorCode.GRANT_SUPERSEDED,
                                       ErrorCode.ALREADY_REDELIVERED, ErrorCode.PER_PERSON_CAP_REACHED,
                                       ErrorCode.BUDGET_EXHAUSTED, ErrorCode.ACCOUNT_UNLINKED, ErrorCode.OUTSIDE_WINDOW,
                                       ErrorCode.BUSY, ErrorCode.IDEMPOTENCY_IN_PROGRESS,
                                       ErrorCode.IDEMPOTENCY_KEY_REUSED))
async def redeliver(event_id: str, request: Request, session: SessionDep, ops: OpsOnly,
                    idempotency_key: IdempotencyKey = None):
    async def work(_remember) -> dict:
        event = await redelivery.redeliver(session, event_id, _settings(request))
        return DeliveryPublic.model_validate(event).model_dump(mode="json")

    return await idempotency.run(request, session, ops, idempotency_key, {}, work)


# --- settlement ------------------------------------------------------------------------------------------

SETTLEMENT_COLUMNS = ("municipality_code", "provider_id", "month", "credited_count", "credited_yen",
                      "revoked_count", "revoked_yen", "net_yen")


@router.get("/settlements", summary="Per municipality × provider × month (JSON, or CSV with Accept: text/csv)")
async def settlements(request: Request, session: SessionDep,
                      principal: Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality,
                                                                            ApiKeyRole.provider))],
                      month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
                      municipality: str | None = None, provider: str | None = None) -> Response:
    rows = await settlement.settlements(session, principal, month, municipality, provider)
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=SETTLEMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    return JSONResponse({"month": month, "items": rows})


# --- inbound webhooks ------------------------------------------------------------------------------------

@webhooks.post("/providers/{provider_id}", summary="Inbound Standard Webhooks from a provider (signed, no API key)",
               responses=error_responses(ErrorCode.BAD_SIGNATURE, ErrorCode.BUSY))
async def receive_webhook(provider_id: str, request: Request, session: SessionDep,
                          _principal: CurrentPrincipal) -> dict:
    body = await request.body()
    return await inbound.receive(session, provider_id, body, dict(request.headers), _settings(request))
