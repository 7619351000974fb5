"""Fallback load generator for bench/gateway_transport.py when wrk is not installed.

Keeps `--connections` requests in flight over as many keep-alive connections for `--duration` seconds,
then prints one JSON line with the figures wrk would give. It runs in its own process, but as a single
Python process it saturates sooner than wrk: its figures are comparable with each other, not with wrk's.
"""

import argparse
import asyncio
import json
import time

import aiohttp


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def load(url: str, headers: dict[str, str], connections: int, duration: float) -> dict:
    latencies: list[float] = []
    non_2xx = errors = timeouts = 0
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=2.0)  # wrk's default per-request timeout
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            nonlocal non_2xx, errors, timeouts
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        if not 200 <= response.status < 400:
                            non_2xx += 1
                except TimeoutError:
                    timeouts += 1
                    continue
                except aiohttp.ClientError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - sent)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), timeout=duration + 10)
        elapsed = time.perf_counter() - started
    latencies.sort()
    ms = 1000.0
    return {
        "requests": len(latencies),
        "duration_s": round(elapsed, 3),
        "requests_per_sec": round(len(latencies) / elapsed, 2),
        "latency_ms": {
            "avg": round(sum(latencies) / len(latencies) * ms, 3) if latencies else None,
            **{
                name: round(percentile(latencies, q) * ms, 3) if latencies else None
                for name, q in (("p50", 0.50), ("p75", 0.75), ("p90", 0.90), ("p99", 0.99))
            },
        },
        "non_2xx": non_2xx,
        "socket_errors": {"other": errors, "timeout": timeouts},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    try:
        from uvloop import run  # the event loop uvicorn uses too, when installed
    except ImportError:
        run = asyncio.run
    print(json.dumps(run(load(args.url, headers, args.connections, args.duration))), flush=True)


if __name__ == "__main__":
    main()
