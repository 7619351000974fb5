"""Idempotency-Key: same key and body → the first response replayed; other body → 422; in flight → 409.

The key is claimed in its own short committed transaction before any work (DriverConnection.commit_with, the
one early commit), so a concurrent request with the same key finds the claim and gets 409; a failed request's
claim is released the same way. The claim's commit does not wait for the disk (`durable=False`): a crash can
lose only a claim whose work had not committed, as that work's own durable commit would have flushed it, and a
lost claim is a key never used. The response is stored in the work's own transaction, so it exists exactly
when the work committed. Claims are checked before the budget, so a retried success is
replayed, never answered "budget exhausted". Records are kept (at least the 72 hours the spec asks).
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.driver_sql import Batch, DriverConnection, DriverStatement, Outcome
from common.error_codes import ErrorCode
from common.errors import Conflict, Unprocessable
from common.models import IdempotencyRecord
from common.timeutil import utcnow
from services.mynapoint.statements import CLAIM_IDEMPOTENCY_KEY, RELEASE_CLAIM, REMEMBER_RESPONSE, TAKE_OVER_CLAIM

# A claim whose request never finished (the process died) may be taken over after this long.
ABANDONED_AFTER = timedelta(seconds=60)
MAX_KEY_LENGTH = 255


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Remember(Protocol):
    """Stores the response of the request (its Idempotency-Key) in the request's own transaction."""

    def statements(self, result: dict[str, Any], /) -> list[tuple[DriverStatement, dict[str, Any]]]: ...

    async def __call__(self, result: dict[str, Any], /) -> None: ...


class Forget:
    """No Idempotency-Key: nothing to store."""

    def statements(self, _result: dict[str, Any]) -> list[tuple[DriverStatement, dict[str, Any]]]:
        return []

    async def __call__(self, _result: dict[str, Any]) -> None:
        return None


FORGET = Forget()
Work = Callable[..., Awaitable[dict[str, Any]]]


async def run(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    body: dict[str, Any],
    work: Work,
    status_code: int = 200,
    reads: Batch = (),
) -> JSONResponse:
    """Run `work(remember)` once per key. `remember(result)` stores the response in the work's transaction;
    work may store it early (before its last statement, or in its batch with `remember.statements(result)`),
    and it is stored again if work returns another result.

    reads: statements the work starts with, sent with the claim in its round trip (and committed with it);
    their outcomes are passed on, `work(remember, *outcomes)`. Without a key the work reads for itself."""
    if key is None:
        return JSONResponse(await work(FORGET), status_code=status_code)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    record_id = _digest(principal.key_id or principal.role, request.method, request.url.path, key)
    request_hash = _digest(json.dumps(body, sort_keys=True, ensure_ascii=False))
    replay, outcomes = await _claim(session, record_id, request_hash, reads)
    if replay is not None:
        return replay
    remember = _Remember(session, record_id, status_code)
    try:
        result = await work(remember, *outcomes)
    except BaseException:
        # The work's transaction is rolled back first: on SQLite the release needs the write lock it holds.
        await DriverConnection(session).commit_with([(RELEASE_CLAIM, {"id": record_id})], discard_pending=True)
        raise
    if remember.stored is not result:
        await remember(result)
    return JSONResponse(result, status_code=status_code)


class _Remember:
    """Stores the response in the work's transaction: at once (`await remember(result)`), or as a statement
    for the work's own batch (`remember.statements(result)`)."""

    def __init__(self, session: AsyncSession, record_id: str, status_code: int):
        self.session, self.record_id, self.status_code = session, record_id, status_code
        self.stored: dict[str, Any] | None = None

    def statements(self, result: dict[str, Any]) -> list[tuple[DriverStatement, dict[str, Any]]]:
        self.stored = result
        return [
            (
                REMEMBER_RESPONSE,
                {
                    "id": self.record_id,
                    "response_status": self.status_code,
                    "response_body": json.dumps(result, ensure_ascii=False),
                },
            )
        ]

    async def __call__(self, result: dict[str, Any]) -> None:
        await DriverConnection(self.session).run_all(self.statements(result))


async def _claim(
    session: AsyncSession, record_id: str, request_hash: str, reads: Batch
) -> tuple[JSONResponse | None, list[Outcome]]:
    """(None, the reads' outcomes) when this request owns the key now; else the stored response to replay,
    or 409/422. The claim is committed at once, so a concurrent request with the key finds it."""
    claimed, *outcomes = await DriverConnection(session).commit_with(
        [(CLAIM_IDEMPOTENCY_KEY, {"id": record_id, "request_hash": request_hash, "created_at": utcnow()}), *reads],
        durable=False,
    )
    if claimed.row is not None:
        return None, outcomes
    return await _replay_or_refuse(session, record_id, request_hash), outcomes


async def _replay_or_refuse(claim: AsyncSession, record_id: str, request_hash: str) -> JSONResponse | None:
    """The key is taken: the stored response; or 422 for another body, 409 while the first request runs.
    None when the first request died long ago and this one takes its claim over."""
    record = await claim.get(IdempotencyRecord, record_id)
    if record is None:
        raise Conflict("a request with this Idempotency-Key just failed; retry", code=ErrorCode.IDEMPOTENCY_IN_PROGRESS)
    if record.request_hash != request_hash:
        raise Unprocessable(
            "this Idempotency-Key was used with a different request body",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            field="Idempotency-Key",
        )
    if record.response_status is not None:
        return JSONResponse(
            json.loads(record.response_body or "null"),
            status_code=record.response_status,
            headers={"Idempotent-Replayed": "true"},
        )
    if await _take_over_abandoned(claim, record_id):
        return None
    raise Conflict(
        "a request with this Idempotency-Key is still being processed; retry shortly",
        code=ErrorCode.IDEMPOTENCY_IN_PROGRESS,
    )


async def _take_over_abandoned(claim: AsyncSession, record_id: str) -> bool:
    now = utcnow()
    (taken,) = await DriverConnection(claim).commit_with(
        [(TAKE_OVER_CLAIM, {"id": record_id, "now": now, "abandoned_before": now - ABANDONED_AFTER})], durable=False
    )
    return taken.rowcount == 1
