// Rounds (#/matching?view=rounds&market=…&status=…): the rounds with filters; one round
// (…&round=ID) with its assignment, its stability certificate and the unmatched participants, and one
// participant's explanation (…&participant=PARTY, GET /matching/rounds/{id}/participants/{participant}).

import { get } from "../../api.js";
import { field, h, table } from "../../dom.js";
import { t } from "../../i18n.js";
import { href } from "../../router.js";
import { MARKETS, choice, facts, marketLabel, partyLabel, reasonList, shown, when } from "./common.js";

const STATUSES = ["open", "solved"];

export async function renderRounds(section, { params, identity, navigate }) {
  const roundId = params.get("round");
  if (roundId) await showRound(section, roundId, params.get("participant"), identity);
  else await showRoundList(section, params, navigate);
}

// --- the list -----------------------------------------------------------------------------------

async function showRoundList(section, params, navigate) {
  const market = MARKETS.includes(params.get("market")) ? params.get("market") : null;
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : null;
  section.append(filterForm(market, status, navigate));
  const answer = await shown(section, get("/matching/rounds", { market, status, cursor: params.get("cursor") }));
  if (!answer) return;
  if (!answer.items.length) {
    section.append(h("p", {}, t("matching.noRounds")));
    return;
  }
  const columns = [
    { label: t("matching.roundName"), value: (round) => h("a", { href: roundHref(round.id) }, round.name) },
    { label: t("matching.market"), value: (round) => marketLabel(round.market) },
    { label: t("matching.proposingSide"), value: (round) => t(`matching.party.${round.proposing_side}`) },
    { label: t("matching.status"), value: (round) => t(`matching.status.${round.status}`) },
    { label: t("matching.tieBreak"), value: (round) => tieBreakLabel(round.tie_break) },
    { label: t("matching.created"), value: (round) => when(round.created_at) },
    { label: t("matching.solved"), value: (round) => when(round.solved_at) },
  ];
  section.append(table(t("matching.rounds"), columns, answer.items));
  if (answer.next_cursor) {
    const next = { view: "rounds", market, status, cursor: answer.next_cursor };
    section.append(h("a", { href: href("matching", withoutEmpty(next)) }, t("matching.nextRounds")));
  }
}

function filterForm(market, status, navigate) {
  const marketSelect = choice("market", MARKETS, marketLabel, market, t("matching.any"));
  const statusSelect = choice("status", STATUSES, (value) => t(`matching.status.${value}`), status, t("matching.any"));
  const submit = (event) => {
    event.preventDefault();
    navigate("matching", withoutEmpty({ view: "rounds", market: marketSelect.value, status: statusSelect.value }));
  };
  return h(
    "form",
    { class: "inline-fields", "aria-label": t("matching.filter"), onsubmit: submit },
    field(t("matching.market"), marketSelect),
    field(t("matching.status"), statusSelect),
    h("button", { type: "submit" }, t("matching.filter")),
  );
}

function withoutEmpty(params) {
  return Object.fromEntries(Object.entries(params).filter(([, value]) => value));
}

function roundHref(roundId, participant) {
  return href("matching", withoutEmpty({ view: "rounds", round: roundId, participant }));
}

function tieBreakLabel(tieBreak) {
  return t(`matching.tieBreak.${tieBreak.method}`, { seed: tieBreak.seed ?? "" });
}

// --- one round ----------------------------------------------------------------------------------

async function showRound(section, roundId, participant, identity) {
  section.append(h("p", {}, h("a", { href: href("matching", { view: "rounds" }) }, t("matching.backToRounds"))));
  const round = await shown(section, get(`/matching/rounds/${encodeURIComponent(roundId)}`));
  if (!round) return;
  section.append(
    h("h2", {}, t("matching.round", { name: round.name })),
    facts([
      [t("matching.id"), h("code", {}, round.id)],
      [t("matching.market"), marketLabel(round.market)],
      [t("matching.proposingSide"), t(`matching.party.${round.proposing_side}`)],
      [t("matching.status"), t(`matching.status.${round.status}`)],
      [t("matching.created"), when(round.created_at)],
      [t("matching.solved"), when(round.solved_at)],
    ]),
  );
  if (!round.result) {
    section.append(h("p", { class: "notice" }, t("matching.notSolved")));
    return;
  }
  const partner = round.market === "advisor" ? "adviser" : "company";
  section.append(
    certificateView(round.result),
    assignmentView(round.result.assignment, partner),
    unmatchedView(round, participant, identity),
    excludedView(round.result, partner),
  );
  if (participant) await showParticipant(section, round.id, participant);
}

