"""The municipality reference data in memory: every calculation, finder and impact row, and the one-municipality
read, read it from here.

Loaded when the service starts, and checked again every REFRESH_SECONDS: when `chiiki data load` (in any process)
has changed the table, the new data replaces the old one whole. A request never waits for the database for it,
except the very first one of a process that could not load at start.
"""

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.codes import local_government_code_problem
from common.db import Database
from common.errors import NotFound, Unprocessable
from common.models import Municipality
from common.models.municipality import MunicipalityPublic
from services.subsidy.calculators.base import Attribute

log = logging.getLogger("chiiki.subsidy.reference")
REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class MunicipalityFacts:
    """What the rules read about a municipality, with where each value came from."""

    code: str
    name: str
    type: str
    attributes: Mapping[str, Attribute]


def facts_of(row: Municipality) -> MunicipalityFacts:
    source = f"reference:{row.code}"
    fsi_source = source + (f" (財政力指数 FY{row.fiscal_strength_index_fy})" if row.fiscal_strength_index_fy else "")
    fsi = row.fiscal_strength_index
    attributes = {
        "fiscal_strength_index": Attribute(Fraction(fsi) if fsi is not None else None, fsi_source),
        "kaso": Attribute(row.kaso_type is not None, source),
        "in_three_metro_areas": Attribute(row.metro_area is not None, source),
        "population": Attribute(row.population_2020, source + " (令和2年国勢調査)"),
        "is_prefecture": Attribute(row.type == "prefecture", source),
    }
    return MunicipalityFacts(row.code, row.name, row.type, MappingProxyType(attributes))


# Every column, since the one-municipality read answers them all: a change to any of them is a new snapshot.
COLUMNS = tuple(Municipality.model_fields)


def _fingerprint(rows: list[Municipality]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(tuple(getattr(row, column) for column in COLUMNS)).encode())
    return digest.hexdigest()


class ReferenceData:
    """One consistent snapshot of the table, by code, in code order."""

    def __init__(self, rows: list[Municipality]):
        self.fingerprint = _fingerprint(rows)
        self.by_code: Mapping[str, MunicipalityFacts] = MappingProxyType({row.code: facts_of(row) for row in rows})
        self._rows = {row.code: row for row in rows}
        self._public_json: dict[str, bytes] = {}

    def public_json(self, code: str) -> bytes | None:
        """The municipality as `GET /subsidy/municipalities/{code}` answers it (MunicipalityPublic, as JSON), or None
        for a code the snapshot does not hold. Made at the first read of each code, then kept with the snapshot."""
        if (found := self._public_json.get(code)) is not None:
            return found
        row = self._rows.get(code)
        if row is None:
            return None
        public = MunicipalityPublic.model_validate(row, from_attributes=True)
        found = self._public_json[code] = public.model_dump_json().encode()
        return found

    def __len__(self) -> int:
        return len(self.by_code)

    def find(self, code: str | None, *, field: str = "municipality_code") -> MunicipalityFacts | None:
        """The municipality of `code` (None for None); 422 for a malformed code, 404 for an unknown one."""
        if code is None:
            return None
        if problem := local_government_code_problem(code):
            raise Unprocessable(problem, field=field)
        found = self.by_code.get(code)
        if found is None:
            raise NotFound(f"no municipality with code {code} in the reference data", field=field)
        return found


async def read_reference(session: AsyncSession) -> ReferenceData:
    rows = (await session.exec(select(Municipality).order_by(Municipality.code))).all()
    return ReferenceData(list(rows))


class ReferenceStore:
    """Holds the current snapshot; `refresh` swaps in a new one only when the table changed."""

    def __init__(self) -> None:
        self._data: ReferenceData | None = None
        self._lock = asyncio.Lock()

    async def current(self, db: Database) -> ReferenceData:
        if self._data is None:
            async with self._lock:
                if self._data is None:
                    await self.refresh(db)
        assert self._data is not None
        return self._data

    async def refresh(self, db: Database) -> bool:
        """Read the table again; True when it had changed (or nothing was loaded yet)."""
        async with db.reader() as session:
            fresh = await read_reference(session)
        if self._data is not None and self._data.fingerprint == fresh.fingerprint:
            return False
        self._data = fresh
        log.info("municipality reference data loaded: %d rows", len(fresh))
        return True

    async def keep_fresh(self, db: Database, every: float = REFRESH_SECONDS) -> None:
        """Runs for the life of the process: a failed check (the database restarting) is retried next time."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh(db)
            except Exception:  # the next round tries again; the snapshot in memory stays valid meanwhile
                log.warning("could not check the municipality reference data", exc_info=True)
