"""Finder invariants over generated inputs (hypothesis): an eligible program's amount is the single calculation's,
and max_amount is never below the amount any completion of the given inputs reaches."""

from fractions import Fraction
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from services.subsidy.calculators import CALCULATORS
from services.subsidy.calculators.base import Attribute
from services.subsidy.finder import find_one
from services.subsidy.reference import MunicipalityFacts
from services.subsidy.rulebook import get_rulebook
from services.subsidy.service import compute

yen = st.integers(min_value=0, max_value=10**10)
flag = st.booleans()
quick = settings(max_examples=300, deadline=None)


def _municipality(fsi: Fraction | None, kaso: bool, metro: bool, prefecture: bool) -> MunicipalityFacts:
    attributes = {
        "fiscal_strength_index": Attribute(fsi, "test"),
        "kaso": Attribute(kaso, "test"),
        "in_three_metro_areas": Attribute(metro, "test"),
        "population": Attribute(60_000, "test"),
        "is_prefecture": Attribute(prefecture, "test"),
    }
    return MunicipalityFacts("999999", "test town", "town", MappingProxyType(attributes))


municipalities = st.builds(_municipality, st.none() | st.fractions(0, 2, max_denominator=100), flag, flag, flag)

COMPLETE_INPUTS = st.one_of(
    st.tuples(st.just("distributed_energy"), st.fixed_dictionaries({"plan_cost": yen, "highly_novel": flag})),
    st.tuples(
        st.just("decarbonization_experts"), st.fixed_dictionaries({"honoraria": yen, "travel": yen, "other": yen})
    ),
    st.tuples(
        st.just("advisor"),
        st.fixed_dictionaries(
            {
                "adviser_type": st.sampled_from(["private_expert", "municipal_staff"]),
                "cost": yen,
                "invitation_days": st.integers(0, 30),
                "adviser_lives_outside": flag,
                "in_teiju_jiritsuken": flag,
            }
        ),
    ),
    st.tuples(
        st.just("project_manager"),
        st.fixed_dictionaries(
            {
                "persons": st.lists(
                    st.fixed_dictionaries({"cost": yen, "moved_in": flag, "year_of_service": st.integers(1, 4)}),
                    min_size=1,
                    max_size=5,
                )
            }
        ),
    ),
    st.tuples(
        st.just("teiju_jiritsuken"),
        st.fixed_dictionaries(
            {"role": st.sampled_from(["central_city", "neighbour"]), "day_night_ratio": st.sampled_from(["0.9", "1.2"])}
        ),
    ),
    st.tuples(
        st.just("kaso_grants"),
        st.fixed_dictionaries(
            {
                "component": st.sampled_from(
                    ["network", "sustainable_development", "settlement_reorganization", "idle_facility"]
                ),
                "cost": yen,
                "with_specialists": flag,
                "with_ict": flag,
                "applicant": st.sampled_from(["municipality", "prefecture"]),
                "prefecture_rate": st.sampled_from(["6/10", "1/2"]),
            }
        ),
    ),
    st.tuples(
        st.just("furusato_workholi"), st.fixed_dictionaries({"cost": yen, "total_stay_days": st.integers(0, 999)})
    ),
    st.tuples(
        st.just("trial_satellite_office"),
        st.fixed_dictionaries({"cost": yen, "fiscal_correction": st.sampled_from(["1", "0.8", "1.5"])}),
    ),
    st.tuples(st.just("okoshi_obog_network"), st.fixed_dictionaries({"startup_cost": yen})),
)


@quick
@given(
    case=COMPLETE_INPUTS,
    municipality=municipalities,
    keep=st.lists(flag, min_size=8, max_size=8),
    year=st.sampled_from([2022, 2023]),
)
def test_max_amount_bounds_every_completion_and_amounts_match(case, municipality, keep, year):
    program_id, complete = case
    rulebook = get_rulebook()
    try:
        single = compute(rulebook, program_id, year, complete, {}, municipality, include_trace=False)
    except Exception:  # a completion the rules refuse (e.g. no 財政力指数) bounds nothing
        return
    reached = single["amount"]
    partial = {name: value for (name, value), kept in zip(complete.items(), keep, strict=False) if kept}
    item = find_one(rulebook, rulebook.programs[program_id], year, municipality, partial)
    required = {name for name, spec in CALCULATORS[program_id].inputs.model_fields.items() if spec.is_required()}
    if item["status"] == "eligible":  # the amount of the single calculation of the same inputs
        assert item["amount"] == compute(rulebook, program_id, year, partial, {}, municipality)["amount"]
        if partial == complete:
            assert item["amount"] == reached
    elif item["status"] == "needs_inputs" and "max_amount" in item:
        assert item["max_amount"] >= reached, (partial, item)
    elif item["status"] == "ineligible" and (not partial or not required <= partial.keys()):
        assert reached == 0, (partial, item)  # excluded by the attributes alone: no completion pays
