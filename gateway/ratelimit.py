"""Token-bucket rate limits at the gateway: per API key, and per client address for anonymous calls.

A bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens a second; a request takes one.
The in-memory buckets are per process: with N gateway replicas a caller gets up to N times the limit.
The Redis buckets are shared by every replica (one atomic script per request).
Every decision also tells what the IETF draft's RateLimit-* header fields publish: the bucket's size, the whole
tokens left in it, and the seconds until it is full again.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from common.settings import Settings

Clock = Callable[[], float]


@dataclass(frozen=True)
class Rule:
    per_minute: int
    burst: int

    @property
    def tokens_per_second(self) -> float:
        return self.per_minute / 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_seconds: int = 0  # whole seconds until one token is back, for Retry-After
    limit: int = 0  # the bucket's size; 0 when no bucket governs the request (limits off)
    remaining: int = 0  # whole tokens left after this request
    reset_seconds: int = 0  # whole seconds until the bucket is full again

    def headers(self) -> dict[str, str]:
        """The draft's RateLimit-Limit, -Remaining and -Reset fields (none when no bucket governs), and
        Retry-After when the request is refused."""
        if not self.limit:
            return {}
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        return fields if self.allowed else fields | {"Retry-After": str(self.retry_after_seconds)}

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The same fields as a response's raw ASGI headers."""
        return [(name.lower().encode(), value.encode()) for name, value in self.headers().items()]


UNLIMITED = Decision(True)


def _retry_after(missing_tokens: float, rule: Rule) -> int:
    return max(1, math.ceil(missing_tokens / rule.tokens_per_second))


def _decision(allowed: bool, tokens: float, rule: Rule) -> Decision:
    """What a bucket holding `tokens` after this request answers."""
    retry_after = 0 if allowed else _retry_after(1 - tokens, rule)
    return Decision(
        allowed, retry_after, rule.burst, math.floor(tokens), math.ceil((rule.burst - tokens) / rule.tokens_per_second)
    )


class MemoryBuckets:
    """Buckets in this process's memory; the least recently used are forgotten beyond `max_buckets`."""

    def __init__(self, clock: Clock | None = None, max_buckets: int = 100_000):
        self.clock = clock or time.monotonic
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    async def take(self, key: str, rule: Rule) -> Decision:
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(rule.burst), now))
        tokens = min(float(rule.burst), tokens + (now - at) * rule.tokens_per_second)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return _decision(allowed, tokens, rule)

    async def close(self) -> None:
        pass


# KEYS[1] bucket; ARGV: burst, tokens per second, now (seconds), ttl. Returns {allowed, tokens * 1000}.
_REDIS_TAKE = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {allowed, math.floor(tokens * 1000)}
"""


class RedisBuckets:
    """Buckets in Redis, shared by every gateway replica. The clock is the gateway's wall clock."""

    def __init__(self, url: str, clock: Clock | None = None, prefix: str = "chiiki:ratelimit:"):
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.clock = clock or time.time
        self.prefix = prefix
        self._script = self.redis.register_script(_REDIS_TAKE)

    async def take(self, key: str, rule: Rule) -> Decision:
        ttl = max(60, math.ceil(rule.burst / rule.tokens_per_second))  # an idle bucket is full again by then
        allowed, millitokens = await self._script(
            keys=[self.prefix + key], args=[rule.burst, repr(rule.tokens_per_second), repr(self.clock()), ttl]
        )
        return _decision(bool(allowed), int(millitokens) / 1000, rule)

    async def close(self) -> None:
        await self.redis.aclose()


class RateLimiter:
    def __init__(self, settings: Settings, buckets: MemoryBuckets | RedisBuckets):
        self.enabled = settings.rate_limits_on()
        self.buckets = buckets
        self.key_rule = Rule(settings.rate_limit_key_per_minute, settings.rate_limit_key_burst)
        self.anonymous_rule = Rule(settings.rate_limit_anonymous_per_minute, settings.rate_limit_anonymous_burst)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> "RateLimiter":
        buckets: MemoryBuckets | RedisBuckets
        if settings.rate_limit_redis_url:
            buckets = RedisBuckets(settings.rate_limit_redis_url, clock)
        else:
            buckets = MemoryBuckets(clock)
        return cls(settings, buckets)

    async def check(self, key_id: str | None, client_address: str | None, *, webhook: bool = False) -> Decision:
        """One request by this key, or by this address when there is no key.

        Inbound webhooks carry no key (their signature is checked by the service): a provider's address
        gets a bucket of its own, as large as a key's, so that a burst of events is not held to the
        anonymous limit of the public catalogue.
        """
        if not self.enabled:
            return UNLIMITED
        if key_id is not None:
            return await self.buckets.take(f"key:{key_id}", self.key_rule)
        if webhook:
            return await self.buckets.take(f"webhook:{client_address or 'unknown'}", self.key_rule)
        return await self.buckets.take(f"addr:{client_address or 'unknown'}", self.anonymous_rule)

    async def close(self) -> None:
        await self.buckets.close()
