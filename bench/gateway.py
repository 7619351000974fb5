"""What the gateway costs: the same requests straight to the subsidy service and through the gateway.

    .venv/bin/python bench/gateway.py [--duration 10] [--connections 50] [--rounds 3]

Starts, on 127.0.0.1 and a throwaway SQLite database: the subsidy service and the gateway, as deployed. wrk
(Debian's `wrk` package) drives each target in turn from a separate process with N connections, several rounds
interleaved;
the figures are the medians over rounds. Each round also measures every target with a single connection, where
latency is the gateway's own cost rather than queueing behind 49 other requests. Scenarios:
`GET /subsidy/municipalities/{code}` (a database read), and a subsidy calculation
(`POST /subsidy/programs/local10000/calculate`) when the service has that endpoint.
Prints the figures and writes them to bench/results/gateway.json.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _suite import free_port, prepare_database, stop_all, wait_ready
from _wrk import REPORT_LUA, read_report
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gateway.json"
SECRET = "bench-internal-secret-" + "x" * 20

SCENARIOS = {
    "municipality_read": {"method": "GET", "path": "/subsidy/municipalities/012092", "body": None},
    "calculation": {
        "method": "POST",
        "path": "/subsidy/programs/local10000/calculate",
        "body": {
            "fiscal_year": 2023,
            "municipality_code": "012092",
            "inputs": {
                "initial_investment": 30_000_000,
                "municipal_grant": 10_000_000,
                "loan_amount": 15_000_000,
                "own_funds": 5_000_000,
                "lender_type": "regional_bank",
            },
        },
    },
}

# wrk reports through this script: one JSON line with throughput and latency percentiles (microseconds).
WRK_SCRIPT = (
    """
wrk.method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
if body ~= "" then wrk.body = body end
wrk.headers["Content-Type"] = "application/json"
for pair in string.gmatch(os.getenv("BENCH_HEADERS"), "[^\\n]+") do
  local name, value = pair:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
"""
    + REPORT_LUA
)


def call(url: str, method: str, headers: dict, body: dict | None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers=headers | {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def run_wrk(url: str, scenario: dict, headers: dict, connections: int, duration: int, script: Path) -> dict:
    env = dict(
        os.environ,
        BENCH_METHOD=scenario["method"],
        BENCH_BODY=json.dumps(scenario["body"]) if scenario["body"] is not None else "",
        BENCH_HEADERS="\n".join(f"{k}: {v}" for k, v in headers.items()),
    )
    threads = min(2, connections)
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "-s", str(script), url + scenario["path"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = read_report(output)
    figures["rps"] = figures["requests"] / figures["seconds"]
    return figures


def signed_app_principal() -> dict:
    """What the gateway would send, so that the service can be called directly (valid for 5 minutes: signed
    afresh for every wrk run, as a run of several rounds lasts longer)."""
    from common.auth import Principal, sign_principal

    return sign_principal(Principal(role="app", key_id="bench"), SECRET.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument(
        "--database-url",
        help="a database to throw away (migrated, loaded, given a bench key); default: a temporary SQLite file",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    sys.path.insert(0, str(ROOT))

    workdir = Path(tempfile.mkdtemp(prefix="chiiki-bench-"))
    ports = {"service": free_port(), "gateway": free_port()}
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=database_url,
        CHIIKI_INTERNAL_SECRET=SECRET,
        CHIIKI_VAR_DIR=str(workdir),
        CHIIKI_RATE_LIMIT_ENABLED="false",
        CHIIKI_LOG_LEVEL="INFO",
        CHIIKI_SUBSIDY_PORT=str(ports["service"]),
        CHIIKI_SUBSIDY_URL=f"http://127.0.0.1:{ports['service']}",
    )
    key = prepare_database(env, "bench")
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)

    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "common.cli", "service", "subsidy"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
        ),
        subprocess.Popen(
            [sys.executable, "-m", "common.cli", "service", "gateway"],
            env=env | {"CHIIKI_GATEWAY_PORT": str(ports["gateway"])},
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        for port in ports.values():
            wait_ready(f"http://127.0.0.1:{port}/healthz")
        bearer = {"Authorization": f"Bearer {key}"}
        targets = {  # base URL, and the headers for one wrk run
            "direct": (f"http://127.0.0.1:{ports['service']}", signed_app_principal),
            "gateway": (f"http://127.0.0.1:{ports['gateway']}", lambda: bearer),
        }
        results = {}
        for name, scenario in SCENARIOS.items():
            status = call(targets["gateway"][0] + scenario["path"], scenario["method"], bearer, scenario["body"])
            if status != 200:
                print(f"{name}: skipped, {scenario['method']} {scenario['path']} answers {status}", flush=True)
                results[name] = {"skipped": f"answers {status}"}
                continue
            runs = {target: [] for target in targets}
            single = {target: [] for target in targets}
            for round_number in range(args.rounds):
                for target, (base, headers) in targets.items():
                    runs[target].append(run_wrk(base, scenario, headers(), args.connections, args.duration, script))
                    single[target].append(run_wrk(base, scenario, headers(), 1, max(3, args.duration // 2), script))
                    print(
                        f"{name} round {round_number + 1} {target}: {runs[target][-1]['rps']:.0f} req/s, "
                        f"p50 {runs[target][-1]['p50_us'] / 1000:.2f} ms; one connection: "
                        f"p50 {single[target][-1]['p50_us'] / 1000:.2f} ms",
                        flush=True,
                    )
            results[name] = {f"{args.connections}_connections": summarise(runs), "1_connection": summarise(single)}
    finally:
        stop_all(processes, timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)

    errors = {
        target: [
            f"{name} {connections}: {figures['errors']}"
            for name, result in results.items()
            if "skipped" not in result
            for connections, summary in result.items()
            for each, figures in summary["median"].items()
            if each == target and figures["errors"]
        ]
        for target in ("direct", "gateway")
    }
    invalid = errors["direct"] + errors["gateway"]
    if invalid:
        print("NOT VALID: wrk counted errors or non-2xx answers: " + "; ".join(invalid), flush=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "valid": not invalid,
        "errors": errors,
        "database": make_url(database_url).get_backend_name(),
        "cpus": os.cpu_count(),
        "connections": args.connections,
        "duration_seconds": args.duration,
        "rounds": args.rounds,
        "scenarios": results,
        "targets": {"throughput_ratio_db_read": 0.5, "added_p50_ms": 3.0},
        "note": "gateway: as deployed (aiohttp's client, called directly)",
    }
    results_file = RESULTS if report["database"] == "sqlite" else RESULTS.with_stem(f"gateway-{report['database']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"written to {results_file.relative_to(ROOT)}")


def summarise(runs: dict[str, list[dict]]) -> dict:
    median = {
        target: {
            "rps": statistics.median(r["rps"] for r in rs),
            "p50_ms": statistics.median(r["p50_us"] for r in rs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in rs) / 1000,
            "errors": sum(r["errors"] for r in rs),
        }
        for target, rs in runs.items()
    }
    direct = median["direct"]
    summary = {"median": median}
    summary["gateway"] = {
        "throughput_ratio": round(median["gateway"]["rps"] / direct["rps"], 3),
        "added_p50_ms": round(median["gateway"]["p50_ms"] - direct["p50_ms"], 2),
        "added_p99_ms": round(median["gateway"]["p99_ms"] - direct["p99_ms"], 2),
    }
    return summary


if __name__ == "__main__":
    main()
