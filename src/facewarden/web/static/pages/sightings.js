// Sightings and alerts. Sightings name subjects by opaque id only (open the
// subject's page to see more, where the role may): who on a watchlist was seen
// at a camera in a time range (GET /v1/sightings, audited); a subject's location
// history for a case (POST /v1/subjects/{id}/history, investigators, audited,
// with a second person's approval where the deployment asks for it); and the
// console's alerts (GET /v1/alerts), polled by the shell while signed in.

import { api, ApiError, can } from "../api.js";
import { banner, button, card, errorBanner, field, fmtSimilarity, h, icon, pill, replace, time, toast } from "../dom.js";
import { fromLocalInput } from "./crowd.js";

/** How often the shell asks for new alerts (ms): an alert shows within about a second. */
export const ALERT_POLL_MS = 1000;
const DECIDED_OVERLAP_MS = 5000;
// Occupancy alerts are dated by their frame: a lagging camera's (a worker behind, frames a
// camera buffered) is stored after another's later one, so they are asked for from this
// far before the newest held (repeats are dropped by key; they name no one, unaudited).
const OCCUPANCY_OVERLAP_MS = 5 * 60_000;
// A poll reads what is new oldest first, a page at a time (the server's cap), up to
// this many pages: a burst, or what came while the tab was hidden, is read whole.
const ALERT_PAGE = 100;
const ALERT_PAGES = 10;
// A poll the server has not answered in this long has failed (a dropped network, a proxy
// holding the connection: fetch itself never gives up); polls failing for this long tell
// the desk that alerts cannot arrive, until one is answered again.
const POLL_TIMEOUT_MS = 8000;
const OFFLINE_AFTER_MS = 3000;

// ------------------------------------------------------------------ alert feed

/**
 * The console's alerts: polled from GET /v1/alerts (the last hour, server time)
 * while a role that may read them is signed in. Keeps every alert seen this
 * session (ids only), how many are unseen, and tells subscribers of changes:
 * `fn(fresh, feed, settled, gone)`, where `settled` are the alerts that someone (at
 * this desk or another) acknowledged or dismissed since the last poll, so that
 * every desk drops them from its queue and its alarm panel without a reload, and
 * `gone` the ids of held alerts (see `hold`) that have left the desk.
 */
class AlertFeed {
  constructor() {
    this.alerts = [];
    this.unseen = 0;
    this.available = true;
    this.offlineSince = null; // since when polls fail (alerts cannot arrive), or null
    this._failingSince = null;
    this._keys = new Set();
    this._timer = null;
    this._subscribers = new Set();
    this._first = true;
    this._busy = false;
    this._since = null;
    this._decidedSince = null;
    this._decidedKeys = new Set();
    this._holders = new Set();
    this._position = null; // where the record of sightings stood at the last answer
    this._windowCursor = null; // where the first read of the live window stopped (more to read)
    this._windowFrom = null; // and where the record stood as that read began
  }

  /**
   * Something on screen shows these alerts with their subject's name (the alarm panel,
   * an open review): `ids()` names them. Each poll asks which have left the desk since
   * (the person erased, past the live window, the camera removed) and tells subscribers
   * as `gone`, so that none stays up. Returns the function that stops it.
   */
  hold(ids) {
    this._holders.add(ids);
    return () => this._holders.delete(ids);
  }

  _held() {
    const all = new Set();
    for (const ids of this._holders) for (const id of ids()) all.add(id);
    return [...all].slice(0, 100); // the server's cap
  }

  start() {
    this.stop();
    this.alerts = [];
    this.unseen = 0;
    this.available = true;
    this.offlineSince = null;
    this._failingSince = null;
    this._keys = new Set();
    this._since = null;
    this._position = null;
    this._windowCursor = null;
    this._windowFrom = null;
    this._decidedSince = null;
    this._decidedKeys = new Set();
    this._first = true;
    this.poll();
    this._timer = setInterval(() => this.poll(), ALERT_POLL_MS);
  }

  stop() {
    if (this._timer) clearInterval(this._timer);
    this._timer = null;
  }

  subscribe(fn) {
    this._subscribers.add(fn);
    return () => this._subscribers.delete(fn);
  }

