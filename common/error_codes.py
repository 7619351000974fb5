"""Every error code the suite answers with: its HTTP status and what it means.

The `code` of an error body is always one of these. The merged OpenAPI document declares the error schema's
`code` as an enum of them, and `docs/errors.md` lists them: `python -m common.error_codes --markdown >
docs/errors.md` writes it, and a test keeps it in step with this module.
"""

import argparse
from enum import StrEnum


class ErrorCode(StrEnum):
    """A stable machine code of an error, with the HTTP `status` it is answered with and a one-line `meaning`
    (docs/errors.md lists them all)."""

    status: int
    meaning: str

    def __new__(cls, value: str, status: int, meaning: str) -> "ErrorCode":
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.meaning = meaning
        return member

    # --- any service: the request itself ------------------------------------------------------------------
    BAD_REQUEST = "bad_request", 400, "the request is malformed (its URL, a header or its framing)"
    INVALID_INPUT = "invalid_input", 422, "a field is missing, of the wrong type or out of range; see field and errors"
    UNAUTHORIZED = "unauthorized", 401, "no API key, or one that is unknown, revoked or expired"
    FORBIDDEN = "forbidden", 403, "the key's role or tenant may not do this"
    NOT_FOUND = "not_found", 404, "no such resource, or one this key's tenant may not see"
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "the path exists but not with this method; see Allow"
    NOT_ACCEPTABLE = "not_acceptable", 406, "no representation matches the Accept header"
    CONFLICT = "conflict", 409, "the resource is not in a state that allows this"
    PAYLOAD_TOO_LARGE = "payload_too_large", 413, "the request body is larger than the limit"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415, "the body's Content-Type is not one this route takes"
    RATE_LIMITED = "rate_limited", 429, "too many requests from this key or address; see Retry-After"
    INTERNAL_ERROR = "internal_error", 500, "an unexpected error; it was logged with the request id"

    # --- the gateway and the services' front -------------------------------------------------------------
    GATEWAY_REQUIRED = "gateway_required", 401, "a service was called directly, not through the gateway"
    KEY_STORE_UNAVAILABLE = "key_store_unavailable", 503, "the gateway cannot read API keys just now; retry"
    UPSTREAM_TIMEOUT = "upstream_timeout", 504, "the service did not answer within the gateway's timeout"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable", 502, "the gateway could not reach the service"
    SERVICES_NOT_READY = "services_not_ready", 503, "one or more services are not ready"
    DATABASE_UNAVAILABLE = "database_unavailable", 503, "the database cannot be reached just now; retry"
    MIGRATIONS_PENDING = "migrations_pending", 503, "the database schema is behind the code; run chiiki db upgrade"

    # --- subsidy ----------------------------------------------------------------------------------------
    UNKNOWN_PROGRAM = "unknown_program", 404, "no program with this id in the path; the message names the known ones"
    INVALID_PROGRAM = "invalid_program", 422, "a body field names no known program; the message names the known ones"
    IMPACT_JOB_NOT_DONE = "impact_job_not_done", 409, "the impact run has no result yet; see its status and progress"
    UNKNOWN_FISCAL_YEAR = "unknown_fiscal_year", 422, "the program's rules do not cover this fiscal year"
    INVALID_OVERRIDE = "invalid_override", 422, "an override names an unknown parameter or has a bad value"
    ATTRIBUTE_MISSING = "attribute_missing", 422, "the municipality's reference data lacks an attribute the rule needs"

    # --- matching ---------------------------------------------------------------------------------------
    NOT_A_PARTY = "not_a_party", 403, "only a party to this need, round or match (or ops) may do this"
    ROUND_SOLVED = "round_solved", 409, "the round is solved; its preferences can no longer change"
    ROUND_NOT_SOLVED = "round_not_solved", 409, "the round must be solved first"
    INELIGIBLE_PAIR = "ineligible_pair", 422, "the pair is not eligible under the program's rules; see the reasons"
    ILLEGAL_TRANSITION = "illegal_transition", 409, "the match cannot move to this status from its current one"
    CONCURRENT_TRANSITION = "concurrent_transition", 409, "the match changed meanwhile; read it again"
    MATCH_EXISTS = "match_exists", 409, "the pair already has a live match (not declined, withdrawn or completed)"

    # --- mynapoint --------------------------------------------------------------------------------------
    INVALID_IDENTITY = "invalid_identity", 422, "a マイキーID or account id is malformed, or could be a 個人番号"
    BAD_SIGNATURE = "bad_signature", 401, "the webhook's signature, id or timestamp does not verify"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress", 409, "a request with this Idempotency-Key is under way"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", 422, "this Idempotency-Key was used for a different request"
    GRANT_RESOLVED = "grant_resolved", 422, "the grant is already posted, voided or revoked"
    GRANT_SUPERSEDED = "grant_superseded", 422, "the grant was already replaced by a newer one"
    ALREADY_REDELIVERED = "already_redelivered", 409, "this delivery's grant was already reserved again"
    DELIVERY_CANCELLED = "delivery_cancelled", 422, "the delivery was cancelled and is never sent"
    ENDPOINT_DISABLED = "endpoint_disabled", 422, "the provider's endpoint is disabled; enable it first"
    BUDGET_EXHAUSTED = "budget_exhausted", 422, "the program's budget cannot cover these points"
    PER_PERSON_CAP_REACHED = "per_person_cap_reached", 422, "the resident has reached the program's cap"
    ACCOUNT_UNLINKED = "account_unlinked", 422, "the resident's payment account was unlinked"
    OUTSIDE_WINDOW = "outside_window", 422, "the program is not open at this time"
    BUSY = "busy", 422, "the same resident's total is changing concurrently; retry"
    PROGRAM_PAUSED = "program_paused", 409, "the program is paused: it takes no new applications for now"
    PROGRAM_CLOSED = "program_closed", 409, "the program is closed: it takes no new applications"


