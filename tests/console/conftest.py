"""The console's browser tests: Debian's Chromium driven by Playwright, against one live suite for them all.

`console` gives a page of a fresh browser context (laptop size) on the live suite; `console.capture(name)`
takes screenshots at laptop and tablet size into var/console-screenshots/<test>-<name>-<size>.png, checks that
the page is no wider than the screen, and runs axe-core on it, failing on any serious or critical violation.
Any console error (a CSP violation, a missing label, an exception) fails the test.
"""

import asyncio
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from common.auth import create_api_key
from common.db import Database
from scripts.live_suite import LiveSuite

CHROMIUM = Path("/usr/bin/chromium")
REPOSITORY = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPOSITORY / "var" / "console-screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
BLOCKING_IMPACTS = ("serious", "critical")
# Chromium logs every 4xx answer to fetch as a console error; the page shows those itself (tests assert it).
ANSWERED_WITH_AN_ERROR = "Failed to load resource: the server responded with a status of 4"


class Suite(LiveSuite):
    def api(self) -> httpx.Client:
        """An HTTP client to the same gateway, for a test to ask the API what the page should show."""
        return httpx.Client(base_url=self.base_url, timeout=30)

    def make_key(self, role: str, **tenant: str) -> str:
        """A new API key of `role` (with municipality_code= or provider_id=), as `chiiki keys create` makes."""

        async def create() -> str:
            db = Database.from_url(self.database_url)
            try:
                async with db.sessionmaker() as session:
                    _, key = await create_api_key(session, role, label="console-test", **tenant)
                    await session.commit()
                    return key
            finally:
                await db.dispose()

        # Playwright's sync API keeps an event loop running in this thread: the key is made in another.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, create()).result()


# Package scope: one suite and one browser for all of tests/console, stopped before the other tests run, since
# Playwright's sync API keeps an event loop running in this thread while it is open (and asyncio.run, which
# other fixtures call, refuses to start inside it).
@pytest.fixture(scope="package")
def suite(tmp_path_factory) -> Iterator[Suite]:
    folder = tmp_path_factory.mktemp("console-suite")
    with Suite(f"sqlite:///{folder / 'suite.db'}", folder / "var", secrets.token_urlsafe(32)) as live:
        yield live


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the console's browser tests need Debian's Chromium at {CHROMIUM}: "
            "apt-get install chromium fonts-noto-cjk",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


class Console:
    """A browser page on the console, with the checks every test makes."""

    def __init__(self, page: Page, base_url: str, test_name: str):
        self.page = page
        self.base_url = base_url
        self.test_name = re.sub(r"[^\w.-]+", "_", test_name)
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(ANSWERED_WITH_AN_ERROR):
            self.errors.append(message.text)

    def open(self, route: str = "") -> Page:
        """Go to `/console/#/<route>` and wait for its page to have rendered."""
        self.page.goto(f"{self.base_url}/console/#/{route}")
        return self.wait_rendered(route.split("?", 1)[0] or "town")

    def wait_rendered(self, page_id: str) -> Page:
        self.page.locator(f'main[data-rendered="{page_id}"]').wait_for()
        return self.page

    def sign_in(self, key: str) -> None:
        self.page.get_by_label(re.compile("APIキー|API key")).fill(key)
        self.page.get_by_role("button", name=re.compile("サインイン|Sign in")).click()
        self.page.get_by_role("button", name=re.compile("サインアウト|Sign out")).wait_for()

    def capture(self, name: str) -> None:
        """Screenshots at laptop and tablet size, and at each: nothing wider than the screen, and axe-core's
        check."""
        for size_name, size in (("laptop", LAPTOP), ("tablet", TABLET)):
            self.page.set_viewport_size(size)
            overflow = self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} is {overflow}px wider than the {size_name} screen"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=SCREENSHOTS / f"{self.test_name}-{name}-{size_name}.png", full_page=True)
            self.assert_accessible(f"{name} at {size_name} size")
        self.page.set_viewport_size(LAPTOP)

    def assert_accessible(self, where: str) -> None:
        # Evaluated through the DevTools protocol, which the page's CSP does not govern: axe is never served.
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.evaluate(AXE.read_text())
        result = self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        blocking = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} at "
            + ", ".join(str(node["target"]) for node in violation["nodes"])
            for violation in result["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
        assert not blocking, f"accessibility violations on {where}: {blocking}"


@pytest.fixture
def console(browser: Browser, suite: Suite, request) -> Iterator[Console]:
    context = browser.new_context(viewport=LAPTOP, locale="ja-JP")
    try:
        page = Console(context.new_page(), suite.base_url, request.node.name)
        yield page
        assert not page.errors, f"the console logged errors: {page.errors}"
    finally:
        context.close()
