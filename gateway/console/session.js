// The API key, kept only in this tab's sessionStorage, and what the API says the key is
// (GET /auth/whoami: role and tenant). The page never guesses a key's rights.

import { ApiError, get } from "./api.js";
import { field, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const STORAGE_KEY = "chiiki.apiKey";
let identity = null; // {role, key_id, municipality_code, provider_id} from the API, or null without a key

export function apiKey() {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function currentIdentity() {
  return identity;
}

// Ask the API who the stored key is; a key the API refuses is forgotten. Answers the identity or null.
export async function loadIdentity() {
  identity = null;
  if (!apiKey()) return null;
  try {
    identity = await get("/auth/whoami");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) sessionStorage.removeItem(STORAGE_KEY);
    throw error;
  }
  return identity;
}

export function signOut() {
  sessionStorage.removeItem(STORAGE_KEY);
  identity = null;
}

// The sign-in form, or who is signed in with a sign-out button. `changed` runs after either.
export function renderSession(container, changed) {
  if (identity) {
    const tenant = identity.municipality_code || identity.provider_id;
    const role = t(`role.${identity.role}`);
    replace(
      container,
      h("p", { class: "identity" }, tenant ? t("session.tenant", { role, tenant }) : t("session.signedInAs", { role })),
      h("button", { type: "button", onclick: () => { signOut(); changed(); } }, t("session.signOut")),
    );
    return;
  }
  const input = h("input", { type: "password", name: "api_key", autocomplete: "off", spellcheck: "false", required: true });
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.setItem(STORAGE_KEY, input.value.trim());
        input.value = "";
        changed();
      },
    },
    field(t("session.key"), input),
    h("button", { type: "submit" }, t("session.signIn")),
  );
  replace(container, form);
}
