"""Point-issuance routes for payment providers and ops: providers and their tooling, the event catalogue,
outbound deliveries, settlements, and the inbound webhook endpoint."""

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from common.auth import Authenticated, CurrentPrincipal, OpsOnly
from common.db import SessionDep
from common.error_codes import ErrorCode
from common.models import OutboxEvent, Provider
from common.models.mynapoint import DeliveryPublic, DeliveryStatus, ProviderPublic
from common.openapi import error_responses
from common.pagination import Page, make_page
from services.mynapoint import (
    idempotency,
    inbound,
    listings,
    provider_tools,
    providers,
    redelivery,
    repository,
    settlement,
    tenancy,
)
from services.mynapoint.deps import CreatedWindow, GrantReaders, IdempotencyKey, Pages, ProviderOrOps, settings_of
from services.mynapoint.events import EVENT_TYPES, EventTypeList, catalogue
from services.mynapoint.schemas import (
    DeliveryDetail,
    InboundReceipt,
    ProviderCreate,
    ProviderCreated,
    ProviderUpdate,
    Recovery,
    RecoveryResult,
    SecretRotated,
    SecretRotation,
    SettlementReport,
)

router = APIRouter(prefix="/mynapoint", tags=["mynapoint providers"])
webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"])
IDEMPOTENCY_CODES = (ErrorCode.IDEMPOTENCY_IN_PROGRESS, ErrorCode.IDEMPOTENCY_KEY_REUSED)


# --- providers -------------------------------------------------------------------------------------------


@router.get(
    "/providers",
    response_model=Page[ProviderPublic],
    summary="List payment providers",
    description="The payment providers (決済事業者) onboarded to point programs (ops).",
)
async def list_providers(session: SessionDep, _ops: OpsOnly, page: Pages) -> dict[str, Any]:
    return make_page(await repository.list_providers(session, page), page, "id")


