// The console's only way to the server: the JSON API under /v1/ (docs/http-api.md).
// The session cookie is HttpOnly, so this module never sees it; it keeps the CSRF
// token in memory (never in storage) and sends it on every unsafe request.

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const TITLES = {
  400: "The request was not accepted",
  401: "Sign in required",
  403: "Not permitted",
  404: "Not found",
  409: "Conflict",
  413: "File too large",
  415: "Unsupported file",
  422: "Please check the input",
  429: "Too many attempts",
  503: "Service unavailable",
};

/** An error the API answered with `{"error": {"type", "message"}}` (or a network failure). */
export class ApiError extends Error {
  constructor(status, type, message, { retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
  }

  /** A heading for people: what kind of problem this is. */
  get title() {
    if (this.status === 0) return "Cannot reach the server";
    if (this.status === 429 && this.retryAfter) return `Too many attempts: try again in ${this.retryAfter} s`;
    if (this.status >= 500) return "The server could not complete the request";
    return TITLES[this.status] || "The request failed";
  }
}

const session = { user: null, csrf: null };
const listeners = new Set();

/** The signed-in user (`{username, role}`) or null. */
export function currentUser() {
  return session.user;
}

/**
 * Call `fn(reason)` whenever the session ends: "signed-out", "expired" (a 401 on a read),
 * or "expired-unsaved" (a 401 on a change: what the person just did was not saved).
 */
export function onSessionEnd(fn) {
  listeners.add(fn);
}

function endSession(reason) {
  const wasSignedIn = session.user !== null;
  session.user = null;
  session.csrf = null;
  if (wasSignedIn) for (const fn of listeners) fn(reason);
}

function adopt(body) {
  session.user = body.user;
  session.csrf = body.csrf_token;
  return body.user;
}

/**
 * Call the API. `json` sends a JSON body, `form` a FormData (multipart).
 * Resolves with the parsed body (null for 204); rejects with ApiError.
 */
export async function api(method, path, { json, form, query, signal, expectSession = true } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (UNSAFE.has(method) && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, signal, credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "NetworkError", "Check the connection to the facewarden server and try again.");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  const shaped = data && typeof data === "object" && data.error && typeof data.error === "object";
  const type = shaped ? String(data.error.type || "Error") : "HttpError";
  const message = shaped && data.error.message ? String(data.error.message) : `The server answered ${response.status}.`;
  const retry = response.headers.get("Retry-After");
  const error = new ApiError(response.status, type, message, { retryAfter: retry ? Number(retry) || retry : null });
  if (response.status === 401 && expectSession) endSession(UNSAFE.has(method) ? "expired-unsaved" : "expired");
  throw error;
}

/** Sign in; resolves with the user. */
export async function login(username, password) {
  const body = await api("POST", "/v1/auth/login", { json: { username, password }, expectSession: false });
  return adopt(body);
}

/** Resume a session from the cookie, if there is one; resolves with the user or null. */
export async function resume() {
  try {
    return adopt(await api("GET", "/v1/auth/me", { expectSession: false }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Sign out (best effort: the session ends here whatever the server says). */
export async function logout() {
  try {
    await api("POST", "/v1/auth/logout", { expectSession: false });
  } catch {
    // The session is over for this page either way.
  }
  endSession("signed-out");
}

// What each role may use (docs/http-api.md "Roles"); the server enforces it anyway,
// the console only hides what would be refused.
// Cameras (docs/http-api.md "Cameras"): "cameras" lists them, "camera-write" adds and
// removes, "crowd" reads the anonymous aggregates, "sightings" queries who on a
// watchlist was seen where, "history" asks for one subject's location history (an
// investigator, with a case reference), "history-approve" approves another person's
// request, "alerts" receives the console's sighting and occupancy alerts.
const CAMERA_CAPABILITIES = {
  admin: ["cameras", "camera-write", "crowd", "sightings", "history-approve", "alerts"],
  operator: ["cameras", "camera-write", "crowd", "sightings", "alerts"],
  investigator: ["sightings", "history", "history-approve"],
  analyst: ["cameras", "crowd"],
  auditor: [],
};

const CAPABILITIES = {
  admin: ["enroll", "identify", "verify", "subjects", "subject-read", "subject-write", "watchlists", "audit", "admin", ...CAMERA_CAPABILITIES.admin],
  operator: ["enroll", "identify", "verify", "subjects", "subject-read", "subject-write", "watchlists", ...CAMERA_CAPABILITIES.operator],
  // "case-read": reads a subject only under a case reference (asked for in a dialog).
  investigator: ["subject-read", "case-read", ...CAMERA_CAPABILITIES.investigator],
  analyst: [...CAMERA_CAPABILITIES.analyst],
  // "report": the records of processing (GET /v1/processing-report: auditors only).
  auditor: ["audit", "report", ...CAMERA_CAPABILITIES.auditor],
};

/** True when the signed-in role may use `capability`. */
export function can(capability) {
  const role = session.user && session.user.role;
  return Boolean(role && (CAPABILITIES[role] || []).includes(capability));
}

/** Save a JSON value as a file download (without putting data in any URL the server sees). */
export function downloadJson(value, filename) {
  const blob = new Blob([JSON.stringify(value, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Download what the API answers at `path` (a CSV report, say) as a file. The request
 * carries the session cookie like any other; the body is saved through a blob URL,
 * so nothing but the query goes into a URL. Rejects with ApiError.
 */
export async function downloadFile(path, { query, filename = "download", signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  let response;
  try {
    response = await fetch(url, { method: "GET", headers: { Accept: "text/csv, application/json" }, signal, credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "NetworkError", "Check the connection to the facewarden server and try again.");
  }
  if (!response.ok) {
    let type = "HttpError";
    let message = `The server answered ${response.status}.`;
    try {
      const data = JSON.parse(await response.text());
      if (data && data.error) {
        type = String(data.error.type || type);
        message = String(data.error.message || message);
      }
    } catch {
      // Not JSON: the status says enough.
    }
    if (response.status === 401) endSession("expired");
    throw new ApiError(response.status, type, message);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = disposition.match(/filename="?([^";]+)"?/);
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = named ? named[1] : filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  return { filename: a.download, size: blob.size };
}
