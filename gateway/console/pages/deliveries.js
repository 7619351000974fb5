// Deliveries (#/deliveries, ops and provider keys): outbound webhook deliveries by status with their
// attempts (#/deliveries?event=…), redelivery of one, and a provider's tools: recover its failures since a
// time, ping it. What a key sees is the API's answer: a provider key's list holds only its own deliveries.

import { errorView, get, post } from "../api.js";
import { field, h, replace, table } from "../dom.js";
import { dateTime, jstInstant, wideTable } from "../format.js";
import { addLabels, t } from "../i18n.js";
import { href } from "../router.js";

addLabels({
  ja: {
    "deliveries.title": "Webhook配信",
    "deliveries.list": "配信",
    "deliveries.status": "状態",
    "deliveries.status.failed": "失敗",
    "deliveries.status.pending": "送信待ち",
    "deliveries.status.delivered": "配信済み",
    "deliveries.status.cancelled": "取消",
    "deliveries.provider": "決済事業者ID",
    "deliveries.show": "表示する",
    "deliveries.refresh": "最新の状態にする",
    "deliveries.id": "配信ID",
    "deliveries.type": "イベント",
    "deliveries.attempts": "試行回数",
    "deliveries.last": "最後の応答",
    "deliveries.created": "作成日時",
    "deliveries.next": "次の試行",
    "deliveries.none": "{status}の配信はありません。",
    "deliveries.status.any": "失敗と送信待ち",
    "deliveries.detail": "配信 {id}",
    "deliveries.attemptsMade": "試行の記録",
    "deliveries.attemptedAt": "日時",
    "deliveries.statusCode": "HTTPステータス",
    "deliveries.error": "エラー",
    "deliveries.latency": "所要時間（ミリ秒）",
    "deliveries.noAttempts": "まだ送信していません。",
    "deliveries.redeliver": "再配信する",
    "deliveries.redelivered": "配信 {id} を送信待ちにしました。",
    "deliveries.back": "一覧へ戻る",
    "deliveries.more": "次のページ",
    "deliveries.tools": "決済事業者の操作",
    "deliveries.since": "いつから（日本時間）",
    "deliveries.until": "いつまで（日本時間、空欄なら現在）",
    "deliveries.recover": "失敗した配信を再送する",
    "deliveries.recovered": "{count}件を再送待ちにしました。",
    "deliveries.skipped": "再送しなかった配信",
    "deliveries.code": "理由コード",
    "deliveries.message": "理由",
    "deliveries.ping": "テストイベントを送る",
    "deliveries.pinged": "テストイベント {id} を送信待ちにしました。",
  },
  en: {
    "deliveries.title": "Deliveries",
    "deliveries.list": "Deliveries",
    "deliveries.status": "Status",
    "deliveries.status.failed": "Failed",
    "deliveries.status.pending": "Pending",
    "deliveries.status.delivered": "Delivered",
    "deliveries.status.cancelled": "Cancelled",
    "deliveries.provider": "Provider ID",
    "deliveries.show": "Show",
    "deliveries.refresh": "Refresh",
    "deliveries.id": "Delivery ID",
    "deliveries.type": "Event",
    "deliveries.attempts": "Attempts",
    "deliveries.last": "Last answer",
    "deliveries.created": "Created at",
    "deliveries.next": "Next attempt",
    "deliveries.none": "No deliveries: {status}.",
    "deliveries.status.any": "Failed and pending",
    "deliveries.detail": "Delivery {id}",
    "deliveries.attemptsMade": "Attempts made",
    "deliveries.attemptedAt": "At",
    "deliveries.statusCode": "HTTP status",
    "deliveries.error": "Error",
    "deliveries.latency": "Latency (ms)",
    "deliveries.noAttempts": "Not sent yet.",
    "deliveries.redeliver": "Redeliver",
    "deliveries.redelivered": "Delivery {id} is queued.",
    "deliveries.back": "Back to the list",
    "deliveries.more": "Next page",
    "deliveries.tools": "Provider tools",
    "deliveries.since": "Since (Japan time)",
    "deliveries.until": "Until (Japan time; now when empty)",
    "deliveries.recover": "Redeliver failed deliveries",
    "deliveries.recovered": "{count} deliveries queued.",
    "deliveries.skipped": "Deliveries left as they are",
    "deliveries.code": "Code",
    "deliveries.message": "Reason",
    "deliveries.ping": "Send a test event",
    "deliveries.pinged": "Test event {id} is queued.",
  },
});

