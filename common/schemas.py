"""What request body models share."""

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

NUL = "\x00"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class RequestBody(BaseModel):
    """Unknown fields are refused, and so is text with a NUL character anywhere in a field (PostgreSQL cannot
    store one, SQLite would): a 422 that names the field, the same on both databases."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return value
