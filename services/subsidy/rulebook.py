"""Rules as dated data: one YAML file per program, validated strictly once at start-up.

A parameter has dated values (fiscal-year periods that must cover the program's fiscal years exactly once),
a citation (the seed's section heading) and, where the spec decided an ambiguity, an interpretation note.
A value of `null` means the rule is not in force that year (e.g. "new in FY2023" is null for FY2022).
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RULES_DIR = Path(__file__).parent / "rules"
WHAT_IF_CACHE_SIZE = 4096
ParamType = Literal["yen", "rate", "decimal", "int", "list", "bool", "text"]


# Plain decimals or fractions only: exponents ("1e999999") would make Fraction build enormous integers.
EXACT_TEXT = re.compile(r"^\d{1,18}(\.\d{1,18})?(/0*[1-9]\d{0,17})?$")


def parse_exact(text: str) -> Fraction:
    """A non-negative exact fraction from text such as "3/4", "0.25" or "1"; raises ValueError otherwise."""
    if not EXACT_TEXT.match(text.strip()):
        raise ValueError(f"not an exact fraction or decimal such as '3/4' or '0.25': {text[:40]!r}")
    return Fraction(text.strip())


class RulesError(ValueError):
    """A rules file that must not load; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DatedValue(_Strict):
    from_year: int = Field(alias="from", ge=1990, le=2100)
    to_year: int = Field(alias="to", ge=1990, le=2100)
    value: Any
    citation: str | None = Field(default=None, min_length=1)
    note: str | None = None


class ParameterSpec(_Strict):
    type: ParamType
    description: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    interpretation: str | None = None
    nullable: bool = Field(default=False, description="null (not in force) is allowed in some years")
    values: list[DatedValue] = Field(min_length=1)


class FiscalYears(_Strict):
    first: int = Field(ge=1990, le=2100)
    last: int = Field(ge=1990, le=2100)


