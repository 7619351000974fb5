"""ASGI entry point: `uvicorn --factory services.mynapoint.main:create_app`."""

import gc
from typing import Any

from fastapi import FastAPI

from common.app import create_service_app
from common.metrics import on_scrape
from services.mynapoint import api, metrics, provider_api
from services.mynapoint.events import install_webhooks

# The collector's youngest generation is collected after this many new container objects instead of Python's
# 700: at 700 it ran every four applications or so under load, each time moving what the requests in flight
# still held into the older generations, which were then scanned again.
YOUNG_COLLECTION_THRESHOLD = 7_000


def keep_imports_out_of_collections() -> None:
    """What the imports built (the framework, the models, the routes: some 155,000 objects that live as long as
    the process) is left out of every later collection. Without this a full collection scanned all of it about
    every 500 applications, for about 90 ms of CPU each; in a bench/mynapoint.py run collections took about a
    fifth of the service's CPU, and a thirtieth of that with this and the threshold above. Run once, when
    uvicorn (or each worker it starts) imports this module; garbage is collected first, so none is kept for good."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def create_app(**kwargs: Any) -> FastAPI:
    app = create_service_app(
        "mynapoint", "chiiki mynapoint", [api.router, provider_api.router, provider_api.webhooks], **kwargs
    )
    install_webhooks(app)
    on_scrape(app, metrics.refresh)
    return app


keep_imports_out_of_collections()
