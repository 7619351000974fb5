"""Worked cases for every program. Each expected figure is worked out by hand from subsidy-rules.md in the comment
next to it; none is produced by the code under test."""

import pytest

from common.errors import ChiikiError
from tests.subsidy.conftest import calc

L10K = {
    "initial_investment": 40_000_000,
    "municipal_grant": 10_000_000,
    "loan_amount": 20_000_000,
    "own_funds": 10_000_000,
    "lender_type": "regional_bank",
    "disadvantaged_area": False,
}
ODD = {
    "initial_investment": 20_000_002,
    "municipal_grant": 10_000_001,
    "loan_amount": 10_000_001,
    "own_funds": 0,
    "lender_type": "shinkin_bank",
    "disadvantaged_area": True,
}
AREA_OK = {"in_three_metro_areas": False}

CASES = [
    # --- local10000 -------------------------------------------------------------------------------------------
    # rate 1/2: national 10,000,000 × 1/2 = 5,000,000; rest 5,000,000; SAT 2,500,000; net 2,500,000; amount 7.5M
    (
        "local10000",
        2023,
        L10K,
        7_500_000,
        {"rate": "1/2", "national_share": 5_000_000, "special_allocation_tax": 2_500_000, "municipal_net": 2_500_000},
    ),
    # digital → 10/10: national 10,000,000, nothing remains
    (
        "local10000",
        2023,
        {**L10K, "digital": True},
        10_000_000,
        {"rate": "1", "national_share": 10_000_000, "special_allocation_tax": 0, "municipal_net": 0},
    ),
    # 財政力指数 exactly 0.25 is not < 0.25 but < 0.5 → 2/3: floor(10,000,001 × 2/3) = floor(6,666,667.33)
    # = 6,666,667; rest 3,333,334; SAT 1,666,667; net 1,666,667; amount 8,333,334
    (
        "local10000",
        2023,
        {**ODD, "fiscal_strength_index": "0.25"},
        8_333_334,
        {"rate": "2/3", "national_share": 6_666_667, "special_allocation_tax": 1_666_667, "municipal_net": 1_666_667},
    ),
    # 0.2499 < 0.25 → 3/4: floor(7,500,000.75) = 7,500,000; rest 2,500,001; SAT floor(1,250,000.5) = 1,250,000;
    # net 1,250,001; amount 8,750,000
    (
        "local10000",
        2023,
        {**ODD, "fiscal_strength_index": "0.2499"},
        8_750_000,
        {"rate": "3/4", "national_share": 7_500_000, "special_allocation_tax": 1_250_000, "municipal_net": 1_250_001},
    ),
    # exactly 0.5 is not < 0.5 → default 1/2: floor(5,000,000.5) = 5,000,000; rest 5,000,001; SAT 2,500,000;
    # net 2,500,001
    (
        "local10000",
        2023,
        {**ODD, "fiscal_strength_index": "0.5"},
        7_500_000,
        {"rate": "1/2", "national_share": 5_000_000, "special_allocation_tax": 2_500_000, "municipal_net": 2_500_001},
    ),
    # decarbonization 3/4 beats the 2/3 of 財政力指数 0.3: 7,500,000 + SAT 1,250,000
    (
        "local10000",
        2023,
        {**L10K, "decarbonization": True, "disadvantaged_area": True, "fiscal_strength_index": "0.3"},
        8_750_000,
        {"rate": "3/4", "municipal_net": 1_250_000},
    ),
    # grant exactly half of the investment (6M of 12M) is allowed: 3,000,000 + 1,500,000
    (
        "local10000",
        2023,
        {
            **L10K,
            "initial_investment": 12_000_000,
            "municipal_grant": 6_000_000,
            "loan_amount": 6_000_000,
            "own_funds": 0,
        },
        4_500_000,
        {"national_share": 3_000_000},
    ),
    # 日本政策金融公庫 is a lender from FY2023: same figures as the first case
    ("local10000", 2023, {**L10K, "lender_type": "jfc"}, 7_500_000, {"national_share": 5_000_000}),
    # --- distributed_energy ------------------------------------------------------------------------------------
    # highly novel 10/10 on the cap: min(25M, 20M) = 20,000,000
    (
        "distributed_energy",
        2023,
        {"plan_cost": 25_000_000, "highly_novel": True},
        20_000_000,
        {"rate": "1", "eligible_cost": 20_000_000},
    ),
    # 0.25 → 2/3; cost exactly the cap: floor(20,000,000 × 2/3) = floor(13,333,333.3) = 13,333,333
    (
        "distributed_energy",
        2023,
        {"plan_cost": 20_000_000, "fiscal_strength_index": "0.25"},
        13_333_333,
        {"rate": "2/3", "eligible_cost": 20_000_000},
    ),
    # 0.2 → 3/4: floor(10,000,001 × 3/4) = floor(7,500,000.75) = 7,500,000
    ("distributed_energy", 2022, {"plan_cost": 10_000_001, "fiscal_strength_index": "0.2"}, 7_500_000, {"rate": "3/4"}),
    # 0.5 → 1/2; cost one yen over the cap: min(20,000,001, 20,000,000) × 1/2 = 10,000,000
    (
        "distributed_energy",
        2023,
        {"plan_cost": 20_000_001, "fiscal_strength_index": "0.5"},
        10_000_000,
        {"rate": "1/2", "eligible_cost": 20_000_000},
    ),
    # 0.49 → 2/3: floor(3 × 2/3) = 2
    ("distributed_energy", 2023, {"plan_cost": 3, "fiscal_strength_index": "0.49"}, 2, {"subsidy": 2}),
    # --- decarbonization_experts -------------------------------------------------------------------------------
    # 300,000 + 200,000 + 100,000 = 600,000 × 1/2 = 300,000
    (
        "decarbonization_experts",
        2023,
        {"honoraria": 300_000, "travel": 200_000, "other": 100_000},
        300_000,
        {"eligible_cost": 600_000},
    ),
    # exactly the cap: 1,000,000 × 1/2 = 500,000
    (
        "decarbonization_experts",
        2023,
        {"honoraria": 500_000, "travel": 300_000, "other": 200_000},
        500_000,
        {"eligible_cost": 1_000_000},
    ),
    # 1,000,001 capped to 1,000,000 → 500,000
    ("decarbonization_experts", 2022, {"honoraria": 1_000_001}, 500_000, {"eligible_cost": 1_000_000}),
    # floor(333,333 / 2) = floor(166,666.5) = 166,666
    ("decarbonization_experts", 2023, {"travel": 333_333}, 166_666, {"subsidy": 166_666}),
    ("decarbonization_experts", 2023, {}, 0, {"eligible_cost": 0}),
    # --- chiiki_okoshi -----------------------------------------------------------------------------------------
    # recruitment cap 3,000,000 in FY2023
    ("chiiki_okoshi", 2023, {"recruitment_cost": 3_500_000}, 3_000_000, {"recruitment": 3_000_000}),
    # ... and 2,000,000 in FY2022
    ("chiiki_okoshi", 2022, {"recruitment_cost": 3_500_000}, 2_000_000, {"recruitment": 2_000_000}),
    # reward min(3,000,000, 2,800,000) + other 1,500,000 = 4,300,000 (under the 4,800,000 member cap)
    (
        "chiiki_okoshi",
        2023,
        {"members": [{"reward_cost": 3_000_000, "other_cost": 1_500_000}]},
        4_300_000,
        {"activity": 4_300_000},
    ),
    # flex: 3,300,000 + 2,000,000 = 5,300,000 → member total cap 4,800,000
    (
        "chiiki_okoshi",
        2023,
        {"members": [{"reward_cost": 3_300_000, "other_cost": 2_000_000, "reward_flex": True}]},
        4_800_000,
        {"activity": 4_800_000},
    ),
    # daily support, new in FY2023: min(2,500,000, 2,000,000)
    ("chiiki_okoshi", 2023, {"support_cost": 2_500_000}, 2_000_000, {"support": 2_000_000}),
    # start-up in the 2nd service year is inside the FY2023 window: min(1,200,000, 1,000,000)
    ("chiiki_okoshi", 2023, {"startups": [{"cost": 1_200_000, "service_year": 2}]}, 1_000_000, {"startup": 1_000_000}),
    # FY2022 window includes the first year after the term: 800,000
    ("chiiki_okoshi", 2022, {"startups": [{"cost": 800_000, "years_after_term": 1}]}, 800_000, {"startup": 800_000}),
    # FY2022 "最終年次及び任期終了後１年": the final year of a 2-year term counts: min(1,200,000, 1,000,000)
    (
        "chiiki_okoshi",
        2022,
        {"startups": [{"cost": 1_200_000, "service_year": 2, "term_years": 2}]},
        1_000_000,
        {"startup": 1_000_000},
    ),
    # ... and the only year of a 1-year term: 700,000 (under the cap)
    (
        "chiiki_okoshi",
        2022,
        {"startups": [{"cost": 700_000, "service_year": 1, "term_years": 1}]},
        700_000,
        {"startup": 700_000},
    ),
    # FY2023 "任期２年目から": the 2nd year of a 2-year term counts: 1,000,000
    (
        "chiiki_okoshi",
        2023,
        {"startups": [{"cost": 1_000_000, "service_year": 2, "term_years": 2}]},
        1_000_000,
        {"startup": 1_000_000},
    ),
    # --- okoshi_obog_network (国費, R元～, 1団体当たり100万円上限) ---------------------------------------------------
    # FY2019 (令和元年度), a prefecture: min(1,200,000, 1,000,000)
    (
        "okoshi_obog_network",
        2019,
        {"startup_cost": 1_200_000, "is_prefecture": True},
        1_000_000,
        {"allowance": 1_000_000},
    ),
    # FY2023: 800,000 under the cap
    ("okoshi_obog_network", 2023, {"startup_cost": 800_000, "is_prefecture": True}, 800_000, {"allowance": 800_000}),
    # intern: min(1,200,000, 1,000,000) + min(500,000, 12,000 × 30 = 360,000) = 1,360,000; trial 900,000;
    # vacant house floor(1,000,001 / 2) = 500,000; total 2,760,000
    (
        "chiiki_okoshi",
        2023,
        {
            "intern_program_cost": 1_200_000,
            "intern_activity_cost": 500_000,
            "intern_person_days": 30,
            "trial_cost": 900_000,
            "vacant_house_cost": 1_000_001,
        },
        2_760_000,
        {"intern": 1_360_000, "trial": 900_000, "vacant_house": 500_000, "total": 2_760_000},
    ),
    # --- iju_teiju ---------------------------------------------------------------------------------------------
    # 1,000,000 × 1/2 × 1 = 500,000
    ("iju_teiju", 2023, {"measures_cost": 1_000_000}, 500_000, {"measures": 500_000}),
    # 1,000,001 × 1/2 × 4/5 = 400,000.4 → 400,000
    ("iju_teiju", 2023, {"measures_cost": 1_000_001, "fiscal_correction": "0.8"}, 400_000, {"measures": 400_000}),
    # coordinators: min(4,000,000, 3,500,000) + concurrent min(500,000, 400,000) = 3,900,000
    (
        "iju_teiju",
        2022,
        {"coordinators": [{"cost": 4_000_000}, {"cost": 500_000, "concurrent": True}]},
        3_900_000,
        {"coordinators": 3_900_000, "measures": 0},
    ),
    # exactly the cap
    ("iju_teiju", 2023, {"coordinators": [{"cost": 3_500_000}]}, 3_500_000, {"coordinators": 3_500_000}),
    # 999 × 1/2 × 6/5 = 599.4 → 599
    ("iju_teiju", 2023, {"measures_cost": 999, "fiscal_correction": "6/5"}, 599, {"total": 599}),
    # --- furusato_workholi -------------------------------------------------------------------------------------
    # cap 15,000,000 + 0 → allowance 10,000,000
    ("furusato_workholi", 2023, {"cost": 10_000_000, "total_stay_days": 0}, 10_000_000, {"cap": 15_000_000}),
    # cap 15,000,000 + 5,000 × 1,000 = 20,000,000, exactly the cost
    ("furusato_workholi", 2023, {"cost": 20_000_000, "total_stay_days": 1000}, 20_000_000, {"cap": 20_000_000}),
    # one yen over the cap
    ("furusato_workholi", 2022, {"cost": 20_000_001, "total_stay_days": 1000}, 20_000_000, {"allowance": 20_000_000}),
    # cap 15,005,000 for 1 day
    ("furusato_workholi", 2023, {"cost": 16_000_000, "total_stay_days": 1}, 15_005_000, {"cap": 15_005_000}),
    ("furusato_workholi", 2023, {"cost": 0, "total_stay_days": 3}, 0, {"cap": 15_015_000}),
    # --- trial_satellite_office --------------------------------------------------------------------------------
    # 8,000,000 × 1/2 = 4,000,000
    ("trial_satellite_office", 2023, {"cost": 8_000_000}, 4_000_000, {"eligible_cost": 8_000_000}),
    # 12,000,000 − hardware 2,000,000 = 10,000,000, exactly the cap → 5,000,000
    (
        "trial_satellite_office",
        2023,
        {"cost": 12_000_000, "hardware_cost": 2_000_000},
        5_000_000,
        {"eligible_cost": 10_000_000},
    ),
    # 11,000,000 over the cap → 10,000,000 → 5,000,000
    (
        "trial_satellite_office",
        2022,
        {"cost": 12_000_000, "hardware_cost": 1_000_000},
        5_000_000,
        {"eligible_cost": 10_000_000},
    ),
    # 3,000,001 × 1/2 × 9/10 = 1,350,000.45 → 1,350,000
    ("trial_satellite_office", 2023, {"cost": 3_000_001, "fiscal_correction": "0.9"}, 1_350_000, {}),
    ("trial_satellite_office", 2023, {"cost": 5, "hardware_cost": 5}, 0, {"eligible_cost": 0}),
    # --- kigyojin ----------------------------------------------------------------------------------------------
    # acceptance min(6,000,000, 5,600,000) = 5,600,000; proposal floor(min(2,000,000, 1,000,000) × 1/2) = 500,000;
    # preparation floor(min(1,500,000, 1,000,000) × 1/2) = 500,000; total 6,600,000
    (
        "kigyojin",
        2023,
        {
            **AREA_OK,
            "company_in_three_metro_areas": True,
            "preparation_cost": 1_500_000,
            "persons": [{"acceptance_cost": 6_000_000, "proposal_cost": 2_000_000, "dispatch_months": 12}],
        },
        6_600_000,
        {"acceptance": 5_600_000, "proposal": 500_000, "preparation": 500_000},
    ),
    # caps exactly hit / odd: 5,600,000 + floor(999,999 / 2) = 499,999 + floor(1 / 2) = 0 → 6,099,999
    (
        "kigyojin",
        2023,
        {
            **AREA_OK,
            "company_in_three_metro_areas": True,
            "preparation_cost": 1,
            "persons": [{"acceptance_cost": 5_600_000, "proposal_cost": 999_999, "dispatch_months": 36}],
        },
        6_099_999,
        {"proposal": 499_999, "preparation": 0},
    ),
    # inside the 三大都市圏 but in a 定住自立圏: eligible; 6-month boundary accepted
    (
        "kigyojin",
        2022,
        {
            "in_three_metro_areas": True,
            "in_teiju_jiritsuken": True,
            "company_in_three_metro_areas": True,
            "persons": [{"acceptance_cost": 1_000_000, "dispatch_months": 6}],
        },
        1_000_000,
        {"acceptance": 1_000_000},
    ),
    # the 37-month person does not count; the 6-month one does: 1,000,000
    (
        "kigyojin",
        2023,
        {
            **AREA_OK,
            "company_in_three_metro_areas": True,
            "persons": [
                {"acceptance_cost": 1_000_000, "dispatch_months": 6},
                {"acceptance_cost": 1_000_000, "dispatch_months": 37},
            ],
        },
        1_000_000,
        {"acceptance": 1_000_000},
    ),
    # --- advisor -----------------------------------------------------------------------------------------------
    # private expert min(6,000,000, 5,600,000)
    (
        "advisor",
        2023,
        {
            **AREA_OK,
            "adviser_type": "private_expert",
            "cost": 6_000_000,
            "invitation_days": 10,
            "adviser_lives_outside": True,
        },
        5_600_000,
        {"cap": 5_600_000},
    ),
    # advanced-municipality staff exactly the cap, 5 times is enough, year 3 still allowed
    (
        "advisor",
        2023,
        {
            **AREA_OK,
            "adviser_type": "municipal_staff",
            "cost": 2_400_000,
            "invitation_times": 5,
            "adviser_lives_outside": True,
            "year_of_use": 3,
        },
        2_400_000,
        {"cap": 2_400_000},
    ),
    # inside the 三大都市圏 with a high rate of population decline: eligible; 1,000,000 under the cap
    (
        "advisor",
        2022,
        {
            "in_three_metro_areas": True,
            "high_population_decline": True,
            "adviser_type": "private_expert",
            "cost": 1_000_000,
            "invitation_days": 12,
            "adviser_lives_outside": True,
        },
        1_000_000,
        {},
    ),
    # --- project_manager ---------------------------------------------------------------------------------------
    # min(7,000,000, 6,500,000)
    (
        "project_manager",
        2023,
        {"persons": [{"cost": 7_000_000, "moved_in": True}]},
        6_500_000,
        {"per_person": [6_500_000]},
    ),
    # exactly the cap, local ex-協力隊 exception
    (
        "project_manager",
        2023,
        {"persons": [{"cost": 6_500_000, "local_exception": True, "year_of_service": 3}]},
        6_500_000,
        {"total": 6_500_000},
    ),
    # three eligible persons: only the first two count → 1,000,000 + 1,000,000
    (
        "project_manager",
        2022,
        {"persons": [{"cost": 1_000_000, "moved_in": True}] * 3},
        2_000_000,
        {"per_person": [1_000_000, 1_000_000, 0]},
    ),
    # the first person did not move in, so the next two are "the first two eligible"
    (
        "project_manager",
        2023,
        {"persons": [{"cost": 9}, {"cost": 1_000_000, "moved_in": True}, {"cost": 2_000_000, "moved_in": True}]},
        3_000_000,
        {"per_person": [0, 1_000_000, 2_000_000]},
    ),
    # --- teiju_jiritsuken --------------------------------------------------------------------------------------
    ("teiju_jiritsuken", 2023, {"role": "neighbour"}, 18_000_000, {"allowance": 18_000_000}),
    # population exactly 50,000, ratio exactly 1, outside the 三大都市圏
    (
        "teiju_jiritsuken",
        2022,
        {"role": "central_city", "population": 50_000, "day_night_ratio": "1.00", **AREA_OK},
        85_000_000,
        {"allowance": 85_000_000},
    ),
    # --- kaso_bond: see also test_kaso_bond_schedules ------------------------------------------------------------
    # level_principal, 10,000,000 at 1% over 5 years with 1 grace year: 交付税算入 70,000 + 1,820,000 + 1,802,500
    # + 1,785,000 + 1,767,500 = 7,245,000 (worked in test_kaso_bond_schedules)
    (
        "kaso_bond",
        2023,
        {
            "project_cost": 10_000_000,
            "category": "ict",
            "annual_interest_rate": "0.01",
            "term_years": 5,
            "grace_years": 1,
            "method": "level_principal",
            "kaso": True,
        },
        7_245_000,
        {"bond_amount": 10_000_000, "total_debt_service": 10_350_000, "total_municipal_net": 3_105_000},
    ),
    # --- teiju_kasseika_bond (地域活性化事業債: 充当率90%, 交付税算入率30%) ----------------------------------------
    # bond floor(10,000,001 × 9/10) = 9,000,000; 5 years with 1 grace year, level principal 9,000,000 // 4 =
    # 2,250,000 at 1%: interest 90,000 / 90,000 / 67,500 / 45,000 / 22,500; debt service 90,000 + 2,340,000 +
    # 2,317,500 + 2,295,000 + 2,272,500 = 9,315,000; inclusion 3/10 of each: 27,000 + 702,000 + 695,250 +
    # 688,500 + 681,750 = 2,794,500; municipal net 9,315,000 − 2,794,500 = 6,520,500
    (
        "teiju_kasseika_bond",
        2023,
        {
            "project_cost": 10_000_001,
            "category": "medical_welfare",
            "annual_interest_rate": "0.01",
            "term_years": 5,
            "grace_years": 1,
            "method": "level_principal",
            "in_teiju_jiritsuken": True,
        },
        2_794_500,
        {"bond_amount": 9_000_000, "total_debt_service": 9_315_000, "total_municipal_net": 6_520_500},
    ),
    # no interest, level payment over 3 years: bond 9/10 × 3,000,000 = 2,700,000, 900,000 a year,
    # inclusion floor(900,000 × 3/10) = 270,000 a year → 810,000
    (
        "teiju_kasseika_bond",
        2022,
        {
            "project_cost": 3_000_000,
            "category": "public_transport",
            "annual_interest_rate": "0",
            "term_years": 3,
            "method": "level_payment",
            "in_teiju_jiritsuken": True,
        },
        810_000,
        {"bond_amount": 2_700_000, "total_debt_service": 2_700_000, "total_municipal_net": 1_890_000},
    ),
    # --- kaso_grants -------------------------------------------------------------------------------------------
    # network: min(20,000,000, 15,000,000)
    ("kaso_grants", 2023, {"component": "network", "cost": 20_000_000}, 15_000_000, {"cap": 15_000_000}),
    # with both: cap 15,000,000 + 15,000,000 = 30,000,000, exactly hit
    (
        "kaso_grants",
        2023,
        {"component": "network", "cost": 30_000_000, "with_specialists": True, "with_ict": True},
        30_000_000,
        {"cap": 30_000_000},
    ),
    # with specialists: cap 20,000,000
    (
        "kaso_grants",
        2022,
        {"component": "network", "cost": 25_000_000, "with_specialists": True},
        20_000_000,
        {"cap": 20_000_000},
    ),
    # with ICT: cap 25,000,000
    (
        "kaso_grants",
        2023,
        {"component": "network", "cost": 25_000_000, "with_ict": True},
        25_000_000,
        {"cap": 25_000_000},
    ),
    # municipality, fixed amount: min(25,000,000, 20,000,000)
    (
        "kaso_grants",
        2023,
        {"component": "sustainable_development", "cost": 25_000_000, "kaso": True},
        20_000_000,
        {"grant": 20_000_000},
    ),
    # prefecture 6/10 of the capped 20,000,000 = 12,000,000
    (
        "kaso_grants",
        2023,
        {
            "component": "sustainable_development",
            "cost": 25_000_000,
            "applicant": "prefecture",
            "prefecture_rate": "6/10",
        },
        12_000_000,
        {"grant": 12_000_000},
    ),
    # prefecture 1/2 of 20,000,000
    (
        "kaso_grants",
        2023,
        {
            "component": "sustainable_development",
            "cost": 20_000_000,
            "applicant": "prefecture",
            "prefecture_rate": "1/2",
        },
        10_000_000,
        {},
    ),
    # floor(1,000,001 / 2) = 500,000
    (
        "kaso_grants",
        2023,
        {"component": "settlement_reorganization", "cost": 1_000_001, "kaso": True},
        500_000,
        {"cap": None},
    ),
    # floor(1,000,000 / 3) = 333,333
    ("kaso_grants", 2023, {"component": "idle_facility", "cost": 1_000_000, "kaso": True}, 333_333, {"grant": 333_333}),
    # a prefecture keeps its rate whatever its own 過疎 status: floor(1,000,001 / 2) = 500,000
    (
        "kaso_grants",
        2023,
        {"component": "settlement_reorganization", "cost": 1_000_001, "applicant": "prefecture", "kaso": False},
        500_000,
        {"grant": 500_000},
    ),
    # the network component is not limited to 過疎市町村 (過疎地域等): min(20,000,000, 15,000,000)
    ("kaso_grants", 2023, {"component": "network", "cost": 20_000_000, "kaso": False}, 15_000_000, {}),
    # --- tokutei_kumiai ----------------------------------------------------------------------------------------
    # 8,000,000: 4,000,000 / 2,000,000 / 1,000,000 / 1,000,000; amount 3,000,000
    (
        "tokutei_kumiai",
        2023,
        {"operating_cost": 8_000_000},
        3_000_000,
        {
            "user_fees": 4_000_000,
            "national_grant": 2_000_000,
            "special_allocation_tax": 1_000_000,
            "municipal_net": 1_000_000,
        },
    ),
    # 10,000,003: floor(5,000,001.5) = 5,000,001; floor(2,500,000.75) = 2,500,000; floor(1,250,000.375) = 1,250,000;
    # municipal net 10,000,003 − 8,750,001 = 1,250,002
    (
        "tokutei_kumiai",
        2023,
        {"operating_cost": 10_000_003},
        3_750_000,
        {
            "user_fees": 5_000_001,
            "national_grant": 2_500_000,
            "special_allocation_tax": 1_250_000,
            "municipal_net": 1_250_002,
        },
    ),
    # 7: 3 / 1 / 0 / remainder 3
    (
        "tokutei_kumiai",
        2022,
        {"operating_cost": 7},
        1,
        {"user_fees": 3, "national_grant": 1, "special_allocation_tax": 0, "municipal_net": 3},
    ),
    ("tokutei_kumiai", 2023, {"operating_cost": 1}, 0, {"user_fees": 0, "municipal_net": 1}),
    ("tokutei_kumiai", 2023, {"operating_cost": 0}, 0, {"municipal_net": 0}),
    # --- digital_talent ----------------------------------------------------------------------------------------
    # CIO補佐官等 0.7 from FY2023: floor(1,000,001 × 7/10) = floor(700,000.7) = 700,000
    ("digital_talent", 2023, {"cost": 1_000_001, "kind": "cio_adviser"}, 700_000, {"rate": "7/10"}),
    # 0.5 in FY2022: floor(500,000.5) = 500,000
    ("digital_talent", 2022, {"cost": 1_000_001, "kind": "cio_adviser"}, 500_000, {"rate": "1/2"}),
    # FY2025, the last year of the measure: floor(10 × 7/10) = 7
    ("digital_talent", 2025, {"cost": 10, "kind": "dx_leader_training"}, 7, {"allowance": 7}),
    ("digital_talent", 2024, {"cost": 3, "kind": "prefecture_support_staff"}, 2, {"allowance": 2}),
    # --- jichitai_mynapoint_system -----------------------------------------------------------------------------
    ("jichitai_mynapoint_system", 2023, {"cost": 1_000_001}, 500_000, {"subsidy": 500_000}),
    ("jichitai_mynapoint_system", 2023, {"cost": 2_000_000, "applicant": "provider"}, 1_000_000, {}),
    ("jichitai_mynapoint_system", 2023, {"cost": 1}, 0, {"subsidy": 0}),
    ("jichitai_mynapoint_system", 2022, {"cost": 3}, 1, {"subsidy": 1}),
    ("jichitai_mynapoint_system", 2023, {"cost": 0}, 0, {}),
]


