"""`chiiki service NAME --workers N`: N processes on one port, and a /metrics that counts every one's requests."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from common.migrations import upgrade
from tests.harness import TEST_SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int | None:
    """The status of a GET on a connection of its own (so that the kernel may hand it to any worker)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, ConnectionError):
        return None


def _workers_of(pid: int) -> set[int]:
    return {int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent_of(stat) == pid}


def _parent_of(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _healthz_answers(metrics: str) -> float:
    pattern = r'^chiiki_http_requests_total\{[^}]*route="/healthz"[^}]*status="200"[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, metrics, re.MULTILINE))


def test_two_workers_share_the_port_and_metrics_add_up_both(tmp_path):
    port, database_url = _free_port(), f"sqlite:///{tmp_path / 'chiiki.db'}"
    upgrade(database_url)
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=database_url,
        CHIIKI_VAR_DIR=str(tmp_path),
        CHIIKI_INTERNAL_SECRET=TEST_SECRET,
        CHIIKI_SUBSIDY_PORT=str(port),
        CHIIKI_HOST="127.0.0.1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "common.cli", "service", "subsidy", "--workers", "2"], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        answered, deadline = 0, time.monotonic() + 60
        while len(_workers_of(process.pid)) < 2 or _status(url + "/healthz") != 200:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        answered = 1
        for _ in range(40):
            assert _status(url + "/healthz") == 200
            answered += 1
        # Every worker's count, whichever worker answers the scrape.
        for _ in range(5):
            with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
                assert _healthz_answers(response.read().decode()) >= answered
        assert list((tmp_path / "metrics-subsidy").glob("*.db"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
