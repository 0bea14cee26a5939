// Dashboard: what is held (subjects, watchlists), whether the audit chain is
// intact, and the day's common actions. Each block shows only for roles that
// may read it.

import { api, ApiError, can, currentUser } from "../api.js";
import { lastCase, rememberCase } from "../case.js";
import { banner, card, errorBanner, field, fmtFmr, h, icon, orDash, time } from "../dom.js";
import { severityPill } from "./alerts.js";
import { actionLabel, actorLabel, chainBanner, outcomePill } from "./audit.js";
import { stateBadge } from "./cameras.js";
import { alertFeed } from "./sightings.js";

const RECENT = 8;
const HEALTH_MS = 5000; // how often the desk's camera health and figures are read again

export default async function renderDashboard(view) {
  const user = currentUser();
  const blocks = [];
  // Counts come from the unaudited statistics routes: listing subjects to count them
  // would read (and audit) their names.
  const [subjects, watchlists, chain, deskRead] = await Promise.all([
    can("subjects") ? settle(api("GET", "/v1/stats", { signal: view.signal })) : null,
    can("watchlists") ? settle(api("GET", "/v1/watchlists", { signal: view.signal })) : null,
    can("audit") ? settle(api("GET", "/v1/audit/verify", { signal: view.signal })) : null,
    can("alerts") ? readDesk(view.signal) : null,
  ]);
  const desk = deskRead ? deskRead.desk : null;

  blocks.push(
    h(
      "div",
      { class: "welcome" },
      h("h2", {}, `Welcome, ${user.username}`),
      h("p", { class: "muted" }, roleLine(user.role)),
    ),
  );

  const stats = [];
  if (subjects) {
    stats.push(
      stat(
        "Enrolled subjects",
        subjects.ok ? Number(subjects.value.subjects).toLocaleString() : "—",
        subjects.ok ? "people with a protected face template" : subjects.error.message,
        "subjects",
        "#/subjects",
      ),
    );
  }
  if (watchlists) {
    const list = watchlists.ok ? watchlists.value.watchlists : [];
    stats.push(stat("Watchlists", watchlists.ok ? String(list.length) : "—", watchlists.ok ? plural(sumOf(list, "members"), "membership", "memberships") + " in total" : watchlists.error.message, "watchlists", "#/watchlists"));
  }
  if (chain) {
    const ok = chain.ok && chain.value.ok;
    stats.push(
      stat(
        "Audit chain",
        chain.ok ? (ok ? "Intact" : "Broken") : "—",
        chain.ok ? `${Number(chain.value.checked).toLocaleString()} entries verified` : chain.error.message,
        "audit",
        "#/audit",
        chain.ok ? (ok ? "ok" : "danger") : "warn",
      ),
    );
  }
  let figures = desk && desk.ok ? deskFigures(desk.value) : [];
  stats.unshift(...figures);
  if (stats.length) blocks.push(h("div", { class: "stats" }, stats));
  if (desk && desk.ok) {
    let live = deskBlock(deskRead);
    const holder = h("div", { class: "desk-holder" }, live.el);
    blocks.push(holder);
    // New alerts, alerts decided at any desk, alerts that left the desk (the person
    // erased) and alerts past the live window redraw the desk's figures and block (the
    // figures route is cheap and names no one): nothing of an erased person, and no
    // movement older than the live window, stays on a screen left open all shift.
    let generation = 0;
    let reads = 0; // the figures' reads in the order they were asked; the latest drawn:
    let drawn = 0;
    let shownDesk = JSON.stringify(desk.value); // what the figures and camera health show
    const showFigures = (desk, read) => {
      if (read < drawn) return false;
      drawn = read;
      const now = deskFigures(desk);
      figures.forEach((el, i) => swap(el, now[i]));
      figures = now;
      return true;
    };
    const refresh = async () => {
      const mine = ++generation;
      const read = ++reads;
      try {
        const again = await readDesk(view.signal);
        if (!again.desk.ok || mine !== generation || view.signal.aborted) return;
        const was = live.el;
        live = deskBlock(again);
        swap(was, live.el);
        shownDesk = JSON.stringify(again.desk.value);
        showFigures(again.desk.value, read);
      } catch {
        // Left the page meanwhile: nothing to redraw.
      }
    };
    // Camera health and the figures on their own, every few seconds: a camera that stops
    // (or fails) on a quiet site shows so with no alert to redraw the page. GET /v1/desk
    // names no one and is not audited; the alerts list is read only when the feed says.
    const health = setInterval(async () => {
      if (view.signal.aborted || document.hidden) return;
      const read = ++reads;
      try {
        const again = await settle(api("GET", "/v1/desk", { signal: view.signal }));
        if (!again.ok || view.signal.aborted || read < drawn) return;
        const text = JSON.stringify(again.value);
        if (text === shownDesk) return; // nothing changed: nothing redrawn
        shownDesk = text;
        showFigures(again.value, read);
        const now = healthCard(again.value);
        swap(live.health, now);
        live.health = now;
      } catch {
        // Left the page meanwhile: nothing to redraw.
      }
    }, HEALTH_MS);
    const release = alertFeed.hold(() => live.alerts.map((a) => a.sighting_id));
    const off = alertFeed.subscribe((fresh, _feed, settled, gone) => {
      if ((fresh.length || settled.length || gone.length) && !view.signal.aborted) refresh();
    });
    const prune = setInterval(() => {
      if (!live.since) return;
      const start = live.since + (Date.now() - live.readAt);
      if (live.alerts.some((a) => Date.parse(a.first_seen) <= start)) refresh();
    }, 2000);
    view.signal.addEventListener(
      "abort",
      () => {
        off();
        release();
        clearInterval(prune);
        clearInterval(health);
      },
      { once: true },
    );
  }

  if (chain && chain.ok && !chain.value.ok) blocks.push(chainBanner(chain.value));
  if (watchlists && watchlists.ok && !watchlists.value.watchlists.length && can("watchlists")) {
    blocks.push(banner("info", "No watchlists yet", "Create a watchlist (with its purpose and lawful basis) before enrolling people onto it.", h("a", { href: "#/watchlists", class: "btn btn-secondary" }, "Create a watchlist")));
  }

  const actions = [
    can("enroll") && action("Enroll a subject", "Record, lawful basis and a checked photo", "enroll", "#/enroll"),
    can("identify") && action("Search by photo", "Find candidates on a watchlist", "search", "#/search"),
    can("verify") && action("Verify two photos", "Are two photos the same person?", "verify", "#/verify"),
    can("watchlists") && action("Watchlists", "Purpose, lawful basis, threshold", "watchlists", "#/watchlists"),
    can("cameras") && action("Cameras", "Sources, states and errors", "camera", "#/cameras"),
    can("crowd") && action("Crowd analysis", "Anonymous counts, dwell time, heatmap", "chart", "#/crowd"),
    can("sightings") && action("Sightings", "Who on a watchlist was seen where", "bell", "#/sightings"),
    can("audit") && action("Audit log", "Who did what, and when", "audit", "#/audit"),
    can("admin") && action("Users and API keys", "Accounts, roles and machine keys", "keys", "#/admin"),
  ].filter(Boolean);
  if (actions.length) blocks.push(card("Quick actions", h("div", { class: "actions-grid" }, actions)));

  if (can("subject-read") && !can("subjects")) blocks.push(card("Open a subject", openById(), { subtitle: "Investigators open a subject by its id, as given in a case file, for a case." }));

  if (watchlists && watchlists.ok && watchlists.value.watchlists.length) {
    blocks.push(card("Watchlists", watchlistTable(watchlists.value.watchlists), { actions: h("a", { href: "#/watchlists", class: "btn btn-ghost" }, "Manage") }));
  }
  if (chain && chain.ok) {
    const recent = await settle(api("GET", "/v1/audit", { query: { after: Math.max(0, Number(chain.value.checked) - RECENT), limit: RECENT }, signal: view.signal }));
    if (recent.ok && recent.value.entries.length) {
      blocks.push(card("Recent activity", recentTable([...recent.value.entries].reverse()), { actions: h("a", { href: "#/audit", class: "btn btn-ghost" }, "Open the audit log") }));
    }
  }

  for (const r of [subjects, watchlists, chain, desk]) {
    if (r && !r.ok && !(r.error instanceof ApiError && r.error.status === 403)) {
      blocks.push(errorBanner(r.error));
      break;
    }
  }
  if (!actions.length && !stats.length) {
    blocks.push(banner("info", "Nothing to show for your role here", "Your role has no pages in this console."));
  }
  return h("div", { class: "page page-dashboard" }, blocks);
}

