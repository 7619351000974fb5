"""`chiiki serve` as `make run` starts it: real processes on 127.0.0.1, kept running when one dies, stopped
together by Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

from common.codes import check_digit
from common.serve import FACTORIES, RESTART_FIRST_DELAY
from common.served import YOUNG_COLLECTION_THRESHOLD

NAMES = ("gateway", "subsidy", "matching", "mynapoint")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Answer(NamedTuple):
    status: int
    headers: dict
    body: dict


def _get(url: str, headers: dict | None = None) -> Answer:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return Answer(response.status, dict(response.headers), json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), json.loads(error.read()))


def _cli(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "-m", "common.cli", *args], env=env, check=True, capture_output=True, text=True, timeout=120
    ).stdout


@pytest.fixture
def suite(tmp_path):
    ports = dict(zip(NAMES, _free_ports(4), strict=True))
    env = dict(
        os.environ,
        CHIIKI_DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
        CHIIKI_VAR_DIR=str(tmp_path),
        CHIIKI_LOG_JSON="true",
    )
    env.pop("CHIIKI_INTERNAL_SECRET", None)  # generated at run time, as in make run
    for name, port in ports.items():
        env[f"CHIIKI_{name.upper()}_PORT"] = str(port)
        if name != "gateway":
            env[f"CHIIKI_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    _cli(env, "db", "upgrade")
    _cli(env, "data", "load")
    key = _cli(env, "keys", "create", "--role", "ops").strip().splitlines()[-1]
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen([sys.executable, "-m", "common.cli", "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{ports['gateway']}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if _get(f"{base}/readyz").status == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the suite did not become ready"
        time.sleep(0.3)
    yield {"base": base, "key": key, "process": process, "log": log, "ports": ports}
    if process.poll() is None:  # the test failed before Ctrl-C: stop the supervisor so it stops its children
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_suite_serves_through_the_gateway_and_stops_on_ctrl_c(suite):
    base, auth = suite["base"], {"Authorization": f"Bearer {suite['key']}"}
    assert _get(f"{base}/healthz").status == 200

    status, headers, body = _get(f"{base}/subsidy/municipalities/012092", auth | {"X-Request-ID": "e2e-1"})
    assert (status, body["name"], headers["x-request-id"]) == (200, "夕張市", "e2e-1")
    unknown = "99999" + check_digit("99999")
    status, _, body = _get(f"{base}/subsidy/municipalities/{unknown}", auth)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert _get(f"{base}/subsidy/municipalities/012092", {"Authorization": "Bearer chk_bad_key"}).status == 401
    forged = {"X-Chiiki-Principal": "role=ops", "X-Chiiki-Signature": "0" * 64}
    assert _get(f"{base}/subsidy/calculations", forged).status == 401  # a route that needs a key
    # A burst of keyed requests at once: the SQLite key store must not turn any of them into an error.
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda _: _get(f"{base}/subsidy/municipalities/012092", auth).status, range(96)))
    assert statuses == [200] * 96
    # Straight to a service, around the gateway: refused.
    assert _get(f"http://127.0.0.1:{suite['ports']['subsidy']}/subsidy/municipalities/012092", auth).status == 401

    suite["process"].send_signal(signal.SIGINT)
    assert suite["process"].wait(timeout=30) == 0
    for port in suite["ports"].values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers after Ctrl-C"

    suite["log"].seek(0)
    lines = [json.loads(line) for line in suite["log"] if line.startswith("{")]
    assert any(line["logger"] == "chiiki.mynapoint.worker" for line in lines), "the delivery worker did not run"
    traced = [line for line in lines if line.get("request_id") == "e2e-1"]
    assert {line["service"] for line in traced if line["logger"] == "chiiki.access"} == {"gateway", "subsidy"}


def _child_pid(supervisor: subprocess.Popen, name: str) -> int:
    """The pid of the supervisor's child that runs `name` (Linux /proc: the supervisor's own children only)."""
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
    for pid in map(int, children):
        if name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            return pid
    raise AssertionError(f"no child runs {name}: {children}")


def test_a_killed_child_is_started_again_after_the_first_pause_and_answers(suite):
    base, auth = suite["base"], {"Authorization": f"Bearer {suite['key']}"}
    killed = _child_pid(suite["process"], "subsidy")
    os.kill(killed, signal.SIGKILL)
    # The pause before the restart is the supervisor's (asserted from its log below); how long the new process
    # then takes to start is the machine's, which the other tests may keep busy: the deadline is the suite's own.
    deadline = time.monotonic() + 60
    while True:
        try:
            if _get(f"{base}/subsidy/municipalities/012092", auth)[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            pass
        assert time.monotonic() < deadline, "the killed subsidy service did not answer again"
        time.sleep(0.1)
    assert suite["process"].poll() is None, "the supervisor stopped"
    assert _child_pid(suite["process"], "subsidy") != killed
    assert _get(f"{base}/readyz")[0] == 200  # the other processes kept running

    suite["process"].send_signal(signal.SIGTERM)
    assert suite["process"].wait(timeout=30) == 0
    suite["log"].seek(0)
    lines = [json.loads(line) for line in suite["log"] if line.startswith("{")]
    restarts = [line["message"] for line in lines if line["logger"] == "chiiki.serve" and "exited" in line["message"]]
    assert restarts == [f"chiiki: subsidy exited with code -9; starting it again in {RESTART_FIRST_DELAY:.1f} s"]


PROBE = (
    "import gc, sys, common.served as served; getattr(served, sys.argv[1])(); "
    "print(gc.get_freeze_count(), gc.get_threshold()[0])"
)


@pytest.mark.parametrize("name", FACTORIES)
def test_each_served_process_freezes_what_start_up_built_and_raises_the_young_threshold(name):
    # A fresh interpreter, as a uvicorn process or worker is, with the factory `chiiki service NAME` runs.
    module, _, factory = FACTORIES[name].partition(":")
    assert module == "common.served" and factory == name
    answer = subprocess.run([sys.executable, "-c", PROBE, name], capture_output=True, text=True, check=True)
    frozen, young = map(int, answer.stdout.split())
    assert frozen > 50_000  # the framework, the models, the routes
    assert young == YOUNG_COLLECTION_THRESHOLD
