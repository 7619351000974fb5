"""Point-issuance tables. Providers are the payment services (決済事業者) points are issued through."""

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from common.timeutil import utcnow


class ProviderBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    webhook_url: str = Field(max_length=2048)


class Provider(ProviderBase, table=True):
    __tablename__ = "provider"
    id: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ProviderPublic(ProviderBase):
    id: str
    created_at: datetime