@pytest.mark.parametrize(
    ("program", "fiscal_year", "inputs", "amount", "breakdown"), CASES, ids=[f"{c[0]}-{n}" for n, c in enumerate(CASES)]
)
def test_worked_case(program, fiscal_year, inputs, amount, breakdown):
    result = calc(program, inputs, fiscal_year)
    assert result["eligible"] is True, result["reasons"]
    assert result["amount"] == amount
    assert {key: result["breakdown"][key] for key in breakdown} == breakdown


INELIGIBLE = [
    # local10000: loan 5,000,000 is below the 10,000,000 grant
    ("local10000", 2023, {**L10K, "loan_amount": 5_000_000, "own_funds": 25_000_000}, "loan_below_grant"),
    ("local10000", 2023, {**L10K, "own_funds": 0}, "funding_does_not_add_up"),
    (
        "local10000",
        2023,
        {**L10K, "initial_investment": 11_000_000, "loan_amount": 1_000_000, "own_funds": 0},
        "grant_above_half",
    ),
    ("chiiki_okoshi", 2022, {"support_cost": 2_500_000}, "support_not_in_force"),
    # FY2022 window starts in the final (3rd) service year
    ("chiiki_okoshi", 2022, {"startups": [{"cost": 1_200_000, "service_year": 2}]}, "startup_outside_window"),
    ("chiiki_okoshi", 2023, {"startups": [{"cost": 1_200_000, "years_after_term": 2}]}, "startup_outside_window"),
    ("chiiki_okoshi", 2023, {"startups": [{"cost": 1_200_000, "service_year": 1}]}, "startup_outside_window"),
    # FY2023 excludes 任期１年目 even when it is the final year of a 1-year term
    (
        "chiiki_okoshi",
        2023,
        {"startups": [{"cost": 700_000, "service_year": 1, "term_years": 1}]},
        "startup_outside_window",
    ),
    ("okoshi_obog_network", 2023, {"startup_cost": 800_000, "is_prefecture": False}, "not_a_prefecture"),
    (
        "teiju_kasseika_bond",
        2023,
        {
            "project_cost": 1_000_000,
            "category": "industry",
            "annual_interest_rate": "0",
            "term_years": 2,
            "method": "level_payment",
        },
        "not_in_teiju_jiritsuken",
    ),
    # 集落再編, 遊休施設再活用 and 持続的発展支援 go to 過疎市町村 only
    ("kaso_grants", 2023, {"component": "settlement_reorganization", "cost": 1_000_000, "kaso": False}, "not_kaso"),
    ("kaso_grants", 2023, {"component": "idle_facility", "cost": 1_000_000, "kaso": False}, "not_kaso"),
    ("kaso_grants", 2023, {"component": "sustainable_development", "cost": 1_000_000, "kaso": False}, "not_kaso"),
    (
        "kigyojin",
        2023,
        {**AREA_OK, "company_in_three_metro_areas": False, "persons": [{"acceptance_cost": 1, "dispatch_months": 12}]},
        "company_outside_three_metro_area",
    ),
    (
        "kigyojin",
        2023,
        {
            "in_three_metro_areas": True,
            "has_disadvantaged_area": False,
            "company_in_three_metro_areas": True,
            "persons": [{"acceptance_cost": 1, "dispatch_months": 12}],
        },
        "host_in_three_metro_area",
    ),
    (
        "kigyojin",
        2023,
        {**AREA_OK, "company_in_three_metro_areas": True, "persons": [{"acceptance_cost": 1, "dispatch_months": 5}]},
        "dispatch_period_out_of_range",
    ),
    (
        "advisor",
        2023,
        {
            **AREA_OK,
            "adviser_type": "private_expert",
            "cost": 1,
            "invitation_days": 9,
            "invitation_times": 4,
            "adviser_lives_outside": True,
        },
        "advisor_too_few_invitations",
    ),
    (
        "advisor",
        2023,
        {
            **AREA_OK,
            "adviser_type": "private_expert",
            "cost": 1,
            "invitation_days": 10,
            "adviser_lives_outside": True,
            "year_of_use": 4,
        },
        "advisor_years_exceeded",
    ),
    (
        "advisor",
        2023,
        {**AREA_OK, "adviser_type": "private_expert", "cost": 1, "invitation_days": 10, "adviser_lives_outside": False},
        "adviser_lives_in_host",
    ),
    (
        "project_manager",
        2023,
        {"persons": [{"cost": 1, "moved_in": True, "year_of_service": 4}]},
        "project_manager_years_exceeded",
    ),
    ("project_manager", 2023, {"persons": [{"cost": 1}]}, "no_move_of_residence"),
    (
        "teiju_jiritsuken",
        2023,
        {"role": "central_city", "population": 49_999, "day_night_ratio": "1.2", **AREA_OK},
        "central_city_population",
    ),
    (
        "teiju_jiritsuken",
        2023,
        {"role": "central_city", "population": 90_000, "day_night_ratio": "0.99", **AREA_OK},
        "central_city_day_night_ratio",
    ),
    (
        "teiju_jiritsuken",
        2023,
        {"role": "central_city", "population": 90_000, "day_night_ratio": "1.1", "in_three_metro_areas": True},
        "central_city_outside_three_metro_areas",
    ),
    (
        "kaso_bond",
        2023,
        {
            "project_cost": 1_000,
            "category": "soft",
            "annual_interest_rate": "0",
            "term_years": 3,
            "method": "level_principal",
            "kaso": False,
        },
        "not_kaso",
    ),
    # prefecture support staff is new in FY2023; and the measure ends after FY2025
    ("digital_talent", 2022, {"cost": 1_000, "kind": "prefecture_support_staff"}, "not_in_force"),
    ("digital_talent", 2026, {"cost": 1_000, "kind": "cio_adviser"}, "not_in_force"),
]


