"""Load the reference tables from `data/`: municipalities and the fields-of-work vocabulary.

Loading is an upsert keyed on the natural code, so running it again changes nothing
(and corrects any row that drifted from the shipped file).
"""

import csv
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.models import FieldOfWork, Municipality
from common.models.municipality import KasoType, MetroArea
from common.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "data"
MUNICIPALITIES_CSV = DATA_DIR / "municipalities_master.csv"
FIELDS_CSV = DATA_DIR / "fields_of_work.csv"
# A row of a reference file as the model's fields, before the model validates it.
Row = dict[str, Any]


@dataclass
class LoadResult:
    table: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.table}: {self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"


def _blank_to_none(value: str) -> str | None:
    return value if value != "" else None


def _int_or_none(value: str) -> int | None:
    return int(value) if value != "" else None


def _enum_or_none(enum: type[StrEnum], value: str) -> str | None:
    return enum(value).value if value != "" else None


def municipality_rows(path: Path = MUNICIPALITIES_CSV) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as file:
        return [
            {
                "code": row["lg_code"],
                "code5": row["code5"],
                "pref_code": row["pref_code"],
                "prefecture": row["pref_name"],
                "name": row["name"],
                "name_kana": _blank_to_none(row["name_kana"]),
                "name_en": _blank_to_none(row["name_en"]),
                "type": row["type"],
                "type_ja": row["type_ja"],
                "is_northern_territories": row["is_northern_territories"] == "1",
                "population_2020": _int_or_none(row["population_2020"]),
                "population_2015": _int_or_none(row["population_2015"]),
                "area_km2": _blank_to_none(row["area_km2"]),
                "pct_age_65_over_2020": _blank_to_none(row["pct_age_65_over_2020"]),
                "fiscal_strength_index": _blank_to_none(row["fiscal_strength_index"]),
                "fiscal_strength_index_fy": _int_or_none(row["fiscal_strength_index_fy"]),
                "kaso_type": _enum_or_none(KasoType, row["kaso_type_en"]),
                "kaso_partial_area": _blank_to_none(row["kaso_partial_area"]),
                "metro_area": _enum_or_none(MetroArea, row["metro_area"]),
            }
            for row in csv.DictReader(file)
        ]


def field_rows(path: Path = FIELDS_CSV) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as file:
        return [{**row, "sort_order": int(row["sort_order"])} for row in csv.DictReader(file)]


def _table_of(model: type[SQLModel]) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)  # a table=True model maps exactly one table
    return table


async def upsert(session: AsyncSession, model: type[SQLModel], key: str, rows: list[Row]) -> LoadResult:
    table = _table_of(model)
    result = LoadResult(table.name)
    existing = {getattr(r, key): r.model_dump() for r in (await session.exec(select(model))).all()}
    changed = []
    for row in rows:
        validated = model.model_validate(row).model_dump()  # refuse a malformed file before writing anything
        before = existing.get(row[key])
        if before is None:
            result.inserted += 1
        elif before != validated:
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        changed.append(validated)
    if changed:
        insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
        statement = insert(table)
        columns = {c: statement.excluded[c] for c in changed[0] if c != key}
        await session.exec(statement.on_conflict_do_update(index_elements=[key], set_=columns), params=changed)
    return result


async def load_reference_data(session: AsyncSession) -> list[LoadResult]:
    return [
        await upsert(session, Municipality, "code", municipality_rows()),
        await upsert(session, FieldOfWork, "code", field_rows()),
    ]