@router.post(
    "/providers",
    status_code=201,
    response_model=ProviderCreated,
    summary="Onboard a provider",
    description="Its `whsec_` signing secret is shown only here (Idempotency-Key recommended).",
    responses=error_responses(*IDEMPOTENCY_CODES),
)
async def create_provider(
    body: ProviderCreate, request: Request, session: SessionDep, ops: OpsOnly, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """A replay (same ops key, same Idempotency-Key, same body) returns the first response, secret included.

    The secret is stored in the provider row anyway (it must sign), the replay goes only to the API key that
    made the provider, and a client whose first response was lost needs the secret to use the provider at
    all. A replay after a rotation still shows the secret issued at creation: it answers the original request.
    """

    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        provider, secret = await providers.create_provider(session, body.name, body.webhook_url, settings_of(request))
        return {**ProviderPublic.model_validate(provider).model_dump(mode="json"), "webhook_secret": secret}

    return await idempotency.run(
        request, session, ops, idempotency_key, body.model_dump(mode="json"), work, status_code=201
    )


@router.get(
    "/providers/{provider_id}",
    response_model=ProviderPublic,
    summary="Read a provider",
    description="Ops any; a provider key its own (another's is 404).",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_provider(provider_id: str, session: SessionDep, principal: ProviderOrOps) -> Provider:
    return await provider_tools.provider_for(session, principal, provider_id)


@router.patch(
    "/providers/{provider_id}",
    response_model=ProviderPublic,
    summary="Change a provider",
    description="Its name or webhook endpoint URL (checked as at onboarding) (ops).",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def update_provider(
    provider_id: str, body: ProviderUpdate, request: Request, session: SessionDep, _ops: OpsOnly
) -> Provider:
    return await providers.update_provider(session, provider_id, body, settings_of(request))


@router.post(
    "/providers/{provider_id}/enable-webhooks",
    response_model=ProviderPublic,
    summary="Enable a disabled endpoint",
    description="Deliver to an endpoint again after a 410 disabled it (ops); failed events stay to be "
    "redelivered (POST /mynapoint/providers/{provider_id}/recover).",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def enable_webhooks(provider_id: str, session: SessionDep, _ops: OpsOnly) -> Provider:
    return await providers.enable_webhooks(session, provider_id)


@router.post(
    "/providers/{provider_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Rotate the secret",
    description="A new signing secret (Idempotency-Key recommended); the old one keeps signing for "
    "`overlap_hours`. A replay returns the secret of the one rotation the key made; a retry "
    "without a key rotates again, and the secret of the first try stops signing.",
    responses=error_responses(ErrorCode.NOT_FOUND, *IDEMPOTENCY_CODES),
)
async def rotate_secret(
    provider_id: str,
    body: SecretRotation,
    request: Request,
    session: SessionDep,
    ops: OpsOnly,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        provider, secret = await providers.rotate_secret(session, provider_id, body.overlap_hours)
        expires = provider.previous_secret_expires_at
        return {
            "id": provider.id,
            "webhook_secret": secret,
            "previous_secret_expires_at": expires.isoformat() if expires else None,
        }

    return await idempotency.run(request, session, ops, idempotency_key, body.model_dump(mode="json"), work)


@router.post(
    "/providers/{provider_id}/ping",
    status_code=202,
    response_model=DeliveryPublic,
    summary="Send a test event",
    description="Queues a signed `ping` event to the provider's endpoint and "
    "answers the delivery to follow (GET /mynapoint/deliveries/"
    "{event_id} shows its attempts). Ops, or the provider itself.",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.ENDPOINT_DISABLED),
)
async def ping_provider(provider_id: str, session: SessionDep, principal: ProviderOrOps) -> OutboxEvent:
    return await provider_tools.ping(session, principal, provider_id)


@router.post(
    "/providers/{provider_id}/recover",
    response_model=RecoveryResult,
    summary="Recover failed deliveries",
    description="Queues again every failed delivery of the provider created in [`since`, `until`) — at "
    f"most {provider_tools.MAX_RECOVERED} a call — each by the rules of a single redelivery; "
    "answers how many, and those the rules leave as they are. Calling again queues nothing "
    "twice (Idempotency-Key recommended). Ops, or the provider itself.",
    responses=error_responses(ErrorCode.NOT_FOUND, ErrorCode.ENDPOINT_DISABLED, *IDEMPOTENCY_CODES),
)
async def recover_deliveries(
    provider_id: str,
    body: Recovery,
    request: Request,
    session: SessionDep,
    principal: ProviderOrOps,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        return await provider_tools.recover(
            session, principal, provider_id, body.since, body.until, settings_of(request)
        )

    return await idempotency.run(request, session, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get(
    "/event-types",
    response_model=EventTypeList,
    summary="List webhook event types",
    description="Each outbound (chiiki → provider) and inbound (provider → chiiki) event with a JSON Schema "
    "of the whole message and an example; the outbound ones are also the document's webhooks.",
)
async def list_event_types(_principal: Authenticated) -> dict[str, Any]:
    return {"items": catalogue()}


# --- deliveries ------------------------------------------------------------------------------------------


@router.get(
    "/deliveries",
    response_model=Page[DeliveryPublic],
    summary="List outbound deliveries",
    description="Outbound webhook events: ops all, a provider key its own (a `provider_id` other than its "
    "own is refused); filters `status`, `provider_id`, `program_id`, `event_type`, `created_from`/`created_to`.",
)
async def list_deliveries(
    session: SessionDep,
    principal: ProviderOrOps,
    page: Pages,
    created: CreatedWindow,
    status: DeliveryStatus | None = None,
    provider_id: str | None = None,
    program_id: str | None = None,
    event_type: Annotated[str | None, Query(max_length=60)] = None,
) -> dict[str, Any]:
    provider_id = tenancy.provider_filter(principal, provider_id, field="provider_id", noun="deliveries")
    filters = listings.DeliveryFilters(
        status=status, provider_id=provider_id, program_id=program_id, event_type=event_type, created=created
    )
    return make_page(await listings.list_deliveries(session, page, filters), page, "id")


@router.get(
    "/deliveries/{event_id}",
    response_model=DeliveryDetail,
    summary="Read a delivery and its attempts",
    description="The event and every attempt to send it: when, the HTTP status or the error, the latency. "
    "Ops any; a provider key its own (another's is 404).",
    responses=error_responses(ErrorCode.NOT_FOUND),
)
async def get_delivery(event_id: str, session: SessionDep, principal: ProviderOrOps) -> dict[str, Any]:
    event = await tenancy.delivery_for(session, principal, event_id)
    attempts = await listings.delivery_attempts(session, event.id)
    return {**DeliveryPublic.model_validate(event).model_dump(), "attempts_made": attempts}


@router.post(
    "/deliveries/{event_id}/redeliver",
    response_model=DeliveryPublic,
    summary="Redeliver an event",
    description="Send a failed or delivered event again, from the first attempt (never a cancelled one); a "
    "grant.created whose grant its failure voided reserves the grant again as a new grant and "
    "sends that one's. Ops any; a provider key its own (another's is 404), by the rules its recovery "
    "applies (Idempotency-Key recommended: a replay does not queue it twice).",
    responses=error_responses(
        ErrorCode.NOT_FOUND,
        ErrorCode.DELIVERY_CANCELLED,
        ErrorCode.ENDPOINT_DISABLED,
        ErrorCode.GRANT_RESOLVED,
        ErrorCode.GRANT_SUPERSEDED,
        ErrorCode.ALREADY_REDELIVERED,
        ErrorCode.PER_PERSON_CAP_REACHED,
        ErrorCode.BUDGET_EXHAUSTED,
        ErrorCode.ACCOUNT_UNLINKED,
        ErrorCode.OUTSIDE_WINDOW,
        ErrorCode.BUSY,
        *IDEMPOTENCY_CODES,
    ),
)
async def redeliver_delivery(
    event_id: str,
    request: Request,
    session: SessionDep,
    principal: ProviderOrOps,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(_remember: idempotency.Remember) -> dict[str, Any]:
        await tenancy.delivery_for(session, principal, event_id)
        event = await redelivery.redeliver(session, event_id, settings_of(request))
        return DeliveryPublic.model_validate(event).model_dump(mode="json")

    return await idempotency.run(request, session, principal, idempotency_key, {}, work)


# --- settlement ------------------------------------------------------------------------------------------

SETTLEMENT_COLUMNS = (
    "municipality_code",
    "provider_id",
    "month",
    "credited_count",
    "credited_yen",
    "revoked_count",
    "revoked_yen",
    "net_yen",
)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get(
    "/settlements",
    response_model=SettlementReport,
    summary="Settlement per municipality × provider × month",
    description="JSON, or CSV with `Accept: text/csv`. A municipality key sees its own, a provider key its own.",
    responses=CSV_RESPONSE,
)
async def list_settlements(
    request: Request,
    session: SessionDep,
    principal: GrantReaders,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    municipality: str | None = None,
    provider: str | None = None,
) -> Response:
    rows = await settlement.settlements(session, principal, month, municipality, provider)
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=SETTLEMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    return JSONResponse({"month": month, "items": rows})


# --- inbound webhooks ------------------------------------------------------------------------------------


@webhooks.post(
    "/providers/{provider_id}",
    response_model=InboundReceipt,
    summary="Receive a provider's webhook",
    description="Inbound Standard Webhooks from a provider (signed with its secret, no API key): "
    f"{', '.join(e.name for e in EVENT_TYPES if e.direction == 'inbound')}; GET "
    "/mynapoint/event-types has their schemas.",
    responses=error_responses(ErrorCode.BAD_SIGNATURE, ErrorCode.BUSY),
)
async def receive_webhook(
    provider_id: str, request: Request, session: SessionDep, _principal: CurrentPrincipal
) -> dict[str, Any]:
    body = await request.body()
    result: dict[str, Any] = await inbound.receive(
        session, provider_id, body, dict(request.headers), settings_of(request)
    )
    return result