function recentTable(entries) {
  return h(
    "table",
    { class: "table table-compact" },
    h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Time"), h("th", {}, "Actor"), h("th", {}, "Action"), h("th", {}, "Outcome"))),
    h("tbody", {}, entries.map((e) => h("tr", {}, h("td", { class: "num mono muted" }, String(e.seq)), h("td", {}, time(e.ts)), h("td", {}, actorLabel(e.actor)), h("td", { class: "strong" }, actionLabel(e.action)), h("td", {}, outcomePill(e.outcome))))),
  );
}

async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    return { ok: false, error };
  }
}

function sumOf(list, key) {
  return list.reduce((acc, x) => acc + (Number(x[key]) || 0), 0);
}

function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

function roleLine(role) {
  return {
    admin: "You administer this deployment: users, API keys, and everything an operator does.",
    operator: "You enroll subjects and run searches. Matches are candidates for a person to review.",
    investigator: "You can read subjects named in a case.",
    analyst: "You see crowd aggregates only, never a person.",
    auditor: "You review the audit log and its integrity.",
  }[role] || "";
}

function stat(label, value, note, iconName, href, tone = "neutral") {
  return h(
    "a",
    { class: `stat stat-${tone}`, href },
    h("div", { class: "stat-icon" }, icon(iconName)),
    h("div", {}, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), h("div", { class: "stat-note" }, note)),
  );
}

