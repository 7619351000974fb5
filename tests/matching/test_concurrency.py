"""Two parties moving the same match at the same moment: exactly one move wins, the other is a 409."""

import asyncio

from common.auth import Principal
from common.errors import Conflict
from common.ids import new_id
from common.models import Company, Match
from common.models.matching import MatchStatus
from services.matching import matches
from services.matching.schemas import MatchCreate
from tests.matching.builders import CHIYODA, YUBARI


async def test_concurrent_moves_from_the_same_state_cannot_both_succeed(committed_db):
    # On SQLite the second session waits for the first (sessions begin IMMEDIATE), then sees the new state.
    db, created = committed_db
    ops = Principal(role="ops", key_id="k")
    async with db.sessionmaker() as session:
        company = Company(id=new_id("co"), name="Race Co", municipality_code=CHIYODA, markets=["kigyojin"])
        session.add(company)
        created.append((Company, company.id))
        await session.flush()
        match = await matches.create_match(session, ops, MatchCreate(
            market="kigyojin", municipality_code=YUBARI, company_id=company.id))
        created.append((Match, match.id))
        await session.commit()

    async def move(to: MatchStatus):
        async with db.sessionmaker() as session:
            await matches.get_match(session, ops, match.id)
            await asyncio.sleep(0.05)  # both have read "proposed" before either writes
            try:
                await matches.transition(session, ops, match.id, to)
                await session.commit()
                return to
            except Conflict:
                await session.rollback()
                return None

    outcomes = await asyncio.gather(move(MatchStatus.accepted), move(MatchStatus.declined))
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    async with db.sessionmaker() as session:
        final = await matches.get_match(session, ops, match.id)
        view = await matches.match_view(session, final)
    assert final.status == winners[0]
    assert [h["to"] for h in view["history"]] == ["proposed", winners[0]]