@pytest.mark.parametrize(
    ("program", "fiscal_year", "inputs", "reason"),
    INELIGIBLE,
    ids=[f"{c[0]}-{c[3]}-{n}" for n, c in enumerate(INELIGIBLE)],
)
def test_ineligible_case(program, fiscal_year, inputs, reason):
    result = calc(program, inputs, fiscal_year)
    assert result["eligible"] is False
    assert result["amount"] == 0
    assert reason in [r["code"] for r in result["reasons"]]


def test_excluded_item_is_a_reason_but_not_ineligibility():
    # 2 eligible persons + one over the limit: 2,000,000 paid, the third named in the reasons
    result = calc("project_manager", {"persons": [{"cost": 1_000_000, "moved_in": True}] * 3})
    assert result["eligible"] is True
    assert result["reasons"] == [
        {"code": "over_person_limit", "message": "persons[2]: only the first 2 eligible persons per municipality count"}
    ]


def test_kaso_bond_schedules():
    base = {"category": "ict", "kaso": True}
    # level_principal 10,000,000 at 1%, term 5 with 1 grace year, 4 repayments of 2,500,000:
    # Y1 interest 100,000 only → grant floor(70,000); Y2 100,000 + 2,500,000 = 2,600,000 → 1,820,000, net 780,000;
    # Y3 75,000 + 2.5M = 2,575,000 → 1,802,500; Y4 50,000 + 2.5M = 2,550,000 → 1,785,000;
    # Y5 25,000 + 2.5M = 2,525,000 → 1,767,500
    result = calc(
        "kaso_bond",
        {
            **base,
            "project_cost": 10_000_000,
            "annual_interest_rate": "0.01",
            "term_years": 5,
            "grace_years": 1,
            "method": "level_principal",
        },
    )
    rows = [
        (r["principal"], r["interest"], r["debt_service"], r["grant_inclusion"], r["municipal_net"])
        for r in result["breakdown"]["schedule"]
    ]
    assert rows == [
        (0, 100_000, 100_000, 70_000, 30_000),
        (2_500_000, 100_000, 2_600_000, 1_820_000, 780_000),
        (2_500_000, 75_000, 2_575_000, 1_802_500, 772_500),
        (2_500_000, 50_000, 2_550_000, 1_785_000, 765_000),
        (2_500_000, 25_000, 2_525_000, 1_767_500, 757_500),
    ]

    # level_principal remainder: 1,000 over 3 years at 0% → 333, 333, 334; grants floor(233.1), floor(233.1),
    # floor(233.8) = 233 each → 699
    result = calc(
        "kaso_bond",
        {**base, "project_cost": 1_000, "annual_interest_rate": "0", "term_years": 3, "method": "level_principal"},
    )
    assert [r["principal"] for r in result["breakdown"]["schedule"]] == [333, 333, 334]
    assert result["amount"] == 699

    # level_payment 1,000,000 at 10% over 2 years: annuity 1,000,000 × 0.1 × 1.21 / 0.21 = 576,190.47 → 576,190.
    # Y1 interest 100,000, principal 476,190, grant floor(403,333.0) = 403,333, net 172,857; balance 523,810.
    # Y2 interest floor(52,381.0) = 52,381, principal 523,810 (clears), service 576,191, grant floor(403,333.7)
    # = 403,333, net 172,858. Totals: service 1,152,381, grant 806,666, net 345,715.
    result = calc(
        "kaso_bond",
        {**base, "project_cost": 1_000_000, "annual_interest_rate": "0.1", "term_years": 2, "method": "level_payment"},
    )
    rows = [
        (r["principal"], r["interest"], r["debt_service"], r["grant_inclusion"], r["municipal_net"])
        for r in result["breakdown"]["schedule"]
    ]
    assert rows == [(476_190, 100_000, 576_190, 403_333, 172_857), (523_810, 52_381, 576_191, 403_333, 172_858)]
    assert (
        result["breakdown"]["total_debt_service"],
        result["amount"],
        result["breakdown"]["total_municipal_net"],
    ) == (1_152_381, 806_666, 345_715)

    # the same with a grace year in front: Y1 interest 100,000 only (grant 70,000); then as above → 876,666
    result = calc(
        "kaso_bond",
        {
            **base,
            "project_cost": 1_000_000,
            "annual_interest_rate": "0.1",
            "term_years": 3,
            "grace_years": 1,
            "method": "level_payment",
        },
    )
    assert result["breakdown"]["schedule"][0]["principal"] == 0
    assert result["amount"] == 876_666


