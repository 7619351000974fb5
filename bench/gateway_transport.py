"""Benchmark: the gateway's HTTP transport (aiohttp's, via httpx-aiohttp) against httpx's default one.

    .venv/bin/python bench/gateway_transport.py [--duration 10] [--connections 50] [--threads 2]

Sets up a throwaway SQLite database, starts the subsidy service and two gateways in front of it, one
as shipped (`chiiki service gateway`: httpx + AiohttpTransport) and one with httpx's default transport
(bench/_baseline_gateway.py), and loads each target in turn from a separate wrk process. Three cases,
each against the service directly, the aiohttp-transport gateway and the default-transport gateway:

  * municipality: `GET /subsidy/municipalities/012092` with an ops key (direct: with the signed identity
    the gateway would send). The real request: API-key check in the gateway, one row read in the service.
  * no_key: `GET /subsidy/calculations` without a key (direct: with a signed anonymous identity). The service
    answers 401 itself and neither side touches the database, so this isolates the proxying. (The municipality
    above is open reference data, which an anonymous caller reads.)
  * healthz: `GET /healthz`, which every process answers itself, nothing proxied. The control: both
    gateways should be alike here, so differences in the proxied cases come from the transport.

Prints a table and writes bench/results/gateway_transport.json and .md, flagging runs with unexpected
responses or errors logged by the servers. Every process it starts is stopped at the end, also on error
or Ctrl-C. Never run by the test suite. Falls back to a Python load generator (bench/_python_load.py)
when wrk is not installed.
"""

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from common.auth import ANONYMOUS_PRINCIPAL, Principal, sign_principal  # noqa: E402

MUNICIPALITY_PATH = "/subsidy/municipalities/012092"
PROTECTED_PATH = "/subsidy/calculations"  # any key; refused before the service reads anything
HEALTH_PATH = "/healthz"
TARGETS = ("direct", "gateway_aiohttp", "gateway_httpx")
GATEWAYS = ("gateway_aiohttp", "gateway_httpx")
TARGET_LABELS = {
    "direct": "service, direct",
    "gateway_aiohttp": "gateway, aiohttp transport",
    "gateway_httpx": "gateway, httpx default transport",
}
# The processes whose logs are read for errors during a run against each target.
SERVERS = {
    "direct": ("subsidy",),
    "gateway_aiohttp": ("gateway_aiohttp", "subsidy"),
    "gateway_httpx": ("gateway_httpx", "subsidy"),
}
SETUP_TIMEOUT_SECONDS = 120
HEALTH_WAIT_SECONDS = 30
STOP_GRACE_SECONDS = 10
REDACTED = {
    "authorization": "Bearer <ops key>",
    "x-chiiki-principal": "<signed principal>",
    "x-chiiki-signature": "<signature>",
}


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    with_key: bool
    expected_status: int
    about: str


CASES = (
    Case(
        "municipality",
        MUNICIPALITY_PATH,
        True,
        200,
        "ops key: API-key check in the gateway, one row read in the service",
    ),
    Case(
        "no_key",
        PROTECTED_PATH,
        False,
        401,
        "no key: the service answers 401 itself, no database on either side, so the proxying alone",
    ),
    Case("healthz", HEALTH_PATH, True, 200, "each process answers itself, nothing proxied: the control"),
)


class BenchError(RuntimeError):
    pass


# --- processes ------------------------------------------------------------------------------------


