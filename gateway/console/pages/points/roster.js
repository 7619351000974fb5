// Roster upload: a CSV file (header row; the API's columns) sent as text/csv. The API writes all rows or
// none and answers each bad row's error, shown as a table.

import { errorView, post } from "../../api.js";
import { field, h, replace, table } from "../../dom.js";
import { addLabels, t } from "../../i18n.js";
import { programPath } from "./paths.js";

addLabels({
  ja: {
    "points.roster": "名簿の登録",
    "points.rosterFile": "名簿ファイル（CSV）",
    "points.rosterHint": "1行目は見出し（myki_id, birth_date, household_with_children, income_band, activity_participation, card_applied_on）。1行でも誤りがあると何も登録されません。",
    "points.upload": "登録する",
    "points.upserted": "{count}件を登録しました。",
    "points.rejected": "誤りのある行があるため、何も登録していません。",
    "points.rowErrors": "行ごとの誤り",
    "points.row": "行",
    "points.field": "項目",
    "points.message": "内容",
  },
  en: {
    "points.roster": "Roster upload",
    "points.rosterFile": "Roster file (CSV)",
    "points.rosterHint": "A header row first (myki_id, birth_date, household_with_children, income_band, activity_participation, card_applied_on). With any bad row nothing is written.",
    "points.upload": "Upload",
    "points.upserted": "{count} rows written.",
    "points.rejected": "Some rows are wrong, so nothing was written.",
    "points.rowErrors": "Errors by row",
    "points.row": "Row",
    "points.field": "Field",
    "points.message": "Problem",
  },
});

export function rosterView(program) {
  const file = h("input", { type: "file", name: "roster", accept: ".csv,text/csv", required: true });
  const outcome = h("div", { class: "roster-outcome", "aria-live": "polite" });
  const upload = async (event) => {
    event.preventDefault();
    try {
      const result = await post(programPath(program, "/roster"), file.files[0], { headers: { "Content-Type": "text/csv" } });
      replace(outcome, uploadResult(result));
    } catch (error) {
      replace(outcome, errorView(error));
    }
  };
  return h(
    "section",
    { "aria-labelledby": "roster-title" },
    h("h3", { id: "roster-title" }, t("points.roster")),
    h("form", { class: "roster", onsubmit: upload }, field(t("points.rosterFile"), file, t("points.rosterHint")), h("button", { type: "submit" }, t("points.upload"))),
    outcome,
  );
}

function uploadResult(result) {
  if (!result.errors.length) return h("p", { class: "notice" }, t("points.upserted", { count: result.upserted }));
  const columns = [
    { label: t("points.row"), value: (error) => error.row, numeric: true },
    { label: t("points.field"), value: (error) => (error.field ? h("code", {}, error.field) : "") },
    { label: t("points.message"), value: (error) => error.message },
  ];
  return h("div", { class: "error", role: "alert" }, h("p", { class: "error-title" }, t("points.rejected")), table(t("points.rowErrors"), columns, result.errors));
}
