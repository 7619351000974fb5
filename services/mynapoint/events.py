"""The webhook events, outbound (chiiki → provider) and inbound (provider → chiiki): each with a JSON Schema
and an example, for `GET /mynapoint/event-types` and the OpenAPI document's `webhooks` section."""

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field

from services.mynapoint.schemas import ChargeCompleted

Direction = Literal["outbound", "inbound"]
REF_TEMPLATE = "#/components/schemas/{model}"


class GrantCreatedData(BaseModel):
    grant_id: str
    program_id: str
    provider_account_id: str
    points: int = Field(gt=0)
    expires_at: str = Field(description="answer with grant.credited before this instant, or the grant is voided")


class GrantRevokedData(BaseModel):
    grant_id: str
    program_id: str
    points: int = Field(gt=0)


class PingData(BaseModel):
    provider_id: str
    message: str


class GrantCreditedData(BaseModel):
    grant_id: str


class AccountUnlinkedData(BaseModel):
    provider_account_id: str
    program_id: str | None = Field(default=None, description="only this program's applications; all when omitted")


@dataclass(frozen=True)
class EventType:
    name: str
    direction: Direction
    description: str
    data: type[BaseModel]
    example: dict[str, Any]

    @property
    def schema_name(self) -> str:
        return "Event_" + self.name.replace(".", "_")

    def envelope_schema(self, ref_template: str = REF_TEMPLATE) -> dict[str, Any]:
        """The whole message: {"type", "timestamp", "data"}, `data` as a reference to its own schema."""
        return {
            "title": self.schema_name,
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"type": "string", "const": self.name},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": ref_template.format(model=self.data.__name__)},
            },
            "examples": [self.example],
        }


STAMP = "2023-06-01T00:00:00+00:00"
EVENT_TYPES = (
    EventType(
        "grant.created",
        "outbound",
        "Credit these points to the account, then send grant.credited before expires_at.",
        GrantCreatedData,
        {
            "type": "grant.created",
            "timestamp": STAMP,
            "data": {
                "grant_id": "gr_0123456789abcdef0123",
                "program_id": "prog_0123456789abcdef0123",
                "provider_account_id": "acct-8842",
                "points": 7500,
                "expires_at": "2023-06-08T00:00:00+00:00",
            },
        },
    ),
    EventType(
        "grant.revoked",
        "outbound",
        "The grant is off: take its points back if they were credited (ignore it for a grant you never stored).",
        GrantRevokedData,
        {
            "type": "grant.revoked",
            "timestamp": STAMP,
            "data": {"grant_id": "gr_0123456789abcdef0123", "program_id": "prog_0123456789abcdef0123", "points": 7500},
        },
    ),
    EventType(
        "ping",
        "outbound",
        "A test event (POST /mynapoint/providers/{provider_id}/ping): verify its "
        "signature and answer 2xx; it changes nothing.",
        PingData,
        {
            "type": "ping",
            "timestamp": STAMP,
            "data": {"provider_id": "prov_0123456789abcdef0123", "message": "ping from chiiki"},
        },
    ),
    EventType(
        "grant.credited",
        "inbound",
        "The points of a grant.created landed on the account: the grant is posted (once).",
        GrantCreditedData,
        {"type": "grant.credited", "timestamp": STAMP, "data": {"grant_id": "gr_0123456789abcdef0123"}},
    ),
    EventType(
        "charge.completed",
        "inbound",
        "Premium programs: reserves rate × amount points within the per-person cap and the budget, once per charge.",
        ChargeCompleted,
        {
            "type": "charge.completed",
            "timestamp": STAMP,
            "data": {
                "charge_id": "ch_42",
                "program_id": "prog_0123456789abcdef0123",
                "provider_account_id": "acct-8842",
                "amount_yen": 20000,
            },
        },
    ),
    EventType(
        "account.unlinked",
        "inbound",
        "The resident unlinked the account: its applications are unlinked and their reserved grants voided.",
        AccountUnlinkedData,
        {"type": "account.unlinked", "timestamp": STAMP, "data": {"provider_account_id": "acct-8842"}},
    ),
)
OUTBOUND = tuple(event for event in EVENT_TYPES if event.direction == "outbound")


def catalogue() -> list[dict[str, Any]]:
    """Each event type with a self-contained JSON Schema (its data schema under $defs) and an example."""
    items = []
    for event in EVENT_TYPES:
        schema = event.envelope_schema("#/$defs/{model}")
        schema["$defs"] = {event.data.__name__: event.data.model_json_schema()}
        items.append(
            {
                "type": event.name,
                "direction": event.direction,
                "description": event.description,
                "schema": schema,
                "example": event.example,
            }
        )
    return items


class EventTypePublic(BaseModel):
    type: str
    direction: Direction
    description: str
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema (2020-12) of the whole message")
    example: dict[str, Any]


class EventTypeList(BaseModel):
    items: list[EventTypePublic]


def webhooks_section() -> tuple[dict[str, Any], dict[str, Any]]:
    """OpenAPI 3.1 `webhooks` (every outbound event, POSTed to the provider's webhook_url) and the schemas they
    refer to, for components/schemas."""
    webhooks: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for event in OUTBOUND:
        schemas[event.schema_name] = event.envelope_schema()
        schemas[event.data.__name__] = event.data.model_json_schema(ref_template=REF_TEMPLATE)
        webhooks[event.name] = {
            "post": {
                "summary": f"{event.name} (to the provider's webhook_url, signed as Standard Webhooks)",
                "description": event.description,
                "tags": ["mynapoint webhooks"],
                "operationId": "mynapoint_webhook_" + event.name.replace(".", "_"),
                "parameters": [
                    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=event.schema_name)}}},
                },
                "responses": {"200": {"description": "Any 2xx acknowledges the event; anything else is retried"}},
            }
        }
    return webhooks, schemas


def install_webhooks(app: FastAPI) -> None:
    """The app's document gains the webhooks section, after the error documents (FastAPI's documented hook)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            webhooks, schemas = webhooks_section()
            document["webhooks"] = webhooks
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook for a custom document
