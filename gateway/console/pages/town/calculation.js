// One program's calculation with its trace (each step's formula, inputs, result and cited parameters) and,
// where the program's rules changed in the fiscal year shown, the comparison with the year before.

import { errorView, get, post } from "../../api.js";
import { groupDigits, h, table } from "../../dom.js";
import { t } from "../../i18n.js";

// The calculation, its timeline and (when a parameter changed in `fiscalYear`) the comparison, from the API.
export async function loadCalculation(program, fiscalYear, municipalityCode, inputs) {
  const request = { fiscal_year: fiscalYear, municipality_code: municipalityCode, inputs };
  const [result, timeline] = await Promise.all([
    post(`/subsidy/programs/${encodeURIComponent(program)}/calculate`, request),
    get(`/subsidy/programs/${encodeURIComponent(program)}/timeline`),
  ]);
  const changed = timeline.parameters.filter((parameter) => parameter.changed_in.includes(fiscalYear));
  const baselineYear = fiscalYear - 1;
  let comparison = null;
  if (changed.length && timeline.fiscal_years.includes(baselineYear)) {
    // Inputs valid in one year may not be in the other (a lender accepted only from FY2023): the API's
    // refusal is shown in place of the comparison.
    comparison = await post(`/subsidy/programs/${encodeURIComponent(program)}/compare`, {
      municipality_code: municipalityCode,
      inputs,
      baseline: { fiscal_year: baselineYear },
      reform: { fiscal_year: fiscalYear },
    }).catch((error) => ({ error }));
  }
  return { program, result, comparison, changed: changed.map((parameter) => parameter.name), baselineYear };
}

export function yen(amount) {
  return t("yen", { amount: groupDigits(amount) });
}

// A value from the API as text: integers with digit grouping, exact rates and decimals as given, lists and
// objects as JSON.
export function valueText(value) {
  if (Number.isInteger(value)) return groupDigits(value);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function calculationView(calculation, programName, close) {
  const { result } = calculation;
  return h(
    "section",
    { class: "calculation", "aria-labelledby": "calculation-title", "data-program": calculation.program },
    h("h2", { id: "calculation-title", tabindex: "-1" }, t("calc.title", { program: programName })),
    h("button", { type: "button", class: "secondary", onclick: close }, t("calc.close")),
    resultView(result),
    h("h3", {}, t("calc.trace")),
    h("ol", { class: "trace" }, (result.trace || []).map(stepView)),
    calculation.comparison ? comparisonView(calculation) : null,
  );
}

function resultView(result) {
  const lines = Object.entries(result.breakdown);
  return h(
    "div",
    { class: "card" },
    h("h3", {}, t("calc.result", { year: result.fiscal_year })),
    h("p", { class: "amount" }, h("strong", {}, yen(result.amount)), ` — ${result.eligible ? t("calc.eligible") : t("calc.ineligible")}`),
    result.notice ? h("p", { class: "hint" }, result.notice) : null,
    result.reasons.length ? h("ul", {}, result.reasons.map((reason) => h("li", {}, reason.message))) : null,
    lines.length
      ? table(t("calc.breakdown"), [
          { label: t("calc.line"), value: ([name]) => name },
          { label: t("calc.value"), value: ([, value]) => valueText(value), numeric: true },
        ], lines)
      : null,
  );
}

function stepView(step) {
  return h(
    "li",
    { class: "card step" },
    h("h4", {}, t("calc.step", { step: step.step, rule: step.rule })),
    h("dl", {},
      h("dt", {}, t("calc.formula")), h("dd", {}, h("code", {}, step.formula)),
      h("dt", {}, t("calc.citation")), h("dd", { class: "citation" }, step.citation),
      h("dt", {}, t("calc.inputs")), h("dd", {}, h("code", {}, JSON.stringify(step.inputs))),
      h("dt", {}, t("calc.stepResult")), h("dd", {}, valueText(step.result)),
      step.notes ? [h("dt", {}, t("calc.notes")), h("dd", {}, step.notes.join(" / "))] : null,
    ),
    step.parameters.length ? parametersTable(t("calc.parameters", { step: step.step }), step.parameters) : null,
  );
}

function parametersTable(caption, parameters) {
  return table(caption, [
    { label: t("calc.parameter"), value: (parameter) => parameter.name },
    { label: t("calc.value"), value: (parameter) => valueText(parameter.value) },
    { label: t("calc.period"), value: (parameter) => parameter.period },
    { label: t("calc.citation"), value: (parameter) => [parameter.citation, parameter.interpretation ? h("p", { class: "hint" }, parameter.interpretation) : null] },
  ], parameters);
}

function comparisonView(calculation) {
  const { comparison, baselineYear } = calculation;
  const years = { baseline: baselineYear, reform: calculation.result.fiscal_year };
  const title = h("h3", { id: "comparison-title" }, t("calc.compare", years));
  const intro = h("p", {}, t("calc.compareIntro", { ...years, changed: calculation.changed.join(", ") }));
  if (comparison.error) {
    return h("section", { class: "comparison", "aria-labelledby": "comparison-title" }, title, intro, errorView(comparison.error));
  }
  const sides = [[comparison.baseline, baselineYear], [comparison.reform, years.reform]];
  return h(
    "section",
    { class: "comparison", "aria-labelledby": "comparison-title" },
    title,
    intro,
    table(t("calc.compare", years), [
      { label: t("town.fiscalYear"), value: ([, year]) => t("calc.side", { year }) },
      { label: t("town.amount"), value: ([side]) => yen(side.amount), numeric: true },
      { label: t("town.status"), value: ([side]) => (side.eligible ? t("calc.eligible") : t("calc.ineligible")) },
    ], sides),
    h("p", {}, `${t("calc.difference", years)}: `, h("strong", {}, yen(comparison.difference.amount))),
    h("h4", {}, t("calc.changedSteps")),
    comparison.changed_steps.length
      ? comparison.changed_steps.map((step) => changedStepView(step, years))
      : h("p", {}, t("calc.noChangedSteps")),
  );
}

function changedStepView(step, years) {
  return h(
    "div",
    { class: "card" },
    h("p", {}, h("strong", {}, step.rule), ` — ${step.citation || ""}`),
    h("p", {}, `${t("calc.side", { year: years.baseline })}: ${valueText(step.baseline_result)} → ${t("calc.side", { year: years.reform })}: ${valueText(step.reform_result)}`),
    table(t("calc.changedSteps"), [
      { label: t("calc.parameter"), value: (change) => change.name },
      { label: t("calc.side", { year: years.baseline }), value: (change) => [valueText(change.baseline_value), h("p", { class: "hint" }, change.baseline_citation || "")] },
      { label: t("calc.side", { year: years.reform }), value: (change) => [valueText(change.reform_value), h("p", { class: "hint" }, change.reform_citation || "")] },
    ], step.parameters),
  );
}
