// Recommendations (#/matching?market=…&for=…&need=…): pick the market and the party (a municipality key gets
// its own municipality, from GET /auth/whoami), or one of the municipality's needs; the ranked candidates with
// their score parts as bars, the shared fields, the adviser's years of use in the advisor market, and the
// excluded candidates with the API's reasons.

import { get } from "../../api.js";
import { field, h, table } from "../../dom.js";
import { t } from "../../i18n.js";
import { href } from "../../router.js";
import {
  MARKETS,
  PARTY_KINDS,
  captionUnderHeading,
  choice,
  facts,
  fieldList,
  fieldNames,
  marketLabel,
  partyLabel,
  reasonList,
  shown,
} from "./common.js";

const PAGE_SIZE = 20;
// Each score part's range as docs/domain.md states it (services/matching/scoring.py): a bar shows the part's
// share of its own range, and the figure beside it says the same in points.
const PART_RANGES = { field_overlap: 50, region: 20, capacity: 10, experience: 10, stated_preferences: 10 };

export async function renderRecommendations(section, { params, identity, navigate }) {
  const ownCode = identity.role === "municipality" ? identity.municipality_code : null;
  const subject = ownCode ? `municipality:${ownCode}` : params.get("for");
  const market = MARKETS.includes(params.get("market")) ? params.get("market") : null;
  section.append(requestForm(market, subject, ownCode, navigate));
  const names = await shown(section, fieldNames());
  if (!names) return;
  const [kind, code] = (subject || "").split(":", 2);
  let needs = [];
  if (kind === "municipality" && code) {
    const path = `/matching/municipalities/${encodeURIComponent(code)}/needs`;
    const answer = await shown(section, get(path, { limit: 100 }));
    if (!answer) return;
    needs = answer.items;
    section.append(needsView(code, subject, needs, names, navigate));
  }
  if (market && subject) await showRecommendations(section, { market, subject, params, needs, names });
}

function requestForm(market, subject, ownCode, navigate) {
  const marketSelect = choice("market", MARKETS, marketLabel, market);
  const [kind, ident] = (subject || "municipality:").split(":", 2);
  const kindSelect = choice("kind", PARTY_KINDS, (value) => t(`matching.party.${value}`), kind);
  const identInput = h("input", { name: "party", value: ident || "", required: true, autocomplete: "off" });
  const submit = (event) => {
    event.preventDefault();
    const party = ownCode ? `municipality:${ownCode}` : `${kindSelect.value}:${identInput.value.trim()}`;
    navigate("matching", { market: marketSelect.value, for: party });
  };
  const party = ownCode
    ? h("p", {}, t("matching.ownParty", { party: partyLabel(subject) }))
    : [field(t("matching.partyKind"), kindSelect), field(t("matching.partyId"), identInput, t("matching.partyIdHint"))];
  return h(
    "form",
    { class: "matching-request", "aria-labelledby": "matching-request-title", onsubmit: submit },
    h("h2", { id: "matching-request-title" }, t("matching.request")),
    h("div", { class: "inline-fields" }, field(t("matching.market"), marketSelect), party),
    h("button", { type: "submit" }, t("matching.show")),
  );
}

function needsView(code, subject, needs, names, navigate) {
  const title = h("h2", { id: "matching-needs-title" }, t("matching.needs", { code }));
  if (!needs.length) return h("section", { "aria-labelledby": title.id }, title, h("p", {}, t("matching.needs.none")));
  const pick = (need) => {
    const params = { market: need.market, for: subject, need: need.id };
    const onclick = () => navigate("matching", params);
    return h("button", { type: "button", class: "secondary", onclick }, t("matching.need.recommend"));
  };
  const open = (need) => t(need.open ? "matching.need.isOpen" : "matching.need.closed");
  const columns = [
    { label: t("matching.need.title"), value: (need) => need.title },
    { label: t("matching.market"), value: (need) => marketLabel(need.market) },
    { label: t("matching.need.fields"), value: (need) => fieldList(need.fields, names) },
    { label: t("matching.need.capacity"), value: (need) => String(need.capacity), numeric: true },
    { label: t("matching.need.open"), value: open },
    { label: t("matching.need.recommend"), value: pick },
  ];
  const needsTable = captionUnderHeading(table(title.textContent, columns, needs));
  return h("section", { "aria-labelledby": title.id }, title, needsTable);
}

