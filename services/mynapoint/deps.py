"""What the point-issuance routes share: the roles they admit, the Idempotency-Key header, query filters."""

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from common.auth import Principal, require_roles
from common.errors import Unprocessable
from common.models import ApiKeyRole
from common.pagination import PageParams, page_params
from common.schemas import AwareDatetime
from common.settings import Settings
from services.mynapoint import idempotency
from services.mynapoint.listings import Window

MunicipalityOrOps = Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality))]
AppOrOps = Annotated[Principal, Depends(require_roles(ApiKeyRole.app))]
ProgramReaders = Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality, ApiKeyRole.app))]
GrantReaders = Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality, ApiKeyRole.provider))]
ProviderOrOps = Annotated[Principal, Depends(require_roles(ApiKeyRole.provider))]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=idempotency.MAX_KEY_LENGTH)
]
Pages = Annotated[PageParams, Depends(page_params)]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def created_window(
    created_from: Annotated[AwareDatetime | None, Query(description="created at or after this instant")] = None,
    created_to: Annotated[AwareDatetime | None, Query(description="created before this instant")] = None,
) -> Window:
    if created_from and created_to and created_to <= created_from:
        raise Unprocessable("created_to must be after created_from", field="created_to")
    return Window(created_from, created_to)


CreatedWindow = Annotated[Window, Depends(created_window)]
