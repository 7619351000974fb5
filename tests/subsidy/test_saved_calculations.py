"""GET /subsidy/calculations through the gateway, on each database: what each key sees, the filters, the pages."""

from services.subsidy.schemas import LOCAL10000_INPUTS
from tests.conftest import bearer
from tests.harness import make_key

YUBARI, SAPPORO, CHIYODA = "012092", "011002", "131016"
LOCAL10000 = {"program": "local10000", "fiscal_year": 2023, "inputs": LOCAL10000_INPUTS}
OKOSHI = {"program": "chiiki_okoshi", "fiscal_year": 2022, "inputs": {}}


async def save(client, key: str, body: dict) -> str:
    response = await client.post("/subsidy/calculations", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    calculation_id: str = response.json()["id"]
    return calculation_id


async def listed(client, key: str, query: str = "") -> set[str]:
    """Every id the key lists with `query`, following the pages two by two."""
    ids: list[str] = []
    cursor = None
    while True:
        page_query = f"?limit=2{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/subsidy/calculations{page_query}", headers=bearer(key))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        ids += [item["id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert ids == sorted(ids) and len(ids) == len(set(ids))  # keyset order, no row twice
    return set(ids)


async def test_each_key_lists_what_it_may_read_and_the_filters_narrow_it(client, db, ops_key, app_key):
    yubari = await make_key(db, "municipality", municipality_code=YUBARI)
    sapporo = await make_key(db, "municipality", municipality_code=SAPPORO)
    other_app = await make_key(db, "app")
    by_yubari = {
        await save(client, yubari, LOCAL10000 | {"municipality_code": YUBARI}),
        await save(client, yubari, OKOSHI | {"municipality_code": YUBARI}),
    }
    by_app_for_yubari = await save(client, app_key, LOCAL10000 | {"municipality_code": YUBARI})
    by_app = {by_app_for_yubari, await save(client, app_key, LOCAL10000 | {"municipality_code": CHIYODA})}
    by_sapporo = {await save(client, sapporo, LOCAL10000 | {"municipality_code": SAPPORO})}

    assert await listed(client, ops_key) == by_yubari | by_app | by_sapporo
    assert await listed(client, yubari) == by_yubari | {by_app_for_yubari}  # the town's own, whoever saved them
    assert await listed(client, sapporo) == by_sapporo
    assert await listed(client, app_key) == by_app  # any other key: those it saved
    assert await listed(client, other_app) == set()

    assert await listed(client, ops_key, f"&municipality_code={YUBARI}") == by_yubari | {by_app_for_yubari}
    assert await listed(client, ops_key, "&program=chiiki_okoshi") == await listed(client, yubari, "&fiscal_year=2022")
    assert len(await listed(client, ops_key, "&program=chiiki_okoshi")) == 1
    assert await listed(client, ops_key, "&program=local10000&fiscal_year=2022") == set()
    # Another town's code narrows a municipality key's own rows to nothing; it never widens them.
    assert await listed(client, yubari, f"&municipality_code={SAPPORO}") == set()


async def test_an_item_is_the_saved_calculation_as_read_alone(client, app_key):
    calculation_id = await save(client, app_key, LOCAL10000 | {"municipality_code": YUBARI})
    alone = (await client.get(f"/subsidy/calculations/{calculation_id}", headers=bearer(app_key))).json()
    page = (await client.get("/subsidy/calculations", headers=bearer(app_key))).json()
    assert page == {"items": [alone], "next_cursor": None}


async def test_bad_filters_are_422_naming_the_field_and_a_key_is_required(client, app_key):
    for query, field in [
        ("municipality_code=12092", "municipality_code"),
        ("fiscal_year=twenty", "fiscal_year"),
        ("program=" + "x" * 61, "program"),
        ("cursor=not+a+cursor!", "cursor"),
        ("limit=0", "limit"),
    ]:
        response = await client.get(f"/subsidy/calculations?{query}", headers=bearer(app_key))
        assert (response.status_code, response.json()["error"]["field"]) == (422, field), response.text
    assert (await client.get("/subsidy/calculations")).status_code == 401
