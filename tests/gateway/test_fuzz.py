"""schemathesis over the merged OpenAPI document, against the gateway and the services running in this
process (a real HTTP server on a free port), on a fresh database of each backend.

Every operation the document lists is called with generated data, with an ops key: no 5xx may come back,
and every response must match its documented status, content type and schema. The number of examples
per operation is bounded (CHIIKI_FUZZ_EXAMPLES, default 25) so that the suite stays quick.
"""

import asyncio
import os
import socket
import threading
import time

import hypothesis
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from common.auth import create_api_key
from common.db import Database, is_sqlite
from common.migrations import upgrade
from common.reference_data import load_reference_data
from common.settings import Settings
from tests.harness import TEST_SECRET, create_postgres_database, drop_postgres_database

EXAMPLES = int(os.environ.get("CHIIKI_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class LiveSuite:
    """The gateway and the three services on one event loop in a background thread, like `chiiki serve`."""

    def __init__(self, database_url: str, var_dir):
        self.database_url = database_url
        self.settings = Settings(
            env="test",
            database_url=database_url,
            internal_secret=TEST_SECRET,
            var_dir=var_dir,
            log_json=False,
            rate_limit_enabled=False,
        )
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server: uvicorn.Server | None = None
        self.ops_key = ""
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        import httpx

        from gateway.main import create_app as gateway_app
        from services.matching.main import create_app as matching_app
        from services.mynapoint.main import create_app as mynapoint_app
        from services.subsidy.main import create_app as subsidy_app

        db = Database.from_url(self.database_url)
        async with db.sessionmaker() as session:
            await load_reference_data(session)
            _, self.ops_key = await create_api_key(session, "ops", label="fuzz")
            await session.commit()
        services = {"subsidy": subsidy_app, "matching": matching_app, "mynapoint": mynapoint_app}
        transports = {
            name: httpx.ASGITransport(app=build(settings=self.settings, db=db)) for name, build in services.items()
        }
        app = gateway_app(settings=self.settings, db=db, transports=transports)
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        try:
            await self.server.serve(sockets=[self.socket])
        finally:
            await db.dispose()

    def __enter__(self) -> "LiveSuite":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not (self.server and self.server.started):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process suite did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_suite(database_url, tmp_path_factory):
    """A fresh database of the same backend (fuzzing commits for real), and the suite serving it."""
    if is_sqlite(database_url):
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        url = create_postgres_database()
    upgrade(url)
    try:
        with LiveSuite(url, tmp_path_factory.mktemp("fuzz-var")) as suite:
            yield suite
    finally:
        if not is_sqlite(url):
            drop_postgres_database(url)


@pytest.fixture(scope="session")
def merged_schema(live_suite):
    schema = schemathesis.openapi.from_url(f"{live_suite.base_url}/openapi.json")
    schema.config.base_url = live_suite.base_url
    return schema


FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def test_no_5xx_and_every_response_matches_the_document(merged_schema, live_suite):
    headers = {"Authorization": f"Bearer {live_suite.ops_key}"}
    failures, labels = [], set()
    for result in merged_schema.get_all_operations():
        operation = result.ok()
        labels.add(operation.label)

        @FUZZ_SETTINGS
        @hypothesis.given(case=operation.as_strategy())
        def call(case):
            case.call_and_validate(base_url=live_suite.base_url, headers=headers, checks=CHECKS)

        try:
            call()
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{operation.label}: {exc}")
    assert len(labels) >= 4, "the merged document lost the services' operations"
    assert "GET /subsidy/calculations" in labels
    assert not failures, "\n\n".join(failures)


def test_stateful_links(merged_schema, live_suite):
    """Sequences that follow the document's links (a created resource, then reading it back)."""
    base = merged_schema.as_state_machine()
    # schemathesis infers links between operations (a created resource, then reading it back); losing them
    # all would turn this test into nothing, so it fails instead.
    assert base.bundles, "the merged document no longer has links to follow"
    headers = {"Authorization": f"Bearer {live_suite.ops_key}"}

    class Suite(base):
        def get_call_kwargs(self, case):
            return {"base_url": live_suite.base_url, "headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Suite.run(settings=hypothesis.settings(FUZZ_SETTINGS, max_examples=max(1, EXAMPLES // 2), stateful_step_count=6))
