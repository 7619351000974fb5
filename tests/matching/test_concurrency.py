"""Races: two parties moving the same match at once (one move wins, the other is a 409), and several requests
proposing the same pair at once (one live match, the rest 409 naming it)."""

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError

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
        match = await matches.create_match(
            session, ops, MatchCreate(market="kigyojin", municipality_code=YUBARI, company_id=company.id)
        )
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


async def test_concurrent_proposals_for_one_pair_make_one_live_match(committed_db):
    """Five requests propose the same pair at once: one match, four 409s naming it; the index is the backstop."""
    db, created = committed_db
    ops = Principal(role="ops", key_id="k")
    async with db.sessionmaker() as session:
        company = Company(id=new_id("co"), name="Popular Co", municipality_code=CHIYODA, markets=["kigyojin"])
        session.add(company)
        created.append((Company, company.id))
        await session.commit()

    async def propose():
        async with db.sessionmaker() as session:
            try:
                match = await matches.create_match(
                    session, ops, MatchCreate(market="kigyojin", municipality_code=YUBARI, company_id=company.id)
                )
                await session.commit()
                created.append((Match, match.id))
                return match.id
            except Conflict as conflict:
                await session.rollback()
                return conflict

    outcomes = await asyncio.gather(*(propose() for _ in range(5)))
    made = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(made) == 1 and len(refused) == 4
    assert all(c.code == "match_exists" and made[0] in c.message for c in refused)


async def test_the_database_refuses_a_second_live_match_even_without_the_check(committed_db):
    db, created = committed_db
    async with db.sessionmaker() as session:
        company = Company(id=new_id("co"), name="Indexed Co", municipality_code=CHIYODA, markets=["kigyojin"])
        session.add(company)
        created.append((Company, company.id))
        await session.commit()
    pair = {"market": "kigyojin", "municipality_code": YUBARI, "company_id": company.id}
    async with db.sessionmaker() as session:
        first = Match(id=new_id("match"), status=MatchStatus.declined, **pair)
        second = Match(id=new_id("match"), status=MatchStatus.proposed, **pair)
        session.add_all([first, second])
        created.extend([(Match, first.id), (Match, second.id)])
        await session.commit()  # a declined match frees the pair
    async with db.sessionmaker() as session:
        session.add(Match(id=new_id("match"), status=MatchStatus.accepted, **pair))
        with pytest.raises(IntegrityError):
            await session.commit()
