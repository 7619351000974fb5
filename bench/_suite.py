"""What the benchmarks that start the suite as processes share: a database made ready with the chiiki command, free
ports of 127.0.0.1, waiting for a process to answer, and the CPU a process tree spent."""

import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path


def prepare_database(env: dict, label: str) -> str:
    """Migrate the database `env` names and load the reference data; return a new app key."""
    chiiki = [sys.executable, "-m", "common.cli"]
    subprocess.run([*chiiki, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*chiiki, "data", "load"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*chiiki, "keys", "create", "--role", "app", "--label", label],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and of every process below it (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    own: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        child = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(child)
        own[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += own.get(current, 0.0)
        pending.extend(children.get(current, []))
    return total


def stop_all(processes: Iterable[subprocess.Popen], timeout: float = 30) -> None:
    """Ask every process to stop, then wait for each: they stop side by side, not one after another."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=timeout)


def machine_facts(load_before: tuple[float, float, float]) -> dict:
    """What a report says of the machine it ran on, with the load average before the run and now."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
