"""The three service apps on their own: probes, the gateway requirement, and their first endpoints."""

import httpx
import pytest

from common.auth import Principal, sign_principal
from common.db import Database
from common.models import Provider
from tests.harness import SERVICE_NAMES, TEST_SECRET

FIRST_ENDPOINTS = {
    "subsidy": "/subsidy/municipalities/012092",
    "matching": "/matching/fields",
    "mynapoint": "/mynapoint/providers",
}


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test")


def signed(role: str, **binding) -> dict[str, str]:
    return sign_principal(Principal(role=role, key_id="k", **binding), TEST_SECRET.encode())


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_probes_answer_without_the_gateway(service_apps, name):
    async with _client(service_apps[name]) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_requests_that_bypass_the_gateway_are_refused(service_apps, name):
    async with _client(service_apps[name]) as client:
        response = await client.get(FIRST_ENDPOINTS[name], headers={"X-Chiiki-Principal": "role=ops"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "gateway_required"


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_first_endpoints_answer_an_ops_principal(service_apps, name):
    async with _client(service_apps[name]) as client:
        response = await client.get(FIRST_ENDPOINTS[name], headers=signed("ops"))
    assert response.status_code == 200, response.text


async def test_anonymous_principal_needs_a_key(service_apps):
    async with _client(service_apps["subsidy"]) as client:
        response = await client.get("/subsidy/calculations", headers=signed("anonymous"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_tests_can_switch_the_gateway_requirement_off(settings, db):
    from services.subsidy.main import create_app

    app = create_app(settings=settings.model_copy(update={"require_gateway": False}), db=db)
    async with _client(app) as client:
        response = await client.get("/subsidy/calculations")
    assert response.json()["error"]["code"] == "unauthorized"  # let in, but as nobody


async def test_readyz_reports_pending_migrations(settings, tmp_path):
    from services.matching.main import create_app

    empty = Database.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    async with _client(create_app(settings=settings, db=empty)) as client:
        response = await client.get("/readyz")
    await empty.dispose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "migrations_pending"


async def test_readyz_reports_an_unreachable_database(settings):
    from services.mynapoint.main import create_app

    unreachable = Database.from_url("postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=1")
    async with _client(create_app(settings=settings, db=unreachable)) as client:
        response = await client.get("/readyz")
    await unreachable.dispose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


async def test_providers_list_is_for_ops_and_paginates(service_apps, session):
    session.add_all(
        [Provider(id=f"prov_{i}", name=f"Pay {i}", webhook_url=f"https://pay{i}.example/hook") for i in range(5)]
    )
    await session.commit()
    async with _client(service_apps["mynapoint"]) as client:
        assert (await client.get("/mynapoint/providers", headers=signed("app"))).status_code == 403
        seen, cursor = [], None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/mynapoint/providers", params=params, headers=signed("ops"))).json()
            seen += [item["id"] for item in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
    assert seen == [f"prov_{i}" for i in range(5)]


async def test_fields_of_work_come_in_display_order(service_apps):
    async with _client(service_apps["matching"]) as client:
        items = (await client.get("/matching/fields", headers=signed("app"))).json()["items"]
    assert items[0]["name_ja"] == "観光振興"
    assert [i["sort_order"] for i in items] == sorted(i["sort_order"] for i in items)
    assert {"ict_digital", "energy_decarbonisation", "childcare_education"} <= {i["code"] for i in items}


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", FIRST_ENDPOINTS["subsidy"], None),
        (
            "POST",
            "/subsidy/programs/local10000/calculate",  # a POST that only reads
            {
                "fiscal_year": 2023,
                "municipality_code": "012092",
                "inputs": {
                    "initial_investment": 20_000_002,
                    "municipal_grant": 10_000_001,
                    "loan_amount": 10_000_001,
                    "own_funds": 0,
                    "lender_type": "regional_bank",
                },
            },
        ),
    ],
)
async def test_reads_are_not_held_up_by_a_writer(engine, settings, method, path, body):
    """A read runs beside an open write transaction (on SQLite writers queue; readers must not)."""
    import asyncio

    from sqlalchemy import update

    from common.models import FieldOfWork
    from services.subsidy.main import create_app

    db = Database(engine)
    async with db.sessionmaker() as writer:
        await writer.exec(update(FieldOfWork).where(FieldOfWork.code == "tourism").values(sort_order=11))
        async with _client(create_app(settings=settings, db=db)) as client:
            response = await asyncio.wait_for(client.request(method, path, json=body, headers=signed("ops")), 5)
        await writer.rollback()
    assert response.status_code == 200


@pytest.mark.parametrize("opentelemetry", [False, True], ids=["opentelemetry-off", "opentelemetry-on"])
@pytest.mark.parametrize("app_module", ["services.mynapoint.main", "gateway.main"])
async def test_fastapi_looks_for_opentelemetry_only_when_the_settings_ask(
    settings, db, monkeypatch, app_module, opentelemetry
):
    import importlib

    from opentelemetry import trace

    looked_up = []
    real_lookup = trace.get_tracer_provider
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: looked_up.append(True) or real_lookup())
    create_app = importlib.import_module(app_module).create_app
    app = create_app(settings=settings.model_copy(update={"opentelemetry": opentelemetry}), db=db)
    async with _client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert bool(looked_up) is opentelemetry
