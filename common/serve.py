"""Running processes: one service under uvicorn, or the whole suite under a small supervisor."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from common.logging import configure_logging
from common.metrics import MULTIPROCESS_DIRECTORY
from common.settings import get_settings

# Each app as deployed, in a process set for serving (common/served.py).
FACTORIES = {name: f"common.served:{name}" for name in ("gateway", "subsidy", "matching", "mynapoint")}
# Processes that are not web services, and the chiiki command that runs each.
COMMANDS = {"worker": ("mynapoint", "worker")}
STOP_GRACE_SECONDS = 10
log = logging.getLogger("chiiki.serve")


def run_one(name: str, workers: int = 1) -> None:
    """One service under uvicorn: one process, or `workers` processes sharing its port (uvicorn's supervisor
    restarts a worker that dies)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    port = getattr(settings, f"{name}_port")
    if workers > 1:
        os.environ[MULTIPROCESS_DIRECTORY] = str(_fresh_metrics_directory(settings.var_dir, name))
    # log_config=None: uvicorn's records go through our handler, with request ids, as JSON.
    uvicorn.run(
        FACTORIES[name],
        factory=True,
        host=settings.host,
        port=port,
        log_config=None,
        workers=workers,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=STOP_GRACE_SECONDS,
    )


def _fresh_metrics_directory(var_dir: Path, name: str) -> Path:
    """Where the workers of this service keep their Prometheus figures, emptied: a restart starts from zero, as
    a single process does."""
    directory = var_dir / f"metrics-{name}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


# A child that dies is started again after a pause that doubles with each death in a row (a crash loop does not
# spin), from RESTART_FIRST_DELAY up to RESTART_MAX_DELAY; one that ran RESTART_STABLE_SECONDS starts over.
RESTART_FIRST_DELAY = 0.5
RESTART_MAX_DELAY = 30.0
RESTART_STABLE_SECONDS = 30.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    """One supervised process: how to start it, the running one, and when to start it again if it died."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = RESTART_FIRST_DELAY
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)
        self.started_at, self.restart_at = time.monotonic(), None

    def check(self, now: float) -> None:
        """Notice a death and schedule the restart; restart when its time has come."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                log.info("chiiki: starting %s again", self.name)
                self.start()
            return
        code = self.process.poll() if self.process else None
        if code is None:
            return
        if now - self.started_at >= RESTART_STABLE_SECONDS:
            self.delay = RESTART_FIRST_DELAY
        log.warning("chiiki: %s exited with code %s; starting it again in %.1f s", self.name, code, self.delay)
        self.restart_at = now + self.delay
        self.delay = min(self.delay * 2, RESTART_MAX_DELAY)


def run_all(names: tuple[str, ...]) -> int:
    """Start every process and keep each running, crash-only: a child that dies is started again (with backoff,
    logged). Only Ctrl-C or SIGTERM stops them all; the exit code is then 0."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    env = dict(os.environ)
    # Generated at run time when not configured, and handed to every process so that they agree.
    env.setdefault("CHIIKI_INTERNAL_SECRET", settings.internal_secret_bytes().decode())
    children = [
        Child(name, [sys.executable, "-m", "common.cli", *COMMANDS.get(name, ("service", name))], env) for name in names
    ]
    for child in children:
        child.start()
    print(
        f"chiiki: gateway on http://{settings.host}:{settings.gateway_port} "
        f"(services on ports {settings.subsidy_port}-{settings.mynapoint_port}); Ctrl-C stops all",
        flush=True,
    )
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping:
        now = time.monotonic()
        for child in children:
            child.check(now)
        time.sleep(POLL_SECONDS)
    _stop([child.process for child in children if child.process is not None])
    return 0


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
