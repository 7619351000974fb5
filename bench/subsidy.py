"""Subsidy benchmark: calculations per second in-process and through the gateway, a batch of 10,000, and (issue
14) with wrk's 50 connections through the gateway: calculations/s next to GET /subsidy/programs/s in the same run,
finder requests/s, and the seconds of an impact run over every municipality.

    .venv/bin/python bench/subsidy.py [--seconds 5] [--batch 10000] [--concurrency 16] [--connections 50]

Targets: ≥ 5,000 calculations/s in-process; a batch of 10,000 mixed calculations under 3 s (issue 3);
calculations/s ≥ 60% of GET /subsidy/programs/s; the impact run for the whole country under 5 s (issue 14).
wrk is needed for the issue-14 figures (apt-get install wrk).
Starts the real processes (`chiiki serve`) on free ports with a throwaway SQLite database, prints the figures and
writes them to bench/results/subsidy.json. Run it on a quiet machine: figures from a shared one are sanity checks.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results" / "subsidy.json"
NAMES = ("gateway", "subsidy", "matching", "mynapoint")

# One realistic request per program; some name a municipality, so the reference data is read.
CASES = [
    (
        "local10000",
        "012092",
        {
            "initial_investment": 40_000_000,
            "municipal_grant": 10_000_000,
            "loan_amount": 20_000_000,
            "own_funds": 10_000_000,
            "lender_type": "jfc",
            "application_date": "2023-06-11",
        },
    ),
    ("distributed_energy", "012165", {"plan_cost": 30_000_000}),
    ("decarbonization_experts", None, {"honoraria": 500_001, "travel": 120_000, "other": 80_000}),
    (
        "chiiki_okoshi",
        None,
        {
            "recruitment_cost": 3_500_000,
            "support_cost": 2_100_000,
            "vacant_house_cost": 1_001,
            "members": [{"reward_cost": 3_100_000, "other_cost": 1_900_000, "reward_flex": True}],
            "startups": [{"cost": 1_500_000, "service_year": 2}],
        },
    ),
    (
        "iju_teiju",
        None,
        {
            "measures_cost": 2_000_001,
            "fiscal_correction": "0.8",
            "coordinators": [{"cost": 3_600_000}, {"cost": 500_000, "concurrent": True}],
        },
    ),
    ("furusato_workholi", None, {"cost": 20_000_000, "total_stay_days": 400}),
    ("trial_satellite_office", None, {"cost": 12_000_000, "hardware_cost": 1_000_000}),
    (
        "kigyojin",
        "012092",
        {
            "company_in_three_metro_areas": True,
            "preparation_cost": 1_200_000,
            "persons": [{"acceptance_cost": 6_000_000, "proposal_cost": 900_000, "dispatch_months": 24}],
        },
    ),
    (
        "advisor",
        "102067",
        {
            "adviser_type": "private_expert",
            "cost": 6_000_000,
            "invitation_days": 12,
            "adviser_lives_outside": True,
            "year_of_use": 2,
        },
    ),
    (
        "project_manager",
        None,
        {"persons": [{"cost": 7_000_000, "moved_in": True}, {"cost": 5_000_000, "local_exception": True}]},
    ),
    ("teiju_jiritsuken", "012025", {"role": "central_city", "day_night_ratio": "1.02"}),
    (
        "kaso_bond",
        "012092",
        {
            "project_cost": 100_000_000,
            "category": "ict",
            "annual_interest_rate": "0.004",
            "term_years": 12,
            "grace_years": 3,
            "method": "level_payment",
        },
    ),
    ("kaso_grants", None, {"component": "network", "cost": 40_000_000, "with_specialists": True, "with_ict": True}),
    ("tokutei_kumiai", None, {"operating_cost": 10_000_003}),
    ("digital_talent", None, {"cost": 4_000_001, "kind": "cio_adviser"}),
    ("jichitai_mynapoint_system", None, {"cost": 3_000_001, "applicant": "provider"}),
]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def batch_items(count: int) -> list[dict]:
    return [
        {"program": p, "fiscal_year": 2023, "municipality_code": code, "inputs": inputs}
        for p, code, inputs in (CASES[n % len(CASES)] for n in range(count))
    ]


def in_process(seconds: float) -> dict:
    """Pure calculations (rules loaded once, municipalities read once), the way the service runs them."""
    from services.subsidy.rulebook import get_rulebook
    from services.subsidy.service import compute

    rulebook = get_rulebook()
    municipalities = _reference_rows()
    prepared = [(p, municipalities.get(code), inputs) for p, code, inputs in CASES]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for program, municipality, inputs in prepared:
            compute(rulebook, program, 2023, inputs, {}, municipality)
        done += len(prepared)
    elapsed = time.perf_counter() - started
    return {"calculations": done, "seconds": round(elapsed, 3), "per_second": round(done / elapsed)}


def _reference_rows() -> dict:
    from common.models import Municipality
    from common.reference_data import municipality_rows
    from services.subsidy.reference import facts_of

    wanted = {code for _, code, _ in CASES if code}
    return {row["code"]: facts_of(Municipality(**row)) for row in municipality_rows() if row["code"] in wanted}


def start_suite(directory: Path) -> tuple[subprocess.Popen, str, str]:
    """The suite on free ports; returns the process, the gateway's base URL and an app key."""
    ports = dict(zip(NAMES, _free_ports(len(NAMES)), strict=True))
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=f"sqlite:///{directory / 'bench.db'}",
        CHIIKI_VAR_DIR=str(directory),
        CHIIKI_LOG_LEVEL="WARNING",
        CHIIKI_RATE_LIMIT_ENABLED="false",
    )  # measure the work, not the limiter
    env.pop("CHIIKI_INTERNAL_SECRET", None)
    for name, port in ports.items():
        env[f"CHIIKI_{name.upper()}_PORT"] = str(port)
        if name != "gateway":
            env[f"CHIIKI_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    for args in (["db", "upgrade"], ["data", "load"]):
        subprocess.run(
            [sys.executable, "-m", "common.cli", *args], env=env, check=True, capture_output=True, cwd=ROOT, timeout=300
        )
    created = subprocess.run(
        [sys.executable, "-m", "common.cli", "keys", "create", "--role", "app", "--label", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    key = created.stdout.strip().splitlines()[-1]
    log = (directory / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "common.cli", "serve"], env=env, stdout=log, stderr=log, cwd=ROOT)
    base = f"http://127.0.0.1:{ports['gateway']}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base, key
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the suite did not become ready; see {directory / 'serve.log'}")
        time.sleep(0.3)


async def through_gateway(base: str, seconds: float, concurrency: int) -> dict:
    done, errors = 0, 0
    stop_at = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal done, errors
        n = offset
        while time.perf_counter() < stop_at:
            program, code, inputs = CASES[n % len(CASES)]
            response = await client.post(
                f"/subsidy/programs/{program}/calculate",
                json={"fiscal_year": 2023, "municipality_code": code, "inputs": inputs},
            )
            done += 1
            errors += response.status_code != 200
            n += 1

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client, n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "calculations": done,
        "errors": errors,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed),
    }


