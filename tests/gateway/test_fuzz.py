"""schemathesis over the merged OpenAPI document, against the gateway and the services running in this
process (a real HTTP server on a free port), on a fresh database of each backend.

Every operation the document lists is called with generated data, with an ops key: no 5xx may come back,
and every response must match its documented status, content type and schema. The number of examples
per operation is bounded (CHIIKI_FUZZ_EXAMPLES, default 12) so that CI stays within its
budget; CHIIKI_FUZZ_EXAMPLES=100 makes a deeper run by hand.
"""

import os

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from common.db import is_sqlite
from scripts.live_suite import LiveSuite
from tests.harness import TEST_SECRET, create_postgres_database, drop_postgres_database

EXAMPLES = int(os.environ.get("CHIIKI_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="session")
def live_suite(database_url, tmp_path_factory):
    """A fresh database of the same backend (fuzzing commits for real), and the suite serving it."""
    if is_sqlite(database_url):
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        url = create_postgres_database()
    try:
        with LiveSuite(url, tmp_path_factory.mktemp("fuzz-var"), TEST_SECRET) as suite:
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
