// What can my town get (#/town?municipality=012092&year=2023; where /console opens, no key needed): the
// catalogue by name, a municipality found by name or code, every program's status and amount from the finder,
// the missing inputs as a form, and a calculation with its trace and the comparison with the year before.

import { errorView, get, post } from "../api.js";
import { field, groupDigits, h, replace } from "../dom.js";
import { language, t } from "../i18n.js";
import { calculationView, loadCalculation, yen } from "./town/calculation.js";
import { inputsForm } from "./town/inputs.js";
import "./town/labels.js";

// What the user did on this page, kept across re-renders (a language switch) while the route stays.
const state = { route: "", query: "", matches: null, inputs: {}, items: {}, calculation: null };

// Renders are numbered: one that a later render overtook (a language switch, a second answer) adds nothing.
let renders = 0;

export async function render(main, { params, navigate }) {
  const rendering = ++renders;
  const current = () => rendering === renders;
  const code = params.get("municipality");
  replace(main, h("h1", {}, t("town.title")), h("p", {}, t("town.intro")));
  try {
    const catalogue = await get("/subsidy/programs", { limit: 500 });
    if (!current()) return;
    const years = commonYears(catalogue.items);
    const year = Number(params.get("year")) || years[years.length - 1];
    resetOnNewRoute(`${code}:${year}`);
    const choose = (chosen, chosenYear) => navigate("town", { municipality: chosen, year: chosenYear });
    main.append(searchView(code, year, years, choose));
    if (!code) {
      main.append(catalogueView(catalogue.items));
      return;
    }
    const page = { main, catalogue: catalogue.items, code, year, refresh: () => render(main, { params, navigate }) };
    const views = [await municipalityView(code), await resultsView(page)];
    if (!current()) return;
    main.append(...views);
    if (state.calculation) showCalculation(page);
  } catch (error) {
    if (current()) main.append(errorView(error));
  }
}

function resetOnNewRoute(route) {
  if (state.route === route) return;
  Object.assign(state, { route, inputs: {}, items: {}, calculation: null });
}

// The fiscal years every program's rules cover, oldest first: the years a whole finder answer can be for.
function commonYears(programs) {
  return programs
    .map((program) => program.fiscal_years)
    .reduce((common, years) => common.filter((year) => years.includes(year)))
    .sort();
}

function programName(programs, id) {
  const program = programs.find((entry) => entry.id === id);
  return language() === "en" ? program.name_en : program.name_ja;
}

function byName(programs) {
  return [...programs].sort((a, b) => programName(programs, a.id).localeCompare(programName(programs, b.id), language()));
}

function catalogueView(programs) {
  return h(
    "section",
    { "aria-labelledby": "catalogue-title" },
    h("h2", { id: "catalogue-title" }, t("town.catalogue")),
    h("ul", { class: "catalogue" }, byName(programs).map((program) =>
      h("li", {}, h("strong", {}, programName(programs, program.id)), ` — ${program.summary} `, h("span", { class: "hint" }, program.citation)),
    )),
  );
}

function searchView(code, year, years, choose) {
  const query = h("input", { type: "search", name: "q", value: state.query, maxlength: 32, required: true });
  const yearSelect = h(
    "select",
    { name: "year", onchange: () => code && choose(code, yearSelect.value) },
    years.map((option) => h("option", { value: option, selected: option === year }, t("town.fiscalYearOption", { year: option }))),
  );
  const matches = h("div", { "aria-live": "polite" }, state.matches ? matchesView(state.matches, year, choose) : null);
  const form = h(
    "form",
    {
      role: "search",
      class: "search",
      onsubmit: async (event) => {
        event.preventDefault();
        state.query = query.value.trim();
        try {
          state.matches = (await get("/subsidy/municipalities", { q: state.query, limit: 50 })).items;
          replace(matches, matchesView(state.matches, year, choose));
        } catch (error) {
          replace(matches, errorView(error));
        }
      },
    },
    field(t("town.searchLabel"), query, t("town.searchHint")),
    h("button", { type: "submit" }, t("town.searchButton")),
  );
  return h(
    "section",
    { "aria-labelledby": "search-title", class: "card" },
    h("h2", { id: "search-title" }, t("town.search")),
    form,
    matches,
    field(t("town.fiscalYear"), yearSelect),
  );
}

function matchesView(matches, year, choose) {
  if (!matches.length) return h("p", {}, t("town.noMatch"));
  return h(
    "div",
    {},
    h("h3", {}, t("town.matches")),
    h("ul", { class: "results-list" }, matches.map((municipality) =>
      h("li", {}, h("button", { type: "button", onclick: () => { state.matches = null; choose(municipality.code, year); } },
        t("town.choose", { name: municipality.name, prefecture: municipality.prefecture, code: municipality.code }))),
    )),
  );
}

