// Matching (#/matching, municipality and ops keys): recommendations for a need with their score parts and
// reasons (#/matching?market=…&for=…), and rounds with their stability certificate and why each unmatched
// participant is unmatched (#/matching?view=rounds&round=…&participant=…). The route's parameters are the
// page's only state; the API decides what the key may see.

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { href } from "../router.js";
import "./matching/labels.js";
import { renderRecommendations } from "./matching/recommendations.js";
import { renderRounds } from "./matching/rounds.js";

const VIEWS = ["recommendations", "rounds"];

export async function render(main, context) {
  const view = VIEWS.includes(context.params.get("view")) ? context.params.get("view") : VIEWS[0];
  replace(main, h("h1", {}, t("matching.title")), viewLinks(view));
  const section = h("div", { class: "matching" });
  main.append(section);
  if (view === "rounds") await renderRounds(section, context);
  else await renderRecommendations(section, context);
}

function viewLinks(current) {
  const links = VIEWS.map((view) =>
    h(
      "li",
      {},
      h(
        "a",
        { href: href("matching", view === VIEWS[0] ? {} : { view }), "aria-current": view === current ? "true" : null },
        t(`matching.view.${view}`),
      ),
    ),
  );
  return h("nav", { class: "subnav", "aria-label": t("matching.views") }, h("ul", {}, links));
}