ERRORS = [
    ("local10000", 2022, {**L10K, "lender_type": "jfc"}, "inputs.lender_type"),
    ("local10000", 2023, {**L10K, "lender_type": "pawn_shop"}, "inputs.lender_type"),
    ("local10000", 2023, {**L10K, "municipal_grant": -1}, "inputs.municipal_grant"),
    ("local10000", 2023, {**L10K, "municipal_grant": 10.5}, "inputs.municipal_grant"),
    ("local10000", 2023, {**L10K, "municipal_grant": "10000000"}, "inputs.municipal_grant"),
    ("local10000", 2023, {**L10K, "disadvantaged_area": True}, "inputs.fiscal_strength_index"),
    ("local10000", 2023, {**L10K, "surprise": 1}, "inputs.surprise"),
    ("distributed_energy", 2023, {"plan_cost": 1}, "inputs.fiscal_strength_index"),
    ("distributed_energy", 2023, {"plan_cost": 1, "fiscal_strength_index": 0.3}, "inputs.fiscal_strength_index"),
    ("distributed_energy", 2021, {"plan_cost": 1, "highly_novel": True}, "fiscal_year"),
    ("digital_talent", 2027, {"cost": 1, "kind": "cio_adviser"}, "fiscal_year"),
    ("trial_satellite_office", 2023, {"cost": 5, "hardware_cost": 6}, "inputs.hardware_cost"),
    ("iju_teiju", 2023, {"measures_cost": 1, "fiscal_correction": "abc"}, "inputs.fiscal_correction"),
    # an exponent would make an enormous exact number: refused, not computed
    ("iju_teiju", 2023, {"measures_cost": 1, "fiscal_correction": "1e999999999"}, "inputs.fiscal_correction"),
    ("iju_teiju", 2023, {"measures_cost": 1, "fiscal_correction": 0.8}, "inputs.fiscal_correction"),
    ("teiju_jiritsuken", 2023, {"role": "central_city", "population": 60_000, **AREA_OK}, "inputs.day_night_ratio"),
    (
        "kaso_bond",
        2023,
        {
            "project_cost": 1,
            "category": "casino",
            "annual_interest_rate": "0",
            "term_years": 3,
            "method": "level_payment",
            "kaso": True,
        },
        "inputs.category",
    ),
    (
        "kaso_bond",
        2023,
        {
            "project_cost": 1,
            "category": "soft",
            "annual_interest_rate": "0",
            "term_years": 3,
            "grace_years": 3,
            "method": "level_payment",
            "kaso": True,
        },
        "inputs.grace_years",
    ),
    (
        "kaso_grants",
        2023,
        {"component": "sustainable_development", "cost": 1, "applicant": "prefecture"},
        "inputs.prefecture_rate",
    ),
    ("chiiki_okoshi", 2023, {"startups": [{"cost": 1}]}, "inputs.startups.0.service_year"),
    (
        "chiiki_okoshi",
        2022,
        {"startups": [{"cost": 1, "service_year": 2, "term_years": 1}]},
        "inputs.startups.0.service_year",
    ),
    (
        "kaso_bond",
        2023,
        {
            "project_cost": 1,
            "category": "soft",
            "annual_interest_rate": "1",
            "term_years": 3,
            "method": "level_payment",
            "kaso": True,
        },
        "inputs.annual_interest_rate",
    ),
    # dates: only ISO text, within 1900–2200, inside the requested fiscal year
    ("local10000", 2023, {**L10K, "application_date": 20230611}, "inputs.application_date"),
    ("local10000", 2023, {**L10K, "application_date": "9999-12-31"}, "inputs.application_date"),
    ("local10000", 2023, {**L10K, "application_date": "0001-01-01"}, "inputs.application_date"),
    ("local10000", 2023, {**L10K, "application_date": "2023-02-30"}, "inputs.application_date"),
    ("local10000", 2023, {**L10K, "application_date": "2024-04-01"}, "inputs.application_date"),
    ("local10000", 2023, {**L10K, "application_date": "2023-03-31"}, "inputs.application_date"),
    ("advisor", 2023, {"adviser_type": "wizard", "cost": 1}, "inputs.adviser_type"),
    (
        "teiju_kasseika_bond",
        2023,
        {
            "project_cost": 1,
            "category": "education",
            "annual_interest_rate": "0",
            "term_years": 3,
            "method": "level_payment",
            "in_teiju_jiritsuken": True,
        },
        "inputs.category",
    ),
]