def for_status(status: int) -> ErrorCode:
    """The generic code of an HTTP status that no specific code explains (framework errors, proxied ones)."""
    return _GENERIC.get(status, ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL_ERROR)


# The codes of plain HTTP statuses, which the framework or a proxied answer may bring to any route.
GENERIC = frozenset(
    {
        ErrorCode.BAD_REQUEST,
        ErrorCode.INVALID_INPUT,
        ErrorCode.UNAUTHORIZED,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.METHOD_NOT_ALLOWED,
        ErrorCode.NOT_ACCEPTABLE,
        ErrorCode.CONFLICT,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        ErrorCode.RATE_LIMITED,
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.UPSTREAM_TIMEOUT,
    }
)
_GENERIC = {code.status: code for code in reversed(list(ErrorCode)) if code in GENERIC}

MARKDOWN_HEAD = """\
# Error codes

<!-- Generated from common/error_codes.py by `python -m common.error_codes --markdown > docs/errors.md`;
     a test fails when this file and the registry differ. -->

Every 4xx and 5xx answer of the gateway and of the services has one body; here, a calculation of
`local10000` whose `initial_investment` is not a number and whose `loan_amount` is negative:

```json
{"error": {"code": "invalid_input", "message": "inputs.initial_investment: Input should be a valid integer",
           "field": "inputs.initial_investment",
           "errors": [{"field": "inputs.initial_investment", "code": "invalid_input",
                       "message": "inputs.initial_investment: Input should be a valid integer"},
                      {"field": "inputs.loan_amount", "code": "invalid_input",
                       "message": "inputs.loan_amount: Input should be greater than or equal to 0"}],
           "request_id": "2467faac8fbc4ce2902ad90a08a1deab"}}
```

- `code` is one of the codes below, and fixes the HTTP status. Match on it; `message` is for people and may
  change.
- `field` names the field the error is about, dotted (`inputs.loan_amount`, `provider_ids.0`), if any.
- `errors`, when the request failed validation, lists every invalid field (one or several), each with its
  `field`, `code` and `message`. The first one is also the top-level `field` and `message`, so clients that
  read only those keep working.
- `request_id` is the request's `X-Request-ID` (the one the client sent, or one the gateway made), which is
  also on the response's headers and on every log line written for the request: quote it when reporting a
  problem.

The OpenAPI document (`GET /openapi.json` on the gateway) declares `code` as an enum of these codes, and each
operation's error responses list, in their description and in `x-error-codes`, the codes it can answer.
A 429 and a 503 carry `Retry-After` (seconds) when a retry may succeed.

| code | status | meaning |
|---|---|---|
"""


def markdown() -> str:
    """docs/errors.md: how an error looks, then every registered code with its status and meaning."""
    rows = [f"| `{code}` | {code.status} | {code.meaning} |" for code in ErrorCode]
    return MARKDOWN_HEAD + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m common.error_codes", description="The error-code registry.")
    parser.add_argument("--markdown", action="store_true", help="print docs/errors.md")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(), end="")
    else:
        for code in ErrorCode:
            print(f"{code}\t{code.status}\t{code.meaning}")


if __name__ == "__main__":
    main()
