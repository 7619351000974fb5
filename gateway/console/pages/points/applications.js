// A program's applications with filters (status, provider, created from/to): the filters are the route's
// parameters (#/points?program=…&status=active&from=2023-06-01), so a filtered list can be linked to.

import { errorView, get } from "../../api.js";
import { field, h } from "../../dom.js";
import { dateTime, jstDayStart, wideTable, yen } from "../../format.js";
import { addLabels, t } from "../../i18n.js";
import { programPath } from "./paths.js";

addLabels({
  ja: {
    "points.applications": "申込み",
    "points.filters": "絞り込み",
    "points.filter": "絞り込む",
    "points.appStatus": "申込みの状態",
    "points.appStatus.any": "すべて",
    "points.appStatus.active": "有効",
    "points.appStatus.unlinked": "連携解除",
    "points.provider": "決済事業者ID",
    "points.from": "申込日（から）",
    "points.to": "申込日（まで）",
    "points.dayHint": "日本時間の日付",
    "points.application": "申込みID",
    "points.account": "決済口座",
    "points.granted": "プレミアム付与の累計（上限の対象）",
    "points.created": "申込日時",
    "points.noApplications": "条件に合う申込みはありません。",
  },
  en: {
    "points.applications": "Applications",
    "points.filters": "Filters",
    "points.filter": "Filter",
    "points.appStatus": "Application status",
    "points.appStatus.any": "Any",
    "points.appStatus.active": "Active",
    "points.appStatus.unlinked": "Unlinked",
    "points.provider": "Provider ID",
    "points.from": "Applied from",
    "points.to": "Applied until",
    "points.dayHint": "A day in Japan time",
    "points.application": "Application ID",
    "points.account": "Payment account",
    "points.granted": "Premium points so far (toward the cap)",
    "points.created": "Applied at",
    "points.noApplications": "No application matches.",
  },
});

export async function applicationsView(program, { params, navigate }) {
  const section = h(
    "section",
    { "aria-labelledby": "applications-title" },
    h("h3", { id: "applications-title" }, t("points.applications")),
    filterForm(program, params, navigate),
  );
  let page;
  try {
    page = await get(programPath(program, "/applications"), {
      limit: 50,
      cursor: params.get("cursor"),
      status: params.get("status"),
      provider_id: params.get("provider"),
      created_from: jstDayStart(params.get("from")),
      created_to: jstDayStart(nextDay(params.get("to"))),
    });
  } catch (error) {
    section.append(errorView(error));
    return section;
  }
  if (!page.items.length) {
    section.append(h("p", {}, t("points.noApplications")));
    return section;
  }
  const columns = [
    { label: t("points.application"), value: (row) => h("code", {}, row.id) },
    { label: t("points.appStatus"), value: (row) => t(`points.appStatus.${row.status}`) },
    { label: t("points.provider"), value: (row) => row.provider_id },
    { label: t("points.account"), value: (row) => row.provider_account_id },
    { label: t("points.created"), value: (row) => dateTime(row.created_at) },
  ];
  // granted_yen counts toward a premium program's per-person cap; a fixed program's grants are not in it.
  if (program.kind === "premium") columns.splice(4, 0, { label: t("points.granted"), value: (row) => yen(row.granted_yen), numeric: true });
  section.append(wideTable(t("points.applications"), columns, page.items));
  if (page.next_cursor) {
    const next = { ...Object.fromEntries(params), cursor: page.next_cursor };
    section.append(h("button", { type: "button", class: "secondary", onclick: () => navigate("points", next) }, t("points.more")));
  }
  return section;
}

function filterForm(program, params, navigate) {
  const status = h(
    "select",
    { name: "status" },
    ["", "active", "unlinked"].map((value) =>
      h("option", { value, selected: value === (params.get("status") || "") }, t(`points.appStatus.${value || "any"}`)),
    ),
  );
  const provider = h("input", { name: "provider", value: params.get("provider") || "", autocomplete: "off" });
  const from = h("input", { type: "date", name: "from", value: params.get("from") || "" });
  const to = h("input", { type: "date", name: "to", value: params.get("to") || "" });
  const submit = (event) => {
    event.preventDefault();
    const chosen = { program: program.id };
    if (params.get("month")) chosen.month = params.get("month");
    for (const [name, control] of Object.entries({ status, provider, from, to })) {
      if (control.value.trim()) chosen[name] = control.value.trim();
    }
    navigate("points", chosen);
  };
  return h(
    "form",
    { class: "filters", "aria-label": t("points.filters"), onsubmit: submit },
    field(t("points.appStatus"), status),
    field(t("points.provider"), provider),
    field(t("points.from"), from, t("points.dayHint")),
    field(t("points.to"), to, t("points.dayHint")),
    h("button", { type: "submit" }, t("points.filter")),
  );
}

// The filter's last day is inclusive; the API's created_to is the instant after it.
function nextDay(day) {
  if (!day) return null;
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date + 1)).toISOString().slice(0, 10);
}

