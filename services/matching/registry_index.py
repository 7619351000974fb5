"""The registry of companies and advisers held in memory, one index per database and market, so that a
recommendation does not read and rebuild every row per query.

Each query reads the registry's stamp (row count and latest `updated_at`, one aggregate) in its own transaction,
and the index is rebuilt when the stamp moved, whichever process wrote the change. What changes per query, the
matches under way, is applied by the caller; what depends only on a partner and the fiscal year (its own
eligibility) is computed once per index and year.
"""

from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from common.eligibility import Reason
from common.models import Adviser, Company
from common.models.matching import Market, PartyKind
from services.matching import repository, scoring
from services.matching.parties import partner_kind, partners
from services.matching.scoring import PartnerView

Stamp = tuple[int, object]


@dataclass
class RegistryIndex:
    market: Market
    stamp: Stamp
    partners: list[PartnerView]  # capacity_left is the whole capacity: matches under way are not counted
    parties: list[str] = field(default_factory=list)  # each partner's party name, in the same order
    _reasons: dict[int, list[list[Reason]]] = field(default_factory=dict)
    _points: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parties = [partner.party for partner in self.partners]

    def partner_points(self, pref_code: str) -> list[int]:
        """Each partner's `scoring.partner_points` for a host in `pref_code`, in the order of `partners`."""
        if pref_code not in self._points:
            self._points[pref_code] = [scoring.partner_points(pref_code, partner) for partner in self.partners]
        return self._points[pref_code]

    def partner_reasons(self, fiscal_year: int) -> list[list[Reason]]:
        """Each partner's own eligibility reasons in `fiscal_year`, in the order of `partners`."""
        if fiscal_year not in self._reasons:
            self._reasons[fiscal_year] = [
                scoring.partner_reasons(self.market, partner, fiscal_year) for partner in self.partners
            ]
        return self._reasons[fiscal_year]


_INDEXES: dict[tuple[str, Market], RegistryIndex] = {}


def _database(session: AsyncSession) -> str:
    return str(session.get_bind().engine.url)


async def registry(session: AsyncSession, market: Market) -> RegistryIndex:
    model = Adviser if partner_kind(market) == PartyKind.adviser else Company
    stamp = await repository.registry_stamp(session, model)
    key = (_database(session), market)
    index = _INDEXES.get(key)
    if index is None or index.stamp != stamp:
        index = RegistryIndex(market, stamp, await partners(session, market, count_under_way=False))
        _INDEXES[key] = index
    return index
