"""What an inbound webhook did: one code per outcome, stored as the inbound record's `outcome` and answered.

The same members are what Python returns and what the driver-level SQL is given as parameters (the
grant.credited batch computes its outcome in the database), so no outcome is spelled twice. An outcome that
carries figures (`reserved 2500 points as gr_…`) is its code followed by them (`Effect.text`).
"""

from dataclasses import dataclass
from enum import StrEnum

from common.models.mynapoint import GrantStatus


class WebhookOutcome(StrEnum):
    RECEIVED = "received"  # recorded, its effect not yet applied (never seen once the request commits)
    POSTED = "posted"
    ALREADY_POSTED = "ignored: grant already posted"
    ALREADY_VOIDED = "ignored: grant already voided"
    ALREADY_REVOKED = "ignored: grant already revoked"
    NO_SUCH_GRANT = "rejected: no such grant for this provider"
    GRANT_ID_MISSING = "rejected: grant_id missing"
    NOT_AN_OBJECT = "rejected: data must be an object"
    INVALID_CHARGE = "rejected:"  # + the field and what is wrong with it
    NO_PREMIUM_PROGRAM = "rejected: no premium program with that id"
    NO_APPLICATION = "rejected: no application for that account"
    ACCOUNT_UNLINKED = "rejected: account unlinked"
    CHARGE_ALREADY_GRANTED = "ignored: charge already granted"
    CAP_REACHED = "ignored: per-person cap reached"
    BUDGET_EXHAUSTED = "ignored: budget exhausted"
    RESERVED = "reserved"  # + the points and the grant
    ACCOUNT_MISSING = "rejected: provider_account_id missing"
    PROGRAM_ID_NOT_TEXT = "rejected: program_id must be a string"
    UNLINKED = "unlinked"  # + how many applications and grants
    UNKNOWN_EVENT_TYPE = "recorded: unknown event type"


# A grant.credited for a grant that is not (or no longer) reserved: what it was instead.
NOT_POSTED = {
    GrantStatus.posted: WebhookOutcome.ALREADY_POSTED,
    GrantStatus.voided: WebhookOutcome.ALREADY_VOIDED,
    GrantStatus.revoked: WebhookOutcome.ALREADY_REVOKED,
}


@dataclass(frozen=True, slots=True)
class Effect:
    outcome: WebhookOutcome
    detail: str = ""

    @property
    def text(self) -> str:
        return f"{self.outcome} {self.detail}"[:200] if self.detail else self.outcome.value