class ProgramSpec(_Strict):
    program: str = Field(pattern=r"^[a-z0-9_]+$")
    name_ja: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    fiscal_years: FiscalYears
    parameters: dict[str, ParameterSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _fiscal_years_ordered(self) -> "ProgramSpec":
        if self.fiscal_years.first > self.fiscal_years.last:
            raise ValueError("fiscal_years.first is after fiscal_years.last")
        return self


def parse_value(kind: ParamType, raw: Any) -> Any:
    """A parameter value in its exact Python form; None stays None (not in force). Raises ValueError."""
    if raw is None:
        return None
    if kind in ("yen", "int"):
        if isinstance(raw, bool) or not isinstance(raw, int) or (kind == "yen" and raw < 0):
            raise ValueError(
                f"expected {'a non-negative integer yen amount' if kind == 'yen' else 'an integer'}, got {raw!r}"
            )
        return raw
    if kind in ("rate", "decimal"):
        if not isinstance(raw, str):
            raise ValueError(f"expected an exact fraction or decimal as text such as '3/4' or '0.25', got {raw!r}")
        return parse_exact(raw)
    if kind == "list":
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ValueError(f"expected a list of names, got {raw!r}")
        return tuple(raw)
    if kind == "bool":
        if not isinstance(raw, bool):
            raise ValueError(f"expected true or false, got {raw!r}")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {raw!r}")
    return raw


def decimal_text(value: Fraction) -> str:
    """A fraction as exact decimal text when it has one ("0.25"), else as "a/b"."""
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return str(value)
    places = max(twos, fives)
    if places == 0:
        return str(value.numerator)
    scaled = value.numerator * 10**places // value.denominator
    sign, digits = ("-" if scaled < 0 else ""), str(abs(scaled)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def to_json(value: Any, kind: str = "rate") -> Any:
    """The JSON form of a parameter value: rates as exact fractions ("3/4"), decimals as decimal text ("0.25")."""
    if isinstance(value, Fraction):
        return decimal_text(value) if kind == "decimal" else str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def period_label(first: int, last: int) -> str:
    return f"FY{first}" if first == last else f"FY{first}–FY{last}"


@dataclass(frozen=True)
class Parameter:
    """One parameter's value for one fiscal year, with where it comes from."""

    name: str
    kind: str
    value: Any
    period: str
    citation: str
    interpretation: str | None
    note: str | None = None
    overridden: bool = False

    def trace_entry(self) -> dict[str, Any]:
        entry = {
            "name": self.name,
            "value": to_json(self.value, self.kind),
            "period": self.period,
            "citation": self.citation,
        }
        if self.interpretation:
            entry["interpretation"] = self.interpretation
        if self.note:
            entry["note"] = self.note
        if self.overridden:
            entry["overridden"] = True
        return entry


@dataclass(frozen=True)
class ParameterSet:
    """All parameters of a program for one fiscal year (and optional what-if overrides), with their hash."""

    program: str
    fiscal_year: int
    parameters: Mapping[str, Parameter]
    hash: str
    trace_entries: Mapping[str, dict[str, Any]] = field(repr=False)

    def __getitem__(self, name: str) -> Any:
        return self.parameters[name].value


@dataclass(frozen=True)
class Program:
    spec: ProgramSpec
    source_file: str

    @property
    def id(self) -> str:
        return self.spec.program

    @property
    def fiscal_years(self) -> range:
        return range(self.spec.fiscal_years.first, self.spec.fiscal_years.last + 1)

    def parameter(self, name: str, fiscal_year: int) -> Parameter:
        spec = self.spec.parameters[name]
        for dated in spec.values:
            if dated.from_year <= fiscal_year <= dated.to_year:
                return Parameter(
                    name,
                    spec.type,
                    parse_value(spec.type, dated.value),
                    period_label(dated.from_year, dated.to_year),
                    dated.citation or spec.citation,
                    spec.interpretation,
                    dated.note,
                )
        raise KeyError(f"{self.id}.{name} has no value for FY{fiscal_year}")


def _parameter_set(program: Program, fiscal_year: int, parameters: dict[str, Parameter]) -> ParameterSet:
    canonical = json.dumps(
        {
            "program": program.id,
            "fiscal_year": fiscal_year,
            "parameters": {n: to_json(p.value, p.kind) for n, p in sorted(parameters.items())},
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    digest = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    entries = {name: p.trace_entry() for name, p in parameters.items()}
    return ParameterSet(program.id, fiscal_year, MappingProxyType(parameters), digest, MappingProxyType(entries))


class Rulebook:
    """Every program's rules, loaded once; parameter sets are resolved once per (program, fiscal year)."""

    def __init__(self, programs: dict[str, Program], version: str):
        self.programs = MappingProxyType(programs)
        self.version = version
        self._sets: dict[tuple[str, int], ParameterSet] = {}
        self._what_ifs: dict[tuple[str, int, str], ParameterSet] = {}

    def parameter_set(self, program_id: str, fiscal_year: int) -> ParameterSet:
        key = (program_id, fiscal_year)
        found = self._sets.get(key)
        if found is None:
            program = self.programs[program_id]
            found = _parameter_set(
                program, fiscal_year, {name: program.parameter(name, fiscal_year) for name in program.spec.parameters}
            )
            self._sets[key] = found
        return found

    def with_overrides(self, base: ParameterSet, overrides: dict[str, Any]) -> ParameterSet:
        """A what-if copy of `base`; raises KeyError (unknown name) or ValueError (bad value) naming the parameter."""
        key = (base.program, base.fiscal_year, json.dumps(overrides, sort_keys=True, default=str))
        found = self._what_ifs.get(key)
        if found is None:
            found = self._apply_overrides(base, overrides)
            if len(self._what_ifs) >= WHAT_IF_CACHE_SIZE:
                self._what_ifs.clear()
            self._what_ifs[key] = found
        return found

    def _apply_overrides(self, base: ParameterSet, overrides: dict[str, Any]) -> ParameterSet:
        program = self.programs[base.program]
        parameters = dict(base.parameters)
        for name, raw in overrides.items():
            if name not in program.spec.parameters:
                raise KeyError(name)
            original, spec = parameters[name], program.spec.parameters[name]
            if raw is None and not spec.nullable:
                raise ValueError(f"{name}: must have a value")
            try:
                value = parse_value(spec.type, raw)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            parameters[name] = Parameter(
                name,
                original.kind,
                value,
                original.period,
                original.citation,
                original.interpretation,
                original.note,
                overridden=True,
            )
        return _parameter_set(program, base.fiscal_year, parameters)


def _check_periods(where: str, name: str, spec: ParameterSpec, years: FiscalYears) -> None:
    expected = years.first
    for dated in sorted(spec.values, key=lambda v: v.from_year):
        if dated.from_year > dated.to_year:
            raise RulesError(f"{where}: parameters.{name}: period from {dated.from_year} is after to {dated.to_year}")
        if dated.from_year < expected:
            raise RulesError(
                f"{where}: parameters.{name}: period FY{dated.from_year} overlaps an earlier period "
                f"or starts before fiscal_years.first"
            )
        if dated.from_year > expected:
            raise RulesError(f"{where}: parameters.{name}: no value for FY{expected} (missing period)")
        if dated.value is None and not spec.nullable:
            raise RulesError(
                f"{where}: parameters.{name}: FY{dated.from_year}: null (not in force) needs nullable: true"
            )
        try:
            parse_value(spec.type, dated.value)
        except ValueError as exc:
            raise RulesError(f"{where}: parameters.{name}: FY{dated.from_year}: {exc}") from None
        expected = dated.to_year + 1
    if expected <= years.last:
        raise RulesError(f"{where}: parameters.{name}: no value for FY{expected} (missing period)")
    if expected > years.last + 1:
        raise RulesError(f"{where}: parameters.{name}: a period runs past fiscal_years.last FY{years.last}")


def load_program(path: Path) -> Program:
    where = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulesError(f"{where}: not valid YAML: {exc}") from None
    try:
        spec = ProgramSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise RulesError(f"{where}: {key}: {first['msg']}") from None
    if spec.program != path.stem:
        raise RulesError(f"{where}: program: {spec.program!r} does not match the file name")
    for name, parameter in spec.parameters.items():
        _check_periods(where, name, parameter, spec.fiscal_years)
    return Program(spec, where)


def load_rulebook(directory: Path = RULES_DIR) -> Rulebook:
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RulesError(f"no rules files in {directory.name}/")
    programs = {}
    digest = hashlib.sha256()
    for path in paths:
        program = load_program(path)
        programs[program.id] = program
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return Rulebook(programs, "rules-" + digest.hexdigest()[:12])


@cache
def get_rulebook() -> Rulebook:
    return load_rulebook()