function action(title, note, iconName, href) {
  return h("a", { class: "action", href }, h("div", { class: "action-icon" }, icon(iconName)), h("div", {}, h("div", { class: "action-title" }, title), h("div", { class: "action-note" }, note)), icon("chevron", "action-chevron"));
}

function watchlistTable(list) {
  return h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Purpose"), h("th", { class: "num" }, "Members"), h("th", {}, "False match rate"), h("th", {}, "Created"))),
    h(
      "tbody",
      {},
      list.map((w) => h("tr", {}, h("td", { class: "strong" }, w.name), h("td", {}, orDash(w.purpose)), h("td", { class: "num" }, String(w.members ?? "—")), h("td", {}, fmtFmr(w.fmr)), h("td", {}, time(w.created_at, { withTime: false })))),
    ),
  );
}

function openById() {
  const input = h("input", { type: "text", name: "subject_id", placeholder: "sub_…", autocomplete: "off", spellcheck: "false", class: "mono" });
  const caseRef = h("input", { type: "text", name: "case_reference", maxlength: "128", placeholder: "e.g. CASE-2026-0142", autocomplete: "off", spellcheck: "false" });
  caseRef.value = lastCase();
  const open = h("button", { class: "btn btn-primary", type: "submit" }, "Open");
  const form = h("form", { class: "form-grid form-grid-open" }, field("Subject id", input, { required: true }), field("Case reference", caseRef, { required: true, hint: "Recorded in the audit log with the read." }), h("div", { class: "form-row-end" }, open));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (!/^[A-Za-z0-9_-]+$/.test(id)) return;
    if (caseRef.value.trim()) rememberCase(id, caseRef.value);
    location.hash = `#/subjects/${id}`;
  });
  return form;
}

/**
 * Put `now` in the place of `old` (a card or a figure redrawn): a keyboard that was on a
 * link inside `old` goes on from the same link (or the same alert) in `now`, not from the
 * top of the page.
 */
function swap(old, now) {
  const active = document.activeElement;
  const inside = Boolean(active && old.contains(active));
  let key = null;
  if (inside) {
    const item = active.closest("[data-sighting]");
    const href = active.getAttribute("href");
    if (item) key = `[data-sighting="${CSS.escape(item.dataset.sighting)}"] a`;
    else if (href) key = `a[href="${CSS.escape(href)}"]`;
  }
  old.replaceWith(now);
  const target = key ? (now.matches(key) ? now : now.querySelector(key)) : null;
  if (target) target.focus({ preventScroll: true });
}

