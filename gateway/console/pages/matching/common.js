// What the Matching page's two views share: the markets and party kinds with their labels, a select of them,
// the fields-of-work vocabulary, tables and lists of facts, and an API call whose failure is shown in place.

import { errorView, get } from "../../api.js";
import { h } from "../../dom.js";
import { language, t } from "../../i18n.js";

export const MARKETS = ["kigyojin", "satellite_office", "advisor"];
export const PARTY_KINDS = ["municipality", "company", "adviser"];

// "company:co_1" → "企業 co_1": a party as the API names it, with its kind in words.
export function partyLabel(party) {
  const [kind, ident] = String(party).split(":", 2);
  return PARTY_KINDS.includes(kind) ? `${t(`matching.party.${kind}`)} ${ident}` : String(party);
}

export function marketLabel(market) {
  return t(`matching.market.${market}`);
}

// A <select> of `values` labelled by `label(value)`; `any` adds a first, empty choice with that label.
export function choice(name, values, label, selected, any = null) {
  const options = values.map((value) => h("option", { value, selected: value === selected }, label(value)));
  if (any !== null) options.unshift(h("option", { value: "", selected: !selected }, any));
  return h("select", { name }, options);
}

// The fields of work as code → name in the current language (GET /matching/fields).
export async function fieldNames() {
  const vocabulary = await get("/matching/fields");
  const name = language() === "en" ? "name_en" : "name_ja";
  return new Map(vocabulary.items.map((entry) => [entry.code, entry[name]]));
}

export function fieldList(codes, names) {
  return codes.map((code) => names.get(code) || code).join(language() === "en" ? ", " : "、");
}

// The API's reasons (code and message) as a list.
export function reasonList(reasons) {
  return h(
    "ul",
    { class: "reasons" },
    reasons.map((reason) => h("li", {}, h("code", {}, reason.code), " ", reason.message)),
  );
}

// A table whose caption repeats the heading just above it: the caption still names it for a screen reader.
export function captionUnderHeading(element) {
  element.caption.classList.add("visually-hidden");
  return element;
}

// [[label, value], …] → <dl>; a value is text or a node.
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]));
}

// A time the API gives (ISO 8601) in Japan's time zone, or "" for none.
export function when(moment) {
  if (!moment) return "";
  const locale = language() === "en" ? "en-GB" : "ja-JP";
  return new Date(moment).toLocaleString(locale, { timeZone: "Asia/Tokyo", dateStyle: "medium", timeStyle: "short" });
}

// The API's answer, or null once its error is shown at the end of `container`.
export async function shown(container, call) {
  try {
    return await call;
  } catch (error) {
    container.append(errorView(error));
    return null;
  }
}