@pytest.mark.parametrize(
    ("program", "fiscal_year", "inputs", "field"), ERRORS, ids=[f"{c[0]}-{c[3]}-{n}" for n, c in enumerate(ERRORS)]
)
def test_bad_input_is_422_naming_the_field(program, fiscal_year, inputs, field):
    with pytest.raises(ChiikiError) as raised:
        calc(program, inputs, fiscal_year)
    assert raised.value.status_code == 422
    assert raised.value.field == field


def test_an_unknown_program_is_404_naming_the_known_ones():
    with pytest.raises(ChiikiError) as raised:
        calc("no_such_program", {}, 2023)
    assert (raised.value.status_code, raised.value.code, raised.value.field) == (404, "unknown_program", "program")
    assert "local10000" in raised.value.message and "teiju_kasseika_bond" in raised.value.message


def test_trace_names_rule_citation_parameters_and_caps():
    result = calc("distributed_energy", {"plan_cost": 25_000_000, "fiscal_strength_index": "0.25"}, 2023)
    cap_step = next(step for step in result["trace"] if step["rule"] == "distributed_energy.eligible_cost")
    assert cap_step["citation"] == "「分散型エネルギーインフラプロジェクト」"
    assert cap_step["parameters"][0]["name"] == "cost_cap"
    assert cap_step["parameters"][0]["value"] == 20_000_000
    assert cap_step["parameters"][0]["period"] == "FY2022–FY2023"
    assert "interpretation" in cap_step["parameters"][0]
    assert cap_step["notes"] == ["cap of 20,000,000 yen on plan_cost applied (25,000,000 → 20,000,000)"]
    source_step = next(step for step in result["trace"] if step["rule"].endswith("fiscal_strength_index"))
    assert (source_step["source"], source_step["result"]) == ("input", "0.25")
    subsidy_step = result["trace"][-1]
    # floor(20,000,000 × 2/3) = 13,333,333 rounded down from 40,000,000/3
    assert subsidy_step["notes"] == ["rounded down from 40000000/3 to 13,333,333 yen"]


