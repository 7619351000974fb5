"""Running processes: one service under uvicorn, or the whole suite under a small supervisor."""

import os
import signal
import subprocess
import sys
import time
from types import FrameType

import uvicorn

from common.logging import configure_logging
from common.settings import get_settings

FACTORIES = {
    "gateway": "gateway.main:create_app",
    "subsidy": "services.subsidy.main:create_app",
    "matching": "services.matching.main:create_app",
    "mynapoint": "services.mynapoint.main:create_app",
}
# Processes that are not web services, and the chiiki command that runs each.
COMMANDS = {"worker": ("mynapoint", "worker")}
STOP_GRACE_SECONDS = 10


def run_one(name: str) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    port = getattr(settings, f"{name}_port")
    # log_config=None: uvicorn's records go through our handler, with request ids, as JSON.
    uvicorn.run(FACTORIES[name], factory=True, host=settings.host, port=port, log_config=None,
                access_log=False, proxy_headers=False, timeout_graceful_shutdown=STOP_GRACE_SECONDS)


def run_all(names: tuple[str, ...]) -> int:
    """Start every process, stop them all when one exits or on Ctrl-C / SIGTERM; return an exit code."""
    settings = get_settings()
    env = dict(os.environ)
    # Generated at run time when not configured, and handed to every process so that they agree.
    env.setdefault("CHIIKI_INTERNAL_SECRET", settings.internal_secret_bytes().decode())
    children = {name: subprocess.Popen([sys.executable, "-m", "common.cli", *COMMANDS.get(name, ("service", name))],
                                       env=env)
                for name in names}
    print(f"chiiki: gateway on http://{settings.host}:{settings.gateway_port} "
          f"(services on ports {settings.subsidy_port}-{settings.mynapoint_port}); Ctrl-C stops all", flush=True)
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        exited = {name: p.returncode for name, p in children.items() if p.poll() is not None}
        if exited:
            print(f"chiiki: {', '.join(exited)} exited; stopping the others", file=sys.stderr, flush=True)
            exit_code = 1
            break
        time.sleep(0.2)
    _stop(children)
    return exit_code


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in children.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in children.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
