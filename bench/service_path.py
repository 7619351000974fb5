"""The subsidy service's own share of the request path: its hot requests sent to it directly, as the gateway would.

    .venv/bin/python bench/service_path.py [--duration 10] [--connections 50] [--rounds 3] [--baseline DIR]

Starts, on 127.0.0.1 and a throwaway SQLite database, the subsidy service as `chiiki service subsidy` and, with
`--baseline DIR`, a second subsidy service from another checkout of the repository (`git archive main`) on the same
database. wrk (Debian's `wrk`) sends each request straight to a service, with the signed identity headers the
gateway would add (an `app` key's principal), so that no gateway CPU is in the figures. The rows are interleaved
over the rounds (and, with a baseline, the two services alternate within each row); the figures are the medians.
Each service's CPU (from /proc) is read around every run and divided by the requests answered.

| row | request |
|---|---|
| no_database | `GET /subsidy/programs` (the catalogue, no database) |
| one_row | `GET /subsidy/municipalities/012092` with a key's principal |
| calculation | `POST /subsidy/programs/distributed_energy/calculate` |
| calculations | bench/subsidy.py's calculations, one per program, in turn |

Writes bench/results/service_path.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from _suite import free_port, machine_facts, prepare_database, stop_all, tree_cpu_seconds, wait_ready
from _wrk import REPORT_LUA, read_report
from request_path import CALCULATION, SECRET
from subsidy import WRK_LUA, calculation_requests, lua_requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.auth import Principal, sign_principal  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "service_path.json"
# row → the requests wrk cycles through, each (method, path, body)
ROWS: dict[str, list[tuple[str, str, dict | None]]] = {
    "no_database": [("GET", "/subsidy/programs", None)],
    "one_row": [("GET", "/subsidy/municipalities/012092", None)],
    "calculation": [("POST", "/subsidy/programs/distributed_energy/calculate", CALCULATION)],
    "calculations": calculation_requests(),
}
# The gateway's identity headers, signed afresh for each run and handed to wrk's threads through the environment.
SIGNED_HEADERS_LUA = """
HEADERS = {
  ["Content-Type"] = "application/json",
  ["X-Chiiki-Principal"] = os.getenv("BENCH_PRINCIPAL"),
  ["X-Chiiki-Signature"] = os.getenv("BENCH_SIGNATURE"),
}
"""


def lua_script(requests: list[tuple[str, str, dict | None]]) -> str:
    return SIGNED_HEADERS_LUA + lua_requests(requests) + WRK_LUA + REPORT_LUA


def run_row(base: str, script: Path, pid: int, args: argparse.Namespace) -> dict:
    """One wrk run against one service, with a freshly signed principal (signatures age out after 300 s)."""
    signed = sign_principal(Principal(role="app", key_id="bench"), SECRET.encode())
    env = dict(os.environ, BENCH_PRINCIPAL=signed["x-chiiki-principal"], BENCH_SIGNATURE=signed["x-chiiki-signature"])
    before = tree_cpu_seconds(pid)
    output = subprocess.run(
        ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "-s", str(script), base],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spent = tree_cpu_seconds(pid) - before
    figures = read_report(output)
    figures["rps"] = figures["requests"] / figures["seconds"]
    figures["cpu_ms_per_request"] = spent * 1000 / max(1, figures["requests"])
    return figures


def summarise(runs: list[dict]) -> dict:
    return {
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "cpu_ms_per_request": round(statistics.median(r["cpu_ms_per_request"] for r in runs), 3),
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
        "errors": sum(r["errors"] for r in runs),  # wrk counts an answer of 400 or more as an error
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--baseline", type=Path, help="another checkout whose subsidy service runs beside this one")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="chiiki-bench-"))
    trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    ports = {name: free_port() for name in trees}
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        CHIIKI_INTERNAL_SECRET=SECRET,
        CHIIKI_VAR_DIR=str(workdir),
        CHIIKI_LOG_LEVEL="INFO",
    )
    prepare_database(env, "bench-service-path")
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "common.cli", "service", "subsidy"],
            env=env | {"CHIIKI_SUBSIDY_PORT": str(ports[name]), "PYTHONPATH": str(tree)},
            cwd=tree,
            stderr=subprocess.DEVNULL,
        )
        for name, tree in trees.items()
    }
    scripts = {}
    for row, requests in ROWS.items():
        scripts[row] = workdir / f"{row}.lua"
        scripts[row].write_text(lua_script(requests), encoding="utf-8")
    load_before = os.getloadavg()
    runs: dict[str, dict[str, list[dict]]] = {name: {row: [] for row in ROWS} for name in trees}
    try:
        for port in ports.values():
            wait_ready(f"http://127.0.0.1:{port}/healthz")
        for round_number in range(args.rounds):
            for row in ROWS:
                # alternate which service goes first, so that neither always runs right after the other's row
                order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
                for name in order:
                    figures = run_row(f"http://127.0.0.1:{ports[name]}", scripts[row], processes[name].pid, args)
                    runs[name][row].append(figures)
                    print(
                        f"round {round_number + 1} {row} {name}: {figures['rps']:.0f} req/s, "
                        f"{figures['cpu_ms_per_request']:.3f} ms CPU per request",
                        flush=True,
                    )
    finally:
        stop_all(processes.values())
        shutil.rmtree(workdir, ignore_errors=True)

    medians = {name: {row: summarise(row_runs) for row, row_runs in rows.items()} for name, rows in runs.items()}
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": machine_facts(load_before),
        "connections": args.connections,
        "duration_seconds": args.duration,
        "rounds": args.rounds,
        "services": {name: str(tree) if name == "baseline" else "this checkout" for name, tree in trees.items()},
        "rows": medians,
        "note": "cpu_ms_per_request: the subsidy service's CPU over the requests wrk counted; no gateway involved",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'row':13} " + " ".join(f"{name + ' req/s':>15} {name + ' CPU ms':>16}" for name in trees))
    for row in ROWS:
        cells = " ".join(f"{medians[n][row]['rps']:15.0f} {medians[n][row]['cpu_ms_per_request']:16.3f}" for n in trees)
        print(f"{row:13} {cells}")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
