"""ASGI entry point: `uvicorn --factory services.subsidy.main:create_app`."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from common.app import create_service_app
from services.subsidy import impact
from services.subsidy.api import router
from services.subsidy.reference import ReferenceStore
from services.subsidy.rulebook import get_rulebook


def create_app(**kwargs: Any) -> FastAPI:
    app = create_service_app("subsidy", "chiiki subsidy", [router], **kwargs)
    app.state.rulebook = get_rulebook()  # loads and validates every rules file: a bad file stops start-up
    app.state.reference = ReferenceStore()
    base_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with base_lifespan(app):
            await app.state.reference.refresh(app.state.db)  # at start; then checked every 30 s
            watcher = asyncio.create_task(app.state.reference.keep_fresh(app.state.db))
            await impact.resume_unfinished(app)
            try:
                yield
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    app.router.lifespan_context = lifespan
    return app
