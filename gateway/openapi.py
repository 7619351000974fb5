"""One OpenAPI document for the whole suite: the gateway's own paths and every service's public paths.

The services' documents are fetched from the running services (their `/openapi.json` is open), so the
merged document always describes the services that are actually deployed; it is kept for a minute.
"""

import asyncio
import copy
import json
import time
from collections.abc import Callable

from common.error_codes import ErrorCode
from common.openapi import (
    Document,
    Operation,
    declared_codes,
    document_errors,
    has_inputs,
    operations,
    set_error_responses,
)
from gateway.proxy import upstream_for
from gateway.upstreams import CALL_ERRORS, Upstream

CACHE_SECONDS = 60
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `chiiki keys create`: `Authorization: Bearer chk_…`",
    }
}
# What the gateway itself may answer in front of any service operation: a malformed request or body length,
# a bad key (checked whenever one is sent), the rate limits, the key store, and the service's absence.
THROUGH_THE_GATEWAY = frozenset(
    {
        ErrorCode.BAD_REQUEST,
        ErrorCode.UNAUTHORIZED,
        ErrorCode.RATE_LIMITED,
        ErrorCode.KEY_STORE_UNAVAILABLE,
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.UPSTREAM_TIMEOUT,
    }
)
BODY_METHODS = frozenset({"post", "put", "patch"})
# A service's answer to a caller that went around the gateway: never seen through it.
SERVICE_ONLY = frozenset({ErrorCode.GATEWAY_REQUIRED})


def gateway_error_codes(_path: str, _method: str, operation: Operation) -> set[ErrorCode]:
    """The codes any of the gateway's own operations can answer, beyond those its route declares."""
    return {ErrorCode.INTERNAL_ERROR} | ({ErrorCode.INVALID_INPUT} if has_inputs(operation) else set())


def proxied_error_codes(method: str, operation: Operation) -> set[ErrorCode]:
    """A service operation's codes as seen through the gateway."""
    codes = (declared_codes(operation) - SERVICE_ONLY) | THROUGH_THE_GATEWAY
    if method in BODY_METHODS or "requestBody" in operation:
        codes.add(ErrorCode.PAYLOAD_TOO_LARGE)
    return codes


class ServiceDocumentUnavailable(Exception):
    pass


async def fetch_service_documents(upstreams: dict[str, Upstream]) -> dict[str, Document]:
    async def fetch(name: str, upstream: Upstream) -> tuple[str, Document]:
        try:
            document: Document = await upstream.get_json("/openapi.json")
            return name, document
        except (*CALL_ERRORS, ValueError) as exc:
            raise ServiceDocumentUnavailable(f"the {name} service's API description is unavailable") from exc

    return dict(await asyncio.gather(*(fetch(name, upstream) for name, upstream in upstreams.items())))


def _rename_schema(document: Document, old: str, new: str) -> Document:
    text = json.dumps(document).replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: Document = json.loads(text)
    schemas = renamed["components"]["schemas"]
    schemas[new] = schemas.pop(old)
    return renamed


def merge_documents(gateway_document: Document, service_documents: dict[str, Document]) -> Document:
    merged = document_errors(copy.deepcopy(gateway_document), gateway_error_codes)
    merged["info"]["description"] = (
        "The chiiki suite through its gateway: subsidy, matching and mynapoint. "
        "Protected operations take `Authorization: Bearer <api key>`. Every error "
        "has the `Error` body; each operation lists the codes it can answer."
    )
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    paths = merged.setdefault("paths", {})
    tags = {tag["name"]: tag for tag in merged.get("tags", [])}
    for service, document in service_documents.items():
        document = copy.deepcopy(document)
        for name in list(document.get("components", {}).get("schemas", {})):
            theirs = document["components"]["schemas"][name]
            if name in schemas and schemas[name] != theirs:
                document = _rename_schema(document, name, f"{service}_{name}")
        schemas.update(document.get("components", {}).get("schemas", {}))
        if document.get("webhooks"):  # OpenAPI 3.1: the events a service sends to its integrators
            merged.setdefault("webhooks", {}).update(document["webhooks"])
        for tag in document.get("tags", []):
            tags.setdefault(tag["name"], tag)
        for path, method, operation in operations(document):
            if upstream_for(path) != service:
                continue  # the service's own probes and metrics are not reachable through the gateway
            set_error_responses(operation, proxied_error_codes(method, operation))
            paths.setdefault(path, {})[method] = operation
    if tags:
        merged["tags"] = list(tags.values())
    return merged


class MergedDocument:
    def __init__(self, gateway_document_factory: Callable[[], Document], clock: Callable[[], float] = time.monotonic):
        self.gateway_document_factory = gateway_document_factory
        self.clock = clock
        self._document: Document | None = None
        self._built_at = 0.0

    async def get(self, upstreams: dict[str, Upstream]) -> Document:
        if self._document is None or self.clock() - self._built_at > CACHE_SECONDS:
            services = await fetch_service_documents(upstreams)
            self._document = merge_documents(self.gateway_document_factory(), services)
            self._built_at = self.clock()
        return self._document
