"""ASGI entry point: `uvicorn --factory services.mynapoint.main:create_app`."""

from typing import Any

from fastapi import FastAPI

from common.app import create_service_app
from common.metrics import on_scrape
from services.mynapoint import api, metrics, provider_api
from services.mynapoint.events import install_webhooks


def create_app(**kwargs: Any) -> FastAPI:
    app = create_service_app(
        "mynapoint", "chiiki mynapoint", [api.router, provider_api.router, provider_api.webhooks], **kwargs
    )
    install_webhooks(app)
    on_scrape(app, metrics.refresh)
    return app
