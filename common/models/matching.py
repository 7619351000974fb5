"""Matching tables shared across the suite: the vocabulary of fields of work (分野)."""

from sqlmodel import Field, SQLModel


class FieldOfWorkBase(SQLModel):
    code: str = Field(primary_key=True, max_length=40, description="stable identifier, e.g. tourism")
    name_ja: str = Field(max_length=40)
    name_en: str = Field(max_length=80)
    sort_order: int = 0


class FieldOfWork(FieldOfWorkBase, table=True):
    __tablename__ = "field_of_work"


class FieldOfWorkPublic(FieldOfWorkBase):
    pass
