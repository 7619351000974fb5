"""Service apps served in this process, for a gateway to call over real sockets with its deployed client.

The tests, the live suite (scripts/live_suite.py) and in-process benchmarks run the gateway in front of service
apps built in the same process; these serve each app with uvicorn on a free port of 127.0.0.1, in the running
event loop, so that the gateway's aiohttp client reaches them exactly as it reaches deployed services.
"""

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from common.settings import Settings

START_SECONDS = 10.0


class _Server(uvicorn.Server):
    """uvicorn's server, leaving the process's signal handlers to whoever runs the event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LocalServices:
    """One uvicorn server per service name, each on its own port, answering with `apps[name]` as it is at each
    request: an app may be put in or replaced at any time (a test's stand-in that records, fails or stalls)."""

    def __init__(self, names: Iterable[str], apps: dict[str, ASGIApp] | None = None):
        self.apps: dict[str, ASGIApp] = apps if apps is not None else {}
        self.urls: dict[str, str] = {}
        self._servers: list[tuple[_Server, socket.socket]] = []
        for name in names:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self.urls[name] = f"http://127.0.0.1:{sock.getsockname()[1]}"
            config = uvicorn.Config(
                self._dispatcher(name), lifespan="off", log_config=None, access_log=False, proxy_headers=False
            )
            self._servers.append((_Server(config), sock))
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._settled = asyncio.Event()
        self._settled.set()

    def _dispatcher(self, name: str) -> ASGIApp:
        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            app = self.apps.get(name)
            if app is None:
                raise LookupError(f"no app is served as {name} now")
            self._in_flight += 1
            self._settled.clear()
            try:
                await app(scope, receive, send)
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._settled.set()

        return dispatch

    async def settled(self) -> None:
        """Once every call the apps took has returned: its response sent and the background tasks the app ran after
        it (Starlette's) done, as a deployed service's would be some time after its answer."""
        await self._settled.wait()

    def settings(self, settings: Settings, **overrides: Any) -> Settings:
        """`settings` with each service's URL pointing at its server here (then `overrides`)."""
        return settings.model_copy(update={f"{name}_url": url for name, url in self.urls.items()} | overrides)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in self._servers]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        while not all(server.started for server, _ in self._servers):
            if loop.time() > deadline or any(task.done() for task in self._tasks):
                await self.stop()
                raise RuntimeError("the local services did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for server, _ in self._servers:
            server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> "LocalServices":
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
