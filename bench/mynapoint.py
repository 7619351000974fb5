"""Benchmark of point issuance through the gateway, on PostgreSQL.

    .venv/bin/python bench/mynapoint.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
                                        [--applications 3000] [--clients 50] [--workers 2] [--runs 5]

Creates a fresh database on the server (dropped afterwards), starts the mynapoint service and the gateway as
real processes (uvicorn, like `chiiki serve`), then measures:
  1. resident applications per second with N concurrent clients (each with an Idempotency-Key), p50/p99 latency,
     and the CPU each process spends per application. The load comes from wrk (Debian's `wrk` package), a separate
     process with N connections, whose Lua script sends each resident's application exactly once and counts the
     answers by status;
  2. webhook deliveries per second (the grant.created events of those applications) by delivery workers to a
     local provider stub that verifies every signature with the reference standardwebhooks package;
  3. the provider's grant.credited webhooks per second, one for each grant, signed beforehand and sent through
     the gateway by wrk with N connections, each once; then every grant must be posted.
Both are measured `--runs` times, each on a fresh database and fresh processes; the report is the run with the
median applications per second, with every run's rates beside it. Prints the figures and writes them to
bench/results/mynapoint.json. The target is ≥ 300 applications/s.
"""

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from _suite import free_port, stop_all
from _wrk import REPORT_LUA, read_report
from aiohttp import web
from sqlalchemy.engine import make_url
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.db import Database  # noqa: E402
from common.migrations import upgrade  # noqa: E402
from common.settings import Settings  # noqa: E402
from services.mynapoint.worker import DeliveryWorker  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "mynapoint.json"
MUNICIPALITY = "012092"
WARM_UP = 200  # applications before measuring: connections, caches
WRK_LIMIT_SECONDS = 600  # only if answers go missing: a run ends when every application is answered

# Each wrk thread sends its own share of the requests (n = BENCH_FIRST ... BENCH_FIRST + BENCH_COUNT - 1), each
# once; take() gives the thread's next n. When all of them are answered it prints FINISHED and stops; the bench
# interrupts wrk once every thread has, and done() reports.
SHARES_LUA = (
    """
local first, count = tonumber(os.getenv("BENCH_FIRST")), tonumber(os.getenv("BENCH_COUNT"))
local thread_count = tonumber(os.getenv("BENCH_THREADS"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

threads = {}
setup = function(thread)
  local index = #threads
  local from = first + math.floor(count * index / thread_count)
  local to = first + math.floor(count * (index + 1) / thread_count)
  thread:set("next_n", from)
  thread:set("end_n", to)
  thread:set("share", to - from)
  thread:set("check_call_pending", index == 0)  -- wrk builds the first thread's first request once to check it
  threads[index + 1] = thread
end

take = function()
  if next_n == end_n then return nil end  -- every request of this thread is sent: the connection stays idle
  local n = next_n
  if check_call_pending then check_call_pending = false else next_n = n + 1 end  -- the check's request is not sent
  return n
end

statuses, answered = {}, 0
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if answered == share then
    io.write("FINISHED\\n")
    io.flush()
    wrk.thread:stop()
  end
end
"""
    + REPORT_LUA
)

# A distinct resident and Idempotency-Key each.
APPLICATIONS_LUA = (
    SHARES_LUA
    + """
local provider_id = os.getenv("BENCH_PROVIDER_ID")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_APP_KEY")
request = function()
  local n = take()
  if n == nil then return "" end
  wrk.headers["Idempotency-Key"] = "bench-" .. n
  return wrk.format(nil, nil, nil, string.format(
    '{"myki_id": "bench-%06d", "provider_id": "%s", "provider_account_id": "a%d"}', n, provider_id, n))
end
"""
)

