// What can my town get (#/town, no key needed): the catalogue's programs by name.

import { errorView, get } from "../api.js";
import { h, replace } from "../dom.js";
import { addLabels, language, t } from "../i18n.js";

addLabels({
  ja: {
    "town.title": "わがまちで使える制度",
    "town.catalogue": "制度の一覧",
    "town.program": "制度",
    "town.citation": "出典",
    "town.years": "年度",
  },
  en: {
    "town.title": "What can my town get",
    "town.catalogue": "Programs",
    "town.program": "Program",
    "town.citation": "Citation",
    "town.years": "Fiscal years",
  },
});

export async function render(main) {
  replace(main, h("h1", {}, t("town.title")));
  let catalogue;
  try {
    catalogue = await get("/subsidy/programs", { limit: 500 });
  } catch (error) {
    main.append(errorView(error));
    return;
  }
  main.append(catalogueView(catalogue.items));
}

function programName(program) {
  return language() === "en" ? program.name_en : program.name_ja;
}

function catalogueView(programs) {
  const sorted = [...programs].sort((a, b) => programName(a).localeCompare(programName(b), language()));
  return h(
    "section",
    { "aria-labelledby": "catalogue-title" },
    h("h2", { id: "catalogue-title" }, t("town.catalogue")),
    h("ul", { class: "catalogue" }, sorted.map((program) => h("li", {}, h("strong", {}, programName(program)), ` — ${program.summary}`))),
  );
}
