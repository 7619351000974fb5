"""The Matching page in Chromium: a municipality's recommendations with their score parts as bars and the reasons,
the adviser's years of use, a solved round's stability certificate and an unmatched participant's explanation, what
a municipality key may not read refused by the API, and a profile's markup shown as text. Every figure the page
should show is asked of the API in the test."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.matching.scoring import CAPACITY_POINTS, EXPERIENCE_POINTS, FIELD_POINTS, REGION_POINTS, WISH_POINTS
from tests.matching.builders import CHIYODA, HIMI, OSAKA, SAPPORO, YUBARI

# The range of each score part, from the scoring itself: the page draws a part as its share of that range.
PART_RANGES = {
    "field_overlap": FIELD_POINTS,
    "region": REGION_POINTS,
    "capacity": CAPACITY_POINTS,
    "experience": EXPERIENCE_POINTS,
    "stated_preferences": 2 * WISH_POINTS,
}
MARKUP = "<script>alert(1)</script>"
DX_NEED = "役場業務のDX（コンソール試験）"
ADVISER_NEED = "滞在型観光の企画（コンソール試験）"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def add_company(api: httpx.Client, ops: dict[str, str], name: str, head_office: str, fields: list[str], **extra) -> str:
    """A kigyojin company of the registry; answers its party name."""
    body = {"name": name, "municipality_code": head_office, "markets": ["kigyojin"], "fields": fields, **extra}
    return f"company:{created(api.post('/matching/companies', json=body, headers=ops))['id']}"


def add_need(api: httpx.Client, ops: dict[str, str], code: str, market: str, title: str, fields: list[str]) -> None:
    body = {"market": market, "title": title, "fields": fields}
    created(api.post(f"/matching/municipalities/{code}/needs", json=body, headers=ops))


class Market:
    """A small market built through the API: 夕張市 needs DX in kigyojin and tourism advice; 氷見市 needs DX too;
    three Tokyo or Osaka companies that score differently, one Sapporo company that kigyojin excludes, and two
    advisers, one of whom lives in 夕張市 and so may not serve it."""

    def __init__(self, api: httpx.Client, ops: dict[str, str]):
        self.companies = [
            add_company(
                api,
                ops,
                "コンソール・デジタル株式会社",
                CHIYODA,
                ["ict_digital", "tourism"],
                preferred_prefectures=["01"],
            ),
            add_company(api, ops, "コンソール観光ラボ", OSAKA, ["tourism"], track_record=7),
            add_company(
                api, ops, "コンソール総研", CHIYODA, ["ict_digital"], track_record=3, wished_municipalities=[YUBARI]
            ),
            add_company(api, ops, "札幌コンソール商事", SAPPORO, ["ict_digital"]),
        ]
        for name, home in (("観光 アドバイザー", SAPPORO), ("夕張 在住アドバイザー", YUBARI)):
            body = {"name": name, "adviser_type": "private_expert", "municipality_code": home, "fields": ["tourism"]}
            created(api.post("/matching/advisers", json=body, headers=ops))
        add_need(api, ops, YUBARI, "kigyojin", DX_NEED, ["ict_digital", "tourism"])
        add_need(api, ops, YUBARI, "advisor", ADVISER_NEED, ["tourism"])
        add_need(api, ops, HIMI, "kigyojin", DX_NEED, ["ict_digital"])


@pytest.fixture(scope="module")
def market(suite) -> Market:
    with suite.api() as api:
        return Market(api, bearer(suite.ops_key))


@pytest.fixture(scope="module")
def solved_round(suite, market) -> str:
    """A lottery round of kigyojin: 夕張市 and 氷見市 both rank the first company, which prefers 夕張市; the second
    company ranks only 夕張市. So 氷見市 and the second company are left unmatched."""
    first, second = market.companies[0], market.companies[2]
    rankings = {
        f"municipality:{YUBARI}": [first],
        f"municipality:{HIMI}": [first, second],
        first: [f"municipality:{YUBARI}", f"municipality:{HIMI}"],
        second: [f"municipality:{YUBARI}"],
    }
    ops = bearer(suite.ops_key)
    with suite.api() as api:
        body = {"name": "起業人マッチングセミナー（試験）", "market": "kigyojin", "proposing_side": "municipality"}
        round_id = created(
            api.post("/matching/rounds", json={**body, "tie_break": {"method": "lottery", "seed": 2023}}, headers=ops)
        )["id"]
        for participant, ranking in rankings.items():
            sent = api.post(
                f"/matching/rounds/{round_id}/preferences",
                json={"participant": participant, "capacity": 1, "ranking": ranking},
                headers=ops,
            )
            assert sent.status_code == 200, sent.text
        assert api.post(f"/matching/rounds/{round_id}/solve", headers=ops).status_code == 200
    return round_id


def open_signed_in(console, key: str, route: str) -> Page:
    console.open()
    console.sign_in(key)
    return console.open(route)


def test_recommendations_for_a_need_show_their_score_parts_as_bars_and_the_reasons(console, suite, market):
    key = suite.make_key("municipality", municipality_code=YUBARI)
    page = open_signed_in(console, key, "")
    page.get_by_role("navigation", name="ページ").get_by_role("link", name="マッチング").click()
    expect(page.get_by_role("heading", name=f"{YUBARI}の需要")).to_be_visible()
    expect(page.get_by_label("推薦を受ける側")).to_have_count(0)  # a municipality key gets its own, not a choice
    page.locator("tr", has_text=DX_NEED).get_by_role("button", name="この需要の推薦").click()

    with suite.api() as api:
        query = {"market": "kigyojin", "for": f"municipality:{YUBARI}", "explain": "true", "limit": 20}
        answer = api.get("/matching/recommendations", params=query, headers=bearer(key)).json()
    heading = f"自治体 {YUBARI}への推薦（地域活性化起業人、{answer['fiscal_year']}年度）"
    results = page.get_by_role("region", name=heading)
    expect(results).to_contain_text(f"需要「{DX_NEED}」の市場での推薦です。")
    rows = results.get_by_role("table", name=heading).locator("tbody tr")
    expect(rows).to_have_count(len(answer["items"]))
    assert {market.companies[0], market.companies[2]} <= {item["candidate"] for item in answer["items"]}
    for index, item in enumerate(answer["items"]):
        row = rows.nth(index)
        expect(row).to_contain_text(item["name"])
        expect(row).to_contain_text(item["candidate"])
        expect(row.locator("td").nth(2)).to_have_text(f"{item['score']}点")
        for part, value in item["score_parts"].items():
            bar = row.locator(f'li[data-part="{part}"]')
            expect(bar).to_contain_text(f"{value} / {PART_RANGES[part]}")
            width = bar.locator(".bar-fill").evaluate("fill => parseFloat(fill.style.width)")
            assert width == pytest.approx(100 * value / PART_RANGES[part]), (item["candidate"], part)
    excluded = results.get_by_role("table", name=re.compile("対象外の候補と理由"))
    assert answer["excluded"], "the Sapporo company is excluded from kigyojin"
    for entry in answer["excluded"]:
        row = excluded.locator("tr", has_text=entry["candidate"])
        for reason in entry["reasons"]:
            expect(row).to_contain_text(reason["code"])
            expect(row).to_contain_text(reason["message"])
    console.capture("recommendations")


def test_a_municipality_sees_its_years_of_using_an_adviser_with_the_advisers(console, suite, market):
    key = suite.make_key("municipality", municipality_code=YUBARI)
    page = open_signed_in(console, key, "matching")
    page.locator("tr", has_text=ADVISER_NEED).get_by_role("button", name="この需要の推薦").click()
    with suite.api() as api:
        query = {"market": "advisor", "for": f"municipality:{YUBARI}", "explain": "true", "limit": 20}
        answer = api.get("/matching/recommendations", params=query, headers=bearer(key)).json()
    years = answer["adviser_years"]
    card = page.locator(".adviser-years")
    expect(card).to_contain_text(f"アドバイザーの活用年数（最大{years['max_years']}年間）")
    expect(card).to_contain_text(f"{years['fiscal_year']}年度は{years['year_of_use']}年目")
    expect(card).to_contain_text("上限の範囲内" if years["within_limit"] else "上限を超えています")
    expect(page.locator(".recommendations tbody tr").first).to_contain_text(answer["items"][0]["name"])
    residence = next(entry for entry in answer["excluded"] if entry["name"] == "夕張 在住アドバイザー")
    expect(page.locator("tr", has_text=residence["candidate"])).to_contain_text(residence["reasons"][0]["message"])
    console.capture("adviser-years")


def test_an_ops_key_opens_a_solved_round_with_its_certificate_and_an_unmatched_participants_explanation(
    console, suite, solved_round
):
    page = open_signed_in(console, suite.ops_key, "matching?view=rounds")
    page.get_by_label("市場").select_option("kigyojin")
    page.get_by_label("状態").select_option("solved")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.get_by_role("table", name="ラウンドの一覧")).to_contain_text("解決済み")
    console.capture("rounds")
    page.get_by_role("link", name="起業人マッチングセミナー（試験）").click()

    with suite.api() as api:
        ops = bearer(suite.ops_key)
        result = api.get(f"/matching/rounds/{solved_round}", headers=ops).json()["result"]
        himi = api.get(f"/matching/rounds/{solved_round}/participants/municipality:{HIMI}", headers=ops).json()
    certificate = result["certificate"]
    proof = page.get_by_role("region", name="安定性の証明書")
    facts = dict(zip(proof.locator("dt").all_inner_texts(), proof.locator("dd").all_inner_texts(), strict=True))
    assert facts["確認した相互に受入可能な組"] == str(certificate["mutually_acceptable_pairs_checked"])
    assert certificate["stable"] and facts["ブロッキングペア"] == "なし（安定）"
    assert facts["抽選のシード"] == str(result["tie_break"]["seed"]) == "2023"
    assert facts["同順位の扱い"] == "抽選（シード 2023）"
    assert facts["規則"] == result["tie_break"]["rule"]
    assert facts["最適性"] == certificate["optimality"]
    for side, use in certificate["capacities"].items():
        cells = proof.locator("tr", has_text={"municipality": "自治体", "company": "企業"}[side]).locator("td")
        expected = [str(use[name]) for name in ("participants", "capacity", "used", "full")]
        assert cells.all_inner_texts()[1:5] == expected, side
    assert f"municipality:{HIMI}" in result["unmatched"]
    console.capture("round")

    page.locator("li", has_text=f"municipality:{HIMI}").get_by_role("link", name="理由を見る").click()
    explanation = page.get_by_role("region", name=f"自治体 {HIMI}の結果")
    rows = explanation.get_by_role("table", name="順位をつけた各候補と組にならなかった理由").locator("tbody tr")
    expect(rows).to_have_count(len(himi["explanation"]))
    for index, why in enumerate(himi["explanation"]):
        expect(rows.nth(index)).to_contain_text(why["candidate"])
        expect(rows.nth(index)).to_contain_text(why["code"])
        expect(rows.nth(index)).to_contain_text(why["message"])
    expect(explanation).to_contain_text(himi["lottery_ticket"])
    console.capture("explanation")


def test_a_municipality_key_is_shown_the_apis_refusal_for_another_participants_part(console, suite, solved_round):
    key = suite.make_key("municipality", municipality_code=YUBARI)
    page = open_signed_in(console, key, f"matching?view=rounds&round={solved_round}")
    expect(page.get_by_role("region", name="安定性の証明書")).to_be_visible()
    page.locator("li", has_text=f"municipality:{HIMI}").get_by_role("link", name="理由を見る").click()
    expect(page.get_by_role("region", name=f"自治体 {HIMI}の結果").get_by_role("alert")).to_contain_text("not_a_party")
    page.get_by_role("link", name="自分の結果を見る").click()
    own = page.get_by_role("region", name=f"自治体 {YUBARI}の結果")
    expect(own).to_contain_text("空き枠")
    expect(own.get_by_role("alert")).to_have_count(0)


def test_a_profile_name_holding_markup_is_shown_as_text(console, suite, market):
    dialogs: list[str] = []
    console.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with suite.api() as api:
        party = add_company(api, bearer(suite.ops_key), MARKUP, CHIYODA, ["ict_digital"])
    page = open_signed_in(console, suite.ops_key, f"matching?market=kigyojin&for=municipality:{HIMI}")
    name = page.locator("tr", has_text=party).locator(".candidate-name")
    expect(name).to_have_text(MARKUP)
    assert name.evaluate("element => element.childElementCount") == 0
    assert page.locator("main script").count() == 0
    assert not dialogs
    console.capture("markup")


def test_the_page_reads_in_english_with_every_label(console, suite, market, solved_round):
    route = f"matching?view=rounds&round={solved_round}&participant=municipality:{HIMI}"
    page = open_signed_in(console, suite.ops_key, route)
    page.get_by_label("表示言語").select_option("en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Matching")
    expect(page.get_by_role("region", name="Stability certificate")).to_contain_text("none (stable)")
    expect(page.get_by_role("region", name=f"Result of Municipality {HIMI}")).to_contain_text("Free capacity")
    console.capture("round-english")
    page = console.open(f"matching?market=advisor&for=municipality:{YUBARI}")
    expect(page.get_by_role("heading", name=re.compile(f"Recommendations for Municipality {YUBARI}"))).to_be_visible()
    expect(page.locator(".adviser-years")).to_contain_text("Years of using an adviser")
    expect(page.locator('li[data-part="field_overlap"]').first).to_contain_text("Field overlap")
    console.capture("recommendations-english")


def test_a_party_the_api_does_not_know_is_answered_with_its_error_naming_the_field(console, suite, market):
    page = open_signed_in(console, suite.ops_key, "matching")
    page.get_by_label("推薦を受ける側").select_option("company")
    page.get_by_label("団体コードまたはID").fill("co_nobody")
    page.get_by_role("button", name="推薦を表示").click()
    with suite.api() as api:
        query = {"market": "kigyojin", "for": "company:co_nobody", "explain": "true", "limit": 20}
        refused = api.get("/matching/recommendations", params=query, headers=bearer(suite.ops_key))
    assert 400 <= refused.status_code < 500
    error = refused.json()["error"]
    alert = page.locator("main").get_by_role("alert")
    expect(alert).to_contain_text(error["code"])
    expect(alert).to_contain_text(error["message"])
    expect(page.get_by_label("団体コードまたはID")).to_have_value("co_nobody")
