// The security desk's alerts. The list (GET /v1/alerts) names nobody: time, camera,
// watchlist, severity and what was decided, within the live window only. Opening one
// (GET /v1/alerts/{id}, audited) shows the subject's name with the face the camera
// captured next to the enrolled photo (each photo an audited, never-cached read), and
// the operator acknowledges or dismisses it with an optional note (audited). An alarm
// (a watchlist whose severity is "alarm") opens the same review in a panel that stays,
// with a sound, until someone decides.

import { api, ApiError, currentUser } from "../api.js";
import { banner, button, card, clock, errorBanner, field, h, icon, pill, replace, time, toast } from "../dom.js";
import { alertFeed, cameraName, loadNames, watchlistName } from "./sightings.js";

export const SEVERITY = {
  alarm: ["Alarm", "danger", "A persistent alarm with sound until someone acknowledges it"],
  alert: ["Alert", "warn", "A notification"],
  log: ["Log", "neutral", "Listed quietly, no notification"],
};

const DECISION = {
  acknowledged: ["Acknowledged", "ok"],
  dismissed: ["Dismissed", "neutral"],
  escalated: ["Escalated", "warn"],
};

/** A severity as a pill. */
export function severityPill(severity) {
  const [label, kind, note] = SEVERITY[severity] || [severity, "neutral", null];
  const el = pill(label, kind, note);
  el.dataset.severity = severity;
  return el;
}

/** What was decided about an alert, as a pill ("Open" when nothing yet). */
export function decisionPill(alert) {
  if (!alert.decision) return pill("Unacknowledged", "info", "Not yet acknowledged or dismissed");
  const [label, kind] = DECISION[alert.decision] || [alert.decision, "neutral"];
  return pill(label, kind, alert.decided_by ? `By ${alert.decided_by}` : null);
}

// ------------------------------------------------------------------ list

const LIST_LIMIT = 100; // the server's cap on one answer
// The queue as the alerts page last showed it (its filters and order): "Next open alert"
// on a review goes on through it.
const queue = { order: "severity", severity: "", camera: "" };
let listState = ""; // and which alerts it showed (open, decided, all)

/** The alerts page as it was last filtered (back from a review lands there). */
function listHref() {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ state: listState, ...queue })) if (v) params.set(k, v);
  const qs = params.toString();
  return qs ? `#/alerts?${qs}` : "#/alerts";
}

