"""Token buckets per API key and per client address, on a fake clock (no sleeping)."""

import os
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ratelimit import MemoryBuckets, RedisBuckets, Rule
from tests.gateway.fakes import FakeClock
from tests.harness import bearer, make_key

YUBARI = "/subsidy/municipalities/012092"


async def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    rule = Rule(per_minute=60, burst=3)  # one token a second
    assert [(await buckets.take("k", rule)).allowed for _ in range(4)] == [True, True, True, False]
    refused = await buckets.take("k", rule)
    assert refused.retry_after_seconds == 1
    clock.advance(1)
    assert (await buckets.take("k", rule)).allowed
    assert not (await buckets.take("k", rule)).allowed
    clock.advance(3600)  # a long pause refills to the burst, not beyond
    assert [(await buckets.take("k", rule)).allowed for _ in range(4)] == [True, True, True, False]


async def test_retry_after_counts_the_seconds_until_one_token_is_back():
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    rule = Rule(per_minute=6, burst=1)  # one token every 10 s
    assert (await buckets.take("k", rule)).allowed
    clock.advance(4)
    assert (await buckets.take("k", rule)).retry_after_seconds == 6


async def test_buckets_are_separate_per_key():
    buckets = MemoryBuckets(clock=FakeClock())
    rule = Rule(per_minute=60, burst=1)
    assert (await buckets.take("a", rule)).allowed
    assert not (await buckets.take("a", rule)).allowed
    assert (await buckets.take("b", rule)).allowed


@given(
    per_minute=st.integers(1, 600),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=60),
)
async def test_never_more_than_burst_plus_refill(per_minute, burst, gaps):
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    rule = Rule(per_minute=per_minute, burst=burst)
    allowed = 0
    for gap in gaps:
        clock.advance(gap)
        allowed += (await buckets.take("k", rule)).allowed
    elapsed = sum(gaps)
    assert allowed <= burst + elapsed * per_minute / 60 + 1e-9


async def test_a_key_over_its_limit_gets_429_with_retry_after(gateway_with, db, clock):
    key = await make_key(db, "app")
    other = await make_key(db, "app")
    async with gateway_with(rate_limit_enabled=True, rate_limit_key_burst=2, rate_limit_key_per_minute=30) as client:
        assert [(await client.get(YUBARI, headers=bearer(key))).status_code for _ in range(2)] == [200, 200]
        refused = await client.get(YUBARI, headers=bearer(key))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["code"] == "rate_limited"
        assert (await client.get(YUBARI, headers=bearer(other))).status_code == 200  # its own bucket
        clock.advance(2)
        assert (await client.get(YUBARI, headers=bearer(key))).status_code == 200


async def test_anonymous_calls_are_limited_per_client_address(gateway_with, clock):
    async with gateway_with(
        rate_limit_enabled=True, rate_limit_anonymous_burst=1, rate_limit_anonymous_per_minute=60
    ) as client:
        # Anonymous calls of the open reference data cost a token of this address.
        assert (await client.get(YUBARI)).status_code == 200
        refused = await client.get(YUBARI)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        clock.advance(1)
        assert (await client.get(YUBARI)).status_code == 200


async def test_probes_and_docs_are_not_rate_limited(gateway_with):
    async with gateway_with(rate_limit_enabled=True, rate_limit_anonymous_burst=1) as client:
        assert {(await client.get("/healthz")).status_code for _ in range(5)} == {200}


async def test_limits_are_off_when_disabled(gateway_with, db):
    key = await make_key(db, "app")
    async with gateway_with(rate_limit_enabled=False, rate_limit_key_burst=1) as client:
        assert {(await client.get(YUBARI, headers=bearer(key))).status_code for _ in range(5)} == {200}


# Like PostgreSQL, Redis tests run when a server is named (.ci/run names the local one); when it is named,
# an unreachable server is a failure, not a skip.
REDIS_URL = os.environ.get("CHIIKI_TEST_REDIS_URL")


@pytest.fixture
async def redis_buckets():
    assert REDIS_URL, "the needs_redis marker keeps this fixture to runs that name a Redis server"
    clock = FakeClock()
    buckets = RedisBuckets(REDIS_URL, clock=clock, prefix=f"chiiki-test:{uuid.uuid4().hex}:")
    await buckets.redis.ping()
    yield buckets, clock
    keys = await buckets.redis.keys(buckets.prefix + "*")
    if keys:
        await buckets.redis.delete(*keys)
    await buckets.close()


