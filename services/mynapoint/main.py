"""ASGI entry point: `uvicorn --factory services.mynapoint.main:create_app`."""

from fastapi import FastAPI

from common.app import create_service_app
from services.mynapoint.api import router, webhooks


def create_app(**kwargs) -> FastAPI:
    return create_service_app("mynapoint", "chiiki mynapoint", [router, webhooks], **kwargs)

