"""Request bodies of the subsidy API (responses are the dicts the service builds, described in API.md)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class CalculationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fiscal_year: StrictInt | None = Field(default=None, description="Western year the fiscal year starts in "
                                          "(令和5年度 = 2023); default: the fiscal year containing today")
    municipality_code: str | None = Field(default=None, max_length=6, description="全国地方公共団体コード")
    inputs: dict[str, Any] = Field(default_factory=dict, description="input names as in subsidy-rules.md")
    overrides: dict[str, Any] = Field(default_factory=dict, description="what-if: parameter values to use instead")


class ProgramCalculationRequest(CalculationRequest):
    program: str = Field(max_length=60)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(max_length=10_000, description="each like the body of a calculation, plus `program`")
    include_trace: bool = Field(default=True, description="false leaves the trace out of each result")