/** The desk's figures (open alerts, today's sightings, cameras live) as three stats. */
function deskFigures(d) {
  const open = Object.values(d.open_alerts).reduce((a, b) => a + b, 0);
  return [
    stat("Open alerts", String(open), `${d.open_alerts.alarm} alarm, ${d.open_alerts.alert} alert, ${d.open_alerts.log} log · last ${d.window_minutes} min`, "bell", "#/alerts?state=open", open ? (d.open_alerts.alarm ? "danger" : "warn") : "ok"),
    stat("Sightings today", Number(d.sightings_today).toLocaleString(), "watchlist subjects seen since midnight (UTC)", "eye", "#/alerts?state=all"),
    stat("Cameras live", `${d.cameras.filter((c) => c.state === "live").length} / ${d.cameras.length}`, `${d.cameras.filter((c) => c.error).length} with an error`, "camera", "#/cameras"),
  ];
}

/**
 * The desk's open alerts, then its figures: in that order, so that the figures are never
 * older than the list. Whatever changes after the list was read (an alert recorded,
 * decided, erased) reaches the console's feed, which reads both again.
 */
async function readDesk(signal) {
  const alerts = await settle(api("GET", "/v1/alerts", { query: { state: "open", limit: 6 }, signal }));
  const desk = await settle(api("GET", "/v1/desk", { signal }));
  return { alerts, desk, readAt: Date.now() };
}

/**
 * The security desk at a glance (from `readDesk`): open alerts in the live window, and
 * camera health. Returns `{el, health, alerts, since, readAt}`: the health card, the
 * alerts listed, and the live window's start as the server gave it and when (this
 * browser's clock), to age them out.
 */
function deskBlock({ alerts, desk: read, readAt }) {
  const desk = read.value;
  const list = alerts.ok ? alerts.value.sightings || [] : [];
  const names = new Map(desk.cameras.map((c) => [c.camera_id, c.name]));
  const live = list.length
    ? h(
        "ul",
        { class: "desk-alerts", dataset: { testid: "desk-alerts" } },
        list.map((a) =>
          h(
            "li",
            { dataset: { sighting: a.sighting_id, severity: a.severity } },
            h("a", { href: `#/alerts/${encodeURIComponent(a.sighting_id)}` }, severityPill(a.severity), h("span", { class: "desk-alert-where" }, names.get(a.camera_id) || a.camera_id), time(a.first_seen)),
          ),
        ),
      )
    : h("div", { class: "empty empty-inline" }, icon("bell", "empty-icon"), h("p", {}, alerts.ok ? `No open alerts in the last ${desk.window_minutes} minutes.` : alerts.error.message));
  const health = healthCard(desk);
  const el = h(
    "div",
    { class: "grid-2 desk-grid" },
    card("Live alerts", live, { subtitle: `Open alerts of the last ${desk.window_minutes} minutes, newest first.`, actions: h("a", { href: "#/alerts", class: "btn btn-ghost" }, "All alerts"), cls: "card-desk-alerts" }),
    health,
  );
  return { el, health, alerts: list, since: alerts.ok && alerts.value.since ? Date.parse(alerts.value.since) : null, readAt };
}

/** Each camera's state, last frame, rate and error (from GET /v1/desk), as a card. */
function healthCard(desk) {
  const table = desk.cameras.length
    ? h("div", { class: "table-wrap" }, h(
        "table",
        { class: "table table-compact table-cards", dataset: { testid: "camera-health" } },
        h("thead", {}, h("tr", {}, ["Camera", "State", "Last frame", "Frames per second", "Error"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          desk.cameras.map((c) =>
            h(
              "tr",
              { dataset: { camera: c.camera_id } },
              h("td", { class: "strong", dataset: { label: "Camera" } }, c.name, c.sensitive ? h("span", { class: "muted" }, " · counts only") : null),
              h("td", { dataset: { label: "State" } }, stateBadge(c.state)),
              h("td", { dataset: { label: "Last frame" } }, c.last_frame_at ? time(c.last_frame_at) : h("span", { class: "muted" }, "—")),
              h("td", { class: "num", dataset: { label: "Frames per second" } }, c.fps === null || c.fps === undefined ? h("span", { class: "muted" }, "—") : c.fps.toFixed(1)),
              h("td", { dataset: { label: "Error" } }, c.error ? h("span", { class: "text-danger" }, c.error) : h("span", { class: "muted" }, "—")),
            ),
          ),
        ),
      ))
    : h("p", { class: "muted" }, "No cameras yet.");
  return card("Camera health", table, { subtitle: "State, last frame and rate of each camera (kept up to date).", actions: h("a", { href: "#/cameras", class: "btn btn-ghost" }, "Cameras"), cls: "card-camera-health" });
}
