// The public REST API through the gateway (same origin), as any front-end app calls it (docs/rest.md).
// The key goes in `Authorization: Bearer`, never in a URL. Every 4xx/5xx body is the error envelope
// {error: {code, message, field?, errors?: [{field, code, message}], request_id}}, thrown as ApiError.

import { apiKey } from "./session.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.field = error.field || null;
    this.errors = Array.isArray(error.errors) ? error.errors : [];
    this.requestId = error.request_id || null;
  }
}

// request("POST", "/subsidy/finder", {body: {...}}) → the parsed JSON answer, or throws ApiError.
// query: an object of search parameters (null/undefined left out); body: a plain object is sent as JSON,
// a string, Blob or FormData as it is (set its content-type in headers); raw: true answers the Response
// itself (for CSV and other files) once its status is a success.
export async function request(method, path, { query, body, headers = {}, raw = false } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
  }
  const sent = { ...headers };
  const key = apiKey();
  if (key) sent.Authorization = `Bearer ${key}`;
  let payload = body;
  if (body !== undefined && !(typeof body === "string" || body instanceof Blob || body instanceof FormData)) {
    payload = JSON.stringify(body);
    sent["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url, { method, headers: sent, body: payload, credentials: "omit", cache: "no-store" });
  } catch (failure) {
    throw new ApiError(0, { error: { code: "network_error", message: t("error.network") } });
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });

// The error as the page shows it: code, message, each field's problem (or the one field named) and the request id.
export function errorView(error) {
  const known = error instanceof ApiError;
  const listed = known ? error.errors : [];
  const fields = listed.length || !known || !error.field ? listed : [{ field: error.field, message: error.message }];
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", { class: "error-title" }, `${t("error.title")}: `, h("code", {}, known ? error.code : "error")),
    h("p", {}, error.message),
    fields.length ? h("ul", {}, fields.map((item) => h("li", {}, h("code", {}, item.field || ""), ` ${item.message}`))) : null,
    known && error.requestId ? h("p", { class: "hint" }, t("error.request", { id: error.requestId })) : null,
  );
}
