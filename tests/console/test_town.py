"""What can my town get, in Chromium: the finder for a 過疎 town, the missing inputs filled in, a calculation with
its trace, citations and the comparison with the year before, and values from the API shown as text only. The
figures expected are what the API answers for the same request, asked by the test."""

import re

from playwright.sync_api import expect

YUBARI = "012092"  # 夕張市: 全部過疎
LOCAL10000_INPUTS = {"initial_investment": 30_000_000, "municipal_grant": 10_000_000, "loan_amount": 20_000_000}


def yen(amount: int) -> str:
    return f"{amount:,}円"


def finder(suite, inputs: dict) -> dict:
    with suite.api() as api:
        response = api.post(
            "/subsidy/finder", json={"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": inputs}
        )
    assert response.status_code == 200, response.text
    return {item["program"]: item for item in response.json()["items"]}


def open_yubari(console):
    page = console.open()
    page.get_by_label("市区町村名またはコード").fill("夕張")
    page.get_by_role("button", name="検索").click()
    page.get_by_role("button", name="夕張市（北海道・012092）").click()
    console.wait_rendered("town")
    expect(page.get_by_role("heading", name="夕張市（北海道）")).to_be_visible()
    return page


def program(page, program_id: str):
    return page.locator(f'article[data-program="{program_id}"]')


