// Point programs (#/points, municipality and ops keys): the programs the key may see; one program
// (#/points?program=…) with its state, budget chart, applications, roster upload and settlement.
// The API decides what the key sees: a municipality key gets its own programs, another's is the API's 404.

import { errorView, get, request } from "../api.js";
import { h, replace } from "../dom.js";
import { dateTime, wideTable, yen } from "../format.js";
import { addLabels, t } from "../i18n.js";
import { href } from "../router.js";
import { applicationsView } from "./points/applications.js";
import { budgetChart } from "./points/chart.js";
import { programPath } from "./points/paths.js";
import { rosterView } from "./points/roster.js";
import { settlementView } from "./points/settlement.js";

addLabels({
  ja: {
    "points.title": "自治体ポイント",
    "points.programs": "ポイント事業",
    "points.none": "見られるポイント事業はありません。",
    "points.name": "事業名",
    "points.id": "ID",
    "points.municipality": "自治体コード",
    "points.kind": "種類",
    "points.state": "状態",
    "points.budget": "予算",
    "points.reserved": "予約済み",
    "points.posted": "付与済み",
    "points.window": "受付期間",
    "points.back": "一覧へ戻る",
    "points.status.open": "受付中",
    "points.status.paused": "一時停止中",
    "points.status.closed": "終了",
    "points.kind.fixed": "定額",
    "points.kind.premium": "プレミアム",
    "points.actions": "受付の操作",
    "points.pause": "一時停止する",
    "points.resume": "受付を再開する",
    "points.close": "終了する",
    "points.changed": "状態を「{status}」にしました。",
    "points.chart": "予算の推移",
    "points.chartLabel": "予算・予約済み・付与済みの推移（日ごと）",
    "points.funded": "予算",
    "points.day": "日付（日本時間）",
    "points.noHistory": "まだ動きはありません。",
    "points.more": "次のページ",
  },
  en: {
    "points.title": "Point programs",
    "points.programs": "Programs",
    "points.none": "There are no point programs this key may see.",
    "points.name": "Name",
    "points.id": "ID",
    "points.municipality": "Municipality code",
    "points.kind": "Kind",
    "points.state": "State",
    "points.budget": "Budget",
    "points.reserved": "Reserved",
    "points.posted": "Posted",
    "points.window": "Window",
    "points.back": "Back to the list",
    "points.status.open": "Open",
    "points.status.paused": "Paused",
    "points.status.closed": "Closed",
    "points.kind.fixed": "Fixed",
    "points.kind.premium": "Premium",
    "points.actions": "Accepting applications",
    "points.pause": "Pause",
    "points.resume": "Resume",
    "points.close": "Close",
    "points.changed": "The program is now “{status}”.",
    "points.chart": "Budget over time",
    "points.chartLabel": "Budget, reserved and posted over time (by day)",
    "points.funded": "Funded",
    "points.day": "Day (Japan time)",
    "points.noHistory": "Nothing has moved yet.",
    "points.more": "Next page",
  },
});

export async function render(main, context) {
  const programId = context.params.get("program");
  replace(main, h("h1", {}, t("points.title")));
  if (programId) await programView(main, programId, context);
  else await programList(main, context);
}

async function programList(main, { params, navigate }) {
  let page;
  try {
    page = await get("/mynapoint/programs", { limit: 50, cursor: params.get("cursor") });
  } catch (error) {
    main.append(errorView(error));
    return;
  }
  if (!page.items.length) {
    main.append(h("p", { class: "notice" }, t("points.none")));
    return;
  }
  const columns = [
    { label: t("points.name"), value: (program) => h("a", { href: href("points", { program: program.id }) }, program.name) },
    { label: t("points.municipality"), value: (program) => program.municipality_code },
    { label: t("points.state"), value: statusBadge },
    { label: t("points.budget"), value: (program) => yen(program.budget_yen), numeric: true },
    { label: t("points.reserved"), value: (program) => yen(program.reserved_yen), numeric: true },
    { label: t("points.posted"), value: (program) => yen(program.posted_yen), numeric: true },
  ];
  main.append(wideTable(t("points.programs"), columns, page.items));
  if (page.next_cursor) {
    main.append(h("button", { type: "button", class: "secondary", onclick: () => navigate("points", { cursor: page.next_cursor }) }, t("points.more")));
  }
}