const STATUSES = ["failed", "pending", "delivered", "cancelled"];

export async function render(main, context) {
  replace(main, h("h1", {}, t("deliveries.title")));
  const refresh = () => render(main, context);
  const eventId = context.params.get("event");
  main.append(eventId ? await detailView(eventId, refresh) : await listView(context, refresh));
  main.append(providerTools(context));
}

// A new Idempotency-Key per click: a retried request replays the first answer instead of queuing twice.
const once = () => ({ headers: { "Idempotency-Key": crypto.randomUUID() } });

function lastAnswer(delivery) {
  if (delivery.last_status_code) return `HTTP ${delivery.last_status_code}`;
  return delivery.last_error || "";
}

// Without a chosen status: the failed deliveries, then the pending ones.
async function listView({ params, navigate }, refresh) {
  const chosen = params.get("status");
  const section = h("section", { "aria-labelledby": "deliveries-title" }, h("h2", { id: "deliveries-title" }, t("deliveries.list")), listFilters(params, navigate, refresh));
  for (const status of chosen ? [chosen] : ["failed", "pending"]) {
    let page;
    try {
      page = await get("/mynapoint/deliveries", { status, provider_id: params.get("provider"), cursor: params.get("cursor"), limit: 50 });
    } catch (error) {
      section.append(errorView(error)); // the API's refusal, once: it would refuse the next list alike
      break;
    }
    section.append(statusTable(status, page, params, navigate));
  }
  return section;
}

function statusTable(status, page, params, navigate) {
  const caption = t(`deliveries.status.${status}`);
  if (!page.items.length) return h("p", {}, t("deliveries.none", { status: caption }));
  const columns = [
    { label: t("deliveries.id"), value: (row) => h("a", { href: href("deliveries", { event: row.id }) }, row.id) },
    { label: t("deliveries.provider"), value: (row) => row.provider_id },
    { label: t("deliveries.type"), value: (row) => row.event_type },
    { label: t("deliveries.status"), value: (row) => t(`deliveries.status.${row.status}`) },
    { label: t("deliveries.attempts"), value: (row) => row.attempts, numeric: true },
    { label: t("deliveries.last"), value: lastAnswer },
    { label: t("deliveries.created"), value: (row) => dateTime(row.created_at) },
  ];
  const next = { ...Object.fromEntries(params), status, cursor: page.next_cursor };
  return h(
    "div",
    {},
    wideTable(caption, columns, page.items),
    page.next_cursor ? h("button", { type: "button", class: "secondary", onclick: () => navigate("deliveries", next) }, t("deliveries.more")) : null,
  );
}

function listFilters(params, navigate, refresh) {
  const options = ["", ...STATUSES].map((value) => h("option", { value, selected: value === (params.get("status") || "") }, t(value ? `deliveries.status.${value}` : "deliveries.status.any")));
  const status = h("select", { name: "status" }, options);
  const provider = h("input", { name: "provider", value: params.get("provider") || "", autocomplete: "off" });
  const submit = (event) => {
    event.preventDefault();
    const chosen = status.value ? { status: status.value } : {};
    if (provider.value.trim()) chosen.provider = provider.value.trim();
    navigate("deliveries", chosen);
  };
  return h(
    "form",
    { class: "filters", onsubmit: submit },
    field(t("deliveries.status"), status),
    field(t("deliveries.provider"), provider),
    h("button", { type: "submit" }, t("deliveries.show")),
    h("button", { type: "button", class: "secondary", onclick: refresh }, t("deliveries.refresh")),
  );
}

async function detailView(eventId, refresh) {
  const section = h("section", { "aria-labelledby": "delivery-title" }, h("p", {}, h("a", { href: href("deliveries") }, t("deliveries.back"))));
  let delivery;
  try {
    delivery = await get(`/mynapoint/deliveries/${encodeURIComponent(eventId)}`);
  } catch (error) {
    section.append(h("h2", { id: "delivery-title" }, t("deliveries.detail", { id: eventId })), errorView(error));
    return section;
  }
  const facts = [
    [t("deliveries.provider"), delivery.provider_id],
    [t("deliveries.type"), delivery.event_type],
    [t("deliveries.status"), h("span", { class: "delivery-status" }, t(`deliveries.status.${delivery.status}`))],
    [t("deliveries.attempts"), String(delivery.attempts)],
    [t("deliveries.next"), delivery.status === "pending" ? dateTime(delivery.next_attempt_at) : ""],
    [t("deliveries.created"), dateTime(delivery.created_at)],
  ];
  const outcome = h("div", { id: "redeliver-outcome", "aria-live": "polite" });
  section.append(
    h("h2", { id: "delivery-title" }, t("deliveries.detail", { id: delivery.id })),
    h("dl", { class: "summary" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => redeliver(delivery, refresh) }, t("deliveries.redeliver")),
      h("button", { type: "button", class: "secondary", onclick: refresh }, t("deliveries.refresh")),
    ),
    outcome,
    attemptsTable(delivery.attempts_made),
  );
  return section;
}

