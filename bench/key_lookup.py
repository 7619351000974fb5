"""What one API-key check costs the gateway: through the ORM session, and through the direct key store it uses.

    .venv/bin/python bench/key_lookup.py [--server postgresql://postgres@127.0.0.1:5432/postgres] [--checks 3000]

Builds a throwaway SQLite database, and a throwaway database on the PostgreSQL server when one answers, each
migrated and given one key; then checks that key N times each way, one after another on one event loop, and
reports CPU and wall time per check (medians of 5 runs). Writes bench/results/key_lookup.json.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.auth import check_key, create_api_key, find_key  # noqa: E402
from common.db import Database, run_in_session  # noqa: E402
from common.migrations import upgrade  # noqa: E402
from gateway.keystore import open_key_store  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "key_lookup.json"
RUNS = 5


async def time_checks(check, count: int) -> dict:
    for _ in range(200):  # warm-up: connections, prepared statements, caches
        await check()
    cpu, wall = [], []
    for _ in range(RUNS):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(count):
            await check()
        cpu.append((time.process_time() - cpu_start) / count * 1e6)
        wall.append((time.perf_counter() - wall_start) / count * 1e6)
    return {"cpu_us": round(statistics.median(cpu), 1), "wall_us": round(statistics.median(wall), 1)}


async def measure(database_url: str, count: int) -> dict:
    upgrade(database_url)

    async def new_key(session):
        return (await create_api_key(session, "app", label="bench"))[1]

    authorization = f"Bearer {await run_in_session(database_url, new_key)}"
    db = Database.from_url(database_url)
    store = await open_key_store(database_url)

    async def through_orm():
        async with db.reader() as session:
            assert await find_key(session, authorization) is not None

    async def through_store():
        assert await check_key(store.get, authorization) is not None

    try:
        orm = await time_checks(through_orm, count)
        direct = await time_checks(through_store, count)
    finally:
        await store.close()
        await db.dispose()
    return {
        "orm_session": orm,
        "direct_store": direct,
        "store": type(store).__name__,
        "cpu_ratio_orm_over_direct": round(orm["cpu_us"] / direct["cpu_us"], 1),
    }


def postgres_database(server: str) -> tuple[str, str] | None:
    url = make_url(server).set(drivername="postgresql")
    name = f"chiiki_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(url.render_as_string(False), autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {exc}".strip(), file=sys.stderr)
        return None
    return url.render_as_string(False), url.set(database=name).render_as_string(False)


def drop(server: str, database_url: str) -> None:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')


async def main(args: argparse.Namespace) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="chiiki-bench-") as workdir:
        results["sqlite"] = await measure(f"sqlite:///{Path(workdir) / 'keys.db'}", args.checks)
    postgres = postgres_database(args.server)
    if postgres is not None:
        server, database_url = postgres
        try:
            results["postgresql"] = await measure(database_url, args.checks)
        finally:
            drop(server, database_url)
    return {
        "benchmark": "key_lookup",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "checks_per_run": args.checks,
        "runs": RUNS,
        "results": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", default=os.environ.get("CHIIKI_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--checks", type=int, default=3000)
    figures = asyncio.run(main(parser.parse_args()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS.relative_to(ROOT)}")