export default async function renderAlerts(view) {
  await loadNames(view.signal);
  const state = h("select", { name: "state" }, h("option", { value: "open" }, "Not yet acknowledged"), h("option", { value: "all" }, "All"), h("option", { value: "decided" }, "Acknowledged, dismissed or escalated"));
  const severity = h("select", { name: "severity" }, h("option", { value: "" }, "Any severity"), Object.entries(SEVERITY).map(([v, [label]]) => h("option", { value: v }, label)));
  const camera = h("select", { name: "camera" }, h("option", { value: "" }, "Any camera"), [...cameraName.all()].map((c) => h("option", { value: c.camera_id }, c.name)));
  // Most severe first by default: an alarm is never below a page of quiet entries.
  const order = h("select", { name: "order" }, h("option", { value: "severity" }, "Most severe first"), h("option", { value: "oldest" }, "Oldest first"), h("option", { value: "newest" }, "Newest first"));
  for (const [el, key] of [[state, "state"], [severity, "severity"], [camera, "camera"], [order, "order"]]) {
    const wanted = view.query.get(key);
    if (wanted) el.value = wanted;
  }
  const host = h("div", { dataset: { testid: "alert-list" }, "aria-live": "polite" });
  const note = h("p", { class: "hint" });

  // The list is read a page at a time by the server's cursor (never an offset: alerts
  // decided meanwhile would shift the rest, and one would never be shown). Each read,
  // "Show more" and a refresh (a new alert, one decided at any desk) alike, reads as
  // many pages as are shown, so the operator keeps their place.
  let shown = [];
  let pages = 1;
  let cursor = null;
  let generation = 0; // an answer older than the latest read is dropped, never drawn
  let liveFrom = null; // the live window's start as last read, and when (this browser's clock)
  let unreached = false; // the last read did not reach the server: read again once the feed does
  const filters = () => {
    Object.assign(queue, { order: order.value, severity: severity.value, camera: camera.value });
    listState = state.value;
    // Kept in the address (without a new history entry or a re-render): a reload keeps them.
    if (location.hash.startsWith("#/alerts") && !location.hash.startsWith("#/alerts/") && location.hash !== listHref()) history.replaceState(history.state, "", listHref());
    return { state: state.value, severity: severity.value, camera: camera.value, order: order.value, limit: LIST_LIMIT };
  };

  function draw(since) {
    liveFrom = { since: Date.parse(since), readAt: Date.now() };
    note.textContent = `Since ${clock(new Date(since))} (the live window). Older alerts are part of a person's movements: they leave the desk.`;
    const more = cursor
      ? h(
          "div",
          { class: "alerts-more", dataset: { testid: "alerts-more" } },
          h("p", { class: "hint" }, `Showing ${shown.length} alerts: more match.`),
          button(`Show the next ${LIST_LIMIT}`, { kind: "secondary", class: "btn btn-secondary btn-small", onclick: () => showMore() }),
        )
      : null;
    const place = keyboardPlace(host);
    replace(host, alertTable(shown), more);
    restoreKeyboard(host, place);
  }

  async function load() {
    const mine = ++generation;
    try {
      const list = [];
      let next = null;
      let since = null;
      let read = 0;
      do {
        const body = await api("GET", "/v1/alerts", { query: { ...filters(), cursor: next || "" }, signal: view.signal });
        since = since || body.since;
        list.push(...(body.sightings || []));
        next = body.next_cursor || null;
        read += 1;
      } while (next && read < pages);
      if (mine !== generation) return;
      shown = list;
      pages = read;
      cursor = next;
      draw(since);
      unreached = false;
      alertFeed.markSeen();
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (mine !== generation) return;
      replace(host, errorBanner(err));
      unreached = err instanceof ApiError && (err.status === 0 || err.status >= 500);
    }
  }

  // One more page, read again from the first with the rest: a refresh running meanwhile
  // (a poll saw a decision) reads as many pages too, so the click is never lost.
  function showMore() {
    if (!cursor) return;
    pages += 1;
    load();
  }

  // The window moves on while the list is open: an alert that passes out of it leaves the
  // list at once, with no read (a quiet site may have nothing new to reload it for hours).
  const prune = setInterval(() => {
    if (!liveFrom) return;
    const start = liveFrom.since + (Date.now() - liveFrom.readAt);
    const kept = shown.filter((a) => Date.parse(a.first_seen) > start);
    if (kept.length === shown.length) return;
    shown = kept;
    draw(new Date(start).toISOString());
  }, 2000);
  view.signal.addEventListener("abort", () => clearInterval(prune), { once: true });
  const form = h("form", { class: "filters-row", "aria-label": "Filter the alerts" }, field("Show", state), field("Severity", severity), field("Camera", camera), field("Order", order));
  form.addEventListener("change", () => {
    pages = 1; // other filters: from their first page
    load();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  // New alerts, and alerts another desk decided (they leave "Not yet acknowledged").
  const off = alertFeed.subscribe((fresh, feed, settled, gone) => {
    if (fresh.length || settled.length || gone.length || (unreached && !feed.offlineSince)) load();
  });
  view.signal.addEventListener("abort", off, { once: true });
  await load();
  const refresh = button("Check now", { kind: "ghost", iconName: "refresh", class: "btn btn-ghost btn-small", onclick: () => load() });
  return h("div", { class: "page page-alerts" }, card("Alerts", [form, host, note], { subtitle: "Sightings of watchlist subjects at cameras, in the order chosen. Open one to review the faces and decide.", actions: refresh, cls: "card-alert-list" }));
}

// A redraw (an alert came, one was decided, one more page) replaces the list's rows: the
// keyboard, if it was in the list, goes back to the row it was on (or the one that took its
// place), and from "Show the next 100" to the first row it showed, not to the page's top.
function keyboardPlace(host) {
  const active = document.activeElement;
  if (!active || !host.contains(active)) return null;
  const rows = [...host.querySelectorAll("tr[data-sighting]")];
  const row = active.closest("tr[data-sighting]");
  if (row) return { sighting: row.dataset.sighting, index: rows.indexOf(row) };
  return { more: Boolean(active.closest(".alerts-more")), index: rows.length };
}

function restoreKeyboard(host, place) {
  if (!place) return;
  const rows = [...host.querySelectorAll("tr[data-sighting]")];
  const same = place.sighting ? rows.find((r) => r.dataset.sighting === place.sighting) : null;
  const row = same || rows[Math.min(place.index, rows.length - 1)];
  const target = (row && row.querySelector("a")) || host.querySelector(".alerts-more button");
  if (target) target.focus({ preventScroll: !place.more });
}

function alertTable(list) {
  if (!list.length) return h("div", { class: "empty empty-inline" }, icon("bell", "empty-icon"), h("p", {}, "No alerts match, within the live window."));
  return h(
    "table",
    { class: "table table-compact table-alerts table-cards" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Severity"), h("th", { scope: "col" }, "Camera"), h("th", { scope: "col" }, "Watchlist"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Open")))),
    h(
      "tbody",
      {},
      list.map((a) =>
        h(
          "tr",
          { dataset: { alert: "sighting", sighting: a.sighting_id, severity: a.severity } },
          h("td", { class: "nowrap", dataset: { label: "Time" } }, time(a.first_seen, { seconds: true })),
          h("td", { dataset: { label: "Severity" } }, severityPill(a.severity)),
          h("td", { dataset: { label: "Camera" } }, cameraName.of(a.camera_id)),
          h("td", { dataset: { label: "Watchlist" } }, watchlistName.of(a.watchlist_id)),
          h("td", { dataset: { label: "State" } }, decisionPill(a)),
          h("td", { class: "row-actions" }, h("a", { class: "btn btn-secondary btn-small", href: `#/alerts/${encodeURIComponent(a.sighting_id)}` }, "Review")),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ one alert

// The note being typed on an open alert, and a decision the server refused because the
// session had ended (401), by sighting id: kept in memory only (never in storage), and
// given back to the same user's review of that alert once they have signed in again.
// A session ends with the sign-in screen replacing the page, whether a poll or the
// decision itself met the 401: nothing typed or decided is lost unnoticed.
const drafts = new Map();

function takeDraft(sightingId) {
  const user = currentUser();
  const kept = drafts.get(sightingId);
  if (!kept) return null;
  if (!user || user.username !== kept.username) {
    drafts.delete(sightingId);
    return null;
  }
  drafts.set(sightingId, { ...kept, label: null }); // said once
  return kept;
}

/** Forget every draft note (a person signed out on purpose). */
export function forgetDrafts() {
  drafts.clear();
}

export async function renderAlert(view, sightingId) {
  await loadNames(view.signal);
  let review;
  try {
    review = await api("GET", `/v1/alerts/${encodeURIComponent(sightingId)}`, { signal: view.signal });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return h("div", { class: "page" }, banner("warn", "No such alert in the live window", "Alerts leave the desk when they are older than the live window: a person's earlier movements are a location history, for an investigator with a case reference."), h("a", { href: "#/alerts", class: "btn btn-secondary" }, "Back to the alerts"));
    }
    throw err;
  }
  view.setTitle("Alert review");
  const page = h("div", { class: "page page-alert" });
  const back = () => h("a", { href: listHref(), class: "btn btn-ghost btn-small back-link" }, "← All alerts");
  // Once decided, on to the next open alert of the queue: 300 alerts in a shift are worked
  // through one after the other, not back to the list each time.
  const onward = () =>
    h(
      "div",
      { class: "review-nav" },
      back(),
      button("Next open alert", {
        kind: "secondary",
        iconName: "bell",
        class: "btn btn-secondary btn-small",
        onclick: async () => {
          try {
            const body = await api("GET", "/v1/alerts", { query: { state: "open", ...queue, limit: 1 }, signal: view.signal });
            const next = (body.sightings || [])[0];
            if (next) location.hash = `#/alerts/${encodeURIComponent(next.sighting_id)}`;
            else toast("No open alerts left in the live window");
          } catch (err) {
            if (!(err && err.name === "AbortError")) toast(err.message || String(err), "danger");
          }
        },
      }),
    );
  let open = !review.alert.decision;
  const decided = (r) => {
    // The keyboard stays on the page: where it pressed a decision, on to the next open
    // alert; where it was typing a note (another desk decided first), in the later note
    // that now holds the text (Enter there must not press "Next open alert").
    const had = page.contains(document.activeElement);
    const typing = had && document.activeElement.tagName === "TEXTAREA";
    open = false;
    replace(page, onward(), reviewCard(r));
    const target = !had ? null : typing ? page.querySelector("textarea[name=later-note]") : page.querySelector(".review-nav button");
    if (target) target.focus({ preventScroll: true });
  };
  replace(page, open ? back() : onward(), open ? reviewCard(review, { onDecided: decided }) : reviewCard(review));
  // The alert left the desk while this page was open (the person erased, past the live
  // window, the camera removed): its name and faces go, whether decided or not.
  const release = alertFeed.hold(() => [review.alert.sighting_id]);
  view.signal.addEventListener("abort", release, { once: true });
  // Another operator decided it while this page was open: say so, and offer no buttons.
  const off = alertFeed.subscribe((_fresh, _feed, settled, gone) => {
    if (gone.includes(review.alert.sighting_id)) {
      open = false;
      replace(page, back(), leftTheDesk());
      return;
    }
    const done = open && settled.find((a) => a.sighting_id === review.alert.sighting_id);
    if (!done) return;
    open = false;
    toast(`Already ${done.decision} by ${done.decided_by}`, "warn");
    // Read it again for what they wrote with it (the page shows this alert already).
    const mark = { ...review, alert: { ...review.alert, decision: done.decision, decided_by: done.decided_by, decided_at: done.decided_at }, note: null };
    api("GET", `/v1/alerts/${encodeURIComponent(review.alert.sighting_id)}`, { signal: view.signal })
      .then((now) => decided(now.alert.decision ? now : mark))
      .catch((err) => {
        if (!(err && err.name === "AbortError")) decided(mark);
      });
  });
  view.signal.addEventListener("abort", off, { once: true });
  return page;
}

/** What an open review shows once its alert has left the desk. */
function leftTheDesk() {
  return h("div", { dataset: { testid: "alert-gone" } }, banner("warn", "This alert has left the desk", "Its person was erased, its sighting is past the live window, or its camera was removed: there is nothing left to look at or decide."));
}

/**
 * An alert's review: name, both photos side by side, severity, camera, time, watchlist,
 * and (while open) acknowledge / dismiss with an optional note. `onDecided(review)` is
 * called with the review as it is after a decision; `onGone()` when the alert has left
 * the desk meanwhile (its sighting erased, its camera removed, past the live window).
 * called with the review as it is after a decision.
 */
export function reviewCard(review, { onDecided = null, onGone = null, compact = false } = {}) {
  const a = review.alert;
  const id = encodeURIComponent(a.sighting_id);
  const photo = (which, label) =>
    h(
      "figure",
      { class: "review-photo", dataset: { photo: which } },
      review.photos.includes(which)
        ? h("img", { src: `/v1/alerts/${id}/photos/${which}`, alt: `${label} of the alert's subject`, width: "160", height: "160", decoding: "async" })
        : h("div", { class: "review-photo-missing" }, icon("camera"), h("span", {}, which === "captured" ? "No face crop kept by this camera" : "No enrollment photo kept")),
      h("figcaption", {}, label),
    );
  const decide = h("div", { class: "review-decide" });
  if (!a.decision) {
    const note = h("textarea", { name: "note", rows: compact ? "1" : "2", maxlength: "500", placeholder: "Optional: what was done (no personal data)" });
    const lost = compact ? null : takeDraft(a.sighting_id); // the alarm panel has no note
    if (lost) note.value = lost.note;
    const username = (currentUser() || {}).username;
    note.addEventListener("input", () => drafts.set(a.sighting_id, { username, note: note.value, label: null }));
    // A decision that could not be recorded (the server restarting, a network fault, a
    // server error) is said here: the note and the buttons stay, to press again.
    const problem = h("div", { class: "review-problem", "aria-live": "polite" });
    let busy = false; // one decision at a time: a double click is not a second one (409)
    const act = async (what, label) => {
      if (busy) return;
      busy = true;
      replace(problem);
      try {
        const done = await api("POST", `/v1/alerts/${id}/${what}`, { json: { note: note.value.trim() || null } });
        drafts.delete(a.sighting_id);
        toast(`Alert ${label}`);
        // This card first, then every other view of the alert (its alarm in the panel, its
        // page, the lists): they learn of it from the feed at once, not from the next poll.
        if (onDecided) onDecided({ ...review, alert: done, note: note.value.trim() || null });
        alertFeed.decided(done);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          // The sign-in screen is up already; keep what was typed for after it.
          drafts.set(a.sighting_id, { username, note: note.value, label });
          return;
        }
        if (err instanceof ApiError && err.status === 404) {
          // Nothing left to decide on: say so, and let an alarm go (it would sound forever).
          drafts.delete(a.sighting_id);
          toast("This alert has left the desk: nothing was recorded", "warn");
          replace(decide, banner("warn", "This alert has left the desk", "Its sighting was erased, its camera removed, or it is older than the live window: there is nothing left to decide, and nothing was recorded."));
          if (onGone) onGone();
          return;
        }
        if (err instanceof ApiError && err.status === 409) {
          // Someone else decided meanwhile: show what they decided. The note typed here
          // was not recorded: it waits to be added as a later note, not thrown away.
          try {
            const now = await api("GET", `/v1/alerts/${id}`);
            toast(`Already ${now.alert.decision} by ${now.alert.decided_by}`, "warn");
            if (note.value.trim()) drafts.set(a.sighting_id, { username, note: note.value, label: null });
            else drafts.delete(a.sighting_id);
            if (onDecided) onDecided(now);
            alertFeed.decided(now.alert);
            return;
          } catch {
            // Fall through to the error itself.
          }
        }
        replace(problem, errorBanner(err));
      } finally {
        busy = false;
      }
    };
    const lostBanner = lost && lost.label ? h("div", { dataset: { testid: "decision-unsaved" } }, banner("warn", `Not ${lost.label}: your session had ended`, "Your decision was not recorded. Your note is kept below: decide again.")) : null;
    append(decide, lostBanner, compact ? null : field("Note", note, { hint: "Recorded, encrypted, with your decision." }), problem, h("div", { class: "review-buttons" }, button("Acknowledge", { kind: "primary", iconName: "check", onclick: () => act("acknowledge", "acknowledged") }), button("Dismiss", { kind: "secondary", iconName: "x", title: "A false match: not the person", onclick: () => act("dismiss", "dismissed") }), button("Escalate", { kind: "secondary", iconName: "alert", title: "Hand it on (a supervisor, the police): say to whom in the note", onclick: () => act("escalate", "escalated") })));
  } else {
    append(decide, banner(a.decision === "acknowledged" ? "ok" : "info", `${DECISION[a.decision][0]} by ${a.decided_by}`, review.note ? `Note: ${review.note}` : null, time(a.decided_at)));
    if (!compact) append(decide, laterNotes(review));
  }
  return h(
    "section",
    { class: ["card", "review", `review-${a.severity}`], dataset: { testid: "alert-review", sighting: a.sighting_id, severity: a.severity } },
    h(
      "header",
      { class: "review-head" },
      severityPill(a.severity),
      h("h2", { class: "review-name", dataset: { testid: "alert-name" } }, review.full_name || "Unnamed subject"),
      decisionPill(a),
    ),
    h("div", { class: "review-photos" }, photo("captured", "Captured by the camera"), photo("enrolled", "Enrolled photo")),
    h(
      "dl",
      { class: "review-facts" },
      h("div", {}, h("dt", {}, "Camera"), h("dd", {}, review.camera_name, review.camera_location ? h("span", { class: "muted" }, ` · ${review.camera_location}`) : null)),
      h("div", {}, h("dt", {}, "Seen"), h("dd", {}, time(a.first_seen, { seconds: true }), a.last_seen && a.last_seen !== a.first_seen ? h("span", { class: "muted" }, " until ", time(a.last_seen, { seconds: true })) : null)),
      h("div", {}, h("dt", {}, "Watchlist"), h("dd", {}, review.watchlist_name)),
      h("div", {}, h("dt", {}, "Similarity"), h("dd", { class: "mono" }, typeof a.best_similarity === "number" ? a.best_similarity.toFixed(3) : "—")),
    ),
    h("p", { class: "hint" }, "A match is a candidate, not a fact: compare the two faces before acting. Opening this alert and viewing its photos are recorded in the audit log."),
    decide,
  );
}

/**
 * The notes added after an alert's decision (oldest first), and a form to add one: what
 * was learnt later ("confirmed with the guard on site"). Append-only: the decision and its
 * own note stand. Recorded, encrypted and audited like the decision's note.
 */
function laterNotes(review) {
  const id = encodeURIComponent(review.alert.sighting_id);
  const item = (n) => h("li", { class: "review-note" }, h("p", {}, n.note), h("span", { class: "muted small" }, `${n.written_by} · `, time(n.written_at, { seconds: true })));
  const list = h("ol", { class: "review-notes", dataset: { testid: "alert-notes" } }, (review.notes || []).map(item));
  const text = h("textarea", { name: "later-note", rows: "2", maxlength: "500", placeholder: "What was learnt since (no personal data)" });
  // A note being typed when another desk decided the alert: kept, to add as a later one.
  // And one being typed here is kept like a decision's note, in memory only, until it is
  // added: a session that ends meanwhile (the sign-in screen replaces the page) loses it not.
  const typed = takeDraft(review.alert.sighting_id);
  if (typed && typed.note) text.value = typed.note;
  const username = (currentUser() || {}).username;
  text.addEventListener("input", () => drafts.set(review.alert.sighting_id, { username, note: text.value, label: null }));
  const problem = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "review-add-note", "aria-label": "Add a note" },
    field("Add a note", text, { hint: "Added after the decision, with your name and the time; recorded, encrypted. It cannot be changed later." }),
    problem,
    h("div", { class: "review-buttons" }, button("Add note", { kind: "secondary", iconName: "plus", type: "submit" })),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = text.value.trim();
    if (!note) {
      replace(problem, banner("warn", "The note is empty", "Type what was learnt, then add it."));
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const added = await api("POST", `/v1/alerts/${id}/notes`, { json: { note } });
      drafts.delete(review.alert.sighting_id);
      list.append(item(added));
      text.value = "";
      replace(problem);
      toast("Note added");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        drafts.set(review.alert.sighting_id, { username, note: text.value, label: null }); // for after sign-in
        return; // the sign-in screen is up
      }
      if (err instanceof ApiError && err.status === 404) {
        replace(form, banner("warn", "This alert has left the desk", "It is older than the live window, or its sighting was erased: nothing was recorded."));
        return;
      }
      replace(problem, errorBanner(err));
    } finally {
      submit.disabled = false;
    }
  });
  return h("div", { class: "review-later" }, list, form);
}

