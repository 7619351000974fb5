"""ASGI entry point: `uvicorn --factory services.matching.main:create_app`."""

from fastapi import FastAPI

from common.app import create_service_app
from services.matching.api import router


def create_app(**kwargs) -> FastAPI:
    return create_service_app("matching", "chiiki matching", [router], **kwargs)