async function municipalityView(code) {
  const municipality = await get(`/subsidy/municipalities/${encodeURIComponent(code)}`);
  const kaso = municipality.kaso_type ? t(`town.kaso.${municipality.kaso_type}`) : t("town.kaso.none");
  const known = (value) => (value === null || value === undefined ? t("town.unknown") : value);
  return h(
    "section",
    { "aria-labelledby": "municipality-title", class: "municipality" },
    h("h2", { id: "municipality-title" }, t("town.municipality", { name: municipality.name, prefecture: municipality.prefecture })),
    h("dl", { class: "facts" },
      h("dt", {}, t("town.kaso")), h("dd", {}, kaso),
      h("dt", {}, t("town.fsi")), h("dd", {}, String(known(municipality.fiscal_strength_index))),
      h("dt", {}, t("town.population")),
      h("dd", {}, municipality.population_2020 === null ? t("town.unknown") : groupDigits(municipality.population_2020)),
    ),
  );
}

async function resultsView(page) {
  const finder = await post("/subsidy/finder", { fiscal_year: page.year, municipality_code: page.code, inputs: {} });
  const items = finder.items.map((item) => state.items[item.program] || item);
  const ordered = byName(page.catalogue).map((program) => items.find((item) => item.program === program.id)).filter(Boolean);
  return h(
    "section",
    { "aria-labelledby": "results-title" },
    h("h2", { id: "results-title" }, t("town.results")),
    h("ul", { class: "programs" }, ordered.map((item) => h("li", {}, itemView(page, item)))),
  );
}

function itemView(page, item) {
  const name = programName(page.catalogue, item.program);
  return h(
    "article",
    { class: "card program", "data-program": item.program, "data-status": item.status, "aria-label": name },
    h("h3", {}, name),
    h("p", {}, `${t("town.status")}: `, h("span", { class: `status-${item.status}` }, t(`town.status.${item.status}`))),
    item.notice ? h("p", { class: "hint" }, item.notice) : null,
    item.status === "eligible" ? eligibleView(page, item) : null,
    item.status === "ineligible" ? reasonsView(item) : null,
    item.status === "needs_inputs" ? needsInputsView(page, item) : null,
  );
}

function eligibleView(page, item) {
  return [
    h("p", { class: "amount" }, `${t("town.amount")}: `, h("strong", {}, yen(item.amount))),
    h("button", { type: "button", onclick: () => openCalculation(page, item.program) }, t("town.open")),
  ];
}

function reasonsView(item) {
  return h(
    "div",
    {},
    h("h4", {}, t("town.reasons")),
    h("ul", {}, item.reasons.map((reason) => h("li", {}, reason.message, " ", h("span", { class: "citation" }, reason.citation)))),
  );
}

function needsInputsView(page, item) {
  const cap = item.max_amount === null || item.max_amount === undefined ? t("town.noMaxAmount") : yen(item.max_amount);
  const given = state.inputs[item.program] || {};
  return [
    h("p", { class: "amount" }, `${t("town.maxAmount")}: `, h("strong", {}, cap)),
    h("details", { open: Object.keys(given).length > 0 },
      h("summary", {}, t("town.missing")),
      inputsForm(item, given, (inputs) => findAgain(page, item.program, inputs)),
    ),
  ];
}

// The finder again with this program's inputs: its answer for this program replaces the one shown, unless the
// inputs were sent again meanwhile (the answers may arrive in either order; the last inputs sent win).
const sent = {};

async function findAgain(page, program, inputs) {
  const sending = (sent[program] = (sent[program] || 0) + 1);
  const finder = await post("/subsidy/finder", { fiscal_year: page.year, municipality_code: page.code, inputs });
  if (sending !== sent[program]) return;
  state.inputs[program] = inputs;
  state.items[program] = finder.items.find((item) => item.program === program);
  await page.refresh();
  const heading = page.main.querySelector(`article[data-program="${CSS.escape(program)}"] h3`);
  heading?.setAttribute("tabindex", "-1");
  heading?.focus();
}

async function openCalculation(page, program) {
  try {
    state.calculation = await loadCalculation(program, page.year, page.code, state.inputs[program] || {});
  } catch (error) {
    page.main.append(errorView(error));
    return;
  }
  showCalculation(page);
  const heading = page.main.querySelector("#calculation-title");
  heading.focus();
  heading.scrollIntoView({ block: "start" });
}

function showCalculation(page) {
  page.main.querySelector("section.calculation")?.remove();
  const name = programName(page.catalogue, state.calculation.program);
  const close = () => {
    state.calculation = null;
    page.main.querySelector("section.calculation")?.remove();
  };
  page.main.append(calculationView(state.calculation, name, close));
}
