"""ASGI entry point: `uvicorn --factory services.matching.main:create_app`."""

from fastapi import FastAPI

from common.app import create_service_app
from common.db import Database
from common.settings import Settings
from services.matching import api, rounds_api


def create_app(*, settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    return create_service_app("matching", "chiiki matching", [api.router, rounds_api.router], settings=settings, db=db)
