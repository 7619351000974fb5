"""Benchmark of the matching service on the large demo market: one big round, and recommendations per second.

    .venv/bin/python bench/matching.py [--municipalities 1432] [--queries 200] [--duration 10] [--connections 10]
                                       [--database-url URL] [--results-dir bench/results] [--no-gateway]

The database holds the large demo market (`chiiki matching demo-data --size large`: 2,000 companies, 500
advisers, needs of every 過疎 municipality).
1. `solver`: deferred acceptance alone on 1,432 municipalities × 2,000 companies with full preference lists
   (random, from a fixed seed), once with municipalities proposing and once with companies.
2. `round_end_to_end`: 1,432 municipalities × the 2,000 demo companies, full lists, through the service layer:
   the stored preferences are read, eligibility is applied, ties broken, the solver runs, the stability
   certificate is checked and the result stored (`rounds.solve_round`). Target: < 2 s.
3. `recommendations`: `recommendations.recommend` in process, each query in its own session as a request would
   be (the read-only session a GET gets), for municipality subjects (kigyojin over 2,000 companies, advisor over
   500 advisers) and company subjects;
   queries per second, sequentially on one core. Target: ≥ 200/s for a municipality over 2,000 companies.
4. `gateway`: the gateway and the matching service as processes on 127.0.0.1 over the same database; wrk drives
   `GET /matching/recommendations` for municipalities and `GET /matching/fields` in the same run.

Each figure is wall-clock time; `cpu_seconds` (this process's CPU time) is given too, since on a shared machine
it moves less with the other load, and the load averages (1, 5, 15 minutes) before and after the run.
Uses a throwaway SQLite file unless --database-url names an empty database.
Prints the figures and writes them to <results-dir>/matching.json. Not run by the tests.
"""

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _suite import stop_all

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import select

from common.db import Database
from common.migrations import upgrade
from common.models import Company, Municipality, Need, Round
from common.models.matching import Market, PartyKind
from common.reference_data import load_reference_data
from common.timeutil import current_fiscal_year
from services.matching import repository, rounds
from services.matching.demo import load_demo_data
from services.matching.recommendations import recommend
from services.matching.schemas import RoundCreate
from services.matching.solver import Side, deferred_acceptance

ROOT = Path(__file__).resolve().parent.parent


def _wrk_helpers():  # bench/gateway.py by its path: `import gateway` names the gateway package
    spec = importlib.util.spec_from_file_location("bench_gateway", ROOT / "bench" / "gateway.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        figures[name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - cpu_started, 3),
            "pairs": len(pairs),
        }
    return figures


async def build_database(db: Database, args, rng: random.Random) -> dict:
    async with db.sessionmaker() as session:
        await load_reference_data(session)
        await load_demo_data(session, size="large")
        everyone = list(
            (
                await session.exec(
                    select(Municipality.code).where(Municipality.type != "prefecture").order_by(Municipality.code)
                )
            ).all()
        )
        rows = (await session.exec(select(Company.id, Company.markets).order_by(Company.id))).all()
        companies = [ident for ident, _ in rows]
        hosts = sorted(
            (await session.exec(select(Need.municipality_code).where(Need.market == Market.kigyojin).distinct())).all()
        )
        round_ = await rounds.create_round(
            session, RoundCreate(name="bench", market=Market.kigyojin, proposing_side=PartyKind.municipality)
        )
        company_parties = [f"company:{c}" for c in companies]
        host_parties = [f"municipality:{code}" for code in rng.sample(everyone, args.municipalities)]
        for party in host_parties:
            await repository.upsert_preference(
                session, round_.id, party, rng.randint(1, 3), rng.sample(company_parties, len(company_parties))
            )
        for party in company_parties:
            await repository.upsert_preference(
                session, round_.id, party, rng.randint(1, 2), rng.sample(host_parties, len(host_parties))
            )
        await session.commit()
    return {
        "round_id": round_.id,
        "hosts": hosts,
        "kigyojin_companies": [ident for ident, markets in rows if Market.kigyojin in markets],
    }


async def time_round(db: Database, round_id: str) -> dict:
    async with db.sessionmaker() as session:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = await rounds.solve_round(session, round_id)
        await session.commit()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        stored = await session.get(Round, round_id)
    certificate = result["certificate"]
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "pairs": len(result["assignment"]),
        "excluded_participants": len(result["excluded"]),
        "stored": stored.solved_at is not None,
        "stable": certificate["stable"],
        "mutually_acceptable_pairs_checked": certificate["mutually_acceptable_pairs_checked"],
    }


async def time_queries(db: Database, market: Market, subjects: list[str], queries: int) -> dict:
    fiscal_year = current_fiscal_year()
    async with db.reader() as session:  # the first query builds the registry index; it is not timed
        await recommend(session, market, subjects[0], fiscal_year=fiscal_year, limit=20, offset=0, explain=False)
    started, cpu_started = time.perf_counter(), time.process_time()
    returned = 0
    for i in range(queries):
        async with db.reader() as session:  # a GET request's session
            body = await recommend(
                session, market, subjects[i % len(subjects)], fiscal_year=fiscal_year, limit=20, offset=0, explain=False
            )
            returned += len(body["items"])
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "queries": queries,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "queries_per_second": round(queries / seconds, 1),
        "cpu_queries_per_second": round(queries / cpu_seconds, 1),
        "mean_items": round(returned / queries, 1),
    }


