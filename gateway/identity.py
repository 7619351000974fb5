"""`GET /auth/whoami`: what the caller's API key is, so that a front end (the console) shows what the key may
use from the API's answer instead of guessing."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from common.auth import API_KEY_SCHEME, Principal
from common.error_codes import ErrorCode
from common.errors import Unauthorized
from common.openapi import error_responses
from gateway.ratelimit import Decision


class Identity(BaseModel):
    role: Literal["ops", "municipality", "provider", "app"] = Field(description="the key's role (docs/rest.md)")
    key_id: str = Field(description="the key's id, the part of the key after `chk_` and before the secret")
    municipality_code: str | None = Field(description="the municipality a municipality key is bound to")
    provider_id: str | None = Field(description="the payment provider a provider key is bound to")


Authenticate = Callable[[Request], Awaitable[tuple[Principal, Decision]]]


def identity_router(authenticate: Authenticate) -> APIRouter:
    """The route, checking the key as the proxy does (`authenticate`: the key, then the rate limits)."""
    router = APIRouter(tags=["auth"])

    @router.get(
        "/auth/whoami",
        response_model=Identity,
        summary="The role and tenant of the API key sent",
        responses=error_responses(ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED, ErrorCode.KEY_STORE_UNAVAILABLE),
    )
    async def whoami(
        request: Request,
        _documented: Annotated[HTTPAuthorizationCredentials | None, Security(API_KEY_SCHEME)],
    ) -> JSONResponse:
        """The key's role and the municipality or provider it is bound to; 401 without a valid key."""
        principal, decision = await authenticate(request)
        if not principal.is_authenticated or principal.key_id is None:
            raise Unauthorized()
        identity = Identity(
            role=principal.role,
            key_id=principal.key_id,
            municipality_code=principal.municipality_code,
            provider_id=principal.provider_id,
        )
        return JSONResponse(identity.model_dump(), headers=decision.headers())

    return router
