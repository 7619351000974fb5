from fastapi import APIRouter

from common.auth import Authenticated
from common.db import SessionDep
from common.models.matching import FieldOfWorkPublic
from common.pagination import Page
from services.matching import repository

router = APIRouter(prefix="/matching", tags=["matching"])


@router.get("/fields", response_model=Page[FieldOfWorkPublic],
            summary="The shared vocabulary of fields of work (分野) that profiles and needs are tagged with")
async def list_fields(session: SessionDep, _principal: Authenticated) -> dict:
    # The vocabulary is small (tens of rows): one page, in display order.
    return {"items": await repository.list_fields(session), "next_cursor": None}
