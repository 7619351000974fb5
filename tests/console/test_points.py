"""The point-programs page in Chromium: an officer's key sees only its municipality's programs, a roster with one
bad row shows that row's error, pause and resume, the budget chart, and the settlement table with its CSV."""

import re
from datetime import datetime, timedelta

from playwright.sync_api import expect

from common.timeutil import JST
from tests.console.mynapoint_data import (
    credit,
    officer_program,
    onboard_provider,
    program_with_roster,
    unique_name,
    unlink,
)
from tests.harness import bearer
from tests.mynapoint.builders import MUNICIPALITY, OTHER_MUNICIPALITY

BAD_ROW_CSV = (
    "myki_id,birth_date,household_with_children\n"
    "myki-new-0001,1990-04-01,true\n"
    "myki-new-0002,1990-13-01,true\n"
    "myki-new-0003,1985-07-07,false\n"
)


def test_an_officer_sees_only_its_own_programs_and_a_bad_roster_rows_error(console, suite):
    own_key = suite.make_key("municipality", municipality_code=MUNICIPALITY)
    other_key = suite.make_key("municipality", municipality_code=OTHER_MUNICIPALITY)
    with suite.api() as api:
        provider = onboard_provider(api, suite.ops_key)
        # A name holding markup is shown as the characters it is
        own_name = unique_name("<script>window.injected = true</script>夕張の<b>子育て</b>ポイント")
        own = program_with_roster(api, own_key, provider, MUNICIPALITY, own_name)
        other = program_with_roster(api, other_key, provider, OTHER_MUNICIPALITY, unique_name("千代田のポイント"))
        expected = api.post(
            f"/mynapoint/programs/{own['id']}/roster",
            headers=bearer(own_key) | {"Content-Type": "text/csv"},
            content=BAD_ROW_CSV,
        ).json()
    assert expected["upserted"] == 0 and len(expected["errors"]) == 1

    page = console.open()
    console.sign_in(own_key)
    page.get_by_role("link", name="自治体ポイント").click()
    console.wait_rendered("points")
    programs = page.get_by_role("table", name="ポイント事業")
    expect(programs).to_contain_text(own["name"])
    expect(programs).not_to_contain_text(other["name"])
    expect(programs.get_by_role("link", name=own_name)).to_have_text(own_name)
    assert programs.locator("script, b").count() == 0
    assert page.evaluate("() => window.injected") is None
    console.capture("programs")

    console.open(f"points?program={other['id']}")
    expect(page.get_by_role("alert")).to_contain_text(f"no program {other['id']}")

    console.open(f"points?program={own['id']}")
    page.get_by_label("名簿ファイル（CSV）").set_input_files(
        {"name": "roster.csv", "mimeType": "text/csv", "buffer": BAD_ROW_CSV.encode()}
    )
    page.get_by_role("button", name="登録する").click()
    errors = page.get_by_role("table", name="行ごとの誤り")
    (error,) = expected["errors"]
    expect(errors.locator("tbody tr")).to_have_count(1)
    cells = errors.locator("tbody tr td")
    expect(cells.nth(0)).to_have_text(str(error["row"]))
    expect(cells.nth(1)).to_have_text(error["field"])
    expect(cells.nth(2)).to_have_text(error["message"])
    expect(page.get_by_role("alert")).to_contain_text("何も登録していません")
    console.capture("roster-errors")

    page.get_by_label("名簿ファイル（CSV）").set_input_files(
        {
            "name": "roster.csv",
            "mimeType": "text/csv",
            "buffer": BAD_ROW_CSV.replace("1990-13-01", "1990-12-01").encode(),
        }
    )
    page.get_by_role("button", name="登録する").click()
    expect(page.locator(".roster-outcome")).to_have_text("3件を登録しました。")
    with suite.api() as api:
        roster = api.get(f"/mynapoint/programs/{own['id']}/roster", headers=bearer(own_key)).json()["items"]
    assert len(roster) == 3


