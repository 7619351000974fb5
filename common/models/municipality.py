"""The reference table of Japanese local governments (prefectures and municipalities)."""

from decimal import Decimal
from enum import StrEnum

from pydantic import computed_field
from sqlalchemy import String
from sqlmodel import Field, SQLModel


class KasoType(StrEnum):
    full = "full"  # 全部過疎
    partial = "partial"  # 一部過疎
    deemed = "deemed"  # みなし過疎


class MetroArea(StrEnum):
    tokyo = "tokyo"  # 首都圏
    nagoya = "nagoya"  # 中京圏
    osaka = "osaka"  # 近畿圏


class MunicipalityBase(SQLModel):
    code: str = Field(primary_key=True, min_length=6, max_length=6, description="全国地方公共団体コード (6 digits)")
    code5: str = Field(max_length=5)
    pref_code: str = Field(max_length=2, index=True)
    prefecture: str = Field(max_length=8)
    name: str = Field(max_length=32)
    name_kana: str | None = Field(default=None, max_length=64)
    name_en: str | None = Field(default=None, max_length=64)
    type: str = Field(max_length=16, description="prefecture, designated_city, city, special_ward, town or village")
    type_ja: str = Field(max_length=8)
    is_northern_territories: bool = False
    population_2020: int | None = Field(default=None, description="令和2年国勢調査")
    population_2015: int | None = None
    # Published decimals are kept as their printed text: exact, and the same on every database.
    area_km2: str | None = Field(default=None, max_length=16)
    pct_age_65_over_2020: str | None = Field(default=None, max_length=8)
    fiscal_strength_index: str | None = Field(default=None, max_length=10, description="財政力指数")
    fiscal_strength_index_fy: int | None = Field(default=None, description="fiscal year of 財政力指数")
    kaso_type: str | None = Field(default=None, sa_type=String(8), description="KasoType: 過疎 status on 2022-04-01")
    kaso_partial_area: str | None = Field(default=None, max_length=512)
    metro_area: str | None = Field(default=None, sa_type=String(8), description="MetroArea: 三大都市圏")


class Municipality(MunicipalityBase, table=True):
    __tablename__ = "municipality"


class MunicipalityPublic(SQLModel):
    code: str
    prefecture: str
    pref_code: str
    name: str
    name_kana: str | None
    name_en: str | None
    type: str
    type_ja: str
    population_2020: int | None
    population_2015: int | None
    area_km2: Decimal | None
    pct_age_65_over_2020: Decimal | None
    fiscal_strength_index: Decimal | None
    fiscal_strength_index_fy: int | None
    kaso_type: KasoType | None
    kaso_partial_area: str | None
    metro_area: MetroArea | None

    @computed_field  # type: ignore[prop-decorator]  # mypy can't type decorated properties; pydantic documents this
    @property
    def is_kaso(self) -> bool:
        return self.kaso_type is not None

    @computed_field  # type: ignore[prop-decorator]  # mypy can't type decorated properties; pydantic documents this
    @property
    def in_three_metro_area(self) -> bool:
        return self.metro_area is not None
