"""Security over the whole public surface, read from the merged OpenAPI document so that every service's
new endpoints are covered as they are added: no key, a bad key, a revoked key or a forged identity
never gets through; and each role reaches what the contract gives it (a roles × endpoints matrix)."""

import re

import pytest

from common.auth import revoke_api_key
from common.models import Provider
from tests.harness import bearer, make_key

FORGED_IDENTITY = {
    "X-Chiiki-Principal": "role=ops&key=&municipality=&provider=&ts=9999999999",
    "X-Chiiki-Signature": "0" * 64,
}
SAMPLE_PATH_VALUES = {"code": "012092"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES.get(m.group(1), "x1"), path)


async def protected_operations(client) -> list[tuple[str, str]]:
    document = (await client.get("/openapi.json")).json()
    operations = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]
    assert operations, "the merged document names no protected operation"
    return operations


async def call(client, method: str, path: str, headers: dict):
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, concrete(path), headers=headers, json=body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer chk_0123456789abcdef_wrong"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic b3BzOm9wcw=="},
        FORGED_IDENTITY,
    ],
    ids=["no-key", "unknown-key", "malformed-key", "other-scheme", "forged-identity"],
)
async def test_every_protected_operation_refuses_without_a_good_key(client, headers):
    for method, path in await protected_operations(client):
        response = await call(client, method, path, headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] in ("unauthorized", "gateway_required")


async def test_every_protected_operation_refuses_a_revoked_key(client, db):
    key = await make_key(db, "ops")
    async with db.sessionmaker() as session:
        await revoke_api_key(session, key.split("_")[1])
        await session.commit()
    for method, path in await protected_operations(client):
        assert (await call(client, method, path, bearer(key) | FORGED_IDENTITY)).status_code == 401, (method, path)


async def test_ops_is_never_refused_on_a_protected_operation(client, ops_key):
    for method, path in await protected_operations(client):
        assert (await call(client, method, path, bearer(ops_key))).status_code not in (401, 403), (method, path)


# --- roles × endpoints ---------------------------------------------------------------------------------
# The expected status per role, from API.md (Access). Each service adds its rows as it adds endpoints.
EVERYONE = {"anonymous": 200, "ops": 200, "municipality": 200, "provider": 200, "app": 200}
EVERYONE_WITH_A_KEY = {"anonymous": 401, "ops": 200, "municipality": 200, "provider": 200, "app": 200}
OPS_ONLY = {"anonymous": 401, "ops": 200, "municipality": 403, "provider": 403, "app": 403}
PROVIDER_AND_OPS = {"anonymous": 401, "ops": 200, "municipality": 403, "provider": 200, "app": 403}
MATRIX = {
    # the reference data is published data, open like the catalogue (a front end searches it before any key)
    ("GET", "/subsidy/municipalities/012092"): EVERYONE,
    ("GET", "/subsidy/municipalities?prefecture=01&limit=2"): EVERYONE,
    ("GET", "/subsidy/municipalities?q=夕張"): EVERYONE,
    ("GET", "/matching/fields"): EVERYONE_WITH_A_KEY,
    ("GET", "/mynapoint/providers"): OPS_ONLY,
    ("GET", "/mynapoint/providers/prov_matrix"): PROVIDER_AND_OPS,
    ("GET", "/mynapoint/programs"): {"anonymous": 401, "ops": 200, "municipality": 200, "provider": 403, "app": 200},
    ("GET", "/mynapoint/programs?municipality_code=011002"): {
        "anonymous": 401,
        "ops": 200,
        "municipality": 403,
        "provider": 403,
        "app": 200,
    },
    # a provider key its own deliveries (tests/mynapoint/test_delivery_access.py): another's id is refused, any id
    ("GET", "/mynapoint/deliveries?provider_id=prov_matrix"): PROVIDER_AND_OPS,
    ("GET", "/mynapoint/deliveries?provider_id=prov_other"): PROVIDER_AND_OPS | {"provider": 403},
    ("GET", "/mynapoint/deliveries/evt_missing"): PROVIDER_AND_OPS | {"ops": 404, "provider": 404},
    ("POST", "/mynapoint/deliveries/evt_missing/redeliver"): PROVIDER_AND_OPS | {"ops": 404, "provider": 404},
    ("GET", "/mynapoint/event-types"): EVERYONE_WITH_A_KEY,
    ("GET", "/subsidy/programs"): EVERYONE,  # the catalogue and calculations are open (rate-limited)
    ("GET", "/subsidy/programs/local10000?fiscal_year=2023"): EVERYONE,
    # each key lists only what it may read (tests/subsidy/test_saved_calculations.py): never refused
    ("GET", "/subsidy/calculations"): EVERYONE_WITH_A_KEY,
    ("GET", "/subsidy/calculations?municipality_code=011002&program=local10000&fiscal_year=2023"): EVERYONE_WITH_A_KEY,
}
CALCULATION = {
    "program": "local10000",
    "fiscal_year": 2023,
    "municipality_code": "012092",
    "inputs": {
        "initial_investment": 40_000_000,
        "municipal_grant": 10_000_000,
        "loan_amount": 20_000_000,
        "own_funds": 10_000_000,
        "lender_type": "jfc",
    },
}


