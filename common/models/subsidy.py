"""Saved subsidy calculations: inputs, result, and the rules version and parameter hash they were made with."""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from common.timeutil import utcnow


class SubsidyCalculationBase(SQLModel):
    program: str = Field(max_length=40, index=True)
    fiscal_year: int
    municipality_code: str | None = Field(default=None, max_length=6, index=True)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    overrides: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    eligible: bool
    amount: int = Field(sa_type=sa.BigInteger)
    result: dict[str, Any] = Field(sa_type=sa.JSON, description="the calculation response, stored unchanged")
    rules_version: str = Field(max_length=40)
    parameters_hash: str = Field(max_length=80)


class SubsidyCalculation(SubsidyCalculationBase, table=True):
    __tablename__ = "subsidy_calculation"
    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by_key_id: str | None = Field(default=None, max_length=16)


class SubsidyCalculationPublic(SubsidyCalculationBase):
    id: str
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite returns timestamps without their zone; they were written in UTC.
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class SubsidyImpactJob(SQLModel, table=True):
    """An impact run of one program over every municipality: its request, progress and result.

    The state lives here so that a run survives a restart of the service (an unfinished one is run again)."""

    __tablename__ = "subsidy_impact_job"
    id: str = Field(primary_key=True, max_length=40)
    program: str = Field(max_length=60)
    fiscal_year: int | None = None
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    overrides: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(max_length=16, index=True, description="queued, running, done or failed")
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_by_key_id: str | None = Field(default=None, max_length=16)