  /**
   * An alert was decided here (or found decided): keep the feed's copy in step, and tell
   * subscribers as settled, as a poll would, so that every other view of it at this desk
   * (its alarm in the panel, its page, the lists) follows at once. The poll that later
   * reads the same decision does not tell them twice.
   */
  decided(alert) {
    const held = this.alerts.find((a) => a.sighting_id === alert.sighting_id);
    if (held) Object.assign(held, { decision: alert.decision, decided_by: alert.decided_by, decided_at: alert.decided_at });
    const key = `${alert.sighting_id}:${alert.decision}`;
    const settled = alert.decision && !this._decidedKeys.has(key) ? [held || { kind: "sighting", ...alert }] : [];
    if (alert.decision) this._decidedKeys.add(key);
    this._emit([], settled);
  }

  /** Every alert has been looked at (the alerts page is open). */
  markSeen() {
    if (!this.unseen) return;
    this.unseen = 0;
    this._emit([]);
  }

  async poll() {
    // Hidden tabs poll too (the browser slows their timers): a desk whose console sits
    // behind another window must still raise an alarm, with its sound and the tab's title.
    if (this._busy) return;
    this._busy = true;
    const answers = [];
    const held = this._held();
    const began = Date.now();
    const timeout = new AbortController();
    const ask = (query) => {
      const timer = setTimeout(() => timeout.abort(), POLL_TIMEOUT_MS);
      return api("GET", "/v1/alerts", { query, signal: timeout.signal }).finally(() => clearTimeout(timer));
    };
    let nextPosition = null;
    let windowFrom = this._windowFrom;
    let cursor = null;
    try {
      // Only what is new since the last answer: the server audits every answer that
      // holds sightings, so repeating them would fill the log. "New" is what was
      // recorded since (recorded_after), not what was first seen later: a face tracked
      // from afar is identified seconds later, a lagging camera's frames come late, and
      // an alarm sorted before what the desk had seen would never be raised. The first
      // poll reads the whole live window, oldest first, page after page (its cursor), ten
      // pages a poll: a window of more (over 1,000 alerts) is read on by the next poll from
      // where it stopped, then what was recorded since its read began.
      let position = this._position;
      cursor = this._windowCursor;
      // What was decided meanwhile, by anyone: ids and decisions only (not audited). Asked a
      // few seconds back, as a decision stamped before another can commit after it; read to
      // the end by its own cursor (a laptop back from sleep may find hundreds), or an alarm
      // decided first would stay up here, its decision answering 409.
      const decidedFrom = this._decidedSince ? new Date(Date.parse(this._decidedSince) - DECIDED_OVERLAP_MS).toISOString() : null;
      let decidedCursor = null;
      for (let n = 0; n < ALERT_PAGES; n++) {
        const query = { limit: ALERT_PAGE, order: "oldest" };
        if (position !== null) query.recorded_after = position;
        else if (cursor) query.cursor = cursor;
        // Occupancy alerts (stored: every server answers alike) are read from a while before
        // the newest seen. Reading the window by its cursor, since bounds the sightings too.
        if (this._since) query.since = position === null ? this._since : new Date(Date.parse(this._since) - OCCUPANCY_OVERLAP_MS).toISOString();
        if (decidedFrom && (n === 0 || decidedCursor)) {
          query.decided_since = decidedFrom;
          if (decidedCursor) query.decided_cursor = decidedCursor;
        }
        if (n === 0 && held.length) query.held = held.join(",");
        const page = await ask(query);
        answers.push(page);
        decidedCursor = (query.decided_since && page && page.decided_cursor) || null;
        const got = (page && page.sightings) || [];
        let moreSightings = got.length >= ALERT_PAGE;
        if (position === null) {
          if (windowFrom === null) windowFrom = page.recorded_to; // read before the window
          cursor = moreSightings ? page.next_cursor || null : null;
          moreSightings = Boolean(cursor);
          // The window read whole: from now on, what was recorded since its read began.
          if (!moreSightings) position = nextPosition = windowFrom;
        } else {
          position = nextPosition = page.recorded_to;
        }
        if (!moreSightings && !decidedCursor) break;
      }
    } catch (err) {
      this._busy = false;
      if (err instanceof ApiError && [403, 404, 405].includes(err.status)) {
        // This server (or role) has no alerts: stop asking.
        this.available = false;
        this.stop();
        this._emit([]);
      } else if (!(err instanceof ApiError && err.status === 401) && this._timer) {
        // Unreachable, unanswered (timed out) or failing: asked again next second, and
        // the desk told once it has lasted (a 401 brings up the sign-in screen instead).
        if (this._failingSince === null) this._failingSince = began;
        if (!this.offlineSince && Date.now() - this._failingSince >= OFFLINE_AFTER_MS) {
          this.offlineSince = new Date(this._failingSince);
          this._emit([]);
        }
      }
      return;
    }
    this._busy = false;
    if (!this._timer) return; // stopped meanwhile (signed out)
    this._failingSince = null;
    const back = this.offlineSince !== null; // answered again: the desk is told
    this.offlineSince = null;
    if (typeof nextPosition === "number") {
      this._position = nextPosition;
      this._windowCursor = this._windowFrom = null;
    } else {
      this._windowCursor = cursor; // the window's read goes on at the next poll
      this._windowFrom = windowFrom;
    }
    const body = answers[0];
    if (!this._decidedSince && body && body.since) this._decidedSince = body.since;
    const settled = [];
    for (const d of answers.flatMap((a) => (a && a.decided) || [])) {
      if (Date.parse(d.decided_at) > Date.parse(this._decidedSince)) this._decidedSince = d.decided_at;
      const key = `${d.sighting_id}:${d.decision}`;
      if (this._decidedKeys.has(key)) continue;
      this._decidedKeys.add(key);
      const held = this.alerts.find((a) => a.sighting_id === d.sighting_id);
      if (held) Object.assign(held, { decision: d.decision, decided_by: d.decided_by, decided_at: d.decided_at });
      settled.push(held || { kind: "sighting", ...d });
    }
    const gone = ((body && body.gone) || []).filter((id) => held.includes(id));
    if (gone.length) this.alerts = this.alerts.filter((a) => !gone.includes(a.sighting_id));
    const fresh = [];
    for (const alert of answers.flatMap((a) => normaliseAlerts(a))) {
      if (alert.decision) this._decidedKeys.add(`${alert.sighting_id}:${alert.decision}`);
      if (alert.at && (!this._since || Date.parse(alert.at) > Date.parse(this._since))) this._since = alert.at;
      if (this._keys.has(alert.key)) continue;
      this._keys.add(alert.key);
      fresh.push(alert);
    }
    if (!fresh.length && !settled.length && !gone.length && !this._first && !back) return;
    // A camera or watchlist added since the names were loaded: learn its name before the
    // toast and the lists show it, rather than its opaque id.
    if (fresh.some((a) => (a.camera_id && !names.cameras.has(a.camera_id)) || (a.watchlist_id && !names.watchlists.has(a.watchlist_id)))) {
      await loadNames().catch(() => null);
      if (!this._timer) return;
    }
    this._first = false;
    this.alerts = [...fresh, ...this.alerts].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, 200);
    this.unseen += fresh.length;
    this._emit(fresh, settled, gone);
  }

  _emit(fresh, settled = [], gone = []) {
    for (const fn of this._subscribers) fn(fresh, this, settled, gone);
  }
}