# The provider's signed grant.credited webhooks, signed beforehand: line n of BENCH_CREDITS holds webhook-id,
# webhook-timestamp, webhook-signature and the body, tab-separated.
CREDITS_LUA = (
    SHARES_LUA
    + """
local credits, line_n = {}, 0
for line in io.lines(os.getenv("BENCH_CREDITS")) do
  local id, timestamp, signature, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  credits[line_n] = {id = id, timestamp = timestamp, signature = signature, body = body}
  line_n = line_n + 1
end
request = function()
  local n = take()
  if n == nil then return "" end
  local credit = credits[n]
  wrk.headers["webhook-id"] = credit.id
  wrk.headers["webhook-timestamp"] = credit.timestamp
  wrk.headers["webhook-signature"] = credit.signature
  return wrk.format(nil, nil, nil, credit.body)
end
"""
)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time all cores have spent busy so far (user, nice, system, irq, softirq)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server's processes now running (backends, WAL writer, …), when on this machine."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                total += process_cpu_seconds(int(stat.parent.name))
        except (OSError, IndexError):  # the process ended meanwhile
            continue
    return total


class CpuMeter:
    """CPU milliseconds per unit of work, by process, over one measured stretch."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def read(self) -> dict[str, float]:
        figures = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has ended
        figures["load generator (wrk)"] = children.ru_utime + children.ru_stime
        figures["postgresql"] = postgres_cpu_seconds()
        figures["machine"] = machine_cpu_seconds()
        return figures

    def per_unit(self, before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
        spent = {name: after[name] - before[name] for name in before}
        accounted = sum(v for k, v in spent.items() if k != "machine")
        spent["the rest (kernel, other processes)"] = spent["machine"] - accounted
        return {name: round(seconds * 1000 / units, 2) for name, seconds in spent.items()}


class Stack:
    """A fresh database, the mynapoint service and the gateway as processes."""

    def __init__(self, server: str):
        self.server = make_url(server).set(drivername="postgresql")
        self.name = f"chiiki_bench_{uuid.uuid4().hex[:10]}"
        self.url = self.server.set(database=self.name).render_as_string(False)
        self.ports = {"gateway": free_port(), "mynapoint": free_port()}
        self.env = dict(
            os.environ,
            CHIIKI_DATABASE_URL=self.url,
            CHIIKI_INTERNAL_SECRET=uuid.uuid4().hex * 2,
            CHIIKI_MYKI_SECRET=uuid.uuid4().hex * 2,
            CHIIKI_LOG_LEVEL="WARNING",
            CHIIKI_RATE_LIMIT_ENABLED="false",  # 50 clients on one key: measure the work, not the limiter
            CHIIKI_GATEWAY_PORT=str(self.ports["gateway"]),
            CHIIKI_MYNAPOINT_PORT=str(self.ports["mynapoint"]),
            CHIIKI_MYNAPOINT_URL=f"http://127.0.0.1:{self.ports['mynapoint']}",
        )
        self.processes: list[subprocess.Popen] = []

    def cli(self, *args: str) -> str:
        return (
            subprocess.run(
                [sys.executable, "-m", "common.cli", *args],
                env=self.env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )

    def __enter__(self) -> "Stack":
        with psycopg.connect(self.server.render_as_string(False), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        upgrade(self.url)
        self.cli("data", "load")
        for name in ("mynapoint", "gateway"):
            self.processes.append(
                subprocess.Popen([sys.executable, "-m", "common.cli", "service", name], env=self.env, cwd=ROOT)
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the stack did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def __exit__(self, *_exc) -> None:
        stop_all(self.processes, timeout=20)
        with psycopg.connect(self.server.render_as_string(False), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


async def setup_program(client: httpx.AsyncClient, keys: dict, provider_url: str, residents: int) -> tuple[dict, dict]:
    ops = {"Authorization": f"Bearer {keys['ops']}"}
    muni = {"Authorization": f"Bearer {keys['municipality']}"}
    provider = (
        await client.post("/mynapoint/providers", headers=ops, json={"name": "bench pay", "webhook_url": provider_url})
    ).json()
    now = datetime.now(UTC)
    program = (
        await client.post(
            "/mynapoint/programs",
            headers=muni,
            json={
                "municipality_code": MUNICIPALITY,
                "name": "bench",
                "kind": "fixed",
                "points_per_person": 1_000,
                "budget_yen": residents * 1_000,
                "provider_ids": [provider["id"]],
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=1)).isoformat(),
            },
        )
    ).json()
    roster = [{"myki_id": f"bench-{n:06d}", "birth_date": "1980-01-01"} for n in range(residents)]
    for start in range(0, residents, 5_000):
        answer = await client.post(
            f"/mynapoint/programs/{program['id']}/roster",
            headers=muni,
            json={"residents": roster[start : start + 5_000]},
            timeout=120,
        )
        assert answer.json()["errors"] == [], answer.text
    return provider, program


async def run_wrk(script: str, url: str, first: int, count: int, clients: int, **env: str) -> dict:
    """wrk sends requests first <= n < first + count, each once, over `clients` connections; its report."""
    threads = min(2, clients)
    env = dict(os.environ, BENCH_FIRST=str(first), BENCH_COUNT=str(count), BENCH_THREADS=str(threads), **env)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        wrk = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{WRK_LIMIT_SECONDS}s",
            "--timeout",
            "10s",
            "-s",
            lua.name,
            url,
            env=env,
            stdout=subprocess.PIPE,
        )
        output, finished = [], 0
        while line := (await wrk.stdout.readline()).decode():
            output.append(line)
            finished += line == "FINISHED\n"
            if line == "FINISHED\n" and finished == threads:
                wrk.send_signal(signal.SIGINT)  # wrk sleeps out its duration otherwise; SIGINT ends it and runs done()
        await wrk.wait()
    figures = read_report("".join(output))
    return {
        "requests": count,
        "clients": clients,
        "seconds": round(figures["seconds"], 3),
        "per_second": round(count / figures["seconds"], 1),
        "p50_ms": round(figures["p50_us"] / 1000, 1),
        "p99_ms": round(figures["p99_us"] / 1000, 1),
        "mean_ms": round(figures["mean_us"] / 1000, 1),
        "statuses": figures["statuses"],
        "wrk_errors": figures["errors"],
    }


async def bench_applications(
    base: str, app_key: str, provider: dict, program: dict, first: int, count: int, clients: int
) -> dict:
    """Residents first <= n < first + count apply, each once."""
    figures = await run_wrk(
        APPLICATIONS_LUA,
        f"{base}/mynapoint/programs/{program['id']}/applications",
        first,
        count,
        clients,
        BENCH_APP_KEY=app_key,
        BENCH_PROVIDER_ID=provider["id"],
    )
    return {"applications": figures.pop("requests"), **figures}


def sign_credits(grant_ids: list[str], secret: str) -> str:
    """The provider's grant.credited webhook for each grant, signed now, one per line as CREDITS_LUA reads them."""
    now, signer = datetime.now(UTC), Webhook(secret)
    lines = []
    for grant_id in grant_ids:
        body = json.dumps(
            {"type": "grant.credited", "timestamp": now.isoformat(), "data": {"grant_id": grant_id}},
            separators=(",", ":"),
        )
        webhook_id = f"msg_credit_{grant_id}"
        lines.append("\t".join((webhook_id, str(int(now.timestamp())), signer.sign(webhook_id, now, body), body)))
    return "\n".join(lines) + "\n"


