"""What the request path costs: the floor of the stack, the gateway's own hop, and three subsidy requests through it.

    .venv/bin/python bench/request_path.py [--duration 10] [--connections 50] [--rounds 3] [--workers 1]
                                           [--database-url URL] [--rows bare,no_database]

Starts, on 127.0.0.1 and a throwaway SQLite database (or `--database-url`, which it migrates, loads and gives a
bench key): a bare FastAPI app answering a constant under the same uvicorn options (the floor of this stack), the
subsidy service and the gateway as `chiiki service NAME --workers N` processes. wrk (Debian's `wrk`) drives each
row in turn from a separate process, the rows interleaved over the rounds; the figures are the medians over
rounds. Each process's CPU (its own and its workers', from /proc) is read around every run and divided by the
requests answered. Rate limits are on, with buckets too large to refuse anything, so that their cost is counted.

| row | request |
|---|---|
| bare | `GET /` of the bare app |
| healthz | `GET /healthz` of the gateway (its middleware only) |
| no_database | `GET /subsidy/programs` through the gateway, no key (the service reads no database) |
| one_row | `GET /subsidy/municipalities/012092` through the gateway, with a key (one row by primary key) |
| calculation | `POST /subsidy/programs/distributed_energy/calculate` through the gateway, with a key |

Every row is given as a ratio to the bare row and to the no-database row. Writes bench/results/request_path.json
(and request_path-postgresql.json on PostgreSQL).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _suite import free_port, machine_facts, prepare_database, stop_all, tree_cpu_seconds, wait_ready
from _wrk import REPORT_LUA, read_report
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "request_path.json"
SECRET = "bench-internal-secret-" + "x" * 20
CALCULATION = {"fiscal_year": 2023, "municipality_code": "012092", "inputs": {"plan_cost": 30_000_000}}
# row → (process answering, method, path, body, with the bench key)
ROWS = {
    "bare": ("bare", "GET", "/", None, False),
    "healthz": ("gateway", "GET", "/healthz", None, False),
    "no_database": ("gateway", "GET", "/subsidy/programs", None, False),
    "one_row": ("gateway", "GET", "/subsidy/municipalities/012092", None, True),
    "calculation": ("gateway", "POST", "/subsidy/programs/distributed_energy/calculate", CALCULATION, True),
}
TARGETS = {
    "one_row_over_no_database": 0.6,
    "calculation_over_no_database": 0.6,
    "gateway_cpu_ms_per_proxied_request": 0.35,
    "no_database_over_bare": 0.4,
}

BARE_APP = """
import sys
import uvicorn
from fastapi import FastAPI
app = FastAPI()

@app.get("/")
async def constant() -> dict[str, str]:
    return {"status": "ok"}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, proxy_headers=False)
"""

WRK_SCRIPT = (
    """
