"""ASGI entry point: `uvicorn --factory services.subsidy.main:create_app`."""

from fastapi import FastAPI

from common.app import create_service_app
from services.subsidy.api import router
from services.subsidy.rulebook import get_rulebook


def create_app(**kwargs) -> FastAPI:
    app = create_service_app("subsidy", "chiiki subsidy", [router], **kwargs)
    app.state.rulebook = get_rulebook()  # loads and validates every rules file: a bad file stops start-up
    return app

