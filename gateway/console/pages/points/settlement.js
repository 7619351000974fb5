// The settlement of a month for the program's municipality: the API's table, and its CSV fetched with the
// key in the Authorization header and saved through a Blob link (the key never goes in a URL).

import { errorView, get, request } from "../../api.js";
import { field, h, replace } from "../../dom.js";
import { wideTable, yen } from "../../format.js";
import { addLabels, t } from "../../i18n.js";

addLabels({
  ja: {
    "points.settlement": "月次の精算",
    "points.settlementScope": "精算は自治体（{code}）と決済事業者ごとで、この自治体のすべての事業の合計です。",
    "points.month": "対象月",
    "points.show": "表示する",
    "points.csv": "CSVをダウンロード",
    "points.settlementOf": "{month}の精算",
    "points.noSettlement": "この月の精算はありません。",
    "points.credited": "付与件数",
    "points.creditedYen": "付与額",
    "points.revoked": "取消件数",
    "points.revokedYen": "取消額",
    "points.net": "差引",
  },
  en: {
    "points.settlement": "Monthly settlement",
    "points.settlementScope": "Settlements are per municipality ({code}) and provider: all of this municipality's programs together.",
    "points.month": "Month",
    "points.show": "Show",
    "points.csv": "Download CSV",
    "points.settlementOf": "Settlement of {month}",
    "points.noSettlement": "Nothing to settle in this month.",
    "points.credited": "Credited",
    "points.creditedYen": "Credited yen",
    "points.revoked": "Revoked",
    "points.revokedYen": "Revoked yen",
    "points.net": "Net",
  },
});

// This month in Japan time, YYYY-MM.
function thisMonth() {
  return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Tokyo" }).slice(0, 7);
}

export async function settlementView(program, { params, navigate }) {
  const month = params.get("month") || thisMonth();
  const query = { month, municipality: program.municipality_code };
  const picker = h("input", { type: "month", name: "month", value: month, required: true });
  const show = (event) => {
    event.preventDefault();
    navigate("points", { ...Object.fromEntries(params), month: picker.value });
  };
  const section = h(
    "section",
    { "aria-labelledby": "settlement-title" },
    h("h3", { id: "settlement-title" }, t("points.settlement")),
    h("p", { class: "hint" }, t("points.settlementScope", { code: program.municipality_code })),
    h("form", { class: "filters", onsubmit: show }, field(t("points.month"), picker), h("button", { type: "submit" }, t("points.show"))),
  );
  let report;
  try {
    report = await get("/mynapoint/settlements", query);
  } catch (error) {
    section.append(errorView(error));
    return section;
  }
  const outcome = h("div", { "aria-live": "polite" });
  section.append(
    report.items.length ? wideTable(t("points.settlementOf", { month: report.month }), columns(), report.items) : h("p", {}, t("points.noSettlement")),
    h("button", { type: "button", class: "secondary", onclick: () => downloadCsv(query, outcome) }, t("points.csv")),
    outcome,
  );
  return section;
}

function columns() {
  return [
    { label: t("points.municipality"), value: (line) => line.municipality_code },
    { label: t("points.provider"), value: (line) => line.provider_id },
    { label: t("points.credited"), value: (line) => line.credited_count, numeric: true },
    { label: t("points.creditedYen"), value: (line) => yen(line.credited_yen), numeric: true },
    { label: t("points.revoked"), value: (line) => line.revoked_count, numeric: true },
    { label: t("points.revokedYen"), value: (line) => yen(line.revoked_yen), numeric: true },
    { label: t("points.net"), value: (line) => yen(line.net_yen), numeric: true },
  ];
}

async function downloadCsv(query, outcome) {
  let response;
  try {
    response = await request("GET", "/mynapoint/settlements", { query, headers: { Accept: "text/csv" }, raw: true });
  } catch (error) {
    replace(outcome, errorView(error));
    return;
  }
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `settlement-${query.municipality}-${query.month}.csv`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
  replace(outcome);
}
