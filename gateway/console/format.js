// How pages show the API's values: yen from its integers, instants in Japan time, tables wider than a
// tablet; and the Japan-time inputs of a form as the API's instants.

import { groupDigits, h, table } from "./dom.js";
import { language, t } from "./i18n.js";

export const yen = (amount) => t("yen", { amount: groupDigits(amount) });

export function dateTime(instant) {
  if (!instant) return "";
  const locale = language() === "en" ? "en-GB" : "ja-JP";
  return new Date(instant).toLocaleString(locale, { timeZone: "Asia/Tokyo", dateStyle: "medium", timeStyle: "short" });
}

// A date input's day (YYYY-MM-DD) in Japan time, as the instant it starts.
export function jstDayStart(day) {
  return day ? `${day}T00:00:00+09:00` : null;
}

// A datetime-local input's value (2023-06-01T09:00) as that moment in Japan time.
export function jstInstant(local) {
  return local ? `${local.length === 16 ? `${local}:00` : local}+09:00` : null;
}

// A table that scrolls sideways on a narrow screen: a named region the keyboard can reach and scroll.
export function wideTable(caption, columns, rows) {
  return h("div", { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" }, table(caption, columns, rows));
}