async def database_part(args, database_url: str) -> dict:
    upgrade(database_url)
    db = Database.from_url(database_url)
    try:
        built = await build_database(db, args, random.Random(SEED))
        figures = {"round_end_to_end": await time_round(db, built["round_id"])}
        print("round_end_to_end:", json.dumps(figures["round_end_to_end"]), flush=True)
        hosts = [f"municipality:{code}" for code in built["hosts"]]
        figures["example_host"] = built["hosts"][0]
        figures["recommendations"] = {
            "kigyojin_for_municipality": await time_queries(db, Market.kigyojin, hosts, args.queries),
            "advisor_for_municipality": await time_queries(db, Market.advisor, hosts, args.queries),
            "kigyojin_for_company": await time_queries(
                db, Market.kigyojin, [f"company:{c}" for c in built["kigyojin_companies"]], args.queries
            ),
        }
        return figures
    finally:
        await db.dispose()


def through_gateway(args, database_url: str, workdir: Path, host: str) -> dict:
    """wrk against the gateway in front of the matching service: recommendations and the fields vocabulary,
    interleaved in the same run; medians over the rounds."""
    helpers = _wrk_helpers()
    free_port, run_wrk, wait_ready = helpers.free_port, helpers.run_wrk, helpers.wait_ready
    ports = {"matching": free_port(), "gateway": free_port()}
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=database_url,
        CHIIKI_INTERNAL_SECRET=helpers.SECRET,
        CHIIKI_VAR_DIR=str(workdir),
        CHIIKI_RATE_LIMIT_ENABLED="false",
        CHIIKI_LOG_LEVEL="WARNING",
        CHIIKI_MATCHING_PORT=str(ports["matching"]),
        CHIIKI_GATEWAY_PORT=str(ports["gateway"]),
        CHIIKI_MATCHING_URL=f"http://127.0.0.1:{ports['matching']}",
    )
    chiiki = [sys.executable, "-m", "common.cli"]
    created = subprocess.run(
        [*chiiki, "keys", "create", "--role", "app", "--label", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    headers = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    script = workdir / "report.lua"
    script.write_text(helpers.WRK_SCRIPT)
    scenarios = {
        "recommendations": f"/matching/recommendations?market=kigyojin&for=municipality:{host}",
        "fields": "/matching/fields",
    }
    processes = [
        subprocess.Popen([*chiiki, "service", name], env=env, cwd=ROOT, stderr=subprocess.DEVNULL) for name in ports
    ]
    try:
        for port in ports.values():
            wait_ready(f"http://127.0.0.1:{port}/healthz")
        for path in scenarios.values():  # the first query builds the service's indexes; it is not timed
            status = helpers.call(f"http://127.0.0.1:{ports['gateway']}{path}", "GET", headers, None)
            if status != 200:
                raise SystemExit(f"GET {path} through the gateway answered {status}")
        runs: dict[str, list[dict]] = {name: [] for name in scenarios}
        for round_number in range(args.rounds):
            for name, path in scenarios.items():
                scenario = {"method": "GET", "path": path, "body": None}
                runs[name].append(
                    run_wrk(
                        f"http://127.0.0.1:{ports['gateway']}",
                        scenario,
                        headers,
                        args.connections,
                        args.duration,
                        script,
                    )
                )
                print(
                    f"gateway {name} round {round_number + 1}: {runs[name][-1]['rps']:.0f} req/s, "
                    f"p50 {runs[name][-1]['p50_us'] / 1000:.2f} ms, errors {runs[name][-1]['errors']}",
                    flush=True,
                )
    finally:
        stop_all(processes, timeout=15)

    def median(rows: list[dict], key: str) -> float:
        return sorted(row[key] for row in rows)[len(rows) // 2]

    return {
        name: {
            "path": scenarios[name],
            "connections": args.connections,
            "duration_seconds": args.duration,
            "rounds": args.rounds,
            "requests_per_second": round(median(rows, "rps"), 1),
            "p50_ms": round(median(rows, "p50_us") / 1000, 2),
            "p99_ms": round(median(rows, "p99_us") / 1000, 2),
            "errors": sum(row["errors"] for row in rows),
            "statuses": [row["statuses"] for row in rows],
        }
        for name, rows in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--municipalities", type=int, default=1432)
    parser.add_argument("--queries", type=int, default=200, help="recommendation queries per case")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds; medians are reported")
    parser.add_argument("--no-gateway", action="store_true", help="skip the wrk part")
    parser.add_argument("--database-url", help="an empty database to use instead of a temporary SQLite file")
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    args.companies = 2000
    if not args.no_gateway and shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk), or pass --no-gateway")

    load_before = os.getloadavg()
    figures = {"solver": time_solver(args)}
    print("solver:", json.dumps(figures["solver"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        figures |= asyncio.run(database_part(args, url))
        for name, row in figures["recommendations"].items():
            print(f"recommendations {name}: {row['queries_per_second']} queries/s ({row['mean_items']} items each)")
        if not args.no_gateway:
            figures["gateway"] = through_gateway(args, url, Path(tmp), figures.pop("example_host"))
        else:
            figures.pop("example_host")

    report = {
        "benchmark": "matching",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["bench/matching.py", *sys.argv[1:]]),
        "database": "sqlite (temporary file)" if not args.database_url else "given by --database-url",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "market": "demo-data --size large: 2,000 companies, 500 advisers, needs of every 過疎 municipality",
        "sizes": {"round_municipalities": args.municipalities, "round_companies": args.companies},
        "targets": {"round_seconds": 2, "recommendations_per_second_in_process": 200},
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        **figures,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "matching.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {args.results_dir / 'matching.json'}")


if __name__ == "__main__":
    main()
