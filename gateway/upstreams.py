"""The services the gateway calls: one aiohttp client session per service, with its own connection pool.

aiohttp's client is called directly, with no HTTP layer over it: httpx over aiohttp's transport built every
request and response twice (httpx's objects, then aiohttp's) and converted between them, about half of the
gateway's CPU per proxied request. The session keeps no cookies (a proxy must never hand one caller's cookie
to the next), adds none of its default headers, leaves bodies as the service encoded them, reads nothing from
the environment (no proxy settings) and follows no redirect.
"""

import asyncio
import json
from typing import Any

import aiohttp
from yarl import URL

from common.settings import Settings

# What aiohttp would add to a request the caller did not send: a proxy forwards the caller's headers only.
SKIPPED_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding")
# The errors of a call to a service that never answered (a timeout is an asyncio.TimeoutError or one of
# aiohttp's, which are TimeoutErrors too).
CALL_ERRORS = (aiohttp.ClientError, TimeoutError)


class Upstream:
    """One service: its name, the URL it is published at, and, between `open` and `close`, its session."""

    def __init__(self, name: str, url: str, settings: Settings):
        self.name = name
        # The caller's path goes after the URL's own path, if it has one (a service published at http://host/x/).
        self.prefix = url.rstrip("/")
        self.max_connections = settings.upstream_max_connections
        self.own_call_timeout = aiohttp.ClientTimeout(
            connect=settings.upstream_timeout_seconds,
            sock_connect=settings.upstream_connect_timeout_seconds,
            sock_read=settings.upstream_timeout_seconds,
        )
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"the {self.name} upstream is not open")
        return self._session

    def open(self) -> None:
        """Start the session; within the running event loop, which it belongs to."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=SKIPPED_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, raw_path: str) -> URL:
        """The service's URL for a path (and query) already percent-encoded as the caller sent it."""
        return URL(self.prefix + raw_path, encoded=True)

    async def get_status(self, path: str) -> int:
        """The status a GET of one of the service's own paths answers (the gateway's readiness)."""
        async with self.session.get(self.url(path), timeout=self.own_call_timeout, allow_redirects=False) as answer:
            return answer.status

    async def get_json(self, path: str) -> Any:
        """The JSON a GET of one of the service's own paths answers; ValueError for another status or no JSON."""
        async with self.session.get(self.url(path), timeout=self.own_call_timeout, allow_redirects=False) as answer:
            if answer.status != 200:
                raise ValueError(f"status {answer.status}")
            return json.loads(await answer.read())


def upstream_urls(settings: Settings) -> dict[str, str]:
    return {"subsidy": settings.subsidy_url, "matching": settings.matching_url, "mynapoint": settings.mynapoint_url}


def build_upstreams(settings: Settings) -> dict[str, Upstream]:
    return {name: Upstream(name, url, settings) for name, url in upstream_urls(settings).items()}


def open_upstreams(upstreams: dict[str, Upstream]) -> None:
    for upstream in upstreams.values():
        upstream.open()


async def close_upstreams(upstreams: dict[str, Upstream]) -> None:
    await asyncio.gather(*(upstream.close() for upstream in upstreams.values()))
