"""The fast ranking of recommendations (the registry index's precomputed points, matches under way applied per
query, only the page put in order) against a plain one written here from the scoring's parts: on random
registries, both give the same candidates in the same order with the same parts, and the same total."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from common.eligibility import HostFacts
from common.models.matching import Market, PartyKind
from services.matching import scoring
from services.matching.recommendations import _candidate, rank_for_host, rank_for_partner
from services.matching.registry_index import HostIndex, Registry, RegistryIndex
from services.matching.scoring import HostView, PartnerView

FIELDS = ["tourism", "ict_digital", "local_economy", "local_products"]
PREFECTURES = ["01", "13", "16"]
FISCAL_YEAR = 2024
fields = st.frozensets(st.sampled_from(FIELDS))


@st.composite
def host_views(draw, code):
    facts = HostFacts(
        code=code,
        name=code,
        in_three_metro_area=draw(st.booleans()),
        has_disadvantaged_area=draw(st.booleans()),
    )
    return HostView(
        code=code,
        name=code,
        pref_code=draw(st.sampled_from(PREFECTURES)),
        facts=facts,
        fields=draw(fields),
        wished_partners=draw(st.frozensets(st.sampled_from([f"p{i}" for i in range(6)]))),
        capacity_left=draw(st.integers(-1, 2)),
    )


@st.composite
def partner_views(draw, ident, kind):
    return PartnerView(
        kind=kind,
        id=ident,
        name=ident,
        municipality_code=draw(st.sampled_from(["012092", "131016", "162051"])),
        pref_code=draw(st.sampled_from(PREFECTURES)),
        in_three_metro_area=draw(st.booleans()),
        fields=draw(fields),
        preferred_prefectures=draw(st.frozensets(st.sampled_from(PREFECTURES))),
        wished_municipalities=draw(st.frozensets(st.sampled_from(["012092", "131016", "162051"]))),
        experience=draw(st.integers(0, 12)),
        capacity_left=draw(st.integers(1, 2)),
        markets=frozenset({Market.kigyojin, Market.advisor}),
        dispatch_months=draw(st.none() | st.integers(1, 40)),
    )


@st.composite
def markets(draw):
    market = draw(st.sampled_from([Market.kigyojin, Market.advisor]))
    kind = PartyKind.adviser if market == Market.advisor else PartyKind.company
    partners = [draw(partner_views(f"p{i}", kind)) for i in range(draw(st.integers(0, 6)))]
    hosts = [draw(host_views(code)) for code in ["012092", "131016", "162051"][: draw(st.integers(1, 3))]]
    under_way = {p.id: draw(st.integers(0, 2)) for p in partners if draw(st.booleans())}
    index = RegistryIndex(market, (len(partners), None), partners)
    host_index = HostIndex(
        ((0, None), (0, None)),
        {host.code: host for host in hosts},
        {host.code: scoring.host_reasons(market, host) for host in hosts},
    )
    window = slice(draw(st.integers(0, 3)), None)
    window = slice(window.start, window.start + draw(st.integers(1, 4)))
    return market, Registry(index, under_way, host_index), window


def plain(market, pairs, window):
    """Every eligible pair scored from its parts and sorted; the (candidate, parts) of the page, and the total."""
    eligible = [
        (host, partner, candidate)
        for host, partner, candidate in pairs
        if not scoring.pair_reasons(market, host, partner, FISCAL_YEAR)
    ]
    eligible.sort(key=lambda pair: (-sum(scoring.score_parts(pair[0], pair[1]).values()), pair[2].party))
    return [(c.party, scoring.score_parts(h, p)) for h, p, c in eligible[window]], len(eligible)


def shown(ranked):
    return [(item["candidate"], item["score_parts"]) for item in map(_candidate, ranked.page)], ranked.total


@settings(max_examples=300, deadline=None)
@given(markets())
def test_a_municipalitys_ranking_is_the_plain_one(drawn):
    market, found, window = drawn
    for host in found.hosts.by_code.values():
        partners = [
            replace(p, capacity_left=p.capacity_left - found.under_way.get(p.id, 0)) for p in found.index.partners
        ]
        expected = plain(market, [(host, p, p) for p in partners], window)
        assert shown(rank_for_host(market, host, found, FISCAL_YEAR, window, explain=False)) == expected


@settings(max_examples=300, deadline=None)
@given(markets())
def test_a_partners_ranking_is_the_plain_one(drawn):
    market, found, window = drawn
    for partner in found.index.partners:
        busy = found.partner(partner.id)
        assert busy is not None and busy.capacity_left == partner.capacity_left - found.under_way.get(partner.id, 0)
        expected = plain(market, [(host, busy, host) for host in found.hosts.by_code.values()], window)
        assert shown(rank_for_partner(market, busy, found, FISCAL_YEAR, window, explain=False)) == expected