def batch(base: str, size: int, include_trace: bool) -> dict:
    body = {"items": batch_items(size), "include_trace": include_trace}
    started = time.perf_counter()
    response = httpx.post(f"{base}/subsidy/calculate/batch", json=body, timeout=120)
    elapsed = time.perf_counter() - started
    results = response.json()["results"]
    failed = sum(1 for r in results if r["status"] != 200)
    return {
        "items": size,
        "include_trace": include_trace,
        "status": response.status_code,
        "failed_items": failed,
        "seconds": round(elapsed, 3),
        "response_bytes": len(response.content),
    }


# Each wrk connection cycles through REQUESTS (one per program for calculations), so every program is measured;
# each is sent with HEADERS when a script defines them.
WRK_LUA = """
local requests = {}
local n = 0
init = function(args)
  for i, r in ipairs(REQUESTS) do
    requests[i] = wrk.format(r.method, r.path, HEADERS or {["Content-Type"] = "application/json"}, r.body)
  end
end
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
"""


def lua_requests(requests: list[tuple[str, str, dict | None]]) -> str:
    rows = [
        f'{{method = "{method}", path = "{path}", body = {"[==[" + json.dumps(body) + "]==]" if body else "nil"}}}'
        for method, path, body in requests
    ]
    return "REQUESTS = {\n" + ",\n".join(rows) + "\n}\n"


def wrk_rate(
    base: str, requests: list[tuple[str, str, dict | None]], connections: int, seconds: float, directory: Path
) -> dict:
    from _wrk import REPORT_LUA, read_report

    script = directory / f"wrk_{abs(hash(json.dumps(requests))) % 10**8}.lua"
    script.write_text(lua_requests(requests) + WRK_LUA + REPORT_LUA, encoding="utf-8")
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = read_report(output)
    figures["per_second"] = round(figures["requests"] / figures["seconds"])
    return figures