class Processes:
    """The long-running processes this run started; `stop` ends all of them, within a bounded time."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.running: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, argv: list[str], extra_env: dict[str, str]) -> None:
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                argv,
                env={**self.env, **extra_env},
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running[name] = (process, log_path)

    def log_tail(self, name: str, lines: int = 30) -> str:
        _, log_path = self.running[name]
        try:
            text = log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]).replace(str(self.workdir), "<tmp>")

    def log_offsets(self) -> dict[str, int]:
        return {name: log_path.stat().st_size for name, (_, log_path) in self.running.items()}

    def errors_since(self, offsets: dict[str, int], names: tuple[str, ...]) -> dict[str, dict[str, int]]:
        """Error records the named processes logged after `offsets`, counted by exception (or message)."""
        found = {}
        for name in names:
            _, log_path = self.running[name]
            with open(log_path, "rb") as log:
                log.seek(offsets.get(name, 0))
                new = log.read().decode(errors="replace")
            counts = Counter()
            for line in new.splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("level") in ("error", "critical"):
                    counts[_error_summary(record).replace(str(self.workdir), "<tmp>")] += 1
            if counts:
                found[name] = dict(counts.most_common())
        return found

    def check_alive(self) -> None:
        for name, (process, _) in self.running.items():
            if process.poll() is not None:
                raise BenchError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def wait_healthy(self, name: str, url: str) -> None:
        process, _ = self.running[name]
        deadline = time.monotonic() + HEALTH_WAIT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{name} did not answer {url} within {HEALTH_WAIT_SECONDS} s:\n{self.log_tail(name)}")

    def stop(self) -> None:
        for process, _ in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, (process, _) in self.running.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"bench: {name} ignored SIGTERM; killing it", file=sys.stderr)
                process.kill()
                process.wait(timeout=5)


def _error_summary(record: dict) -> str:
    """The exception line of a logged traceback ('module.SomeError: message'), else the log message."""
    exception_lines = [
        line
        for line in str(record.get("exception") or "").splitlines()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Timeout)\b", line)
    ]
    summary = exception_lines[-1] if exception_lines else str(record.get("message", ""))
    return summary[:200]


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def chiiki(env: dict[str, str], workdir: Path, *args: str) -> str:
    """Run `chiiki ARGS` to completion; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "common.cli", *args],
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise BenchError(f"chiiki {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout


def base_env(workdir: Path, secret: str) -> dict[str, str]:
    # No CHIIKI_* setting of the caller's shell leaks in; the checkout itself is what gets imported.
    # The processes run in the temporary directory, so a developer's .env is not read either.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIIKI_")}
    env.update(
        {
            "CHIIKI_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'chiiki.db'}",
            "CHIIKI_VAR_DIR": str(workdir),
            "CHIIKI_RATE_LIMIT_ENABLED": "false",  # measure the proxy, not the limiter
            "CHIIKI_INTERNAL_SECRET": secret,
            "CHIIKI_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
        }
    )
    return env


# --- load -----------------------------------------------------------------------------------------

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(value: str, unit: str) -> float:
    return round(float(value) * UNITS_MS[unit], 3)


def parse_wrk(output: str) -> dict:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if rps is None:
        raise BenchError(f"could not read wrk's output:\n{output}")
    latency = {}
    if avg := re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\s", output, re.M):
        latency["avg"] = _ms(*avg.groups())
    for percent, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M):
        latency[f"p{percent}"] = _ms(value, unit)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h),", output, re.M)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(total.group(1)) if total else None,
        "duration_s": round(_ms(total.group(2), total.group(3)) / 1000, 3) if total else None,
        "requests_per_sec": float(rps.group(1)),
        "latency_ms": latency,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": (
            dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)) if errors else {}
        ),
    }


def load_command(loader: str, url: str, headers: dict[str, str], args: argparse.Namespace, duration: int) -> list[str]:
    if loader == "wrk":
        flags = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
        return ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency", *flags, url]
    flags = [item for name, value in headers.items() for item in ("--header", f"{name}: {value}")]
    return [
        sys.executable,
        str(BENCH_DIR / "_python_load.py"),
        "--url",
        url,
        "--connections",
        str(args.connections),
        "--duration",
        str(duration),
        *flags,
    ]


