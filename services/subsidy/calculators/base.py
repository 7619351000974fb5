"""What every calculator shares: the context it reads parameters through and writes its trace to.

Calculators are pure functions `(ctx, inputs) -> (amount, breakdown)`; they never touch the database.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt

from common.error_codes import ErrorCode
from common.errors import Unprocessable
from services.subsidy.rulebook import ParameterSet, decimal_text, parse_exact

Yen = Annotated[StrictInt, Field(ge=0, le=10**15)]
Count = Annotated[StrictInt, Field(ge=0, le=100_000)]
Flag = StrictBool


class Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputRelationError(ValueError):
    """A relation between inputs that does not hold, raised in a model validator: `field` is the one it is about,
    so that the error names `inputs.<field>` rather than just `inputs`."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _iso_date(value: object) -> date:
    """A date only as ISO text (YYYY-MM-DD), in years 1900–2200: an integer is not a date."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and ISO_DATE.match(value):
        day = date.fromisoformat(value)
    else:
        raise ValueError("must be a date as text, YYYY-MM-DD")
    if not DATE_YEARS[0] <= day.year <= DATE_YEARS[1]:
        raise ValueError(f"must be a date in the years {DATE_YEARS[0]}–{DATE_YEARS[1]}")
    return day


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_YEARS = (1900, 2200)
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _fraction_text(value: object) -> Fraction:
    """A non-negative exact fraction from text such as "4/5" or "0.8", or a whole number; floats are refused."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Fraction(value)  # whole numbers are exact too
    if not isinstance(value, str):
        raise ValueError("must be an exact fraction or decimal as text, such as '4/5' or '0.8'")
    return parse_exact(value)


FractionText = Annotated[Fraction, BeforeValidator(_fraction_text)]


@dataclass(frozen=True)
class Attribute:
    """A municipality attribute and where its value came from."""

    value: Any
    source: str  # "input" or "reference:<code>"


@dataclass
class Context:
    params: ParameterSet
    attributes: dict[str, Attribute]
    trace: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    eligible: bool = True
    _attributes_traced: set[str] = field(default_factory=set)

    def p(self, name: str) -> Any:
        return self.params[name]

    def attribute(self, name: str) -> Any:
        """A municipality attribute; 422 naming it when neither the inputs nor the reference data have it."""
        found = self.attributes.get(name)
        if found is None or found.value is None:
            raise Unprocessable(
                f"this calculation needs the municipality's {name}: give municipality_code of a "
                f"municipality whose reference data has it, or inputs.{name}",
                code=ErrorCode.ATTRIBUTE_MISSING,
                field=f"inputs.{name}",
            )
        if name not in self._attributes_traced:
            self._attributes_traced.add(name)
            self.step(
                "municipality." + name,
                f"{name} of the municipality, from {found.source}",
                inputs={},
                result=_attribute_json(found.value),
                citation="municipality reference data",
                source=found.source,
            )
        return found.value

    def step(
        self,
        rule: str,
        formula: str,
        *,
        inputs: dict[str, Any],
        result: Any,
        params: tuple[str, ...] = (),
        notes: list[str] | None = None,
        citation: str | None = None,
        source: str | None = None,
    ) -> None:
        entries = [self.params.trace_entries[name] for name in params]
        citations = citation or " ".join(dict.fromkeys(entry["citation"] for entry in entries))
        step = {
            "step": len(self.trace) + 1,
            "rule": f"{self.params.program}.{rule}",
            "citation": citations,
            "parameters": entries,
            "formula": formula,
            "inputs": inputs,
            "result": result,
        }
        if notes:
            step["notes"] = notes
        if source:
            step["source"] = source
        self.trace.append(step)

    def ineligible(self, code: str, message: str) -> None:
        self.eligible = False
        self.reasons.append({"code": code, "message": message})

    def note(self, code: str, message: str) -> None:
        """A reason that does not make the whole calculation ineligible (e.g. one excluded item)."""
        self.reasons.append({"code": code, "message": message})


def _attribute_json(value: Any) -> Any:
    return decimal_text(value) if isinstance(value, Fraction) else value


def cap_note(amount: int, cap: int, what: str) -> list[str]:
    return [f"cap of {cap:,} yen on {what} applied ({amount:,} → {cap:,})"] if amount > cap else []


def floor_note(exact: Fraction) -> list[str]:
    return (
        [f"rounded down from {exact} to {exact.numerator // exact.denominator:,} yen"] if exact.denominator != 1 else []
    )


def floor_times(amount: int, rate: Fraction) -> tuple[int, Fraction]:
    """floor(amount × rate) and the exact product, for the trace."""
    exact = amount * rate
    return exact.numerator // exact.denominator, exact
