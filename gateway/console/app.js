// The console's shell: language switch, sign-in, navigation by the key's role, and the current page.

import { errorView } from "./api.js";
import { h, replace } from "./dom.js";
import { LANGUAGES, language, setLanguage, t } from "./i18n.js";
import { PAGES, allowed, currentRoute, href, navigate } from "./router.js";
import { currentIdentity, loadIdentity, renderSession } from "./session.js";

const main = document.getElementById("main");
let sessionError = null;

function renderLanguageSwitch() {
  const select = h(
    "select",
    { id: "language-select", onchange: () => { setLanguage(select.value); renderAll(); } },
    LANGUAGES.map((code) => h("option", { value: code, selected: code === language() }, t(`language.${code}`))),
  );
  replace(document.getElementById("language"), h("label", { for: select.id }, t("language.label")), select);
}

function renderNavigation() {
  const { page } = currentRoute();
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("nav.label"));
  const links = PAGES.filter((entry) => allowed(entry, currentIdentity())).map((entry) =>
    h("li", {}, h("a", { href: href(entry.id), "aria-current": entry.id === page ? "page" : null }, t(entry.label))),
  );
  replace(nav, h("ul", {}, links));
}

function renderChrome() {
  document.documentElement.lang = language();
  document.title = t("app.title");
  document.getElementById("skip-link").textContent = t("app.skip");
  document.getElementById("brand").textContent = t("app.title");
  document.getElementById("footer").textContent = t("footer.api");
  renderLanguageSwitch();
  const session = document.getElementById("session");
  renderSession(session, signInChanged);
  if (sessionError) session.append(errorView(sessionError));
  renderNavigation();
}

// main's data-rendered names the page once it has rendered (the browser tests wait for it).
async function renderPage() {
  const { page: id, params } = currentRoute();
  main.removeAttribute("data-rendered");
  try {
    await showPage(id, params);
  } catch (error) {
    // A page that failed to load or render: shown, and logged (the browser tests fail on any logged error).
    console.error(error);
    replace(main, errorView(error));
  }
  main.setAttribute("data-rendered", id);
}

async function showPage(id, params) {
  const page = PAGES.find((entry) => entry.id === id);
  if (!page) {
    replace(main, h("p", {}, t("page.notFound")));
    return;
  }
  const identity = currentIdentity();
  if (!allowed(page, identity)) {
    const message = identity ? t("session.notAllowed", { role: t(`role.${identity.role}`) }) : t("session.required");
    replace(main, h("p", { class: "notice" }, message));
    return;
  }
  replace(main, h("p", { "aria-busy": "true" }, t("loading")));
  const module = await page.load();
  await module.render(main, { params, identity, navigate });
}

function renderAll() {
  renderChrome();
  return renderPage();
}

async function signInChanged() {
  sessionError = null;
  try {
    await loadIdentity();
  } catch (error) {
    sessionError = error;
  }
  await renderAll();
}

window.addEventListener("hashchange", () => { renderNavigation(); renderPage(); });
setLanguage(language());
signInChanged();