/** One list of alerts `{key, kind, camera_id, at, ...}` from either answer shape. */
export function normaliseAlerts(body) {
  const out = [];
  if (!body) return out;
  if (Array.isArray(body.alerts)) {
    for (const a of body.alerts) out.push({ ...a, key: `${a.kind}:${a.sighting_id || ""}:${a.camera_id}:${a.at}` });
  }
  for (const s of body.sightings || []) out.push({ kind: "sighting", key: `sighting:${s.sighting_id}`, at: s.first_seen, ...s });
  for (const o of body.occupancy || []) out.push({ kind: "occupancy", key: `occupancy:${o.camera_id}:${o.at}`, ...o });
  return out;
}

export const alertFeed = new AlertFeed();

// Camera and watchlist names for ids, where the role may list them.
const names = { cameras: new Map(), watchlists: new Map(), loaded: false };

/** Load the names of cameras and watchlists (where the role may list them). */
export async function loadNames(signal) {
  const [cams, lists] = await Promise.all([
    can("cameras") ? api("GET", "/v1/cameras", { signal }).catch(() => null) : null,
    can("watchlists") ? api("GET", "/v1/watchlists", { signal }).catch(() => null) : null,
  ]);
  if (cams) for (const c of cams.cameras) names.cameras.set(c.camera_id, c);
  if (lists) for (const w of lists.watchlists) names.watchlists.set(w.watchlist_id, w);
  names.loaded = true;
  return { cameras: cams ? cams.cameras : null, watchlists: lists ? lists.watchlists : null };
}

