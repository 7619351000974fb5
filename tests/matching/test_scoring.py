"""Score invariants on random parties: bounded parts, a bounded total, and more overlap never scores less."""

from hypothesis import given
from hypothesis import strategies as st

from common.eligibility import HostFacts
from common.models.matching import PartyKind
from services.matching.scoring import HostView, PartnerView, score, score_parts

FIELDS = ["tourism", "ict_digital", "local_economy", "local_products", "town_centre"]
PARTS_MAX = {"field_overlap": 50, "region": 20, "capacity": 10, "experience": 10, "stated_preferences": 10}
field_sets = st.frozensets(st.sampled_from(FIELDS))
prefectures = st.sampled_from(["01", "13", "16", "27", "47"])


@st.composite
def hosts(draw):
    facts = HostFacts(code="012092", name="夕張市", in_three_metro_area=False, has_disadvantaged_area=True)
    return HostView(
        code="012092",
        name="夕張市",
        pref_code=draw(prefectures),
        facts=facts,
        fields=draw(field_sets),
        wished_partners=draw(st.frozensets(st.sampled_from(["co_a", "co_b"]))),
        capacity_left=draw(st.integers(-2, 3)),
    )


@st.composite
def partners(draw):
    return PartnerView(
        kind=PartyKind.company,
        id=draw(st.sampled_from(["co_a", "co_b"])),
        name="X",
        municipality_code="131016",
        pref_code="13",
        in_three_metro_area=True,
        fields=draw(field_sets),
        preferred_prefectures=draw(st.frozensets(prefectures)),
        wished_municipalities=draw(st.frozensets(st.sampled_from(["012092", "162051"]))),
        experience=draw(st.integers(0, 40)),
        capacity_left=draw(st.integers(-2, 3)),
        markets=frozenset({"kigyojin"}),
    )


@given(hosts(), partners())
def test_every_part_stays_within_its_points_and_the_total_within_100(host, partner):
    parts = score_parts(host, partner)
    assert parts.keys() == PARTS_MAX.keys()
    assert all(0 <= parts[name] <= PARTS_MAX[name] for name in parts)
    assert sum(parts.values()) <= 100


@given(hosts(), partners(), st.sampled_from(FIELDS))
def test_covering_one_more_of_the_municipalitys_fields_never_lowers_the_overlap(host, partner, field):
    wider = PartnerView(**{**partner.__dict__, "fields": partner.fields | {field}})
    assert score_parts(host, wider)["field_overlap"] >= score_parts(host, partner)["field_overlap"]


@given(hosts(), partners())
def test_full_coverage_scores_all_field_points(host, partner):
    covering = PartnerView(**{**partner.__dict__, "fields": partner.fields | host.fields})
    assert score_parts(host, covering)["field_overlap"] == (50 if host.fields else 0)


@given(hosts(), partners())
def test_the_ranking_score_is_the_sum_of_the_parts_shown(host, partner):
    assert score(host, partner) == sum(score_parts(host, partner).values())