function attemptsTable(attempts) {
  if (!attempts.length) return h("p", {}, t("deliveries.noAttempts"));
  const columns = [
    { label: t("deliveries.attemptedAt"), value: (attempt) => dateTime(attempt.attempted_at) },
    { label: t("deliveries.statusCode"), value: (attempt) => (attempt.status_code === null ? "" : attempt.status_code), numeric: true },
    { label: t("deliveries.error"), value: (attempt) => attempt.error || "" },
    { label: t("deliveries.latency"), value: (attempt) => attempt.latency_ms, numeric: true },
  ];
  return wideTable(t("deliveries.attemptsMade"), columns, attempts);
}

// The API answers the delivery that will be sent (a voided grant's redelivery is a new one): show it.
async function redeliver(delivery, refresh) {
  let queued;
  try {
    queued = await post(`/mynapoint/deliveries/${encodeURIComponent(delivery.id)}/redeliver`, {}, once());
  } catch (error) {
    replace(document.getElementById("redeliver-outcome"), errorView(error));
    return;
  }
  if (queued.id !== delivery.id) {
    window.location.hash = href("deliveries", { event: queued.id });
    return;
  }
  await refresh();
  replace(document.getElementById("redeliver-outcome"), h("p", { class: "notice" }, t("deliveries.redelivered", { id: queued.id })));
}

// Recover and ping name a provider: a provider key's own (the API refuses another's), or the one ops types.
function providerTools({ params, identity }) {
  const provider = h("input", { name: "tool-provider", value: (identity && identity.provider_id) || params.get("provider") || "", required: true, autocomplete: "off" });
  const since = h("input", { type: "datetime-local", name: "since", required: true });
  const until = h("input", { type: "datetime-local", name: "until" });
  const outcome = h("div", { id: "tools-outcome", "aria-live": "polite" });
  const path = (rest) => `/mynapoint/providers/${encodeURIComponent(provider.value.trim())}${rest}`;
  const recover = async (event) => {
    event.preventDefault();
    const body = { since: jstInstant(since.value) };
    if (until.value) body.until = jstInstant(until.value);
    try {
      replace(outcome, recoveryResult(await post(path("/recover"), body, once())));
    } catch (error) {
      replace(outcome, errorView(error));
    }
  };
  const ping = async () => {
    if (!provider.reportValidity()) return;
    try {
      const queued = await post(path("/ping"));
      replace(outcome, h("p", { class: "notice" }, t("deliveries.pinged", { id: queued.id }), " ", h("a", { href: href("deliveries", { event: queued.id }) }, t("deliveries.detail", { id: queued.id }))));
    } catch (error) {
      replace(outcome, errorView(error));
    }
  };
  return h(
    "section",
    { "aria-labelledby": "tools-title" },
    h("h2", { id: "tools-title" }, t("deliveries.tools")),
    h(
      "form",
      { class: "filters", onsubmit: recover },
      field(t("deliveries.provider"), provider),
      field(t("deliveries.since"), since),
      field(t("deliveries.until"), until),
      h("button", { type: "submit" }, t("deliveries.recover")),
      h("button", { type: "button", class: "secondary", onclick: ping }, t("deliveries.ping")),
    ),
    outcome,
  );
}

function recoveryResult(result) {
  const parts = [h("p", { class: "notice" }, t("deliveries.recovered", { count: result.queued }))];
  if (result.deliveries.length) {
    parts.push(h("ul", {}, result.deliveries.map((id) => h("li", {}, h("a", { href: href("deliveries", { event: id }) }, id)))));
  }
  if (result.skipped.length) {
    const columns = [
      { label: t("deliveries.id"), value: (skip) => skip.event_id },
      { label: t("deliveries.code"), value: (skip) => h("code", {}, skip.code) },
      { label: t("deliveries.message"), value: (skip) => skip.message },
    ];
    parts.push(table(t("deliveries.skipped"), columns, result.skipped));
  }
  return h("div", {}, parts);
}
