"""The ASGI factories `chiiki service NAME` runs under uvicorn (common/serve.py): each app as deployed, in a
process whose garbage collector is set for serving. Tests build the apps with their own `create_app` and keep
Python's defaults.

What the imports and the app built (the framework, the models, the routes: some 150,000 objects that live as
long as the process) is left out of every later collection; without that, each full collection scanned all of it
(about 90 ms of CPU, about every 500 point applications), and collections took about a fifth of the point
issuance service's CPU per application in bench/mynapoint.py. The youngest generation is collected after 7,000
new container objects instead of Python's 700: a request allocates a few thousand that die with it, and at 700 the
collector ran several times per request, each time passing what was still in flight on to the older generations.
"""

import gc

from fastapi import FastAPI

YOUNG_COLLECTION_THRESHOLD = 7_000


def tuned_for_serving(app: FastAPI) -> FastAPI:
    """Collect once, freeze what is alive, raise the youngest generation's threshold; run in each process (and
    in each worker uvicorn starts), once the app is built."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)
    return app


def gateway() -> FastAPI:
    from gateway.main import create_app

    return tuned_for_serving(create_app())


def subsidy() -> FastAPI:
    from services.subsidy.main import create_app

    return tuned_for_serving(create_app())


def matching() -> FastAPI:
    from services.matching.main import create_app

    return tuned_for_serving(create_app())


def mynapoint() -> FastAPI:
    from services.mynapoint.main import create_app

    return tuned_for_serving(create_app())
