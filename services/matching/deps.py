"""The parameters and principals matching's routes share."""

from typing import Annotated

from fastapi import Depends, Path, Query

from common.auth import Principal, require_roles
from common.models import ApiKeyRole
from common.models.matching import Market
from common.pagination import PageParams, page_params

MunicipalityKey = Annotated[Principal, Depends(require_roles(ApiKeyRole.municipality))]
Code = Annotated[str, Path(description="全国地方公共団体コード, 6 digits")]
Pages = Annotated[PageParams, Depends(page_params)]
MarketFilter = Annotated[Market | None, Query(description="kigyojin, satellite_office or advisor")]
PrefectureFilter = Annotated[str | None, Query(pattern=r"^\d{2}$", description="prefecture code, e.g. 01")]
FieldFilter = Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="a field-of-work code")]
FiscalYear = Annotated[int | None, Query(ge=2022, le=2100, description="年度; default: the current one")]
