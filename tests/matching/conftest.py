"""Keys and profiles for the matching tests. Reference facts used throughout:
夕張市 012092 (全部過疎, outside the 三大都市圏) and 氷見市 162051 (全部過疎) may host;
千代田区 131016 (三大都市圏, no 過疎) may not; 札幌市 011002 is outside the 三大都市圏."""

import pytest

from tests.conftest import bearer, make_key

YUBARI, HIMI, CHIYODA, SAPPORO, OSAKA, NAGOYA = "012092", "162051", "131016", "011002", "271004", "231002"


@pytest.fixture
def ops(ops_key) -> dict:
    return bearer(ops_key)


@pytest.fixture
async def yubari(db) -> dict:
    return bearer(await make_key(db, "municipality", municipality_code=YUBARI))


@pytest.fixture
async def himi(db) -> dict:
    return bearer(await make_key(db, "municipality", municipality_code=HIMI))


@pytest.fixture
async def chiyoda(db) -> dict:
    return bearer(await make_key(db, "municipality", municipality_code=CHIYODA))


async def created(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


async def add_company(client, ops: dict, name: str = "Tokyo Digital", head_office: str = CHIYODA, **extra) -> dict:
    body = {"name": name, "municipality_code": head_office, "markets": ["kigyojin", "satellite_office"],
            "fields": ["ict_digital"], **extra}
    return await created(await client.post("/matching/companies", json=body, headers=ops))


async def add_adviser(client, ops: dict, name: str = "Adviser", home: str = SAPPORO, **extra) -> dict:
    body = {"name": name, "adviser_type": "private_expert", "municipality_code": home, "fields": ["tourism"],
            **extra}
    return await created(await client.post("/matching/advisers", json=body, headers=ops))


async def add_need(client, headers: dict, code: str = YUBARI, market: str = "kigyojin", **extra) -> dict:
    body = {"market": market, "title": "DX of the town office", "fields": ["ict_digital"], **extra}
    return await created(await client.post(f"/matching/municipalities/{code}/needs", json=body, headers=headers))


@pytest.fixture
async def committed_db(engine, database_url):
    """A Database whose sessions commit for real, for tests of concurrent transactions.

    Yields the Database and a list the test appends (model, id) pairs to; those rows are deleted afterwards,
    children first."""
    from sqlmodel import delete

    from common.db import Database
    from common.models import MatchTransition

    created: list = []
    database = Database(engine)
    yield database, created
    async with database.sessionmaker() as session:
        for model, ident in reversed(created):
            if model.__name__ == "Match":
                await session.exec(delete(MatchTransition).where(MatchTransition.match_id == ident))
            await session.exec(delete(model).where(model.id == ident))
        await session.commit()
