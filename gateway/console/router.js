// The pages and the hash routes that show them: #/town, #/points?program=…, …
// A page is a module under pages/ exporting render(main, context); add it to PAGES with the roles that may
// use it (null: no key needed; ops may use every page). Navigation shows a page only when the API said the
// key's role is one of them (session.js).

export const PAGES = [
  { id: "town", label: "nav.town", roles: null, load: () => import("./pages/town.js") },
  { id: "points", label: "nav.points", roles: ["municipality"], load: () => import("./pages/points.js") },
  { id: "deliveries", label: "nav.deliveries", roles: ["provider"], load: () => import("./pages/deliveries.js") },
  { id: "matching", label: "nav.matching", roles: ["municipality"], load: () => import("./pages/matching.js") },
];
export const HOME = "town";

// "#/points?program=p1" → {page: "points", params: URLSearchParams("program=p1")}.
export function currentRoute() {
  const [path, search = ""] = window.location.hash.replace(/^#\/?/, "").split("?", 2);
  return { page: path || HOME, params: new URLSearchParams(search) };
}

export function href(page, params = {}) {
  const search = new URLSearchParams(params).toString();
  return `#/${page}${search ? `?${search}` : ""}`;
}

// Go to a page (a new history entry); the hashchange listener renders it.
export function navigate(page, params = {}) {
  window.location.hash = href(page, params);
}

export function allowed(page, identity) {
  if (page.roles === null) return true;
  return identity !== null && (identity.role === "ops" || page.roles.includes(identity.role));
}