/** Camera names for ids: `of(id)` an element, `all()` every camera known. */
export const cameraName = {
  of: (id) => cameraLabel(id),
  all: () => names.cameras.values(),
};

/** Watchlist names for ids. */
export const watchlistName = {
  of: (id) => watchlistLabel(id),
};

/** A camera id with its name where known. */
function cameraLabel(id) {
  const c = names.cameras.get(id);
  return c ? h("span", { title: id }, c.name) : h("span", { class: "mono" }, id);
}

function watchlistLabel(id) {
  const w = names.watchlists.get(id);
  return w ? h("span", { title: id }, w.name) : h("span", { class: "mono" }, id);
}

/** A subject by id only, linked to their page where the role may open it. */
function subjectLink(id) {
  return can("subject-read") ? h("a", { class: "mono", href: `#/subjects/${encodeURIComponent(id)}` }, id) : h("span", { class: "mono" }, id);
}

/** A one-line description of an alert (ids and names of places only). */
export function alertText(alert) {
  const c = names.cameras.get(alert.camera_id);
  const where = c ? c.name : alert.camera_id;
  if (alert.kind === "occupancy") return `Occupancy at ${where}: ${alert.people} people in view (threshold ${alert.threshold})`;
  return `Watchlist subject sighted at ${where}`;
}

/** Make sure camera names are known for the toasts of the shell (once). */
export async function primeNames() {
  if (!names.loaded) await loadNames().catch(() => null);
}

// ------------------------------------------------------------------ page

export default async function renderSightings(view) {
  const loaded = await loadNames(view.signal);
  const blocks = [];
  if (can("alerts")) blocks.push(banner("info", "Alerts have their own page", "Review each alert with both faces, and acknowledge or dismiss it, on the Alerts page.", h("a", { href: "#/alerts", class: "btn btn-secondary" }, "Open the alerts")));
  if (can("sightings")) blocks.push(queryCard(view, loaded));
  if (can("history")) blocks.push(historyCard(view));
  if (can("history-approve")) blocks.push(approveCard());
  return h("div", { class: "page page-sightings" }, banner("info", "Sightings are candidate matches", "Each one is a face a camera saw that resembled a watchlist subject. A person reviews it before anything is done; subjects appear here by id only."), blocks);
}