async function showRecommendations(section, { market, subject, params, needs, names }) {
  const start = Math.max(0, Number.parseInt(params.get("start") || "0", 10) || 0);
  const query = { market, for: subject, explain: true, limit: PAGE_SIZE, cursor: params.get("cursor") };
  const answer = await shown(section, get("/matching/recommendations", query));
  if (!answer) return;
  const heading = t("matching.results", {
    party: partyLabel(subject),
    market: marketLabel(market),
    year: answer.fiscal_year,
  });
  const need = needs.find((entry) => entry.id === params.get("need"));
  const candidates = answer.items.length
    ? candidatesTable(heading, answer.items, start, names)
    : h("p", {}, t("matching.noCandidates"));
  const next = { market, for: subject, cursor: answer.next_cursor, start: start + answer.items.length };
  section.append(
    h(
      "section",
      { class: "recommendations", "aria-labelledby": "matching-results-title" },
      h("h2", { id: "matching-results-title" }, heading),
      need ? h("p", {}, t("matching.forNeed", { title: need.title })) : null,
      answer.adviser_years ? adviserYearsView(answer.adviser_years) : null,
      candidates,
      answer.next_cursor ? h("p", {}, h("a", { href: href("matching", next) }, t("matching.next"))) : null,
      excludedView(answer.excluded || []),
    ),
  );
}

function adviserYearsView(years) {
  const used = years.years_used.length ? years.years_used.join(", ") : t("matching.yearsUsed.none");
  const thisYear = t("matching.yearOfUse", { year: years.fiscal_year, n: years.year_of_use });
  return h(
    "div",
    { class: "card adviser-years" },
    h("h3", {}, t("matching.adviserYears", { max: years.max_years })),
    facts([
      [t("matching.yearsUsed"), used],
      [thisYear, t(years.within_limit ? "matching.withinLimit" : "matching.overLimit")],
    ]),
  );
}

function partyCell(entry) {
  return [h("strong", { class: "candidate-name" }, entry.name), h("br"), h("code", {}, entry.candidate)];
}

function candidatesTable(caption, candidates, start, names) {
  const columns = [
    { label: t("matching.rank"), value: (entry) => String(entry.rank), numeric: true },
    { label: t("matching.candidate"), value: partyCell },
    { label: t("matching.score"), value: (entry) => t("matching.points", { score: entry.score }), numeric: true },
    { label: t("matching.parts"), value: (entry) => scoreBars(entry.score_parts) },
    { label: t("matching.sharedFields"), value: (entry) => fieldList(entry.shared_fields, names) },
  ];
  const ranked = candidates.map((entry, index) => ({ ...entry, rank: start + index + 1 }));
  return captionUnderHeading(table(caption, columns, ranked));
}

// One bar per part, its width set through the CSSOM (the CSP forbids style attributes); the figure is the text.
function scoreBars(parts) {
  const bar = ([part, value]) => {
    const range = PART_RANGES[part];
    const fill = h("span", { class: "bar-fill" });
    fill.style.width = `${range ? Math.min(100, (100 * value) / range) : 0}%`;
    return h(
      "li",
      { "data-part": part },
      h("span", { class: "part-label" }, t(`matching.part.${part}`)),
      h("span", { class: "bar", "aria-hidden": "true" }, fill),
      h("span", { class: "part-value" }, t("matching.partValue", { value, max: range ?? "" })),
    );
  };
  return h("ul", { class: "score-parts" }, Object.entries(parts).map(bar));
}

function excludedView(excluded) {
  if (!excluded.length) return null;
  const columns = [
    { label: t("matching.candidate"), value: partyCell },
    { label: t("matching.reasons"), value: (entry) => reasonList(entry.reasons) },
  ];
  const summary = t("matching.excluded", { count: excluded.length });
  return h(
    "details",
    { class: "excluded", open: excluded.length <= PAGE_SIZE },
    h("summary", {}, summary),
    captionUnderHeading(table(summary, columns, excluded)),
  );
}
