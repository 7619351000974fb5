"""The deliveries page in Chromium: an ops key finds a delivery that failed against a local endpoint that
refused it, sees its attempts, redelivers it once the endpoint answers 2xx and sees it delivered; a provider key
sees its own failed and pending deliveries (never another provider's), the attempts of its ping, pings itself and
recovers its failures since a time."""

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import expect

from common.db import Database
from services.mynapoint.worker import DeliveryWorker
from tests.console.mynapoint_data import answered, onboard_provider
from tests.harness import bearer
from tests.mynapoint.builders import FAST


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Accepting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the name http.server calls
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def endpoint_answering_2xx(port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), Accepting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run_worker(suite, rounds: int) -> None:
    """The delivery worker in this process, `rounds` batches with no wait between attempts (as tests/mynapoint)."""

    async def deliver() -> None:
        db = Database.from_url(suite.database_url)
        worker = DeliveryWorker(db, suite.settings, schedule=FAST)
        try:
            for _ in range(rounds):
                await worker.run_once()
        finally:
            await worker.client.aclose()
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, deliver()).result()


def queue_ping(api, key: str, provider: dict) -> dict:
    return answered(api.post(f"/mynapoint/providers/{provider['id']}/ping", headers=bearer(key)), 202)


def test_an_ops_key_redelivers_a_failed_delivery_and_sees_it_delivered(console, suite):
    port = free_port()
    with suite.api() as api:
        provider = onboard_provider(api, suite.ops_key, f"http://127.0.0.1:{port}/hook")
        ping = queue_ping(api, suite.ops_key, provider)
        run_worker(suite, len(FAST))  # nothing listens on the port: every attempt is refused
        failed = answered(api.get(f"/mynapoint/deliveries/{ping['id']}", headers=bearer(suite.ops_key)))
    assert failed["status"] == "failed" and len(failed["attempts_made"]) == len(FAST)

    page = console.open()
    console.sign_in(suite.ops_key)
    console.open(f"deliveries?provider={provider['id']}")  # the failed deliveries, then the pending ones
    expect(page.get_by_role("table", name="失敗")).to_contain_text(ping["id"])
    expect(page.get_by_text("送信待ちの配信はありません。")).to_be_visible()
    console.capture("list")
    page.get_by_role("table", name="失敗").get_by_role("link", name=ping["id"]).click()
    console.wait_rendered("deliveries")
    attempts = page.get_by_role("table", name="試行の記録").locator("tbody tr")
    expect(attempts).to_have_count(len(FAST))
    expect(attempts.first).to_contain_text(failed["attempts_made"][0]["error"])
    expect(page.locator(".delivery-status")).to_have_text("失敗")
    console.capture("failed")

    with endpoint_answering_2xx(port):
        page.get_by_role("button", name="再配信する").click()
        expect(page.locator("#redeliver-outcome")).to_have_text(f"配信 {ping['id']} を送信待ちにしました。")
        expect(page.locator(".delivery-status")).to_have_text("送信待ち")
        run_worker(suite, 1)
    page.get_by_role("button", name="最新の状態にする").first.click()
    expect(page.locator(".delivery-status")).to_have_text("配信済み")
    expect(attempts).to_have_count(len(FAST) + 1)
    expect(attempts.last).to_contain_text("204")
    with suite.api() as api:
        delivered = answered(api.get(f"/mynapoint/deliveries/{ping['id']}", headers=bearer(suite.ops_key)))
    assert delivered["status"] == "delivered"
    console.capture("delivered")


def test_a_provider_key_sees_its_own_deliveries_and_the_attempts_of_its_ping(console, suite):
    with suite.api() as api:
        provider = onboard_provider(api, suite.ops_key)  # nothing listens at its endpoint
        other = onboard_provider(api, suite.ops_key)
        provider_key = suite.make_key("provider", provider_id=provider["id"])
        failed = queue_ping(api, provider_key, provider)
        run_worker(suite, len(FAST))  # every attempt is refused
        pending, others = queue_ping(api, provider_key, provider), queue_ping(api, suite.ops_key, other)
    page = console.open()
    console.sign_in(provider_key)
    page.get_by_role("link", name="Webhook配信").click()
    console.wait_rendered("deliveries")
    expect(page.get_by_role("table", name="失敗").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("table", name="失敗")).to_contain_text(failed["id"])
    expect(page.get_by_role("table", name="送信待ち").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("table", name="送信待ち")).to_contain_text(pending["id"])
    expect(page.get_by_role("main")).not_to_contain_text(others["id"])
    console.capture("provider-list")

    page.get_by_role("table", name="失敗").get_by_role("link", name=failed["id"]).click()
    console.wait_rendered("deliveries")
    expect(page.locator(".delivery-status")).to_have_text("失敗")
    attempts = page.get_by_role("table", name="試行の記録").locator("tbody tr")
    expect(attempts).to_have_count(len(FAST))
    console.capture("provider-attempts")

    console.open(f"deliveries?event={others['id']}")
    expect(page.get_by_role("alert")).to_contain_text("not_found")


def test_a_provider_key_pings_and_recovers_its_own(console, suite):
    with suite.api() as api:
        provider = onboard_provider(api, suite.ops_key)
    provider_key = suite.make_key("provider", provider_id=provider["id"])
    page = console.open()
    console.sign_in(provider_key)
    page.get_by_role("link", name="Webhook配信").click()
    console.wait_rendered("deliveries")
    expect(page.get_by_text("失敗の配信はありません。")).to_be_visible()
    expect(page.get_by_label("決済事業者ID").last).to_have_value(provider["id"])

    page.get_by_role("button", name="テストイベントを送る").click()
    notice = page.locator("#tools-outcome")
    expect(notice).to_contain_text("テストイベント")
    expect(notice).to_contain_text("を送信待ちにしました。")
    notice.get_by_role("link").click()  # the ping's delivery, not sent yet: the live suite runs no worker
    console.wait_rendered("deliveries")
    expect(page.locator(".delivery-status")).to_have_text("送信待ち")
    expect(page.get_by_text("まだ送信していません。")).to_be_visible()
    page.get_by_role("link", name="一覧へ戻る").click()
    console.wait_rendered("deliveries")

    page.get_by_label("いつから（日本時間）").fill("2023-06-01T09:00")
    page.get_by_role("button", name="失敗した配信を再送する").click()
    expect(notice).to_have_text("0件を再送待ちにしました。")
    console.capture("provider")