wrk.method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
if body ~= "" then wrk.body = body end
wrk.headers["Content-Type"] = "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= "" then wrk.headers["Authorization"] = authorization end
"""
    + REPORT_LUA
)


def status_of(url: str, method: str, body: dict | None, authorization: str) -> int:
    headers = {"Content-Type": "application/json"} | ({"Authorization": authorization} if authorization else {})
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body else None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def run_wrk(
    url: str, method: str, body: dict | None, authorization: str, connections: int, duration: int, script: Path
) -> dict:
    env = dict(
        os.environ, BENCH_METHOD=method, BENCH_BODY=json.dumps(body) if body else "", BENCH_AUTHORIZATION=authorization
    )
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(script), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = read_report(output)
    figures["rps"] = figures["requests"] / figures["seconds"]
    return figures


def measure(
    row: str, base: str, pids: dict[str, int], authorization: str, args: argparse.Namespace, script: Path
) -> dict:
    _, method, path, body, keyed = ROWS[row]
    before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    figures = run_wrk(
        base + path, method, body, authorization if keyed else "", args.connections, args.duration, script
    )
    spent = {name: tree_cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    answered = max(1, figures["requests"])
    figures["cpu_ms_per_request"] = {name: round(seconds * 1000 / answered, 3) for name, seconds in spent.items()}
    return figures


def summarise(rows: dict[str, list[dict]]) -> dict:
    median = {}
    for row, runs in rows.items():
        processes = runs[0]["cpu_ms_per_request"]
        median[row] = {
            "rps": round(statistics.median(r["rps"] for r in runs), 1),
            "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
            "errors": sum(r["errors"] for r in runs),
            "non_2xx": sum(
                count for r in runs for status, count in r["statuses"].items() if not status.startswith("2")
            ),
            "cpu_ms_per_request": {
                name: round(statistics.median(r["cpu_ms_per_request"][name] for r in runs), 3) for name in processes
            },
        }
    for figures in median.values():
        figures["over_bare"] = round(figures["rps"] / median["bare"]["rps"], 3)
        figures["over_no_database"] = round(figures["rps"] / median["no_database"]["rps"], 3)
    return median


def print_table(median: dict) -> None:
    print(f"{'row':12} {'req/s':>8} {'×bare':>6} {'×no-db':>7} {'gateway ms':>11} {'service ms':>11} {'p50 ms':>7}")
    for row, figures in median.items():
        cpu = figures["cpu_ms_per_request"]
        gateway = f"{cpu['gateway']:.3f}" if row != "bare" else "—"
        service = f"{cpu['subsidy']:.3f}" if ROWS[row][0] == "gateway" and row != "healthz" else "—"
        print(
            f"{row:12} {figures['rps']:8.0f} {figures['over_bare']:6.2f} {figures['over_no_database']:7.2f} "
            f"{gateway:>11} {service:>11} {figures['p50_ms']:7.2f}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--workers", type=int, default=1, help="processes per service (chiiki service --workers)")
    parser.add_argument("--database-url", help="a database to throw away; default: a temporary SQLite file")
    parser.add_argument(
        "--rows",
        type=rows_named,
        default=list(ROWS),
        help="comma-separated rows to run, for a quick look at a few (bare and no_database are always run); "
        "the results file is written only when every row ran",
    )
    return parser.parse_args()


def rows_named(value: str) -> list[str]:
    asked = {row.strip() for row in value.split(",") if row.strip()}
    if unknown := asked - set(ROWS):
        raise argparse.ArgumentTypeError(f"no such row: {', '.join(sorted(unknown))}; the rows are {', '.join(ROWS)}")
    return [row for row in ROWS if row in asked | {"bare", "no_database"}]


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="chiiki-bench-"))
    ports = {"bare": free_port(), "gateway": free_port(), "subsidy": free_port()}
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    huge = "1000000000"
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=database_url,
        CHIIKI_INTERNAL_SECRET=SECRET,
        CHIIKI_VAR_DIR=str(workdir),
        CHIIKI_LOG_LEVEL="INFO",
        CHIIKI_RATE_LIMIT_ENABLED="true",
        CHIIKI_RATE_LIMIT_KEY_PER_MINUTE=huge,
        CHIIKI_RATE_LIMIT_KEY_BURST=huge,
        CHIIKI_RATE_LIMIT_ANONYMOUS_PER_MINUTE=huge,
        CHIIKI_RATE_LIMIT_ANONYMOUS_BURST=huge,
        CHIIKI_GATEWAY_PORT=str(ports["gateway"]),
        CHIIKI_SUBSIDY_PORT=str(ports["subsidy"]),
        CHIIKI_SUBSIDY_URL=f"http://127.0.0.1:{ports['subsidy']}",
    )
    authorization = f"Bearer {prepare_database(env, 'bench-request-path')}"
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    service = [sys.executable, "-m", "common.cli", "service"]
    workers = ["--workers", str(args.workers)] if args.workers != 1 else []  # an older chiiki has no --workers
    processes = {
        "bare": subprocess.Popen(
            [sys.executable, "-c", BARE_APP, str(ports["bare"])], cwd=ROOT, stderr=subprocess.DEVNULL
        ),
        "subsidy": subprocess.Popen([*service, "subsidy", *workers], env=env, cwd=ROOT, stderr=subprocess.DEVNULL),
        "gateway": subprocess.Popen([*service, "gateway", *workers], env=env, cwd=ROOT, stderr=subprocess.DEVNULL),
    }
    load_before = os.getloadavg()
    try:
        for name, port in ports.items():
            wait_ready(f"http://127.0.0.1:{port}/" + ("healthz" if name != "bare" else ""))
        wait_ready(f"http://127.0.0.1:{ports['gateway']}/subsidy/programs")
        pids = {name: process.pid for name, process in processes.items()}
        for row, (process, method, path, body, keyed) in ROWS.items():
            status = status_of(f"http://127.0.0.1:{ports[process]}{path}", method, body, authorization if keyed else "")
            if status != 200:
                raise SystemExit(f"{row}: {method} {path} answers {status}")
        runs: dict[str, list[dict]] = {row: [] for row in args.rows}
        for round_number in range(args.rounds):
            for row in args.rows:
                process = ROWS[row][0]
                runs[row].append(measure(row, f"http://127.0.0.1:{ports[process]}", pids, authorization, args, script))
                print(
                    f"round {round_number + 1} {row}: {runs[row][-1]['rps']:.0f} req/s, "
                    f"CPU ms per request {runs[row][-1]['cpu_ms_per_request']}",
                    flush=True,
                )
    finally:
        stop_all(processes.values())
        shutil.rmtree(workdir, ignore_errors=True)

    median = summarise(runs)
    proxied = [
        median[row]["cpu_ms_per_request"]["gateway"]
        for row in ("no_database", "one_row", "calculation")
        if row in median
    ]
    invalid = [
        f"{row}: {figures['errors']} errors, {figures['non_2xx']} non-2xx"
        for row, figures in median.items()
        if figures["errors"] or figures["non_2xx"]
    ]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": machine_facts(load_before),
        "database": make_url(database_url).get_backend_name(),
        "workers": args.workers,
        "connections": args.connections,
        "duration_seconds": args.duration,
        "rounds": args.rounds,
        "valid": not invalid,
        "problems": invalid,
        "rows": median,
        "gateway_cpu_ms_per_proxied_request": max(proxied),
        "targets": TARGETS,
        "note": "cpu_ms_per_request: each process's CPU (with its workers) over the requests wrk counted; "
        "bare is the bare app, gateway and subsidy the chiiki processes",
    }
    backend = report["database"]
    results_file = RESULTS if backend == "sqlite" else RESULTS.with_stem(f"request_path-{backend}")
    print_table(median)
    if invalid:
        print("NOT VALID: " + "; ".join(invalid))
    if len(median) < len(ROWS):
        print("some rows only: nothing written")
        return
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {results_file.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
