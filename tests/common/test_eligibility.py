import pytest

from common.eligibility import (
    HostFacts,
    advisor_invitation_reasons,
    advisor_pair_reasons,
    advisor_year_reasons,
    dispatch_period_reasons,
    host_municipality_reasons,
    kigyojin_pair_reasons,
    parameter,
)
from common.models import Municipality


def host(metro=False, disadvantaged=False, teiju=False, decline=False, code="012092"):
    return HostFacts(
        code=code,
        name="X町",
        in_three_metro_area=metro,
        has_disadvantaged_area=disadvantaged,
        in_teiju_jiritsuken=teiju,
        high_population_decline=decline,
    )


@pytest.mark.parametrize(
    "facts,eligible",
    [
        (host(metro=False), True),  # ① 三大都市圏外
        (host(metro=True), False),  # inside, nothing that admits it
        (host(metro=True, disadvantaged=True), True),  # ② 条件不利地域を有する
        (host(metro=True, teiju=True), True),  # ② 定住自立圏に取り組む
        (host(metro=True, decline=True), True),  # ② 人口減少率が高い
    ],
)
def test_host_municipality(facts, eligible):
    assert (host_municipality_reasons(facts) == []) is eligible


@pytest.mark.parametrize("months,ok", [(5, False), (6, True), (36, True), (37, False)])
def test_dispatch_period_bounds_6_months_to_3_years(months, ok):
    assert (dispatch_period_reasons(months, 2023) == []) is ok


def test_kigyojin_pair_lists_every_reason():
    reasons = kigyojin_pair_reasons(False, host(metro=True), 2023, dispatch_months=48)
    assert [r.code for r in reasons] == [
        "company_outside_three_metro_area",
        "host_in_three_metro_area",
        "dispatch_period_out_of_range",
    ]


def test_adviser_must_live_outside_the_host():
    assert [r.code for r in advisor_pair_reasons("012092", host(code="012092"))] == ["adviser_lives_in_host"]
    assert advisor_pair_reasons("131016", host(code="012092")) == []


def _limit(program, name):
    return parameter(program, name, 2023).value


@pytest.mark.parametrize("days,times,ok", [(10, 0, True), (9, 4, False), (0, 5, True), (9, 5, True)])
def test_advisor_invitations_10_days_or_5_times(days, times, ok):
    reasons = advisor_invitation_reasons(
        days, times, _limit("advisor", "min_invitation_days"), _limit("advisor", "min_invitation_times")
    )
    assert (reasons == []) is ok


@pytest.mark.parametrize("year,ok", [(1, True), (3, True), (4, False)])
def test_advisor_at_most_three_years(year, ok):
    assert (advisor_year_reasons(year, _limit("advisor", "max_years")) == []) is ok


def test_limits_are_read_from_the_subsidy_rules_with_their_citation():
    dispatch = parameter("kigyojin", "max_dispatch_months", 2022)
    assert (dispatch.value, dispatch.citation) == (36, "「地域活性化起業人」")
    with pytest.raises(LookupError):
        parameter("kigyojin", "min_dispatch_months", 2019)
    assert parameter("kigyojin", "min_dispatch_months", 2030).value == 6  # newest rules carried forward


async def test_reference_data_decides_metro_and_disadvantaged(session):
    chiyoda = HostFacts.from_municipality(await session.get(Municipality, "131016"))
    yubari = HostFacts.from_municipality(await session.get(Municipality, "012092"))
    assert (chiyoda.in_three_metro_area, chiyoda.has_disadvantaged_area) == (True, False)
    assert host_municipality_reasons(chiyoda) and not host_municipality_reasons(yubari)


def test_satellite_office_matching_is_for_companies_of_the_three_metro_areas():
    from common.eligibility import satellite_office_company_reasons

    assert satellite_office_company_reasons(True) == []
    assert [r.code for r in satellite_office_company_reasons(False)] == ["company_outside_three_metro_area"]
