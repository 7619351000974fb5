"""Subsidy benchmark: calculations per second in-process and through the gateway, and a batch of 10,000.

    .venv/bin/python bench/subsidy.py [--seconds 5] [--batch 10000] [--concurrency 16]

Targets (issue 3): ≥ 5,000 calculations/s in-process; a batch of 10,000 mixed calculations under 3 s.
Starts the real processes (`chiiki serve`) on free ports with a throwaway SQLite database, prints the figures and
writes them to bench/results/subsidy.json. Run it on a quiet machine: figures from a shared one are sanity checks.
"""

import argparse
import asyncio
import json
import os
import platform
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
RESULTS = ROOT / "bench" / "results" / "subsidy.json"
NAMES = ("gateway", "subsidy", "matching", "mynapoint")

# One realistic request per program; some name a municipality, so the reference data is read.
CASES = [
    ("local10000", "012092", {"initial_investment": 40_000_000, "municipal_grant": 10_000_000,
                              "loan_amount": 20_000_000, "own_funds": 10_000_000, "lender_type": "jfc",
                              "application_date": "2023-06-11"}),
    ("distributed_energy", "012165", {"plan_cost": 30_000_000}),
    ("decarbonization_experts", None, {"honoraria": 500_001, "travel": 120_000, "other": 80_000}),
    ("chiiki_okoshi", None, {"recruitment_cost": 3_500_000, "support_cost": 2_100_000, "vacant_house_cost": 1_001,
                             "members": [{"reward_cost": 3_100_000, "other_cost": 1_900_000, "reward_flex": True}],
                             "startups": [{"cost": 1_500_000, "service_year": 2}]}),
    ("iju_teiju", None, {"measures_cost": 2_000_001, "fiscal_correction": "0.8",
                         "coordinators": [{"cost": 3_600_000}, {"cost": 500_000, "concurrent": True}]}),
    ("furusato_workholi", None, {"cost": 20_000_000, "total_stay_days": 400}),
    ("trial_satellite_office", None, {"cost": 12_000_000, "hardware_cost": 1_000_000}),
    ("kigyojin", "012092", {"company_in_three_metro_areas": True, "preparation_cost": 1_200_000,
                            "persons": [{"acceptance_cost": 6_000_000, "proposal_cost": 900_000,
                                         "dispatch_months": 24}]}),
    ("advisor", "102067", {"adviser_type": "private_expert", "cost": 6_000_000, "invitation_days": 12,
                           "adviser_lives_outside": True, "year_of_use": 2}),
    ("project_manager", None, {"persons": [{"cost": 7_000_000, "moved_in": True},
                                           {"cost": 5_000_000, "local_exception": True}]}),
    ("teiju_jiritsuken", "012025", {"role": "central_city", "day_night_ratio": "1.02"}),
    ("kaso_bond", "012092", {"project_cost": 100_000_000, "category": "ict", "annual_interest_rate": "0.004",
                             "term_years": 12, "grace_years": 3, "method": "level_payment"}),
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
    return [{"program": p, "fiscal_year": 2023, "municipality_code": code, "inputs": inputs}
            for p, code, inputs in (CASES[n % len(CASES)] for n in range(count))]


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

    wanted = {code for _, code, _ in CASES if code}
    return {row["code"]: Municipality(**row) for row in municipality_rows() if row["code"] in wanted}


def start_suite(directory: Path) -> tuple[subprocess.Popen, str, dict]:
    ports = dict(zip(NAMES, _free_ports(len(NAMES)), strict=True))
    env = dict(os.environ, CHIIKI_DATABASE_URL=f"sqlite:///{directory / 'bench.db'}", CHIIKI_VAR_DIR=str(directory),
               CHIIKI_LOG_LEVEL="WARNING", CHIIKI_RATE_LIMIT_ENABLED="false")  # measure the work, not the limiter
    env.pop("CHIIKI_INTERNAL_SECRET", None)
    for name, port in ports.items():
        env[f"CHIIKI_{name.upper()}_PORT"] = str(port)
        if name != "gateway":
            env[f"CHIIKI_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    for args in (["db", "upgrade"], ["data", "load"]):
        subprocess.run([sys.executable, "-m", "common.cli", *args], env=env, check=True, capture_output=True,
                       cwd=ROOT, timeout=300)
    log = (directory / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "common.cli", "serve"], env=env, stdout=log, stderr=log,
                               cwd=ROOT)
    base = f"http://127.0.0.1:{ports['gateway']}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base, ports
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
            response = await client.post(f"/subsidy/programs/{program}/calculate",
                                         json={"fiscal_year": 2023, "municipality_code": code, "inputs": inputs})
            done += 1
            errors += response.status_code != 200
            n += 1

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client, n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"calculations": done, "errors": errors, "concurrency": concurrency, "seconds": round(elapsed, 3),
            "per_second": round(done / elapsed)}


def batch(base: str, size: int, include_trace: bool) -> dict:
    body = {"items": batch_items(size), "include_trace": include_trace}
    started = time.perf_counter()
    response = httpx.post(f"{base}/subsidy/calculate/batch", json=body, timeout=120)
    elapsed = time.perf_counter() - started
    results = response.json()["results"]
    failed = sum(1 for r in results if r["status"] != 200)
    return {"items": size, "include_trace": include_trace, "status": response.status_code, "failed_items": failed,
            "seconds": round(elapsed, 3), "response_bytes": len(response.content)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    figures: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpu_count": os.cpu_count(),
                     "python": platform.python_version(), "machine": platform.machine(),
                     "targets": {"in_process_per_second": 5000, "batch_10000_seconds": 3.0}}
    figures["in_process"] = in_process(args.seconds)
    print(f"in-process: {figures['in_process']['per_second']:,} calculations/s")
    with tempfile.TemporaryDirectory() as directory:
        process, base, _ = start_suite(Path(directory))
        try:
            figures["gateway_single"] = asyncio.run(through_gateway(base, args.seconds, args.concurrency))
            print(f"through the gateway: {figures['gateway_single']['per_second']:,} calculations/s "
                  f"({args.concurrency} concurrent clients, {figures['gateway_single']['errors']} errors)")
            batch(base, 100, True)  # warm up
            for include_trace in (True, False):
                result = batch(base, args.batch, include_trace)
                figures[f"gateway_batch_{'with' if include_trace else 'without'}_trace"] = result
                print(f"batch of {args.batch:,} through the gateway, trace {'on' if include_trace else 'off'}: "
                      f"{result['seconds']} s, {result['response_bytes'] / 1e6:.1f} MB, "
                      f"{result['failed_items']} failed items")
        finally:
            process.terminate()
            process.wait(timeout=30)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