function certificateView(result) {
  const { certificate, tie_break: tieBreak } = result;
  const blocking = certificate.blocking_pairs.length
    ? h("ul", {}, certificate.blocking_pairs.map((pair) => h("li", {}, Object.values(pair).join(" – "))))
    : t("matching.noBlockingPair");
  const columns = [
    { label: t("matching.side"), value: ([side]) => t(`matching.party.${side}`) },
    { label: t("matching.participants"), value: ([, use]) => String(use.participants), numeric: true },
    { label: t("matching.capacity"), value: ([, use]) => String(use.capacity), numeric: true },
    { label: t("matching.used"), value: ([, use]) => String(use.used), numeric: true },
    { label: t("matching.full"), value: ([, use]) => String(use.full), numeric: true },
    { label: t("matching.overCapacity"), value: ([, use]) => use.over_capacity.join(", ") },
  ];
  return h(
    "section",
    { class: "card certificate", "aria-labelledby": "matching-certificate-title" },
    h("h3", { id: "matching-certificate-title" }, t("matching.certificate")),
    facts([
      [t("matching.pairsChecked"), String(certificate.mutually_acceptable_pairs_checked)],
      [t("matching.blockingPairs"), certificate.stable ? blocking : [t("matching.unstable"), blocking]],
      [t("matching.tieBreak"), tieBreakLabel(tieBreak)],
      [t("matching.seed"), tieBreak.seed === null ? t("matching.seed.none") : String(tieBreak.seed)],
      [t("matching.rule"), tieBreak.rule],
      [t("matching.optimality"), certificate.optimality],
    ]),
    table(t("matching.capacities"), columns, Object.entries(certificate.capacities)),
  );
}

function assignmentView(assignment, partner) {
  if (!assignment.length) return h("p", {}, t("matching.assignment.none"));
  const columns = [
    { label: t("matching.party.municipality"), value: (pair) => h("code", {}, pair.municipality) },
    { label: t(`matching.party.${partner}`), value: (pair) => h("code", {}, pair[partner]) },
    {
      label: t("matching.rankGiven", { side: t("matching.party.municipality") }),
      value: (pair) => String(pair.municipality_rank ?? ""),
      numeric: true,
    },
    {
      label: t("matching.rankGiven", { side: t(`matching.party.${partner}`) }),
      value: (pair) => String(pair[`${partner}_rank`] ?? ""),
      numeric: true,
    },
  ];
  return table(t("matching.assignment"), columns, assignment);
}

// The unmatched, each with a link to its explanation; a municipality key also gets a link to its own part.
// Whether the key may read a participant's part is the API's answer, shown when the link is followed.
function unmatchedView(round, current, identity) {
  const title = h("h3", { id: "matching-unmatched-title" }, t("matching.unmatched"));
  const why = t("matching.why");
  const entries = round.result.unmatched.map((party) =>
    h(
      "li",
      {},
      h("code", {}, party),
      " ",
      h("a", { href: roundHref(round.id, party), "aria-current": party === current ? "true" : null }, why),
    ),
  );
  const own = identity.role === "municipality" ? `municipality:${identity.municipality_code}` : null;
  return h(
    "section",
    { "aria-labelledby": title.id },
    title,
    entries.length ? h("ul", { class: "unmatched" }, entries) : h("p", {}, t("matching.unmatched.none")),
    own ? h("p", {}, h("a", { href: roundHref(round.id, own) }, t("matching.ownPart"))) : null,
  );
}

function excludedView(result, partner) {
  const reasons = (entry) => reasonList(entry.reasons);
  const parts = [];
  if (result.excluded.length) {
    const columns = [
      { label: t("matching.participants"), value: (entry) => h("code", {}, entry.participant) },
      { label: t("matching.reasons"), value: reasons },
    ];
    parts.push(table(t("matching.excludedParticipants"), columns, result.excluded));
  }
  if (result.excluded_pairs.length) {
    const columns = [
      { label: t("matching.party.municipality"), value: (pair) => h("code", {}, pair.municipality) },
      { label: t(`matching.party.${partner}`), value: (pair) => h("code", {}, pair[partner]) },
      { label: t("matching.reasons"), value: reasons },
    ];
    parts.push(table(t("matching.excludedPairs"), columns, result.excluded_pairs));
  }
  return parts;
}

// --- one participant ----------------------------------------------------------------------------

async function showParticipant(section, roundId, participant) {
  const path = `/matching/rounds/${encodeURIComponent(roundId)}/participants/${encodeURIComponent(participant)}`;
  const heading = t("matching.participant", { participant: partyLabel(participant) });
  const title = h("h3", { id: "matching-participant-title" }, heading);
  const part = h("section", { class: "card participant", "aria-labelledby": title.id }, title);
  section.append(part);
  part.scrollIntoView();
  const view = await shown(part, get(path));
  if (!view) return;
  const partners = view.partners.length
    ? view.partners.map((entry) => `${entry.partner} (${t("matching.rank")} ${entry.rank ?? "–"})`).join(", ")
    : t("matching.partners.none");
  part.append(
    facts([
      [t("matching.capacity"), String(view.capacity)],
      [t("matching.freeCapacity"), String(view.free_capacity)],
      [t("matching.partners"), partners],
      view.lottery_ticket ? [t("matching.lotteryTicket"), h("code", { class: "ticket" }, view.lottery_ticket)] : null,
    ].filter(Boolean)),
  );
  if (!view.explanation) return;
  const columns = [
    { label: t("matching.rank"), value: (why) => String(why.rank ?? "–"), numeric: true },
    { label: t("matching.candidate"), value: (why) => h("code", {}, why.candidate) },
    { label: t("matching.reasonCode"), value: (why) => h("code", {}, why.code) },
    { label: t("matching.message"), value: (why) => why.message },
  ];
  part.append(table(t("matching.explanation"), columns, view.explanation));
}