function statusBadge(program) {
  return h("span", { class: `program-status program-status-${program.status}` }, t(`points.status.${program.status}`));
}

async function programView(main, programId, context) {
  main.append(h("p", {}, h("a", { href: "#/points" }, t("points.back"))));
  let program;
  try {
    program = await get(programPath({ id: programId }));
  } catch (error) {
    main.append(errorView(error));
    return;
  }
  const rerender = () => render(main, context);
  main.append(h("h2", { id: "program-title" }, program.name), summary(program), statusActions(program, rerender));
  const [budget, applications, settlement] = await Promise.all([
    budgetSection(program),
    applicationsView(program, context),
    settlementView(program, context),
  ]);
  main.append(budget, applications, rosterView(program), settlement);
}

function summary(program) {
  const rows = [
    [t("points.id"), h("code", {}, program.id)],
    [t("points.municipality"), program.municipality_code],
    [t("points.kind"), t(`points.kind.${program.kind}`)],
    [t("points.state"), statusBadge(program)],
    [t("points.window"), `${dateTime(program.opens_at)} – ${dateTime(program.closes_at)}`],
    [t("points.budget"), yen(program.budget_yen)],
    [t("points.reserved"), yen(program.reserved_yen)],
    [t("points.posted"), yen(program.posted_yen)],
  ];
  return h("dl", { class: "summary" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

// Pause, resume or close: PATCH the program's status, then show the program as the API now answers it.
function statusActions(program, rerender) {
  const outcome = h("div", { "aria-live": "polite" });
  const change = async (status) => {
    try {
      await request("PATCH", programPath(program), { body: { status } });
    } catch (error) {
      replace(outcome, errorView(error));
      return;
    }
    await rerender();
    const notice = document.getElementById("status-outcome");
    if (notice) replace(notice, h("p", { class: "notice" }, t("points.changed", { status: t(`points.status.${status}`) })));
  };
  outcome.id = "status-outcome";
  const buttons = [];
  if (program.status === "open") buttons.push(["paused", "points.pause"]);
  else buttons.push(["open", "points.resume"]);
  if (program.status !== "closed") buttons.push(["closed", "points.close"]);
  return h(
    "section",
    { "aria-labelledby": "actions-title" },
    h("h3", { id: "actions-title" }, t("points.actions")),
    h("div", { class: "actions" }, buttons.map(([status, label]) => h("button", { type: "button", onclick: () => change(status) }, t(label)))),
    outcome,
  );
}

async function budgetSection(program) {
  const section = h("section", { "aria-labelledby": "chart-title" }, h("h3", { id: "chart-title" }, t("points.chart")));
  let history;
  try {
    history = await get(programPath(program, "/balance-history"));
  } catch (error) {
    section.append(errorView(error));
    return section;
  }
  if (!history.days.length) {
    section.append(h("p", {}, t("points.noHistory")));
    return section;
  }
  const columns = [
    { label: t("points.day"), value: (day) => day.day },
    { label: t("points.funded"), value: (day) => yen(day.budget_yen), numeric: true },
    { label: t("points.reserved"), value: (day) => yen(day.reserved_yen), numeric: true },
    { label: t("points.posted"), value: (day) => yen(day.posted_yen), numeric: true },
  ];
  section.append(
    budgetChart(history.days),
    h("details", {}, h("summary", {}, t("points.chartLabel")), wideTable(t("points.chart"), columns, history.days)),
  );
  return section;
}