@pytest.mark.needs_redis
async def test_redis_buckets_are_shared_and_refill(redis_buckets):
    buckets, clock = redis_buckets
    replica = RedisBuckets(REDIS_URL, clock=clock, prefix=buckets.prefix)
    rule = Rule(per_minute=60, burst=2)
    try:
        assert (await buckets.take("k", rule)).allowed
        assert (await replica.take("k", rule)).allowed  # another gateway replica, same bucket
        refused = await buckets.take("k", rule)
        assert not refused.allowed and refused.retry_after_seconds == 1
        clock.advance(1)
        assert (await replica.take("k", rule)).allowed
    finally:
        await replica.close()


async def test_guessing_keys_costs_the_address_its_tokens(gateway_with):
    async with gateway_with(rate_limit_enabled=True, rate_limit_anonymous_burst=2) as client:
        wrong = bearer("chk_0123456789abcdef_guess")
        assert [(await client.get(YUBARI, headers=wrong)).status_code for _ in range(3)] == [401, 401, 429]


def test_limits_below_one_are_refused_at_start_up():
    from pydantic import ValidationError

    from common.settings import Settings

    with pytest.raises(ValidationError, match="rate_limit_key_burst"):
        Settings(_env_file=None, rate_limit_key_burst=0)


async def test_inbound_webhooks_get_a_key_sized_bucket_per_address(gateway_with):
    async with gateway_with(rate_limit_enabled=True, rate_limit_anonymous_burst=1, rate_limit_key_burst=3) as client:
        statuses = [(await client.post("/webhooks/providers/prov_x", json={})).status_code for _ in range(4)]
        assert 429 not in statuses[:3] and statuses[3] == 429
        # The public catalogue's anonymous bucket of the same address is untouched by the webhooks.
        assert (await client.get("/subsidy/programs")).status_code == 200


# --- the draft RateLimit-* fields -------------------------------------------------------------------------


def limit_fields(response) -> tuple[str | None, ...]:
    return tuple(response.headers.get(name) for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"))


async def test_a_decision_tells_the_tokens_left_and_the_seconds_until_the_bucket_is_full():
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    rule = Rule(per_minute=30, burst=3)  # a token every 2 s
    taken = [await buckets.take("k", rule) for _ in range(4)]
    assert [(d.limit, d.remaining, d.reset_seconds) for d in taken] == [(3, 2, 2), (3, 1, 4), (3, 0, 6), (3, 0, 6)]
    assert taken[-1].headers()["Retry-After"] == "2" and "Retry-After" not in taken[0].headers()
    clock.advance(3)  # one and a half tokens back
    assert (await buckets.take("k", rule)).remaining == 0 and (await buckets.take("k", rule)).allowed is False


async def test_every_response_a_bucket_governs_carries_its_fields(gateway_with, db, clock):
    key = await make_key(db, "app")
    async with gateway_with(
        rate_limit_enabled=True,
        rate_limit_key_burst=2,
        rate_limit_key_per_minute=60,
        rate_limit_anonymous_burst=5,
        rate_limit_anonymous_per_minute=60,
    ) as client:
        first, second, refused = [await client.get(YUBARI, headers=bearer(key)) for _ in range(3)]
        assert (first.status_code, limit_fields(first)) == (200, ("2", "1", "1"))
        assert (second.status_code, limit_fields(second)) == (200, ("2", "0", "2"))
        assert (refused.status_code, limit_fields(refused)) == (429, ("2", "0", "2"))
        assert refused.headers["retry-after"] == "1"
        # A bad key is charged to the address's bucket, and its 401 tells that bucket's state.
        guessed = await client.get(YUBARI, headers=bearer("chk_0123456789abcdef_guess"))
        assert (guessed.status_code, limit_fields(guessed)) == (401, ("5", "4", "1"))
        anonymous = await client.get("/subsidy/programs")
        assert (anonymous.status_code, limit_fields(anonymous)) == (200, ("5", "3", "2"))
        # The gateway's own probes take no token and carry no fields.
        assert limit_fields(await client.get("/healthz")) == (None, None, None)


async def test_no_fields_when_limits_are_off(gateway_with, db):
    key = await make_key(db, "app")
    async with gateway_with(rate_limit_enabled=False) as client:
        assert limit_fields(await client.get(YUBARI, headers=bearer(key))) == (None, None, None)


@pytest.mark.needs_redis
async def test_redis_buckets_tell_the_same_fields(redis_buckets):
    buckets, clock = redis_buckets
    rule = Rule(per_minute=30, burst=2)
    taken = [await buckets.take("k", rule) for _ in range(3)]
    assert [(d.allowed, d.limit, d.remaining, d.reset_seconds) for d in taken] == [
        (True, 2, 1, 2),
        (True, 2, 0, 4),
        (False, 2, 0, 4),
    ]
    assert taken[-1].retry_after_seconds == 2