function queryCard(view, loaded) {
  const wanted = view.query ? view.query.get("camera") : null;
  const camera = loaded.cameras
    ? h("select", { name: "camera" }, loaded.cameras.filter((c) => !c.sensitive).map((c) => h("option", { value: c.camera_id, selected: c.camera_id === wanted }, c.name)))
    : h("input", { type: "text", name: "camera", class: "mono", placeholder: "cam_… or a camera name", autocomplete: "off", spellcheck: "false", value: wanted || "" });
  const watchlist = loaded.watchlists
    ? h("select", { name: "watchlist" }, loaded.watchlists.map((w) => h("option", { value: w.watchlist_id }, w.name)))
    : h("input", { type: "text", name: "watchlist", class: "mono", placeholder: "wl_… or a watchlist name", autocomplete: "off", spellcheck: "false" });
  if (camera.tagName === "SELECT" && wanted && names.cameras.has(wanted)) {
    // A camera's watchlists first.
    const checked = names.cameras.get(wanted).watchlists || [];
    if (watchlist.tagName === "SELECT" && checked.length) watchlist.value = checked[0];
  }
  // Empty: the server's live window (one hour by default). Nothing older answers here:
  // an older record of a person is a location history, for an investigator's case.
  const start = h("input", { type: "datetime-local", name: "start", step: "60" });
  const end = h("input", { type: "datetime-local", name: "end", step: "60" });
  const results = h("div", { dataset: { testid: "sighting-results" }, "aria-live": "polite" });
  const submit = button("Find sightings", { kind: "primary", type: "submit", iconName: "search" });
  const form = h("form", { class: "form-grid form-grid-4", novalidate: true }, field("Camera", camera, { required: true }), field("Watchlist", watchlist, { required: true }), field("From", start, { hint: "Empty: the start of the live window." }), field("To", end, { hint: "Empty: now." }), h("div", { class: "field-wide form-row-end" }, h("p", { class: "hint" }, "Only the live window answers here (the last hour by default): older sightings of a person are a location history, for an investigator with a case reference. Each query is recorded in the audit log with the watchlist's purpose."), submit));
  const empty = (camera.tagName === "SELECT" && !camera.options.length) || (watchlist.tagName === "SELECT" && !watchlist.options.length);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const s = start.value ? fromLocalInput(start.value) : null;
    const en = end.value ? fromLocalInput(end.value) : null;
    if (!camera.value.trim() || !watchlist.value.trim()) {
      replace(results, banner("warn", "Choose a camera and a watchlist"));
      return;
    }
    if ((start.value && !s) || (end.value && !en) || (s && en && s >= en)) {
      replace(results, banner("warn", "Check the time range", "Give a start before the end."));
      return;
    }
    submit.disabled = true;
    replace(results, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Searching…"));
    try {
      const body = await api("GET", "/v1/sightings", { query: { camera: camera.value.trim(), watchlist: watchlist.value.trim(), start: s ? s.toISOString() : null, end: en ? en.toISOString() : null }, signal: view.signal });
      replace(results, sightingTable(body.sightings || [], "No sightings of this watchlist's subjects at this camera in this time range.", { faces: can("alerts") }), body.truncated ? h("p", { class: "hint" }, "Only the first 100 are shown: narrow the time range.") : null);
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(results, errorBanner(err));
    } finally {
      submit.disabled = false;
    }
  });
  return card("Sightings at a camera", [empty ? banner("info", "Nothing to query yet", "Sightings need a camera that is not sensitive and a watchlist.") : null, form, results], { subtitle: "Who on a watchlist is at a camera now: the live window only.", cls: "card-sightings" });
}

/** Sightings as a table: times, camera, watchlist, subject id, similarity. */
export function sightingTable(list, emptyText, { faces = false } = {}) {
  if (!list.length) return h("div", { class: "empty empty-inline" }, icon("eye", "empty-icon"), h("p", {}, emptyText));
  // Within the live window the desk shows the captured face (an audited, uncached read).
  const face = (s) => (s.has_thumbnail ? h("img", { class: "face-crop face-crop-small", src: `/v1/alerts/${encodeURIComponent(s.sighting_id)}/photos/captured`, alt: "Face captured by the camera", width: "48", height: "48" }) : h("span", { class: "muted" }, "—"));
  return h(
    "table",
    { class: "table table-compact table-sightings" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "First seen"), h("th", { scope: "col" }, "Last seen"), h("th", { scope: "col" }, "Camera"), h("th", { scope: "col" }, "Watchlist"), h("th", { scope: "col" }, "Subject"), h("th", { scope: "col", class: "num" }, "Similarity"), faces ? h("th", { scope: "col" }, "Face") : null)),
    h(
      "tbody",
      {},
      list.map((s) => {
        const cam = names.cameras.get(s.camera_id);
        return h(
          "tr",
          { dataset: { sighting: s.sighting_id, subject: s.subject_id } },
          h("td", { class: "nowrap" }, time(s.first_seen)),
          h("td", { class: "nowrap" }, time(s.last_seen)),
          h("td", {}, cameraLabel(s.camera_id), cam && cam.location ? h("div", { class: "muted" }, cam.location) : null),
          h("td", {}, watchlistLabel(s.watchlist_id)),
          h("td", {}, subjectLink(s.subject_id)),
          h("td", { class: "num mono" }, fmtSimilarity(s.best_similarity ?? s.similarity)),
          faces ? h("td", {}, face(s)) : null,
        );
      }),
    ),
  );
}

