"""One OpenAPI document for the whole suite: the gateway's own paths and every service's public paths.

The services' documents are fetched from the running services (their `/openapi.json` is open), so the
merged document always describes the services that are actually deployed; it is kept for a minute.
"""

import asyncio
import copy
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from gateway.proxy import upstream_for

# An OpenAPI document or a part of one, as JSON: its shape is the OpenAPI schema's, not ours to type.
JsonObject = dict[str, Any]
CACHE_SECONDS = 60
ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Missing, unknown or revoked API key",
    "403": "This key's role or tenant may not do this",
    "404": "No such resource (or not visible to this key)",
    "413": "Request body too large",
    "422": "Invalid input; `field` names the bad field",
    "429": "Over the rate limit; retry after `Retry-After` seconds",
}
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string"},
            "request_id": {"type": ["string", "null"]},
        },
    }},
}
SECURITY_SCHEMES = {"ApiKey": {"type": "http", "scheme": "bearer",
                               "description": "An API key from `chiiki keys create`: `Authorization: Bearer chk_…`"}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


class ServiceDocumentUnavailable(Exception):
    pass


async def fetch_service_documents(upstreams: dict[str, httpx.AsyncClient]) -> dict[str, JsonObject]:
    async def fetch(name: str, client: httpx.AsyncClient) -> tuple[str, JsonObject]:
        try:
            response = await client.get("/openapi.json")
            response.raise_for_status()
            return name, response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceDocumentUnavailable(f"the {name} service's API description is unavailable") from exc

    return dict(await asyncio.gather(*(fetch(name, client) for name, client in upstreams.items())))


def _rename_schema(document: JsonObject, old: str, new: str) -> JsonObject:
    text = json.dumps(document).replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: JsonObject = json.loads(text)
    schemas = renamed["components"]["schemas"]
    schemas[new] = schemas.pop(old)
    return renamed


def _with_error_responses(operation: JsonObject) -> JsonObject:
    responses = operation.setdefault("responses", {})
    for status, description in ERROR_STATUSES.items():
        if status == "413" and "requestBody" not in operation:
            continue
        # FastAPI documents 422 as its own validation body; the suite answers with its error body.
        existing = responses.get(status, {})
        response = {"description": existing.get("description", description),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if status == "429":
            response["headers"] = RETRY_AFTER
        responses[status] = response
    return operation


def merge_documents(gateway_document: JsonObject, service_documents: dict[str, JsonObject]) -> JsonObject:
    merged = copy.deepcopy(gateway_document)
    merged["info"]["description"] = ("The chiiki suite through its gateway: subsidy, matching and mynapoint. "
                                     "Protected operations take `Authorization: Bearer <api key>`.")
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas["Error"] = ERROR_SCHEMA
    paths = merged.setdefault("paths", {})
    tags = {tag["name"]: tag for tag in merged.get("tags", [])}
    for service, document in service_documents.items():
        document = copy.deepcopy(document)
        for name in list(document.get("components", {}).get("schemas", {})):
            theirs = document["components"]["schemas"][name]
            if name in schemas and schemas[name] != theirs:
                document = _rename_schema(document, name, f"{service}_{name}")
        schemas.update(document.get("components", {}).get("schemas", {}))
        for tag in document.get("tags", []):
            tags.setdefault(tag["name"], tag)
        for path, item in document.get("paths", {}).items():
            if upstream_for(path) != service:
                continue  # the service's own probes and metrics are not reachable through the gateway
            paths[path] = {method: _with_error_responses(operation) if isinstance(operation, dict) else operation
                           for method, operation in item.items()}
    if tags:
        merged["tags"] = list(tags.values())
    return merged


class MergedDocument:
    def __init__(self, gateway_document_factory: Callable[[], JsonObject], clock: Callable[[], float] = time.monotonic):
        self.gateway_document_factory = gateway_document_factory
        self.clock = clock
        self._document: JsonObject | None = None
        self._built_at = 0.0

    async def get(self, upstreams: dict[str, httpx.AsyncClient]) -> JsonObject:
        if self._document is None or self.clock() - self._built_at > CACHE_SECONDS:
            services = await fetch_service_documents(upstreams)
            self._document = merge_documents(self.gateway_document_factory(), services)
            self._built_at = self.clock()
        return self._document