function append(el, ...children) {
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

// ------------------------------------------------------------------ alarm panel

let alarm = null;

/** Open (or add to) the alarm panel for an alarm-severity alert; it stays until decided. */
export async function raiseAlarm(alert) {
  if (!alarm) alarm = new AlarmPanel();
  await alarm.add(alert);
}

/** Take alerts decided elsewhere off the alarm panel (it closes when none is left); true if any was on it. */
export function settleAlarms(settled) {
  return alarm ? alarm.settle(new Set(settled.map((a) => a.sighting_id))) : false;
}

/** Close the alarm panel (sign-out). */
export function silenceAlarms() {
  if (alarm) alarm.close();
  alarm = null;
}

class AlarmPanel {
  constructor() {
    this.queue = [];
    this.el = h("aside", { class: "alarm-panel", role: "alertdialog", "aria-label": "Alarm", tabindex: "-1", dataset: { testid: "alarm-panel" } });
    document.body.append(this.el);
    this.returnTo = null; // where keyboard focus goes back to once the last alarm is decided
    this.sound = new AlarmSound();
    this.release = alertFeed.hold(() => this.queue.map((r) => r.alert.sighting_id));
  }

  // The queue holds the alarms as the feed gave them (ids, no name); only the one on
  // show is opened (GET /v1/alerts/{id}: audited, names the subject), when its turn comes.
  async add(alert) {
    if (this.queue.some((r) => r.alert.sighting_id === alert.sighting_id)) return;
    this.queue.push({ alert, review: null });
    if (this.queue.length === 1) await this.draw();
    else if (this.queue[0].review) {
      this.drawMore();
      this.takeKeyboard(); // a new alarm calls the keyboard back, as the first did
    }
  }

  settle(ids) {
    if (!this.queue.some((r) => ids.has(r.alert.sighting_id))) return false;
    const head = this.queue[0];
    this.queue = this.queue.filter((r) => !ids.has(r.alert.sighting_id));
    // Redraw only when the alarm on show went (a note being typed for it stays).
    if (this.queue[0] !== head) this.draw();
    else this.drawMore();
    return true;
  }

  drawMore() {
    const more = this.queue.length - 1;
    const el = this.el.querySelector(".alarm-more");
    if (el) el.textContent = more ? ` · ${more} more waiting` : "";
  }

  async draw() {
    const turn = (this.turn = (this.turn || 0) + 1);
    clearTimeout(this.retry);
    while (this.queue.length && !this.queue[0].review) {
      const head = this.queue[0];
      let review = null;
      try {
        review = await api("GET", `/v1/alerts/${encodeURIComponent(head.alert.sighting_id)}`);
      } catch (err) {
        if (turn !== this.turn || this.closed) return;
        if (!(err instanceof ApiError && [403, 404].includes(err.status))) {
          // Not reached (a restart, a network blip) or failing: the alarm stays up, and
          // is opened once the server answers. Only an alarm gone from the desk is let go.
          this.drawUnreached();
          this.retry = setTimeout(() => this.draw(), 2000);
          return;
        }
        review = null; // gone (erased, out of the window): nothing to raise
      }
      if (turn !== this.turn || this.closed) return; // another draw took over, or signed out
      if (this.queue[0] !== head) continue; // decided elsewhere meanwhile
      if (!review || review.alert.decision) this.queue.shift();
      else head.review = review;
    }
    if (!this.queue.length) {
      this.close();
      if (alarm === this) alarm = null;
      return;
    }
    const review = this.queue[0].review;
    const more = this.queue.length - 1;
    replace(
      this.el,
      h("div", { class: "alarm-title" }, icon("bell"), h("strong", {}, "Alarm"), h("span", { class: "muted alarm-more" }, more ? ` · ${more} more waiting` : ""), h("a", { class: "btn btn-ghost btn-small", href: `#/alerts/${encodeURIComponent(review.alert.sighting_id)}` }, "Open its page")),
      reviewCard(review, {
        compact: true,
        // By id, not the head of the queue: the feed may have settled it already.
        onDecided: () => this.settle(new Set([review.alert.sighting_id])),
        onGone: () => this.settle(new Set([review.alert.sighting_id])),
      }),
    );
    this.sound.start();
    this.takeKeyboard();
  }

  /** The alarm on show could not be opened yet: it sounds, and says why it names no one. */
  drawUnreached() {
    const more = this.queue.length - 1;
    replace(
      this.el,
      h("div", { class: "alarm-title" }, icon("bell"), h("strong", {}, "Alarm"), h("span", { class: "muted alarm-more" }, more ? ` · ${more} more waiting` : "")),
      h("div", { dataset: { testid: "alarm-unreached" } }, banner("danger", "An alarm is waiting: its details cannot be loaded yet", "The server is not reached. Trying again every 2 seconds; it opens here as soon as it answers.")),
    );
    this.sound.start();
  }

  takeKeyboard() {
    // An alert dialog takes the keyboard (the panel itself: Enter there decides nothing),
    // unless someone is typing elsewhere, whose words must not go astray; where it has
    // it already (a button tabbed to), it stays put.
    if (this.el.contains(document.activeElement)) return;
    if (typing()) return;
    const from = document.activeElement;
    if (from && from !== document.body && !this.el.contains(from)) this.returnTo = from;
    this.el.focus({ preventScroll: true });
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
    this.release();
    this.sound.stop();
    const had = this.el.contains(document.activeElement) || document.activeElement === document.body;
    this.el.remove();
    if (had && this.returnTo && this.returnTo.isConnected && this.returnTo !== document.body) this.returnTo.focus({ preventScroll: true });
  }
}

/** True while the keyboard is in a field being typed into. */
function typing() {
  const el = document.activeElement;
  return Boolean(el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)));
}

/** A two-tone beep every two seconds while an alarm waits (WebAudio; silent where blocked). */
class AlarmSound {
  constructor() {
    this.timer = null;
    this.ctx = null;
  }

  start() {
    if (this.timer) return;
    const beep = () => {
      try {
        if (!this.ctx) this.ctx = new AudioContext();
        if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
        const now = this.ctx.currentTime;
        for (const [i, freq] of [880, 660].entries()) {
          const osc = this.ctx.createOscillator();
          const gain = this.ctx.createGain();
          osc.frequency.value = freq;
          gain.gain.value = 0.08;
          osc.connect(gain).connect(this.ctx.destination);
          osc.start(now + i * 0.2);
          osc.stop(now + i * 0.2 + 0.18);
        }
      } catch {
        // No audio here: the panel itself stays up.
      }
    };
    beep();
    this.timer = setInterval(beep, 2000);
    document.body.dataset.alarm = "sounding";
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    delete document.body.dataset.alarm;
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ctx = null;
  }
}
