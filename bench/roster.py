"""Roster upload: rows per second through the gateway, on SQLite and PostgreSQL.

    .venv/bin/python bench/roster.py [--server postgresql://postgres@127.0.0.1:5432/postgres] [--rows 14000]
                                     [--runs 3]

Builds a throwaway SQLite database, and a throwaway database on the PostgreSQL server when one answers, each
migrated, with one provider and one fixed program. The gateway and the mynapoint service run in this process
(the service on a local socket, as the tests run them), so the figure is the request's own work: parsing, validating
and hashing every row, and writing the roster. Each run uploads `--rows` new residents as JSON and then as CSV,
and once more the same CSV (every row an update); the report is the median wall time of each and its rows/s,
and the CPU this process spent (rows per CPU second: the figure that a machine shared with other load does not
blur; the database server's own time is only in the wall time). Writes bench/results/roster.json. The target
is ≥ 20,000 rows/s on both databases.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.auth import create_api_key  # noqa: E402
from common.db import Database, run_in_session  # noqa: E402
from common.migrations import upgrade  # noqa: E402
from common.reference_data import load_reference_data  # noqa: E402
from common.settings import Settings  # noqa: E402
from gateway.local_services import LocalServices  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "roster.json"
MUNICIPALITY = "012092"
CSV_HEADER = "myki_id,birth_date,household_with_children,income_band,activity_participation\n"


def json_rows(prefix: str, count: int) -> list[dict]:
    return [
        {
            "myki_id": f"{prefix}-{n:06d}",
            "birth_date": "1985-06-01",
            "household_with_children": n % 2 == 0,
            "income_band": n % 5,
            "activity_participation": n % 3 == 0,
        }
        for n in range(count)
    ]


def csv_rows(prefix: str, count: int) -> str:
    return CSV_HEADER + "".join(
        f"{prefix}-{n:06d},1985-06-01,{'true' if n % 2 else 'false'},{n % 5},1\n" for n in range(count)
    )


async def keys(database_url: str) -> tuple[str, str]:
    async def new_keys(session) -> tuple[str, str]:
        await load_reference_data(session)
        ops = (await create_api_key(session, "ops", label="bench"))[1]
        muni = (await create_api_key(session, "municipality", municipality_code=MUNICIPALITY, label="bench"))[1]
        return ops, muni

    return await run_in_session(database_url, new_keys)


async def timed(client: httpx.AsyncClient, url: str, headers: dict, rows: int, **body) -> tuple[float, float]:
    """Wall seconds, and this process's CPU seconds (gateway and service; not the database server's)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    answer = await client.post(url, headers=headers, **body)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert answer.status_code == 200 and answer.json() == {"upserted": rows, "errors": []}, answer.text[:300]
    return elapsed, cpu


async def measure(database_url: str, rows: int, runs: int) -> dict:
    from gateway.main import create_app as gateway_app
    from services.mynapoint.main import create_app as mynapoint_app

    upgrade(database_url)
    ops, muni = await keys(database_url)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        internal_secret="x" * 40,
        log_json=False,
        max_body_bytes=64 * 1024 * 1024,
        upstream_timeout_seconds=120,
    )
    db = Database.from_url(database_url)
    service = mynapoint_app(settings=settings, db=db)
    served = LocalServices(["mynapoint"], {"mynapoint": service})
    gateway = gateway_app(settings=served.settings(settings), db=db)
    figures: dict[str, list[tuple[float, float]]] = {"json_insert": [], "csv_insert": [], "csv_update": []}
    try:
        async with (
            served,
            LifespanManager(service),
            LifespanManager(gateway),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.bench", timeout=600
            ) as client,
        ):
            as_ops, as_muni = {"Authorization": f"Bearer {ops}"}, {"Authorization": f"Bearer {muni}"}
            provider = (
                await client.post(
                    "/mynapoint/providers",
                    headers=as_ops,
                    json={"name": "bench", "webhook_url": "http://127.0.0.1:9/hook"},
                )
            ).json()
            now = datetime.now(UTC)
            program = (
                await client.post(
                    "/mynapoint/programs",
                    headers=as_muni,
                    json={
                        "municipality_code": MUNICIPALITY,
                        "name": "bench",
                        "kind": "fixed",
                        "points_per_person": 1000,
                        "budget_yen": 1_000_000,
                        "provider_ids": [provider["id"]],
                        "opens_at": now.isoformat(),
                        "closes_at": (now + timedelta(days=30)).isoformat(),
                    },
                )
            ).json()
            url = f"/mynapoint/programs/{program['id']}/roster"
            await timed(client, url, as_muni, 500, json={"residents": json_rows("warm", 500)})
            for run in range(runs):
                figures["json_insert"].append(
                    await timed(client, url, as_muni, rows, json={"residents": json_rows(f"j{run}", rows)})
                )
                text = csv_rows(f"c{run}", rows)
                csv_headers = as_muni | {"content-type": "text/csv"}
                figures["csv_insert"].append(await timed(client, url, csv_headers, rows, content=text))
                figures["csv_update"].append(await timed(client, url, csv_headers, rows, content=text))
    finally:
        await db.dispose()
    report = {}
    for case, timings in figures.items():
        median = statistics.median(wall for wall, _ in timings)
        cpu = statistics.median(cpu for _, cpu in timings)
        report[case] = {
            "seconds": round(median, 3),
            "rows_per_second": round(rows / median),
            "cpu_seconds": round(cpu, 3),
            "rows_per_cpu_second": round(rows / cpu),
            "runs_seconds": [round(wall, 3) for wall, _ in timings],
        }
    return report


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
        results["sqlite"] = await measure(f"sqlite:///{Path(workdir) / 'roster.db'}", args.rows, args.runs)
    postgres = postgres_database(args.server)
    if postgres is not None:
        server, database_url = postgres
        try:
            results["postgresql"] = await measure(database_url, args.rows, args.runs)
        finally:
            drop(server, database_url)
    return {
        "benchmark": "roster",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "rows_per_upload": args.rows,
        "runs": args.runs,
        "target_rows_per_second": 20_000,
        "results": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", default=os.environ.get("CHIIKI_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--rows", type=int, default=14_000)
    parser.add_argument("--runs", type=int, default=3)
    figures = asyncio.run(main(parser.parse_args()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS.relative_to(ROOT)}")