@pytest.fixture
async def keys_by_role(db) -> dict[str, dict]:
    async with db.sessionmaker() as session:
        session.add(Provider(id="prov_matrix", name="Matrix Pay", webhook_url="https://pay.example/hooks"))
        await session.commit()
    return {
        "anonymous": {},
        "ops": bearer(await make_key(db, "ops")),
        "municipality": bearer(await make_key(db, "municipality", municipality_code="012092")),
        "provider": bearer(await make_key(db, "provider", provider_id="prov_matrix")),
        "app": bearer(await make_key(db, "app")),
    }


@pytest.mark.parametrize(("method", "path"), list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
async def test_roles_reach_only_what_the_contract_gives_them(client, keys_by_role, method, path):
    outcome = {
        role: (await client.request(method, path, headers=headers)).status_code
        for role, headers in keys_by_role.items()
    }
    assert outcome == MATRIX[(method, path)]


async def test_the_matrix_names_only_documented_operations(client):
    document = (await client.get("/openapi.json")).json()
    templates = {
        (method.upper(), re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$"))
        for path, item in document["paths"].items()
        for method in item
    }
    for method, path in MATRIX:
        bare = path.split("?")[0]
        assert any(m == method and pattern.match(bare) for m, pattern in templates), (method, path)


async def test_anyone_may_calculate_without_a_key(client, keys_by_role):
    body = {k: v for k, v in CALCULATION.items() if k != "program"}
    for role, headers in keys_by_role.items():
        response = await client.post("/subsidy/programs/local10000/calculate", json=body, headers=headers)
        assert response.status_code == 200, (role, response.text)


async def test_a_saved_calculation_is_seen_only_by_its_tenant_and_ops(client, keys_by_role, db):
    saved = await client.post("/subsidy/calculations", json=CALCULATION, headers=keys_by_role["municipality"])
    assert saved.status_code == 201, saved.text
    path = f"/subsidy/calculations/{saved.json()['id']}"
    other_town = bearer(await make_key(db, "municipality", municipality_code="011002"))  # 札幌市
    outcome = {
        role: (await client.get(path, headers=headers)).status_code
        for role, headers in (keys_by_role | {"other municipality": other_town}).items()
    }
    # 404 rather than 403 for other tenants: whether a calculation exists is itself not theirs to know.
    assert outcome == {
        "anonymous": 401,
        "ops": 200,
        "municipality": 200,
        "provider": 404,
        "app": 404,
        "other municipality": 404,
    }
    roles = keys_by_role | {"other municipality": other_town}
    listed = {
        role: [
            item["id"] for item in (await client.get("/subsidy/calculations", headers=headers)).json().get("items", [])
        ]
        for role, headers in roles.items()
    }
    assert listed == {
        "anonymous": [],
        "ops": [saved.json()["id"]],
        "municipality": [saved.json()["id"]],
        "provider": [],
        "app": [],
        "other municipality": [],
    }


async def test_a_municipality_key_cannot_save_for_another_municipality(client, keys_by_role):
    response = await client.post(
        "/subsidy/calculations",
        json=CALCULATION | {"municipality_code": "011002"},
        headers=keys_by_role["municipality"],
    )
    assert response.status_code == 403 and response.json()["error"]["field"] == "municipality_code"


async def test_only_the_municipality_itself_or_ops_posts_its_needs(client, keys_by_role, db):
    need = {"market": "kigyojin", "title": "観光DXの推進", "fields": ["tourism"], "capacity": 1}
    other_town = bearer(await make_key(db, "municipality", municipality_code="011002"))  # 札幌市
    path = "/matching/municipalities/012092/needs"
    outcome = {
        role: (await client.post(path, json=need, headers=headers)).status_code
        for role, headers in (keys_by_role | {"other municipality": other_town}).items()
    }
    assert outcome == {
        "anonymous": 401,
        "ops": 201,
        "municipality": 201,
        "provider": 403,
        "app": 403,
        "other municipality": 403,
    }


async def test_a_program_s_collections_are_seen_only_by_its_municipality_and_ops(client, keys_by_role, db):
    created = await client.post(
        "/mynapoint/programs",
        headers=keys_by_role["municipality"],
        json={
            "municipality_code": "012092",
            "name": "matrix",
            "template": "mynapoint-2-health-insurance",
            "budget_yen": 0,
            "provider_ids": ["prov_matrix"],
        },
    )
    assert created.status_code == 201, created.text
    other_town = bearer(await make_key(db, "municipality", municipality_code="011002"))  # 札幌市
    base = f"/mynapoint/programs/{created.json()['id']}"
    for path in (f"{base}/applications", f"{base}/roster", f"{base}/changes", f"{base}/applications/appl_x"):
        outcome = {
            role: (await client.get(path, headers=headers)).status_code
            for role, headers in (keys_by_role | {"other municipality": other_town}).items()
        }
        found = 404 if path.endswith("appl_x") else 200
        # Another municipality's program is a 404, as for the program itself.
        assert outcome == {
            "anonymous": 401,
            "ops": found,
            "municipality": found,
            "provider": 403,
            "app": 403,
            "other municipality": 404,
        }, path
    listed = await client.get("/mynapoint/programs", headers=other_town)
    assert created.json()["id"] not in [item["id"] for item in listed.json()["items"]]
