"""The console's shell in Chromium: its language switch, the key kept in the tab only, navigation by what
GET /auth/whoami says, the API's error envelope shown, and the vendored chart library under the CSP."""

import re

from playwright.sync_api import expect


def test_the_console_opens_on_the_town_page_in_japanese(console):
    page = console.open()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("わがまちで使える制度")
    expect(page.get_by_role("navigation")).to_contain_text("わがまちで使える制度")
    console.capture("town")


def test_switching_to_english_changes_the_labels_and_is_remembered_in_the_tab(console):
    page = console.open()
    page.get_by_label("表示言語").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("What can my town get")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    console.wait_rendered("town")
    expect(page.get_by_role("heading", level=1)).to_have_text("What can my town get")
    console.capture("english")


def test_a_key_is_kept_in_session_storage_only_and_sign_out_forgets_it(console, suite):
    key = suite.make_key("municipality", municipality_code="012092")
    page = console.open()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    console.sign_in(key)
    expect(page.locator("#session")).to_contain_text("自治体（012092）としてサインイン中")
    assert page.evaluate("() => sessionStorage.getItem('chiiki.apiKey')") == key
    assert page.evaluate("() => localStorage.length") == 0
    assert not any(key in url or key.split("_")[2] in url for url in requests)
    console.capture("signed-in")
    page.get_by_role("button", name="サインアウト").click()
    expect(page.get_by_role("button", name="サインイン")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('chiiki.apiKey')") is None


def test_a_refused_key_shows_the_apis_error_and_is_forgotten(console):
    page = console.open()
    page.get_by_label("APIキー").fill("chk_0123456789abcdef_wrong")
    page.get_by_role("button", name="サインイン").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("unauthorized")
    expect(alert).to_contain_text("unknown API key")
    expect(alert).to_contain_text(re.compile("リクエストID: [0-9a-f]+"))
    assert page.evaluate("() => sessionStorage.getItem('chiiki.apiKey')") is None
    console.capture("refused-key")


def test_a_page_that_needs_a_key_says_so_instead_of_guessing(console):
    page = console.open("nothing-here")
    expect(page.locator("main")).to_contain_text("そのページはありません。")


def test_the_vendored_chart_library_draws_under_the_console_policy(console):
    page = console.open()
    drawn = page.evaluate(
        """async () => {
            const { default: uPlot } = await import("/console/vendor/uPlot.esm.js");
            const holder = document.createElement("div");
            document.getElementById("main").append(holder);
            const chart = new uPlot(
                { width: 400, height: 200, series: [{}, { label: "funded", stroke: "blue" }] },
                [[1, 2, 3], [10, 20, 15]],
                holder,
            );
            await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
            const canvas = holder.querySelector("canvas");
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            const painted = pixels.some((value, index) => index % 4 === 3 && value !== 0);
            chart.destroy();
            return painted;
        }"""
    )
    assert drawn
    # a CSP refusal would have been logged as a console error; the fixture fails the test on any
