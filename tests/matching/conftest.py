"""Keys of the matching tests' parties, and a database that commits for real. The builders of profiles, rounds
and matches are in tests/matching/builders.py."""

import pytest

from tests.harness import bearer, make_key
from tests.matching.builders import CHIYODA, HIMI, YUBARI


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
