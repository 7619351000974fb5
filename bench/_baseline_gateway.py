"""The gateway with httpx's default transport instead of aiohttp's: the baseline of bench/gateway_transport.py.

Everything except the transport is the normal gateway (`chiiki service gateway`): the same app factory,
settings, connection limits, logging and uvicorn options. Started by the benchmark, not meant to be run by hand.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn

from common.logging import configure_logging
from common.serve import STOP_GRACE_SECONDS
from common.settings import get_settings
from gateway.main import create_app
from gateway.proxy import upstream_urls


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # The same pool size build_transports gives the aiohttp transport.
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections, max_keepalive_connections=settings.upstream_max_connections
    )
    transports = {name: httpx.AsyncHTTPTransport(limits=limits) for name in upstream_urls(settings)}
    app = create_app(settings=settings, transports=transports)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=STOP_GRACE_SECONDS,
    )


if __name__ == "__main__":
    main()
