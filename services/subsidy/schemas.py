"""Request bodies and response models of the subsidy API.

The service modules build plain dicts (fast to answer); these models are what the OpenAPI document says of them,
and tests check that each answer validates against its model with no key left undeclared.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from common.models.municipality import MunicipalityPublic
from common.models.subsidy import SubsidyCalculationPublic
from common.pagination import Page
from common.timeutil import aware

LOCAL10000_INPUTS = {
    "initial_investment": 40_000_000,
    "municipal_grant": 10_000_000,
    "loan_amount": 20_000_000,
    "own_funds": 10_000_000,
    "lender_type": "jfc",
}
CALCULATION_EXAMPLE = {"fiscal_year": 2023, "municipality_code": "012092", "inputs": LOCAL10000_INPUTS}


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A request model's config: unknown fields refused, and example bodies for the document."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(bodies)})


class CalculationRequest(BaseModel):
    model_config = examples(CALCULATION_EXAMPLE, CALCULATION_EXAMPLE | {"overrides": {"weakest_area_rate": "4/5"}})

    fiscal_year: StrictInt | None = Field(
        default=None,
        description="Western year the fiscal year starts in "
        "(令和5年度 = 2023); default: the fiscal year containing today",
    )
    municipality_code: str | None = Field(default=None, max_length=6, description="全国地方公共団体コード")
    inputs: dict[str, Any] = Field(default_factory=dict, description="input names as in subsidy-rules.md")
    overrides: dict[str, Any] = Field(default_factory=dict, description="what-if: parameter values to use instead")


class ProgramCalculationRequest(CalculationRequest):
    model_config = examples({"program": "local10000"} | CALCULATION_EXAMPLE)

    program: str = Field(max_length=60)


class BatchRequest(BaseModel):
    model_config = examples(
        {
            "items": [
                {"program": "local10000"} | CALCULATION_EXAMPLE,
                {"program": "local10000", "fiscal_year": 2023, "inputs": {}},
            ],
            "include_trace": False,
        }
    )

    items: list[Any] = Field(max_length=10_000, description="each like the body of a calculation, plus `program`")
    include_trace: StrictBool = Field(default=True, description="false leaves the trace out of each result")


class FinderRequest(BaseModel):
    model_config = examples(
        {"fiscal_year": 2023, "municipality_code": "012092", "inputs": {"initial_investment": 40_000_000}},
        {"municipality_code": "012092"},
    )

    fiscal_year: StrictInt | None = Field(
        default=None,
        description="default: per program, today's fiscal year "
        "when its rules cover it, else the latest they cover (with a notice)",
    )
    municipality_code: str = Field(max_length=6, description="全国地方公共団体コード")
    inputs: dict[str, Any] = Field(default_factory=dict, description="any inputs known so far; may be empty")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fiscal_year: StrictInt | None = Field(default=None, description="default as for a calculation")
    overrides: dict[str, Any] = Field(default_factory=dict, description="parameter values to use instead")


class CompareRequest(BaseModel):
    model_config = examples(
        {
            "municipality_code": "012092",
            "inputs": LOCAL10000_INPUTS,
            "baseline": {"fiscal_year": 2023},
            "reform": {"fiscal_year": 2023, "overrides": {"weakest_area_rate": "4/5"}},
        }
    )

    municipality_code: str | None = Field(default=None, max_length=6)
    inputs: dict[str, Any] = Field(default_factory=dict, description="the same inputs for both sides")
    baseline: Scenario
    reform: Scenario


class ImpactRequest(BaseModel):
    model_config = examples(
        {
            "program": "local10000",
            "fiscal_year": 2023,
            "inputs": LOCAL10000_INPUTS,
            "overrides": {"weakest_area_rate": "4/5"},
        }
    )

    program: str = Field(max_length=60)
    fiscal_year: StrictInt | None = Field(default=None, description="default as for a calculation")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="applied to every municipality, whose own attributes come from the reference data",
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="the reform: parameter values to use instead; none compares the baseline with itself",
    )


class ParameterValue(BaseModel):
    """A parameter's value as a calculation used it."""

    name: str
    value: Any = Field(description='rates as exact fractions ("3/4"), decimals as decimal text, yen as integers')
    period: str = Field(description="fiscal years the value holds for, e.g. FY2022–FY2023")
    citation: str
    interpretation: str | None = None
    note: str | None = None
    overridden: bool | None = Field(default=None, description="true when a what-if override set it")


class TraceStep(BaseModel):
    step: int
    rule: str
    citation: str
    parameters: list[ParameterValue]
    formula: str
    inputs: dict[str, Any]
    result: Any
    notes: list[str] | None = Field(default=None, description="caps and roundings that bit")
    source: str | None = Field(default=None, description="where a municipality attribute came from")


class Reason(BaseModel):
    code: str
    message: str


class CitedReason(Reason):
    citation: str


class CalculationResult(BaseModel):
    """One program's result: the amount in yen, its breakdown, the reasons, and the trace of every step."""

    program: str
    fiscal_year: int
    municipality_code: str | None
    eligible: bool
    amount: int = Field(description="total national-side support in yen (see docs/domain.md)")
    breakdown: dict[str, Any] = Field(description="the lines that make up the amount, in yen, by program")
    reasons: list[Reason]
    notice: str | None = Field(default=None, description="when the fiscal year applied is not the one asked for")
    trace: list[TraceStep] | None = Field(default=None, description="absent when the trace was left out")
    overrides: dict[str, Any] | None = Field(default=None, description="the overridden parameters' values")
    rules_version: str
    parameters_hash: str


