"""ASGI entry point: `uvicorn --factory services.mynapoint.main:create_app`."""

from typing import Any

from fastapi import FastAPI

from common.app import create_service_app
from common.metrics import on_scrape
from services.mynapoint import metrics
from services.mynapoint.api import router, webhooks


def create_app(**kwargs: Any) -> FastAPI:
    app = create_service_app("mynapoint", "chiiki mynapoint", [router, webhooks], **kwargs)
    on_scrape(app, metrics.refresh)
    return app