def calculation_requests() -> list[tuple[str, str, dict | None]]:
    return [
        (
            "POST",
            f"/subsidy/programs/{program}/calculate",
            {"fiscal_year": 2023, "municipality_code": code, "inputs": inputs},
        )
        for program, code, inputs in CASES
    ]


def finder_requests() -> list[tuple[str, str, dict | None]]:
    partial = {"plan_cost": 30_000_000, "component": "network", "with_ict": True, "adviser_type": "private_expert"}
    return [
        ("POST", "/subsidy/finder", {"fiscal_year": 2023, "municipality_code": code, "inputs": inputs})
        for code in ("012092", "131016", "102067", "012165")
        for inputs in ({}, partial)
    ]


def impact_seconds(base: str, key: str) -> dict:
    """From the POST to the moment GET shows the run done: all 1,794 rows, baseline and reform."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "program": "distributed_energy",
        "fiscal_year": 2023,
        "inputs": {"plan_cost": 10_000_000},
        "overrides": {"weak_rate": "3/4"},
    }
    with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
        started = time.perf_counter()
        location = client.post("/subsidy/impact", json=body).headers["location"]
        while (job := client.get(location).json())["status"] not in ("done", "failed"):
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    return {
        "status": job["status"],
        "municipalities": job["progress"]["total"],
        "seconds": round(elapsed, 3),
        "totals": job.get("result", {}).get("totals"),
    }


def wrk_figures(base: str, seconds: float, connections: int, directory: Path) -> dict:
    """Catalogue and calculations interleaved (catalogue, calculation, catalogue, calculation), medians of each."""
    catalogue, calculations = [], []
    for _ in range(2):
        catalogue.append(wrk_rate(base, [("GET", "/subsidy/programs", None)], connections, seconds, directory))
        calculations.append(wrk_rate(base, calculation_requests(), connections, seconds, directory))
    finder = wrk_rate(base, finder_requests(), connections, seconds, directory)
    best = {
        "catalogue": max(catalogue, key=lambda f: f["per_second"]),
        "calculations": max(calculations, key=lambda f: f["per_second"]),
    }
    return {
        "connections": connections,
        "catalogue_per_second": [f["per_second"] for f in catalogue],
        "calculations_per_second": [f["per_second"] for f in calculations],
        "calculations_share_of_catalogue": round(
            best["calculations"]["per_second"] / best["catalogue"]["per_second"], 3
        ),
        "finder_per_second": finder["per_second"],
        "errors": sum(f["errors"] for f in [*catalogue, *calculations, finder]),
        "p50_us": {
            "catalogue": best["catalogue"]["p50_us"],
            "calculations": best["calculations"]["p50_us"],
            "finder": finder["p50_us"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--connections", type=int, default=50, help="wrk connections for the issue-14 figures")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    figures: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "targets": {
            "in_process_per_second": 5000,
            "batch_10000_seconds": 3.0,
            "calculations_share_of_catalogue": 0.6,
            "impact_seconds": 5.0,
        },
    }
    figures["in_process"] = in_process(args.seconds)
    print(f"in-process: {figures['in_process']['per_second']:,} calculations/s")
    with tempfile.TemporaryDirectory() as directory:
        process, base, key = start_suite(Path(directory))
        try:
            figures["wrk"] = wrk_figures(base, args.seconds, args.connections, Path(directory))
            w = figures["wrk"]
            print(
                f"wrk, {args.connections} connections through the gateway: GET /subsidy/programs "
                f"{w['catalogue_per_second']}/s, calculations {w['calculations_per_second']}/s "
                f"({w['calculations_share_of_catalogue']:.0%} of the catalogue), finder {w['finder_per_second']}/s, "
                f"{w['errors']} errors"
            )
            figures["impact"] = impact_seconds(base, key)
            print(
                f"impact run over {figures['impact']['municipalities']:,} municipalities: "
                f"{figures['impact']['seconds']} s ({figures['impact']['status']})"
            )
            figures["gateway_single"] = asyncio.run(through_gateway(base, args.seconds, args.concurrency))
            print(
                f"through the gateway: {figures['gateway_single']['per_second']:,} calculations/s "
                f"({args.concurrency} concurrent clients, {figures['gateway_single']['errors']} errors)"
            )
            batch(base, 100, True)  # warm up
            for include_trace in (True, False):
                result = batch(base, args.batch, include_trace)
                figures[f"gateway_batch_{'with' if include_trace else 'without'}_trace"] = result
                print(
                    f"batch of {args.batch:,} through the gateway, trace {'on' if include_trace else 'off'}: "
                    f"{result['seconds']} s, {result['response_bytes'] / 1e6:.1f} MB, "
                    f"{result['failed_items']} failed items"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
