"""Run a command against a live suite: the gateway and the three services in this process, on a free port of
127.0.0.1, over a fresh SQLite database in a temporary folder (migrated, with the reference data and an ops key).

    .venv/bin/python scripts/live_suite.py -- sh -c 'curl -s "$CHIIKI_BASE_URL/openapi.json"'

The command sees `CHIIKI_BASE_URL` (the gateway) and `CHIIKI_API_KEY` (an ops key); the suite stops when it
ends, and this script exits with its status. The TypeScript client's generation and journeys use it.
"""

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from common.auth import create_api_key
from common.db import Database
from common.migrations import upgrade
from common.reference_data import load_reference_data
from common.settings import Settings
from gateway.local_services import LocalServices
from gateway.main import create_app as gateway_app
from services.matching.main import create_app as matching_app
from services.mynapoint.main import create_app as mynapoint_app
from services.subsidy.main import create_app as subsidy_app

START_SECONDS = 60
SERVICES = {"subsidy": subsidy_app, "matching": matching_app, "mynapoint": mynapoint_app}


class LiveSuite:
    """The gateway in front of in-process service apps, each served by uvicorn on one event loop in a thread, like
    `chiiki serve`; on entry the database is migrated and given the reference data and an ops key. The fuzz test
    (tests/gateway/test_fuzz.py) runs its suite with this too."""

    def __init__(self, database_url: str, var_dir: Path, internal_secret: str):
        self.database_url = database_url
        self.settings = Settings(
            env="test",
            database_url=database_url,
            var_dir=var_dir,
            internal_secret=internal_secret,
            log_json=False,
            rate_limit_enabled=False,
        )
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server: uvicorn.Server | None = None
        self.ops_key = ""
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        db = Database.from_url(self.database_url)
        async with db.sessionmaker() as session:
            await load_reference_data(session)
            _, self.ops_key = await create_api_key(session, "ops", label="live-suite")
            await session.commit()
        apps = {name: build(settings=self.settings, db=db) for name, build in SERVICES.items()}
        services = LocalServices(SERVICES, apps)
        app = gateway_app(settings=services.settings(self.settings), db=db)
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        try:
            async with services:
                await self.server.serve(sockets=[self.socket])
        finally:
            await db.dispose()

    def __enter__(self) -> "LiveSuite":
        upgrade(self.database_url)
        self.thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not (self.server and self.server.started):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the suite did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/live_suite.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="+", help="the command to run (after --)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chiiki-live-") as name:
        folder = Path(name)
        with LiveSuite(f"sqlite:///{folder / 'suite.db'}", folder / "var", secrets.token_urlsafe(32)) as suite:
            return _run(args.command, suite)


def _run(command: list[str], suite: LiveSuite) -> int:
    env = os.environ | {"CHIIKI_BASE_URL": suite.base_url, "CHIIKI_API_KEY": suite.ops_key}
    return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
