"""Graceful shutdown: a request in flight when the gateway is told to stop still gets its answer."""

import asyncio
import socket
import threading
import time

import httpx
import uvicorn

from common.serve import STOP_GRACE_SECONDS
from common.settings import Settings
from gateway.local_services import LocalServices
from tests.harness import TEST_SECRET


def test_in_flight_request_finishes_when_the_gateway_stops(tmp_path):
    from gateway.main import create_app

    upstream_started = threading.Event()

    async def slow_service(scope, receive, send):
        if scope["type"] != "http":
            return
        upstream_started.set()
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"finished": true}'})

    services = LocalServices(["subsidy"], {"subsidy": slow_service})
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
        internal_secret=TEST_SECRET,
        var_dir=tmp_path,
        log_json=False,
    )
    app = create_app(settings=services.settings(settings))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=STOP_GRACE_SECONDS)
    )

    async def serve() -> None:
        async with services:
            await server.serve(sockets=[sock])

    serving = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.02)

    answers = []
    caller = threading.Thread(
        target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{port}/subsidy/programs", timeout=10))
    )
    caller.start()
    assert upstream_started.wait(5)
    server.should_exit = True  # what SIGTERM does
    caller.join(10)
    serving.join(10)

    assert not serving.is_alive()
    assert answers and answers[0].status_code == 200 and answers[0].json() == {"finished": True}