def test_overrides_are_a_what_if_shown_in_the_trace():
    plain = calc("decarbonization_experts", {"honoraria": 2_000_000})
    # cap overridden to 1,500,000: 1,500,000 × 1/2 = 750,000
    what_if = calc("decarbonization_experts", {"honoraria": 2_000_000}, overrides={"cost_cap": 1_500_000})
    assert (plain["amount"], what_if["amount"]) == (500_000, 750_000)
    assert what_if["parameters_hash"] != plain["parameters_hash"]
    assert what_if["overrides"] == {"cost_cap": 1_500_000}
    entry = what_if["trace"][0]["parameters"][0]
    assert (entry["value"], entry["overridden"]) == (1_500_000, True)
    again = calc("decarbonization_experts", {"honoraria": 2_000_000})
    assert again["parameters_hash"] == plain["parameters_hash"] and again["amount"] == 500_000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"no_such": 1}, "overrides.no_such"),
        ({"cost_cap": -5}, "overrides.cost_cap"),
        ({"rate": 0.5}, "overrides.rate"),
        ({"rate": "1e999999999"}, "overrides.rate"),
        ({"rate": "1/0"}, "overrides.rate"),
        ({"rate": None}, "overrides.rate"),
    ],
)
def test_bad_overrides_name_the_parameter(overrides, field):
    with pytest.raises(ChiikiError) as raised:
        calc("decarbonization_experts", {"honoraria": 1}, overrides=overrides)
    assert (raised.value.status_code, raised.value.field) == (422, field)


