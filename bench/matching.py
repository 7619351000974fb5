"""Benchmark of the matching service: one big round, and recommendation queries per second.

    .venv/bin/python bench/matching.py [--municipalities 1432] [--companies 2000] [--advisers 500]
                                       [--queries 200] [--database-url URL] [--results-dir bench/results]

1. `solver`: deferred acceptance alone on 1,432 municipalities × 2,000 companies with full preference lists
   (random, from a fixed seed), once with municipalities proposing and once with companies. Target: < 5 s.
2. `round_end_to_end`: the same round through the service layer on a database: the stored preference lists
   are read, eligibility is applied, the solver runs and the result is stored (`rounds.solve_round`).
3. `recommendations`: `recommendations.recommend` over 500 advisers and 2,000 companies, each query in its own
   session as a request would be, for municipality subjects (kigyojin and advisor markets) and company
   subjects; queries per second for each, sequentially on one core.

Each figure is wall-clock time; `cpu_seconds` (this process's CPU time) is given too, since on a shared machine
it moves less with the other load. Uses a throwaway SQLite file in a temporary directory unless --database-url
names an empty database.
Prints the figures and writes them to <results-dir>/matching.json. Not run by the tests.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select

from common.db import Database
from common.migrations import upgrade
from common.models import Adviser, Company, FieldOfWork, Municipality, Need, Round
from common.models.matching import AdviserType, Market, PartyKind
from common.reference_data import load_reference_data
from common.timeutil import current_fiscal_year
from services.matching import repository, rounds
from services.matching.recommendations import recommend
from services.matching.schemas import RoundCreate
from services.matching.solver import Side, deferred_acceptance

SEED = 1432


def full_market(municipalities: list[str], companies: list[str], rng: random.Random) -> tuple[Side, Side]:
    def side(agents, others, max_capacity):
        rankings = {}
        for agent in agents:
            ranking = list(others)
            rng.shuffle(ranking)
            rankings[agent] = ranking
        return Side(rankings, {agent: rng.randint(1, max_capacity) for agent in agents})

    return side(municipalities, companies, 3), side(companies, municipalities, 2)


def time_solver(args) -> dict:
    rng = random.Random(SEED)
    municipalities = [f"municipality:m{i:04d}" for i in range(args.municipalities)]
    companies = [f"company:c{i:04d}" for i in range(args.companies)]
    hosts, firms = full_market(municipalities, companies, rng)
    figures = {}
    for name, proposers, receivers in (("municipality_proposing", hosts, firms), ("company_proposing", firms, hosts)):
        started, cpu_started = time.perf_counter(), time.process_time()
        pairs = deferred_acceptance(proposers, receivers)
        figures[name] = {"seconds": round(time.perf_counter() - started, 3),
                         "cpu_seconds": round(time.process_time() - cpu_started, 3), "pairs": len(pairs)}
    return figures


async def build_database(db: Database, args, rng: random.Random) -> dict:
    async with db.sessionmaker() as session:
        await load_reference_data(session)
        fields = sorted((await session.exec(select(FieldOfWork.code))).all())
        everyone = list((await session.exec(select(Municipality).where(Municipality.type != "prefecture")
                                            .order_by(Municipality.code))).all())
        metro = [m for m in everyone if m.metro_area is not None]
        hosts = rng.sample(everyone, args.municipalities)
        companies = [Company(id=f"co_b{i:05d}", name=f"Company {i}", municipality_code=rng.choice(metro).code,
                             markets=[Market.kigyojin], fields=rng.sample(fields, 3), capacity=rng.randint(1, 3),
                             track_record=rng.randint(0, 15),
                             preferred_prefectures=rng.sample(["01", "13", "16", "27", "42"], rng.randint(0, 2)))
                     for i in range(args.companies)]
        advisers = [Adviser(id=f"adv_b{i:05d}", name=f"Adviser {i}", adviser_type=AdviserType.private_expert,
                            municipality_code=rng.choice(everyone).code, fields=rng.sample(fields, 2),
                            experience_years=rng.randint(0, 30)) for i in range(args.advisers)]
        needs = [Need(id=f"need_b{i:05d}", municipality_code=host.code, market=market, title="need",
                      fields=rng.sample(fields, 2), capacity=rng.randint(1, 2))
                 for i, (host, market) in enumerate((h, m) for h in hosts[:300]
                                                     for m in (Market.kigyojin, Market.advisor))]
        session.add_all([*companies, *advisers, *needs])
        await session.flush()

        round_ = await rounds.create_round(session, RoundCreate(name="bench", market=Market.kigyojin,
                                                                 proposing_side=PartyKind.municipality))
        company_parties = [f"company:{c.id}" for c in companies]
        host_parties = [f"municipality:{h.code}" for h in hosts]
        for party in host_parties:
            await repository.upsert_preference(session, round_.id, party, rng.randint(1, 3),
                                               rng.sample(company_parties, len(company_parties)))
        for party in company_parties:
            await repository.upsert_preference(session, round_.id, party, rng.randint(1, 2),
                                               rng.sample(host_parties, len(host_parties)))
        await session.commit()
    return {"round_id": round_.id, "hosts": [h.code for h in hosts[:300]], "companies": [c.id for c in companies]}


async def time_round(db: Database, round_id: str) -> dict:
    async with db.sessionmaker() as session:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = await rounds.solve_round(session, round_id)
        await session.commit()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        stored = await session.get(Round, round_id)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3), "pairs": len(result["assignment"]),
            "excluded_participants": len(result["excluded"]), "stored": stored.solved_at is not None}


async def time_queries(db: Database, market: Market, subjects: list[str], queries: int) -> dict:
    fiscal_year = current_fiscal_year()
    started = time.perf_counter()
    returned = 0
    for i in range(queries):
        async with db.sessionmaker() as session:
            body = await recommend(session, market, subjects[i % len(subjects)], fiscal_year=fiscal_year,
                                           limit=20, offset=0, explain=False)
            returned += len(body["items"])
    seconds = time.perf_counter() - started
    return {"queries": queries, "seconds": round(seconds, 3), "queries_per_second": round(queries / seconds, 1),
            "mean_items": round(returned / queries, 1)}


async def database_part(args, database_url: str) -> dict:
    upgrade(database_url)
    db = Database.from_url(database_url)
    try:
        built = await build_database(db, args, random.Random(SEED))
        figures = {"round_end_to_end": await time_round(db, built["round_id"])}
        hosts = [f"municipality:{code}" for code in built["hosts"]]
        figures["recommendations"] = {
            "kigyojin_for_municipality": await time_queries(db, Market.kigyojin, hosts, args.queries),
            "advisor_for_municipality": await time_queries(db, Market.advisor, hosts, args.queries),
            "kigyojin_for_company": await time_queries(
                db, Market.kigyojin, [f"company:{c}" for c in built["companies"]], args.queries),
        }
        return figures
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--municipalities", type=int, default=1432)
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--advisers", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200, help="recommendation queries per case")
    parser.add_argument("--database-url", help="an empty database to use instead of a temporary SQLite file")
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()

    figures = {"solver": time_solver(args)}
    print("solver:", json.dumps(figures["solver"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        figures |= asyncio.run(database_part(args, url))
    print("round_end_to_end:", json.dumps(figures["round_end_to_end"]))
    for name, row in figures["recommendations"].items():
        print(f"recommendations {name}: {row['queries_per_second']} queries/s ({row['mean_items']} items each)")

    report = {"benchmark": "matching", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join(["bench/matching.py", *sys.argv[1:]]),
              "database": "sqlite (temporary file)" if not args.database_url else "given by --database-url",
              "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
              "sizes": {"municipalities": args.municipalities, "companies": args.companies,
                        "advisers": args.advisers}, "target_round_seconds": 5, **figures}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "matching.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.results_dir / 'matching.json'}")


if __name__ == "__main__":
    main()
