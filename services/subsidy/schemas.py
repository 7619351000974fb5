"""Request bodies of the subsidy API (responses are the dicts the service builds, described in API.md)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt


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
    include_trace: StrictBool = Field(default=True, description="false leaves the trace out of each result")


class FinderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fiscal_year: StrictInt | None = Field(default=None, description="default: per program, today's fiscal year "
                                          "when its rules cover it, else the latest they cover (with a notice)")
    municipality_code: str = Field(max_length=6, description="全国地方公共団体コード")
    inputs: dict[str, Any] = Field(default_factory=dict, description="any inputs known so far; may be empty")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fiscal_year: StrictInt | None = Field(default=None, description="default as for a calculation")
    overrides: dict[str, Any] = Field(default_factory=dict, description="parameter values to use instead")


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality_code: str | None = Field(default=None, max_length=6)
    inputs: dict[str, Any] = Field(default_factory=dict, description="the same inputs for both sides")
    baseline: Scenario
    reform: Scenario


class ImpactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program: str = Field(max_length=60)
    fiscal_year: StrictInt | None = Field(default=None, description="default as for a calculation")
    inputs: dict[str, Any] = Field(default_factory=dict, description="applied to every municipality, whose own "
                                   "attributes come from the reference data")
    overrides: dict[str, Any] = Field(default_factory=dict, description="the reform: parameter values to use "
                                      "instead; none compares the baseline with itself")


class TraceParameter(BaseModel):
    name: str
    value: Any
    period: str = Field(description="fiscal years the value holds for, e.g. FY2022–FY2023")
    citation: str
    interpretation: str | None = None
    note: str | None = None
    overridden: bool | None = None


class TraceStep(BaseModel):
    step: int
    rule: str
    citation: str
    parameters: list[TraceParameter]
    formula: str
    inputs: dict[str, Any]
    result: Any
    notes: list[str] | None = Field(default=None, description="caps and roundings that bit")
    source: str | None = Field(default=None, description="where a municipality attribute came from")


class Reason(BaseModel):
    code: str
    message: str


class CalculationResult(BaseModel):
    """The response of a calculation (documentation: the service returns it as built, for speed)."""

    program: str
    fiscal_year: int
    municipality_code: str | None
    eligible: bool
    amount: int = Field(description="total national-side support in yen (see API.md)")
    breakdown: dict[str, Any]
    reasons: list[Reason]
    trace: list[TraceStep] | None = None
    overrides: dict[str, Any] | None = None
    rules_version: str
    parameters_hash: str


class BatchItemResult(BaseModel):
    status: int
    result: CalculationResult | None = None
    error: dict[str, Any] | None = None


class BatchResult(BaseModel):
    results: list[BatchItemResult]
    rules_version: str
