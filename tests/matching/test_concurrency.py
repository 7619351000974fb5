"""Two parties moving the same match at the same moment: exactly one move wins, the other is a 409."""

import asyncio

import pytest

from common.auth import Principal
from common.errors import Conflict
from common.models import Company, Match
from common.models.matching import MatchCreate, MatchStatus
from services.matching import service
from tests.matching.conftest import CHIYODA, YUBARI


async def test_concurrent_moves_from_the_same_state_cannot_both_succeed(committed_db, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time and refuses the other with 'database is locked'")
    db, created = committed_db
    ops = Principal(role="ops", key_id="k")
    async with db.sessionmaker() as session:
        company = Company(id=service.new_id("co"), name="Race Co", municipality_code=CHIYODA, markets=["kigyojin"])
        session.add(company)
        created.append((Company, company.id))
        await session.flush()
        match = await service.create_match(session, ops, MatchCreate(
            market="kigyojin", municipality_code=YUBARI, company_id=company.id))
        created.append((Match, match.id))
        await session.commit()

    async def move(to: MatchStatus):
        async with db.sessionmaker() as session:
            await service.get_match(session, ops, match.id)
            await asyncio.sleep(0.05)  # both have read "proposed" before either writes
            try:
                await service.transition(session, ops, match.id, to)
                await session.commit()
                return to
            except Conflict:
                await session.rollback()
                return None

    outcomes = await asyncio.gather(move(MatchStatus.accepted), move(MatchStatus.declined))
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    async with db.sessionmaker() as session:
        final = await service.get_match(session, ops, match.id)
        view = await service.match_view(session, final)
    assert final.status == winners[0]
    assert [h["to"] for h in view["history"]] == ["proposed", winners[0]]