def test_pause_resume_the_budget_chart_and_the_settlement_with_its_csv(console, suite):
    made = officer_program(suite, "商店街ポイント", 2)
    muni_key, program = made.muni_key, made.program
    with suite.api() as api:
        credit(api, made.provider, made.grants[0]["id"])
        program_path = f"/mynapoint/programs/{program['id']}"
        history = api.get(f"{program_path}/balance-history", headers=bearer(muni_key)).json()["days"]
        query = {"month": history[-1]["day"][:7], "municipality": MUNICIPALITY}
        settlement = api.get("/mynapoint/settlements", params=query, headers=bearer(muni_key)).json()["items"]
        settlement_csv = api.get(
            "/mynapoint/settlements", params=query, headers=bearer(muni_key) | {"Accept": "text/csv"}
        ).text

    page = console.open()
    console.sign_in(muni_key)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    console.open(f"points?program={program['id']}")

    chart = page.locator(".chart")
    expect(chart.locator("canvas")).to_have_count(1)
    legend = chart.locator(".u-legend .u-series .u-label")
    expect(legend).to_have_text(["日付（日本時間）", "予算", "予約済み", "付与済み"])
    assert chart.locator("canvas").evaluate(
        """canvas => canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data
                      .some((value, index) => index % 4 === 3 && value !== 0)"""
    )
    (today,) = history
    page.get_by_text("予算・予約済み・付与済みの推移（日ごと）").click()
    rows = page.get_by_role("table", name="予算の推移").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{today['reserved_yen']:,}円")

    line = page.get_by_role("table", name=f"{query['month']}の精算").locator("tbody tr")
    expect(line).to_have_count(len(settlement))
    expect(line.first.locator("td").last).to_have_text(f"{settlement[0]['net_yen']:,}円")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSVをダウンロード").click()
    saved = download.value
    assert saved.suggested_filename == f"settlement-{MUNICIPALITY}-{query['month']}.csv"
    with open(saved.path(), encoding="utf-8") as csv_file:
        assert csv_file.read() == settlement_csv
    console.capture("program")

    page.get_by_role("button", name="一時停止する").click()
    expect(page.locator("#status-outcome")).to_have_text("状態を「一時停止中」にしました。")
    with suite.api() as api:
        assert api.get(program_path, headers=bearer(muni_key)).json()["status"] == "paused"
    page.get_by_role("button", name="受付を再開する").click()
    expect(page.locator("#status-outcome")).to_have_text("状態を「受付中」にしました。")
    with suite.api() as api:
        assert api.get(program_path, headers=bearer(muni_key)).json()["status"] == "open"
    assert not any(re.search(r"chk_", url) for url in requested)


def test_applications_are_filtered_by_status_and_day_and_the_page_has_english_labels(console, suite):
    made = officer_program(suite, "見守りポイント", 2)
    muni_key, program = made.muni_key, made.program
    with suite.api() as api:
        unlink(api, made.provider, "acct-myki-0001")
        (unlinked,) = api.get(
            f"/mynapoint/programs/{program['id']}/applications",
            params={"status": "unlinked"},
            headers=bearer(muni_key),
        ).json()["items"]

    page = console.open()
    console.sign_in(muni_key)
    console.open(f"points?program={program['id']}")
    applications = page.get_by_role("table", name="申込み").locator("tbody tr")
    expect(applications).to_have_count(2)
    page.get_by_label("申込みの状態").select_option("unlinked")
    page.get_by_role("button", name="絞り込む").click()
    expect(applications).to_have_count(1)
    expect(applications.first).to_contain_text(unlinked["id"])
    expect(applications.first).to_contain_text("連携解除")

    tomorrow = (datetime.now(JST) + timedelta(days=1)).date().isoformat()
    page.get_by_label("申込日（から）").fill(tomorrow)
    page.get_by_role("button", name="絞り込む").click()
    expect(page.get_by_text("条件に合う申込みはありません。")).to_be_visible()
    assert f"from={tomorrow}" in page.url and "status=unlinked" in page.url

    page.get_by_label("表示言語").select_option("en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Point programs")
    expect(page.get_by_text("No application matches.")).to_be_visible()
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    console.capture("english")