def test_fiscal_years_change_the_parameter_hash():
    fy22 = calc("chiiki_okoshi", {"recruitment_cost": 1}, 2022)
    fy23 = calc("chiiki_okoshi", {"recruitment_cost": 1}, 2023)
    assert fy22["parameters_hash"] != fy23["parameters_hash"]
    assert fy22["rules_version"] == fy23["rules_version"]


def test_local10000_schedule():
    # deadline the 10th: 10 June → deadline 10 June, + 45 days = 25 July; 11 June → 10 July, + 45 = 24 August;
    # 15 December → 10 January next year → 24 February
    for applied, deadline, month in [
        ("2023-06-10", "2023-06-10", "2023-07"),
        ("2023-06-11", "2023-07-10", "2023-08"),
        ("2023-12-15", "2024-01-10", "2024-02"),
    ]:
        breakdown = calc("local10000", {**L10K, "application_date": applied})["breakdown"]
        assert (breakdown["application_deadline"], breakdown["expected_decision_month"]) == (deadline, month)


def test_default_fiscal_year_starts_on_1_april():
    from datetime import date

    from common.timeutil import fiscal_year_of

    assert [fiscal_year_of(date(2024, 3, 31)), fiscal_year_of(date(2024, 4, 1))] == [2023, 2024]


def test_a_what_if_that_cannot_apply_is_a_422_not_a_crash():
    dated = {**L10K, "application_date": "2023-06-11"}
    for overrides in ({"application_deadline_day": 40}, {"decision_lag_days": 10**12}):
        with pytest.raises(ChiikiError) as raised:
            calc("local10000", dated, overrides=overrides)
        assert (raised.value.status_code, raised.value.field) == (422, "overrides")