async def bench_credits(base: str, provider: dict, grant_ids: list[str], first: int, count: int, clients: int) -> dict:
    """The provider credits grants first <= n < first + count: signed webhooks to the gateway, each once."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv") as credits:
        credits.write(sign_credits(grant_ids, provider["webhook_secret"]))
        credits.flush()
        figures = await run_wrk(
            CREDITS_LUA,
            f"{base}/webhooks/providers/{provider['id']}",
            first,
            count,
            clients,
            BENCH_CREDITS=credits.name,
        )
    return {"credits": figures.pop("requests"), **figures}


def posted_grants(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM point_grant WHERE status = 'posted'").fetchone()[0]


async def provider_stub(secret_holder: dict) -> tuple[web.AppRunner, str, dict]:
    seen = {"verified": 0, "granted": []}

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(secret_holder["secret"]).verify(body, dict(request.headers), json_parse=False)
        seen["verified"] += 1
        seen["granted"].append(json.loads(body)["data"]["grant_id"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook", seen


async def bench_deliveries(database_url: str, expected: int, workers: int, seen: dict) -> dict:
    settings = Settings(_env_file=None, database_url=database_url, internal_secret="x" * 40, log_json=False)
    db = Database.from_url(database_url)
    stop = asyncio.Event()
    runners = [DeliveryWorker(db, settings, batch_size=50) for _ in range(workers)]
    started = time.perf_counter()
    tasks = [asyncio.create_task(worker.run_forever(stop)) for worker in runners]
    while seen["verified"] < expected and time.perf_counter() - started < 600:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    for worker in runners:
        await worker.client.aclose()
    await db.dispose()
    return {
        "deliveries": seen["verified"],
        "workers": workers,
        "seconds": round(elapsed, 3),
        "per_second": round(seen["verified"] / elapsed, 1),
    }


async def one_run(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """A fresh database and fresh processes: the figures of the applications, the deliveries, the credits."""
    secret_holder: dict = {}
    runner, hook_url, seen = await provider_stub(secret_holder)
    residents = WARM_UP + args.applications
    with Stack(args.server) as stack:
        keys = {
            "ops": stack.cli("keys", "create", "--role", "ops"),
            "municipality": stack.cli("keys", "create", "--role", "municipality", "--municipality", MUNICIPALITY),
            "app": stack.cli("keys", "create", "--role", "app"),
        }
        async with httpx.AsyncClient(base_url=stack.base, timeout=60) as client:
            provider, program = await setup_program(client, keys, hook_url, residents)
            secret_holder["secret"] = provider["webhook_secret"]
        await bench_applications(stack.base, keys["app"], provider, program, 0, WARM_UP, args.clients)
        meter = CpuMeter({"mynapoint service": stack.processes[0].pid, "gateway": stack.processes[1].pid})
        before = meter.read()
        applications = await bench_applications(
            stack.base, keys["app"], provider, program, WARM_UP, args.applications, args.clients
        )
        applications["cpu_ms_per_application"] = meter.per_unit(before, meter.read(), args.applications)
        # Every grant above left a grant.created event in the outbox; no worker ran until now.
        deliveries = await bench_deliveries(stack.url, residents, args.workers, seen)
        granted = seen["granted"]
        await bench_credits(stack.base, provider, granted, 0, WARM_UP, args.clients)
        before = meter.read()
        credits = await bench_credits(stack.base, provider, granted, WARM_UP, len(granted) - WARM_UP, args.clients)
        credits["cpu_ms_per_credit"] = meter.per_unit(before, meter.read(), len(granted) - WARM_UP)
        credits["grants_posted"] = posted_grants(stack.url)
    await runner.cleanup()
    return applications, deliveries, credits


async def main(args: argparse.Namespace) -> dict:
    """`--runs` runs one after another; the figures of the run with the median applications per second, and
    every run's rates, as this machine's speed drifts from run to run."""
    runs = []
    for number in range(1, args.runs + 1):
        runs.append(await one_run(args))
        print(
            f"run {number}/{args.runs}: {runs[-1][0]['per_second']} applications/s, "
            f"{runs[-1][1]['per_second']} deliveries/s, {runs[-1][2]['per_second']} credits/s",
            file=sys.stderr,
        )
    by_rate = sorted(runs, key=lambda run: run[0]["per_second"])
    applications, deliveries, credits = by_rate[(len(by_rate) - 1) // 2]
    return {
        "benchmark": "mynapoint",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": "postgresql",
        "through": "gateway → mynapoint (uvicorn processes)",
        "runs": args.runs,
        "median_run": {"applications": applications, "webhook_deliveries": deliveries, "grant_credits": credits},
        "every_run": {
            "applications_per_second": [run[0]["per_second"] for run in runs],
            "deliveries_per_second": [run[1]["per_second"] for run in runs],
            "credits_per_second": [run[2]["per_second"] for run in runs],
        },
        "target_applications_per_second": 300,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", default=os.environ.get("CHIIKI_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--applications", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5, help="whole runs; the report is the median one's")
    figures = asyncio.run(main(parser.parse_args()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"written to {RESULTS.relative_to(ROOT)}")