def redact(command: list[str], loader: str) -> list[str]:
    shown = []
    for item in command:
        name, sep, _ = item.partition(":")
        if sep and name.lower() in REDACTED:
            item = f"{name}: {REDACTED[name.lower()]}"
        shown.append(item)
    if loader != "wrk":
        shown[0:2] = ["python", "bench/_python_load.py"]
    return shown


def run_load(loader: str, url: str, headers: dict[str, str], args: argparse.Namespace, duration: int) -> dict:
    command = load_command(loader, url, headers, args, duration)
    try:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=duration + 30, cwd=REPO_ROOT
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"the load generator did not finish within {duration + 30} s") from None
    if result.returncode != 0:
        raise BenchError(f"{command[0]} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-2000:]}")
    figures = parse_wrk(result.stdout) if loader == "wrk" else json.loads(result.stdout.strip().splitlines()[-1])
    return {"command": redact(command, loader), **figures}


# --- the run --------------------------------------------------------------------------------------


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in ("httpx", "httpx-aiohttp", "aiohttp", "uvicorn", "uvloop", "httptools", "fastapi", "starlette"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def wrk_version() -> str | None:
    try:
        result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _comparable(body):
    """A response body without what differs per request (error responses carry their request id)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return {"error": {k: v for k, v in body["error"].items() if k != "request_id"}}
    return body


def check_responses(case: Case, urls: dict[str, str], headers: dict[str, dict[str, str]]) -> None:
    """Before any load: every target answers the case with the expected status and the same body."""
    bodies = {}
    for target, url in urls.items():
        response = httpx.get(url, headers=headers[target], timeout=10.0)
        if response.status_code != case.expected_status:
            raise BenchError(
                f"{case.name}/{target}: GET {url} answered {response.status_code}, "
                f"expected {case.expected_status}: {response.text[:500]}"
            )
        bodies[target] = _comparable(response.json())
    if len({json.dumps(body, sort_keys=True) for body in bodies.values()}) != 1:
        raise BenchError(f"{case.name}: the targets disagree on the response body: {bodies}")


def problems(case: Case, run: dict) -> tuple[list[str], list[str]]:
    """What makes a run's figures invalid (unexpected responses, socket errors, errors the servers logged
    during it), and what is only worth noting (requests slower than the load generator's timeout)."""
    found, notes = [], []
    if case.expected_status < 300 and run["non_2xx"]:
        found.append(f"{run['non_2xx']} of {run['requests']} responses were not 2xx/3xx")
    if case.expected_status >= 300 and run["requests"] and run["non_2xx"] < run["requests"]:
        found.append(
            f"{run['requests'] - run['non_2xx']} of {run['requests']} responses were 2xx/3xx, "
            f"expected {case.expected_status}"
        )
    errors = {kind: count for kind, count in run["socket_errors"].items() if count and kind != "timeout"}
    if errors:
        found.append(f"socket errors {errors}")
    if timeouts := run["socket_errors"].get("timeout"):
        notes.append(f"{timeouts} request(s) took longer than the load generator's 2 s timeout")
    for process, counts in run["server_errors"].items():
        found.extend(f"{process} logged {count} x {summary}" for summary, count in counts.items())
    return found, notes


def compare(runs: dict[str, dict]) -> dict:
    direct = runs["direct"]
    out = {}
    for target in GATEWAYS:
        run = runs[target]
        out[target] = {
            "throughput_ratio_vs_direct": round(run["requests_per_sec"] / direct["requests_per_sec"], 3),
            "added_p50_ms": round(run["latency_ms"]["p50"] - direct["latency_ms"]["p50"], 3),
            "added_p99_ms": round(run["latency_ms"]["p99"] - direct["latency_ms"]["p99"], 3),
        }
    out["aiohttp_vs_httpx_throughput_ratio"] = round(
        runs["gateway_aiohttp"]["requests_per_sec"] / runs["gateway_httpx"]["requests_per_sec"], 3
    )
    return out


def table(results: dict) -> list[str]:
    head = (
        f"{'case':<13} {'target':<33} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs direct':>9} {'+p50 ms':>8} {'+p99 ms':>8}  ok"
    )
    lines = [head, "-" * len(head)]
    for case in CASES:
        for target in TARGETS:
            run = results["runs"][case.name][target]
            cmp = results["comparisons"][case.name].get(target)
            extra = (
                f"{cmp['throughput_ratio_vs_direct']:>8.2f}x {cmp['added_p50_ms']:>+8.2f} {cmp['added_p99_ms']:>+8.2f}"
                if cmp
                else f"{'1.00x':>9} {'':>8} {'':>8}"
            )
            lines.append(
                f"{case.name:<13} {TARGET_LABELS[target]:<33} {run['requests_per_sec']:>8.0f} "
                f"{run['latency_ms']['p50']:>8.2f} {run['latency_ms']['p99']:>8.2f} {extra}  "
                f"{'no' if run['problems'] else 'yes'}"
            )
    return lines


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def markdown(results: dict) -> str:
    load = results["load"]
    rows = []
    for case in CASES:
        for target in TARGETS:
            run = results["runs"][case.name][target]
            cmp = results["comparisons"][case.name].get(target)
            ratio = _fmt_ratio(cmp["throughput_ratio_vs_direct"]) if cmp else "1.00x"
            added = f"{cmp['added_p50_ms']:+.2f} / {cmp['added_p99_ms']:+.2f}" if cmp else "–"
            flag = " ⚠" if run["problems"] else ""
            rows.append(
                f"| {case.name} | {TARGET_LABELS[target]}{flag} | {run['requests_per_sec']:.0f} | "
                f"{run['latency_ms']['p50']:.2f} | {run['latency_ms']['p99']:.2f} | {ratio} | {added} |"
            )

    def suspect(case_name: str) -> bool:
        return any(results["runs"][case_name][t]["problems"] for t in TARGETS)

    notes = []
    for case in CASES:
        if case.name == "healthz":
            continue
        cmp = results["comparisons"][case.name]
        a, h = cmp["gateway_aiohttp"], cmp["gateway_httpx"]
        notes.append(
            f"- **{case.name}**: aiohttp's transport serves {_fmt_ratio(cmp['aiohttp_vs_httpx_throughput_ratio'])} "
            f"the requests per second of httpx's default transport ({_fmt_ratio(a['throughput_ratio_vs_direct'])} "
            f"vs {_fmt_ratio(h['throughput_ratio_vs_direct'])} of direct; added p50 {a['added_p50_ms']:+.2f} vs "
            f"{h['added_p50_ms']:+.2f} ms, added p99 {a['added_p99_ms']:+.2f} vs {h['added_p99_ms']:+.2f} ms)"
            + (" — **figures not valid, see the problems below**." if suspect(case.name) else ".")
        )
    health = results["comparisons"]["healthz"]["aiohttp_vs_httpx_throughput_ratio"]
    if 0.9 <= health <= 1.1:
        notes.append(
            f"- **healthz** (control, nothing proxied): the two gateways are alike (ratio {health:.2f}), "
            "so the differences in the proxied cases come from the transport."
        )
    else:
        notes.append(
            f"- **healthz** (control, nothing proxied): the two gateways differ by a ratio of {health:.2f} "
            "although no transport is involved; treat the proxied comparison with caution."
        )

    def listed(key: str) -> list[str]:
        return [
            f"- {case.name}, {TARGET_LABELS[target]}: {'; '.join(results['runs'][case.name][target][key])}"
            for case in CASES
            for target in TARGETS
            if results["runs"][case.name][target][key]
        ]

    problem_lines, note_lines = listed("problems"), listed("notes")
    if any("database is locked" in line for line in problem_lines):
        problem_lines.append(
            "- Cause of `database is locked`: the gateway's key check (`common.auth.authenticate`) reads the key, "
            "then runs the last-used `UPDATE` in the same deferred SQLite transaction. Under concurrent requests "
            "SQLite refuses that read-to-write upgrade with SQLITE_BUSY at once, without waiting for "
            "`busy_timeout`, even when the UPDATE matches no row; the gateway answers 500 before proxying, "
            "so these runs mostly measure fast errors."
        )
    return "\n".join(
        [
            "# Gateway transport benchmark",
            "",
            f"Generated by `{results['command']}` on {results['date']}: {results['cpu_count']} CPUs "
            f"({results['cpu_model'] or 'unknown model'}), Python {results['python']}, {load['tool']} with "
            f"{load['threads']} threads and {load['connections']} connections, {load['duration_s']} s per run after a "
            f"{load['warmup_s']} s warm-up. One uvicorn process for the subsidy service and one per gateway, a SQLite "
            "database; the load generator shares the machine.",
            "",
            *[
                f"- `{case.name}`: `GET {case.path}`, {case.about}; expected status {case.expected_status}."
                for case in CASES
            ],
            "",
            "| case | target | req/s | p50 ms | p99 ms | throughput vs direct | added p50 / p99 ms |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *notes,
            "- Gateway / direct is not the transport's cost alone: the gateway does its own work per request (the "
            "API-key check, signing the identity) in a second process competing for the same cores. The aiohttp / "
            "default comparison is the transport's.",
            "",
            *(
                ["## Problems (these runs' figures are not valid)", "", *problem_lines, ""]
                if problem_lines
                else ["No run had unexpected responses, socket errors or logged server errors.", ""]
            ),
            *(["## Notes", "", *note_lines, ""] if note_lines else []),
            "Figures: `gateway_transport.json`. Rerun: `.venv/bin/python bench/gateway_transport.py`.",
            "",
        ]
    )


def run(args: argparse.Namespace) -> dict:
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"
        if loader == "python":
            print(
                "bench: wrk not found; using the Python load generator (figures not comparable with wrk's)",
                file=sys.stderr,
            )
    elif loader == "wrk" and not shutil.which("wrk"):
        raise BenchError("wrk is not installed")

    secret = secrets.token_urlsafe(32)  # 43 characters
    with tempfile.TemporaryDirectory(prefix="chiiki-bench-") as tmp:
        workdir = Path(tmp)
        env = base_env(workdir, secret)
        print("bench: migrating and loading reference data into a throwaway SQLite database", flush=True)
        chiiki(env, workdir, "db", "upgrade")
        chiiki(env, workdir, "data", "load")
        ops_key = chiiki(env, workdir, "keys", "create", "--role", "ops", "--label", "bench").strip().splitlines()[-1]

        service_port, aiohttp_port, httpx_port = free_ports(3)
        service_url = f"http://127.0.0.1:{service_port}"
        bases = {
            "direct": service_url,
            "gateway_aiohttp": f"http://127.0.0.1:{aiohttp_port}",
            "gateway_httpx": f"http://127.0.0.1:{httpx_port}",
        }
        processes = Processes(workdir, env)
        try:
            processes.start(
                "subsidy",
                [sys.executable, "-m", "common.cli", "service", "subsidy"],
                {"CHIIKI_SUBSIDY_PORT": str(service_port)},
            )
            gateway_env = {"CHIIKI_SUBSIDY_URL": service_url}
            processes.start(
                "gateway_aiohttp",
                [sys.executable, "-m", "common.cli", "service", "gateway"],
                {**gateway_env, "CHIIKI_GATEWAY_PORT": str(aiohttp_port)},
            )
            processes.start(
                "gateway_httpx",
                [sys.executable, str(BENCH_DIR / "_baseline_gateway.py")],
                {**gateway_env, "CHIIKI_GATEWAY_PORT": str(httpx_port)},
            )
            processes.wait_healthy("subsidy", service_url + HEALTH_PATH)
            for gateway in GATEWAYS:
                processes.wait_healthy(gateway, bases[gateway] + HEALTH_PATH)
            print(
                f"bench: service and gateways up; {loader}, {args.connections} connections, {args.duration} s per run",
                flush=True,
            )

            def headers_for(case: Case, target: str) -> dict[str, str]:
                if target == "direct":  # what the gateway would send; signed afresh, valid for 300 s
                    principal = Principal(role="ops") if case.with_key else ANONYMOUS_PRINCIPAL
                    return sign_principal(principal, secret.encode(), now=time.time())
                return {"authorization": f"Bearer {ops_key}"} if case.with_key else {}

            for case in CASES:
                check_responses(
                    case, {t: bases[t] + case.path for t in TARGETS}, {t: headers_for(case, t) for t in TARGETS}
                )

            runs: dict[str, dict[str, dict]] = {}
            for case in CASES:
                runs[case.name] = {}
                for target in TARGETS:
                    url = bases[target] + case.path
                    if args.warmup > 0:
                        run_load(loader, url, headers_for(case, target), args, args.warmup)
                    offsets = processes.log_offsets()
                    result = run_load(loader, url, headers_for(case, target), args, args.duration)
                    processes.check_alive()
                    result["server_errors"] = processes.errors_since(offsets, SERVERS[target])
                    result["problems"], result["notes"] = problems(case, result)
                    runs[case.name][target] = result
                    print(
                        f"  {case.name:<13} {TARGET_LABELS[target]:<33} {result['requests_per_sec']:>8.0f} req/s  "
                        f"p50 {result['latency_ms']['p50']:.2f} ms  p99 {result['latency_ms']['p99']:.2f} ms"
                        + "".join(
                            f"  {label}: {'; '.join(result[key])}"
                            for key, label in (("problems", "PROBLEMS"), ("notes", "note"))
                            if result[key]
                        ),
                        flush=True,
                    )
        finally:
            processes.stop()

    return {
        "benchmark": "gateway_transport",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/gateway_transport.py", *sys.argv[1:]]),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "versions": {**package_versions(), "wrk": wrk_version() if loader == "wrk" else None},
        "load": {
            "tool": loader,
            "threads": args.threads if loader == "wrk" else 1,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
        },
        "cases": {
            case.name: {"request": f"GET {case.path}", "about": case.about, "expected_status": case.expected_status}
            for case in CASES
        },
        "targets": TARGET_LABELS,
        "runs": runs,
        "comparisons": {case.name: compare(runs[case.name]) for case in CASES},
        "valid": not any(run["problems"] for case_runs in runs.values() for run in case_runs.values()),
    }


def _interrupt(_signum, _frame) -> None:
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the processes and remove the database.
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="Gateway transport benchmark: aiohttp vs httpx's default.")
    parser.add_argument("--duration", type=int, default=10, help="whole seconds of load per run (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="whole seconds of unrecorded load before each run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--loader",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator; auto uses wrk when installed",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; processes stopped", file=sys.stderr)
        return 130

    print()
    print("\n".join(table(results)))
    for case in CASES:
        if case.name != "healthz":
            ratio = results["comparisons"][case.name]["aiohttp_vs_httpx_throughput_ratio"]
            print(f"{case.name}: aiohttp / httpx default transport through the gateway: {ratio:.2f}x requests/sec")
    if not results["valid"]:
        print("WARNING: some runs had problems (see the 'ok' column and the results file)", file=sys.stderr)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "gateway_transport.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (args.results_dir / "gateway_transport.md").write_text(markdown(results), encoding="utf-8")
    shown = args.results_dir.resolve()
    shown = shown.relative_to(REPO_ROOT) if shown.is_relative_to(REPO_ROOT) else shown
    print(f"written: {shown / 'gateway_transport.json'} and {shown / 'gateway_transport.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
