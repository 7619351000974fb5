"""Every table of the shared schema. Importing this package fills `SQLModel.metadata` for alembic."""

from sqlalchemy import MetaData
from sqlmodel import SQLModel

# Stable constraint names, so that migrations are the same on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

from common.models.api_key import ApiKey, ApiKeyRole  # noqa: E402
from common.models.matching import (  # noqa: E402
    Adviser,
    Company,
    FieldOfWork,
    Match,
    MatchTransition,
    Need,
    Round,
    RoundPreference,
)
from common.models.municipality import Municipality  # noqa: E402
from common.models.mynapoint import (  # noqa: E402
    Application,
    DeliveryAttempt,
    Grant,
    IdempotencyRecord,
    InboundWebhook,
    LedgerEntry,
    OutboxEvent,
    Program,
    ProgramChange,
    Provider,
    RosterEntry,
)
from common.models.subsidy import SubsidyCalculation, SubsidyImpactJob  # noqa: E402

metadata: MetaData = SQLModel.metadata

__all__ = [
    "Adviser",
    "Application",
    "ApiKey",
    "ApiKeyRole",
    "Company",
    "DeliveryAttempt",
    "FieldOfWork",
    "Grant",
    "IdempotencyRecord",
    "InboundWebhook",
    "LedgerEntry",
    "Match",
    "MatchTransition",
    "Municipality",
    "Need",
    "OutboxEvent",
    "Program",
    "ProgramChange",
    "Provider",
    "Round",
    "RoundPreference",
    "RosterEntry",
    "SubsidyCalculation",
    "SubsidyImpactJob",
    "metadata",
]
