"""ASGI entry point: `uvicorn --factory services.subsidy.main:create_app`."""

from fastapi import FastAPI

from common.app import create_service_app
from services.subsidy.api import router


def create_app(**kwargs) -> FastAPI:
    return create_service_app("subsidy", "chiiki subsidy", [router], **kwargs)

