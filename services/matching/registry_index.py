"""The registry of companies and advisers, and the hosts of each market, held in memory per database and market,
so that a recommendation does not read and rebuild every row per query.

Each query reads three stamps in one statement, in its own transaction: the registry's (row count and latest
`updated_at`), the matches' (matches under way, latest `updated_at`) and the market's needs' (the same). The
partners are read again when the first moved, the matches under way when the second did, and the hosts (their
needs, the matches that use up their capacity, the adviser's years) when the second or third did, whichever
process wrote the change. What depends only on a partner and the fiscal year (its own eligibility) is computed
once per index and year, and what depends on a partner and the host's prefecture (region and experience points)
once per prefecture.
"""

from dataclasses import dataclass, field, replace

from sqlmodel.ext.asyncio.session import AsyncSession

from common.eligibility import Reason
from common.models import Adviser, Company
from common.models.matching import Market, PartyKind
from services.matching import repository, scoring
from services.matching.parties import hosts, partner_column, partner_kind, partners
from services.matching.repository import Stamp
from services.matching.scoring import HostView, PartnerView


@dataclass
class RegistryIndex:
    market: Market
    stamp: Stamp
    partners: list[PartnerView]  # capacity_left is the whole capacity: matches under way are not counted
    parties: list[str] = field(default_factory=list)  # each partner's party name, in the same order
    _reasons: dict[int, list[list[Reason]]] = field(default_factory=dict)
    _points: dict[str, list[int]] = field(default_factory=dict)

    by_id: dict[str, PartnerView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parties = [partner.party for partner in self.partners]
        self.by_id = {partner.id: partner for partner in self.partners}

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


@dataclass(frozen=True)
class UnderWay:
    """How many matches under way each partner has, as of the matches' stamp."""

    stamp: Stamp
    by_partner: dict[str, int]


@dataclass(frozen=True)
class HostIndex:
    """The municipalities with open needs in the market as of one fiscal year, by code, with their own
    eligibility reasons."""

    stamps: tuple[Stamp, Stamp]  # the needs', the matches'
    by_code: dict[str, HostView]
    reasons: dict[str, list[Reason]]


@dataclass(frozen=True)
class Registry:
    """What one query reads, all as of the query's transaction: the partners, their matches under way, and the
    market's hosts of the fiscal year."""

    index: RegistryIndex
    under_way: dict[str, int]
    hosts: HostIndex

    def partner(self, ident: str) -> PartnerView | None:
        """The partner with this id taking part in the market, its matches under way counted."""
        found = self.index.by_id.get(ident)
        if found is None or not (busy := self.under_way.get(ident)):
            return found
        return replace(found, capacity_left=found.capacity_left - busy)


_INDEXES: dict[tuple[str, Market], RegistryIndex] = {}
_UNDER_WAY: dict[tuple[str, Market], UnderWay] = {}
_HOSTS: dict[tuple[str, Market, int], HostIndex] = {}  # by database, market and fiscal year


def _database(session: AsyncSession) -> str:
    return str(session.get_bind().engine.url)


async def registry(session: AsyncSession, market: Market, fiscal_year: int) -> Registry:
    model = Adviser if partner_kind(market) == PartyKind.adviser else Company
    stamps = await repository.stamps(session, model, market)
    key = (_database(session), market)
    index = _INDEXES.get(key)
    if index is None or index.stamp != stamps.registry:
        index = RegistryIndex(market, stamps.registry, await partners(session, market, count_under_way=False))
        _INDEXES[key] = index
    under_way = _UNDER_WAY.get(key)
    if under_way is None or under_way.stamp != stamps.matches:
        under_way = UnderWay(stamps.matches, await repository.matches_under_way(session, partner_column(market)))
        _UNDER_WAY[key] = under_way
    host_index = _HOSTS.get((*key, fiscal_year))
    if host_index is None or host_index.stamps != (stamps.needs, stamps.matches):
        found = await hosts(session, market, fiscal_year=fiscal_year)
        host_index = HostIndex(
            (stamps.needs, stamps.matches),
            {host.code: host for host in found},
            {host.code: scoring.host_reasons(market, host) for host in found},
        )
        _HOSTS[(*key, fiscal_year)] = host_index
    return Registry(index, under_way.by_partner, host_index)