function historyCard(view) {
  const subject = h("input", { type: "text", name: "history-subject", class: "mono", placeholder: "sub_…", autocomplete: "off", spellcheck: "false" });
  const hours = h("input", { type: "number", name: "hours", min: "1", max: "744", step: "1", value: "24" });
  const caseRef = h("input", { type: "text", name: "case_reference", maxlength: "128", autocomplete: "off", placeholder: "e.g. CASE-2026-0142" });
  const out = h("div", { dataset: { testid: "history-result" }, "aria-live": "polite" });
  const submit = button("Request location history", { kind: "primary", type: "submit", iconName: "history", disabled: true });
  const why = h("p", { class: "hint disabled-reason" });
  const form = h(
    "form",
    { class: "form-grid form-grid-4", novalidate: true },
    field("Subject id", subject, { required: true }),
    field("Hours back", hours, { required: true, hint: "1 to 744 (31 days)." }),
    field("Case reference", caseRef, { required: true, wide: true, hint: "The case this is for: recorded in the audit log with the request." }),
    h("div", { class: "field-wide form-row-end" }, h("p", { class: "hint" }, "A location history is a record of someone's movements: ask only for a case that needs it."), h("div", { class: "verify-submit" }, submit, why)),
  );
  const valid = () => /^[A-Za-z0-9_-]+$/.test(subject.value.trim()) && caseRef.value.trim().length > 0 && Number(hours.value) >= 1 && Number(hours.value) <= 744;
  const refresh = () => {
    // A disabled button says why.
    const reason = !/^[A-Za-z0-9_-]+$/.test(subject.value.trim()) ? "Give the subject's id." : !caseRef.value.trim() ? "Give the case reference." : !(Number(hours.value) >= 1 && Number(hours.value) <= 744) ? "Give 1 to 744 hours." : "";
    submit.disabled = Boolean(reason);
    submit.title = reason;
    why.textContent = reason;
  };
  form.addEventListener("input", refresh);

  function pendingBlock(requestId, problem = null) {
    const again = button("Run the approved request", { kind: "secondary", iconName: "refresh", onclick: () => ask(requestId) });
    return h(
      "div",
      { class: "history-pending", dataset: { testid: "history-pending" } },
      banner("warn", "Waiting for a second person's approval", "This deployment needs another investigator or an administrator to approve a location history before it is shown. Give them the request id below, then run the request once they have approved it.", again),
      h("div", { class: "key-row" }, h("span", { class: "muted" }, "Request id"), h("code", { class: "mono request-id", dataset: { testid: "history-request-id" } }, requestId)),
      problem ? errorBanner(problem) : null,
    );
  }

  async function ask(requestId = null) {
    const id = subject.value.trim();
    const query = { hours: Math.round(Number(hours.value)), case_reference: caseRef.value.trim() };
    if (requestId) query.request_id = requestId;
    submit.disabled = true;
    replace(out, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Asking…"));
    try {
      const body = await api("POST", `/v1/subjects/${encodeURIComponent(id)}/history`, { json: query, signal: view.signal });
      if (body.status === "pending") {
        replace(out, pendingBlock(body.request_id));
      } else {
        const list = body.sightings || [];
        replace(out, h("p", { class: "muted history-summary", dataset: { testid: "history-done" } }, `${list.length} ${list.length === 1 ? "sighting" : "sightings"} of `, subjectLink(id), ` in the last ${query.hours} h (case ${query.case_reference}).`), sightingTable(list, "No sightings of this subject in that time."));
      }
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(out, requestId ? pendingBlock(requestId, err) : errorBanner(err));
    } finally {
      refresh();
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!valid()) return;
    ask();
  });
  refresh();
  return card("Location history of a subject", [form, out], { subtitle: "Investigators only, with a case reference; audited, refusals too.", cls: "card-history" });
}

function approveCard() {
  const input = h("input", { type: "text", name: "request_id", class: "mono", placeholder: "hr_…", autocomplete: "off", spellcheck: "false", "aria-label": "Request id" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "inline-form" }, input, button("Approve request", { kind: "secondary", type: "submit", iconName: "check" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (!/^[A-Za-z0-9_-]+$/.test(id)) {
      replace(out, banner("warn", "Give the request id", "As the person who asked was shown it."));
      return;
    }
    try {
      await api("POST", `/v1/history-requests/${encodeURIComponent(id)}/approve`);
      replace(out, banner("ok", "Request approved", "The person who asked can now run it. Your approval is recorded in the audit log."));
      toast("History request approved");
      input.value = "";
    } catch (err) {
      replace(out, errorBanner(err));
    }
  });
  return card("Approve a location-history request", [h("p", { class: "muted" }, "A second person's approval, where the deployment requires one. You cannot approve your own request."), form, out], { cls: "card-approve" });
}