class ItemError(BaseModel):
    code: str
    message: str
    field: str | None = None


class BatchItemResult(BaseModel):
    status: int = Field(description="the HTTP status this item alone would have had")
    result: CalculationResult | None = None
    error: ItemError | None = None


class BatchResult(BaseModel):
    results: list[BatchItemResult]
    rules_version: str


class ProgramSummary(BaseModel):
    id: str
    name_ja: str
    name_en: str
    citation: str
    summary: str
    fiscal_years: list[int]


class ProgramCatalogue(Page[ProgramSummary]):
    rules_version: str


class DatedValue(BaseModel):
    period: str
    value: Any
    citation: str | None = None
    note: str | None = None


class ProgramParameter(BaseModel):
    """A parameter: every dated value, or (with `fiscal_year`) the one value of that year."""

    name: str
    type: str
    description: str
    citation: str
    interpretation: str | None = None
    values: list[DatedValue] | None = Field(default=None, description="without fiscal_year: every dated value")
    value: Any = Field(default=None, description="with fiscal_year: that year's value")
    period: str | None = None
    note: str | None = None
    overridden: bool | None = None


class ProgramDetail(ProgramSummary):
    rules_version: str
    source_file: str
    fiscal_year: int | None = None
    parameters_hash: str | None = Field(default=None, description="with fiscal_year: the hash of its parameters")
    parameters: list[ProgramParameter]
    inputs_schema: dict[str, Any] = Field(description="JSON Schema of the program's `inputs`")


class YearValue(BaseModel):
    fiscal_year: int
    value: Any
    period: str
    citation: str
    changed: bool
    note: str | None = None
    previous_value: Any = None


class ParameterTimeline(BaseModel):
    name: str
    type: str
    description: str
    citation: str
    interpretation: str | None = None
    values: list[YearValue]
    changed_in: list[int]


class ProgramTimeline(BaseModel):
    program: str
    fiscal_years: list[int]
    rules_version: str
    parameters: list[ParameterTimeline]
    changed: list[str] = Field(description="the parameters whose value changed in some year")


class InputDescription(BaseModel):
    name: str
    type: str
    description: str
    required: bool | None = None
    enum: list[Any] | None = None
    default: Any = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    problem: str | None = Field(default=None, description="why the input given cannot be used")


class FinderItem(BaseModel):
    program: str
    name_ja: str
    fiscal_year: int
    notice: str | None = None
    status: Literal["eligible", "ineligible", "needs_inputs"]
    amount: int | None = Field(default=None, description="eligible: the amount in yen")
    breakdown: dict[str, Any] | None = None
    reasons: list[CitedReason] | None = Field(default=None, description="ineligible: why")
    missing_inputs: list[InputDescription] | None = Field(default=None, description="needs_inputs: what to give")
    max_amount: int | None = Field(default=None, description="needs_inputs: the most it can come to, when known")


class FinderResult(BaseModel):
    municipality_code: str
    municipality_name: str
    items: list[FinderItem]
    rules_version: str


class ParameterChange(BaseModel):
    name: str
    baseline_value: Any
    reform_value: Any
    baseline_citation: str | None
    reform_citation: str | None
    baseline_period: str | None
    reform_period: str | None


class ChangedStep(BaseModel):
    rule: str
    citation: str | None
    baseline_result: Any
    reform_result: Any
    parameters: list[ParameterChange]


class Difference(BaseModel):
    amount: int = Field(description="reform − baseline, in yen")
    breakdown: dict[str, Any] = Field(description="reform − baseline per integer breakdown line")


class Comparison(BaseModel):
    baseline: CalculationResult
    reform: CalculationResult
    difference: Difference
    changed_steps: list[ChangedStep]


class ImpactProgress(BaseModel):
    done: int
    total: int


class ImpactRow(BaseModel):
    code: str
    name: str
    baseline_eligible: bool | None
    baseline_amount: int | None
    reform_eligible: bool | None
    reform_amount: int | None
    difference: int | None
    error: str | None = None


class ImpactTotals(BaseModel):
    municipalities: int
    errors: int
    baseline_amount: int
    reform_amount: int
    difference: int
    baseline_eligible: int
    reform_eligible: int
    gain: int
    lose: int
    unchanged: int
    become_eligible: int
    become_ineligible: int


class ImpactResult(BaseModel):
    rules_version: str
    fiscal_year: int
    totals: ImpactTotals
    rows: list[ImpactRow]


class ImpactJob(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    program: str
    fiscal_year: int | None
    inputs: dict[str, Any]
    overrides: dict[str, Any]
    progress: ImpactProgress
    created_at: datetime
    finished_at: datetime | None
    error: str | None = None
    result: ImpactResult | None = Field(default=None, description="once done")

    @field_validator("created_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return aware(value) if value is not None else None


class CalculationPage(Page[SubsidyCalculationPublic]):
    """Saved calculations, by id."""


class MunicipalityPage(Page[MunicipalityPublic]):
    """Municipalities of the reference data, by code."""
