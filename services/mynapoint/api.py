from typing import Annotated

from fastapi import APIRouter, Depends

from common.auth import OpsOnly
from common.db import SessionDep
from common.models.mynapoint import ProviderPublic
from common.pagination import Page, PageParams, make_page, page_params
from services.mynapoint import repository

router = APIRouter(prefix="/mynapoint", tags=["mynapoint"])


@router.get("/providers", response_model=Page[ProviderPublic],
            summary="Payment providers (決済事業者) onboarded to point programs (ops)")
async def list_providers(session: SessionDep, _ops: OpsOnly,
                         page: Annotated[PageParams, Depends(page_params)]) -> dict:
    return make_page(await repository.list_providers(session, page), page, "id")