def run_with(page, program_id: str, values: dict[str, str]) -> None:
    card = program(page, program_id)
    details = card.locator("details")
    if details.get_attribute("open") is None:
        card.get_by_text("不足している入力", exact=True).first.click()
    for name, value in values.items():
        control = card.locator(f'[name="{name}"]')
        if control.evaluate("element => element.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    card.get_by_role("button", name="入力して判定し直す").click()


def test_the_finder_for_a_kaso_town_shows_every_program_with_the_apis_status_and_amount(console, suite):
    expected = finder(suite, {})
    page = open_yubari(console)
    expect(page.locator("main")).to_contain_text("全部過疎")
    assert page.locator("article.program").count() == len(expected)
    for program_id, item in expected.items():
        card = program(page, program_id)
        expect(card).to_have_attribute("data-status", item["status"])
        if item["status"] == "needs_inputs":
            if item.get("max_amount") is not None:
                expect(card).to_contain_text(f"上限: {yen(item['max_amount'])}")
            for missing in item["missing_inputs"]:
                expect(card.locator(f'[name="{missing["name"]}"]')).to_be_attached()
        if item["status"] == "ineligible":
            for reason in item["reasons"]:
                expect(card).to_contain_text(reason["message"])
                expect(card).to_contain_text(reason["citation"])
    console.capture("finder")


def test_the_missing_inputs_filled_in_run_the_finder_again_with_the_apis_amount(console, suite):
    expected = finder(suite, {"plan_cost": 30_000_000})["distributed_energy"]
    assert expected["status"] == "eligible"
    page = open_yubari(console)
    run_with(page, "distributed_energy", {"plan_cost": "30000000"})
    card = program(page, "distributed_energy")
    expect(card).to_have_attribute("data-status", "eligible")
    expect(card).to_contain_text(f"金額: {yen(expected['amount'])}")
    console.capture("inputs-filled")


def test_the_last_inputs_sent_win_when_an_earlier_answer_arrives_after_a_later_one(console, suite):
    earlier, later = "10000000", "30000000"
    expected = {cost: finder(suite, {"plan_cost": int(cost)})["distributed_energy"] for cost in (earlier, later)}
    assert expected[earlier]["amount"] != expected[later]["amount"]
    page = open_yubari(console)
    held = []

    def hold_the_earlier(route):
        inputs = route.request.post_data_json["inputs"]
        if str(inputs.get("plan_cost")) == earlier:
            held.append(route)
        else:
            route.continue_()

    page.route("**/subsidy/finder", hold_the_earlier)
    run_with(page, "distributed_energy", {"plan_cost": earlier})
    card = program(page, "distributed_energy")
    expect(card).to_have_attribute("data-status", "needs_inputs")
    run_with(page, "distributed_energy", {"plan_cost": later})
    expect(card).to_contain_text(f"金額: {yen(expected[later]['amount'])}")
    assert len(held) == 1
    with page.expect_response("**/subsidy/finder"):
        held[0].continue_()
    page.wait_for_timeout(500)  # time for the page to act on the earlier answer, which it must not
    expect(card).to_contain_text(f"金額: {yen(expected[later]['amount'])}")
    assert page.locator("article.program").count() == len(finder(suite, {}))


def test_a_calculation_shows_each_step_with_its_formula_citations_and_the_comparison_with_fy2022(console, suite):
    inputs = LOCAL10000_INPUTS | {"lender_type": "regional_bank"}
    with suite.api() as api:
        request = {"fiscal_year": 2023, "municipality_code": YUBARI, "inputs": inputs}
        result = api.post("/subsidy/programs/local10000/calculate", json=request).json()
        comparison = api.post(
            "/subsidy/programs/local10000/compare",
            json={
                "municipality_code": YUBARI,
                "inputs": inputs,
                "baseline": {"fiscal_year": 2022},
                "reform": {"fiscal_year": 2023},
            },
        ).json()
    assert result["eligible"] and result["amount"] > 0 and result["trace"]
    page = open_yubari(console)
    run_with(page, "local10000", {name: str(value) for name, value in LOCAL10000_INPUTS.items()})
    # The first answer is shown once the three inputs given are no longer asked for; lender_type, asked from the
    # start, is asked still. (Going on before it is shown filled the old form while that answer was on its way,
    # and the answer, landing last, put lender_type back to unset.)
    expect(program(page, "local10000").locator('[name="initial_investment"]')).to_have_count(0)
    expect(program(page, "local10000").locator('[name="lender_type"]')).to_be_attached()
    run_with(page, "local10000", {"lender_type": "regional_bank"})
    card = program(page, "local10000")
    expect(card).to_contain_text(f"金額: {yen(result['amount'])}")
    card.get_by_role("button", name="計算の内訳を見る").click()

    calculation = page.locator("section.calculation")
    expect(calculation.get_by_role("heading", level=2)).to_be_focused()
    expect(calculation).to_contain_text(f"{yen(result['amount'])}")
    steps = calculation.locator("li.step")
    expect(steps).to_have_count(len(result["trace"]))
    for index, step in enumerate(result["trace"]):
        shown = steps.nth(index)
        expect(shown).to_contain_text(step["rule"])
        expect(shown).to_contain_text(step["formula"])
        expect(shown).to_contain_text(step["citation"])
        for parameter in step["parameters"]:
            row = shown.locator("tr", has=page.get_by_role("cell", name=parameter["name"], exact=True))
            expect(row).to_contain_text(parameter["citation"])
            expect(row).to_contain_text(parameter["period"])

    compared = calculation.locator("section.comparison")
    expect(compared).to_contain_text("2022年度と2023年度の比較")
    expect(compared).to_contain_text("accepted_lenders")
    expect(compared).to_contain_text(f"{yen(comparison['baseline']['amount'])}")
    expect(compared).to_contain_text(f"{yen(comparison['difference']['amount'])}")
    console.capture("calculation")


def test_a_value_from_the_api_holding_markup_is_shown_as_text(console, suite):
    script = "<b>1</b><script>__injected=1</script>"  # the API echoes up to 40 characters
    echoed = finder(
        suite,
        {
            "project_cost": 1_000_000,
            "category": "x",
            "term_years": 10,
            "method": "level_payment",
            "annual_interest_rate": script,
        },
    )["kaso_bond"]["missing_inputs"][0]["problem"]
    assert script in echoed  # the API echoes what was typed
    page = open_yubari(console)
    run_with(
        page,
        "kaso_bond",
        {
            "project_cost": "1000000",
            "category": "x",
            "annual_interest_rate": script,
            "term_years": "10",
            "method": "level_payment",
        },
    )
    card = program(page, "kaso_bond")
    expect(card).to_contain_text(echoed)
    assert page.evaluate("() => window.__injected") is None
    assert page.locator("main script, main b").count() == 0
    console.capture("markup-as-text")


def test_english_labels_and_program_names_on_the_finder(console, suite):
    page = open_yubari(console)
    page.get_by_label("表示言語").select_option("en")
    console.wait_rendered("town")
    expect(page.get_by_role("heading", level=1)).to_have_text("What can my town get")
    expect(page.get_by_role("heading", name="Each program")).to_be_visible()
    card = program(page, "distributed_energy")
    expect(card).to_contain_text(re.compile("Status: needs inputs"))
    with suite.api() as api:
        name_en = next(
            p["name_en"] for p in api.get("/subsidy/programs").json()["items"] if p["id"] == "distributed_energy"
        )
    expect(card.get_by_role("heading", level=3)).to_have_text(name_en)
    console.capture("finder-english")
