// The console's shell: sign-in, the navigation for the signed-in role, and hash
// routing (#/search, #/subjects/<id>, ...). Routes carry opaque ids only, never
// personal data.

import { ApiError, can, currentUser, logout, onSessionEnd, resume } from "./api.js";
import { forgetCases } from "./case.js";
import { clock, errorBanner, h, icon, replace, timeZoneLabel, toast } from "./dom.js";
import renderAccount from "./pages/account.js";
import renderAdmin from "./pages/admin.js";
import renderAlerts, { forgetDrafts, raiseAlarm, renderAlert, settleAlarms, silenceAlarms } from "./pages/alerts.js";
import renderAudit from "./pages/audit.js";
import renderCameras from "./pages/cameras.js";
import renderCrowd from "./pages/crowd.js";
import renderDashboard from "./pages/dashboard.js";
import renderEnroll from "./pages/enroll.js";
import renderLogin from "./pages/login.js";
import renderReport from "./pages/report.js";
import renderRequests from "./pages/requests.js";
import renderSearch from "./pages/search.js";
import renderSightings, { alertFeed, alertText, primeNames } from "./pages/sightings.js";
import renderSubject from "./pages/subject.js";
import renderSubjects from "./pages/subjects.js";
import renderVerify from "./pages/verify.js";
import renderWatchlists from "./pages/watchlists.js";

const ROUTES = [
  { pattern: /^$/, nav: "dashboard", title: "Dashboard", render: renderDashboard },
  { pattern: /^enroll$/, nav: "enroll", title: "Enroll a subject", cap: "enroll", render: renderEnroll },
  { pattern: /^search$/, nav: "search", title: "Search by photo", cap: "identify", render: renderSearch },
  { pattern: /^verify$/, nav: "verify", title: "Verify two photos", cap: "verify", render: renderVerify },
  { pattern: /^subjects$/, nav: "subjects", title: "Subjects", cap: "subjects", render: renderSubjects },
  { pattern: /^subjects\/([A-Za-z0-9_-]+)$/, nav: "subjects", title: "Subject", cap: "subject-read", render: renderSubject },
  { pattern: /^watchlists$/, nav: "watchlists", title: "Watchlists", cap: "watchlists", render: renderWatchlists },
  { pattern: /^cameras$/, nav: "cameras", title: "Cameras", cap: "cameras", render: renderCameras },
  { pattern: /^crowd$/, nav: "crowd", title: "Crowd analysis", cap: "crowd", render: renderCrowd },
  { pattern: /^cameras\/([A-Za-z0-9_-]+)\/crowd$/, nav: "crowd", title: "Crowd analysis", cap: "crowd", render: renderCrowd },
  { pattern: /^sightings$/, nav: "sightings", title: "Sightings", cap: "sightings", render: renderSightings },
  { pattern: /^alerts$/, nav: "alerts", title: "Alerts", cap: "alerts", render: renderAlerts },
  { pattern: /^alerts\/([A-Za-z0-9_-]+)$/, nav: "alerts", title: "Alert review", cap: "alerts", render: renderAlert },
  { pattern: /^requests$/, nav: "requests", title: "Location-history requests", cap: "history-approve", render: renderRequests },
  { pattern: /^audit$/, nav: "audit", title: "Audit log", cap: "audit", render: renderAudit },
  { pattern: /^admin$/, nav: "admin", title: "Users and API keys", cap: "admin", render: renderAdmin },
  { pattern: /^report$/, nav: "report", title: "Records of processing", cap: "report", render: renderReport },
  { pattern: /^account$/, nav: "account", title: "Change password", render: renderAccount },
];

const NAV = [
  { id: "dashboard", label: "Dashboard", icon: "dashboard", href: "#/" },
  { id: "enroll", label: "Enroll", icon: "enroll", href: "#/enroll", cap: "enroll", group: "Recognition" },
  { id: "search", label: "Search by photo", icon: "search", href: "#/search", cap: "identify", group: "Recognition" },
  { id: "verify", label: "Verify photos", icon: "verify", href: "#/verify", cap: "verify", group: "Recognition" },
  { id: "subjects", label: "Subjects", icon: "subjects", href: "#/subjects", cap: "subjects", group: "Records" },
  { id: "watchlists", label: "Watchlists", icon: "watchlists", href: "#/watchlists", cap: "watchlists", group: "Records" },
  { id: "cameras", label: "Cameras", icon: "camera", href: "#/cameras", cap: "cameras", group: "Cameras" },
  { id: "crowd", label: "Crowd", icon: "chart", href: "#/crowd", cap: "crowd", group: "Cameras" },
  { id: "alerts", label: "Alerts", icon: "bell", href: "#/alerts", cap: "alerts", group: "Cameras" },
  { id: "sightings", label: "Sightings", icon: "eye", href: "#/sightings", cap: "sightings", group: "Cameras" },
  { id: "requests", label: "History requests", icon: "history", href: "#/requests", cap: "history-approve", group: "Cameras" },
  { id: "audit", label: "Audit log", icon: "audit", href: "#/audit", cap: "audit", group: "Oversight" },
  { id: "report", label: "Processing report", icon: "watchlists", href: "#/report", cap: "report", group: "Oversight" },
  { id: "admin", label: "Users & API keys", icon: "keys", href: "#/admin", cap: "admin", group: "Oversight" },
];

const ROLE_LABEL = {
  admin: "Administrator",
  operator: "Operator",
  investigator: "Investigator",
  analyst: "Analyst",
  auditor: "Auditor",
};

const root = document.getElementById("app");
let shell = null;
let controller = null;

function routeOf(hash) {
  return hash.replace(/^#\/?/, "").replace(/\?.*$/, "").replace(/\/+$/, "");
}

/** The `?key=value` part of the hash (opaque ids only, e.g. #/sightings?camera=cam_…). */
function queryOf(hash) {
  const at = hash.indexOf("?");
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "");
}

function buildShell() {
  const user = currentUser();
  const links = new Map();
  const navList = h("nav", { class: "nav", "aria-label": "Main" });
  let group = null;
  for (const item of NAV) {
    if (item.cap && !can(item.cap)) continue;
    if (item.group && item.group !== group) {
      group = item.group;
      navList.append(h("div", { class: "nav-group" }, group));
    }
    const link = h("a", { href: item.href, class: "nav-link", dataset: { nav: item.id } }, icon(item.icon), h("span", {}, item.label));
    if (item.id === "alerts") link.append(h("span", { class: "nav-badge", hidden: true, dataset: { testid: "alert-badge" } }));
    links.set(item.id, link);
    navList.append(link);
  }
  const signOut = h("button", { class: "btn btn-ghost btn-signout", type: "button" }, icon("logout"), h("span", {}, "Sign out"));
  signOut.addEventListener("click", async () => {
    await logout();
  });
  const title = h("h1", { class: "page-title" });
  const main = h("main", { class: "content", id: "main", tabindex: "-1" });
  // On a phone the navigation folds away behind a Menu button (and folds again after a pick).
  const toggle = h("button", { class: "btn btn-ghost nav-toggle", type: "button", "aria-expanded": "false", "aria-controls": "main-nav", dataset: { testid: "nav-toggle" } }, icon("watchlists"), h("span", {}, "Menu"));
  navList.id = "main-nav";
  const sidebar = h(
    "aside",
    { class: "sidebar" },
    h("a", { class: "brand", href: "#/" }, h("img", { src: "logo.svg", alt: "", width: "34", height: "34" }), h("span", { class: "brand-name" }, "facewarden")),
    toggle,
    navList,
    h(
      "div",
      { class: "sidebar-foot" },
      h(
        "div",
        { class: "whoami" },
        h("div", { class: "avatar", "aria-hidden": "true" }, user.username.slice(0, 1).toUpperCase()),
        h("div", {}, h("div", { class: "whoami-name", dataset: { testid: "whoami" } }, user.username), h("div", { class: "whoami-role" }, ROLE_LABEL[user.role] || user.role)),
      ),
      h("a", { class: "btn btn-ghost btn-signout", href: "#/account", dataset: { nav: "account" } }, icon("lock"), h("span", {}, "Change password")),
      signOut,
    ),
  );
  const bell = can("alerts") ? alertBell() : null;
  const topbar = h(
    "header",
    { class: "topbar" },
    title,
    h("div", { class: "topbar-right" }, bell, h("div", { class: "topbar-zone", dataset: { testid: "time-zone" }, title: "Times on these pages are shown in this time zone, 24-hour" }, icon("history"), h("span", {}, timeZoneLabel())), h("div", { class: "topbar-note" }, icon("lock"), h("span", {}, "Every action in this console is recorded in the audit log"))),
  );
  const fold = (open) => {
    sidebar.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => fold(!sidebar.classList.contains("nav-open")));
  navList.addEventListener("click", (e) => {
    if (e.target.closest("a")) fold(false);
  });
  // Said while the alert feed cannot reach the server (see startAlerts).
  const offline = bell ? h("div", { class: "feed-offline", role: "alert", hidden: true, dataset: { testid: "feed-offline" } }) : null;
  const frame = h("div", { class: "shell" }, sidebar, h("div", { class: "main-col" }, topbar, offline, main));
  replace(root, frame);
  // Tables become cards on a phone: each cell carries its column's heading.
  new MutationObserver(() => labelTables(main)).observe(main, { childList: true, subtree: true });
  if (bell) startAlerts(bell, links.get("alerts"), offline);
  return { links, title, main };
}

/** Give every cell of `root`'s tables its column heading (`data-label`), for phones. */
function labelTables(root) {
  for (const table of root.querySelectorAll("table.table")) {
    // A heading read only by screen readers ("Actions") labels nothing on a card.
    const heads = [...table.querySelectorAll("thead th")].map((th) => {
      const seen = th.cloneNode(true);
      for (const hidden of seen.querySelectorAll(".sr-only")) hidden.remove();
      return seen.textContent.trim();
    });
    if (!heads.some(Boolean)) continue;
    table.classList.add("table-cards");
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => {
        if (!cell.dataset.label && heads[i]) cell.dataset.label = heads[i];
      });
    }
  }
}

// ------------------------------------------------------------------ alerts

let stopAlerts = null;
let unreachedPage = false; // the page on show could not load: the server was not reached
let pageTitle = "facewarden";
let unseenAlerts = 0;

/** The tab's title: the page's, after the count of new alerts (seen from another tab). */
function showTitle() {
  document.title = unseenAlerts ? `(${unseenAlerts > 99 ? "99+" : unseenAlerts}) ${pageTitle}` : pageTitle;
}

function alertBell() {
  return h(
    "a",
    { class: "alert-bell", href: "#/alerts", dataset: { testid: "alert-bell" }, "aria-label": "Alerts: none new" },
    icon("bell"),
    h("span", { class: "alert-count", hidden: true, "aria-hidden": "true" }),
    h("span", { class: "sr-only alert-live", role: "status", "aria-live": "polite" }),
  );
}

/** Poll the alerts while signed in: a count on the bell and the Sightings link, a toast for new ones. */
function startAlerts(bell, navLink, offline) {
  if (stopAlerts) stopAlerts();
  const count = bell.querySelector(".alert-count");
  const live = bell.querySelector(".alert-live");
  const badge = navLink ? navLink.querySelector(".nav-badge") : null;
  primeNames();
  const off = alertFeed.subscribe((fresh, feed, settled, gone) => {
    // The server cannot be reached (restarting, the network down): a quiet screen is not a
    // quiet site, so the desk is told until alerts can arrive again.
    const cut = Boolean(feed.offlineSince);
    if (cut && offline.hidden) {
      replace(offline, icon("alert"), h("strong", {}, "The server does not answer: alerts cannot arrive."), h("span", {}, ` Since ${clock(feed.offlineSince)} (not reached, or failing); asking again every second.`));
      offline.hidden = false;
    } else if (!cut && !offline.hidden) {
      offline.hidden = true;
      replace(offline);
      toast("Connected to the server again: alerts arrive again");
      if (unreachedPage) route(); // a page opened meanwhile loads now, by itself
    }
    // Decided at another desk (or this one): no alarm stays up for it here.
    if (settled.length) settleAlarms(settled);
    // Left the desk (the person erased, past the live window): nor does its name.
    if (gone.length && settleAlarms(gone.map((id) => ({ sighting_id: id })))) toast("An alarm has left the desk: its person was erased, or it is past the live window", "warn");
    const n = feed.unseen;
    const text = n > 99 ? "99+" : String(n);
    unseenAlerts = n;
    showTitle();
    count.textContent = text;
    count.hidden = n === 0;
    bell.classList.toggle("has-alerts", n > 0);
    bell.setAttribute("aria-label", cut ? "Alerts: the server does not answer" : n ? `Alerts: ${n} new` : "Alerts: none new");
    bell.classList.toggle("alert-bell-offline", cut);
    bell.hidden = !feed.available;
    if (badge) {
      badge.textContent = text;
      badge.hidden = n === 0;
      badge.setAttribute("aria-label", `${n} new alerts`);
    }
    if (!fresh.length) return;
    live.textContent = fresh.length === 1 ? `New alert: ${alertText(fresh[0])}` : `${fresh.length} new alerts`;
    // How loud each is, by its watchlist: an alarm stays up with a sound until someone
    // decides; an alert is a toast that opens it; a log entry only counts.
    const open = fresh.filter((a) => !a.decision);
    for (const a of open.filter((x) => x.kind === "sighting" && x.severity === "alarm")) raiseAlarm(a);
    const loud = open.filter((a) => a.kind !== "sighting" || a.severity === "alert");
    if (!loud.length || routeOf(location.hash) === "alerts") return;
    const one = loud.length === 1 ? loud[0] : null;
    const href = one && one.kind === "sighting" ? `#/alerts/${encodeURIComponent(one.sighting_id)}` : "#/alerts";
    toast(one ? alertText(one) : `${loud.length} new alerts`, "danger", { href, action: "Open" });
  });
  alertFeed.start();
  stopAlerts = () => {
    off();
    alertFeed.stop();
    stopAlerts = null;
  };
}

async function route() {
  if (!currentUser()) return;
  if (!shell) shell = buildShell();
  if (controller) controller.abort();
  controller = new AbortController();
  // A dialog belongs to the page that opened it: leaving the page cancels it.
  for (const open of document.querySelectorAll("dialog.modal")) open.dispatchEvent(new Event("cancel"));
  const path = routeOf(location.hash);
  const query = queryOf(location.hash);
  const match = ROUTES.map((r) => [r, path.match(r.pattern)]).find(([, m]) => m);
  for (const [id, link] of shell.links) {
    const active = match && match[0].nav === id;
    link.classList.toggle("active", Boolean(active));
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = shell.main;
  if (!match) {
    shell.title.textContent = "Not found";
    replace(main, errorBanner({ title: "No such page", message: "Use the navigation on the left." }));
    return;
  }
  const [r, m] = match;
  shell.title.textContent = r.title;
  pageTitle = `${r.title} · facewarden`;
  showTitle();
  if (r.cap && !can(r.cap)) {
    replace(main, errorBanner({ title: "Not available for your role", message: `The ${currentUser().role} role cannot use this page.` }));
    return;
  }
  replace(main, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Loading…"));
  const view = {
    main,
    query,
    signal: controller.signal,
    setTitle: (text) => {
      shell.title.textContent = text;
    },
  };
  unreachedPage = false;
  try {
    const content = await r.render(view, ...m.slice(1));
    if (view.signal.aborted) return;
    if (content) replace(main, content);
    main.focus({ preventScroll: true });
  } catch (err) {
    if (view.signal.aborted || (err && err.name === "AbortError")) return;
    if (!currentUser()) return; // the session ended: the sign-in screen is already up
    replace(main, errorBanner(err));
    // Not reached, or the server failing: drawn again once the alert feed reaches it.
    unreachedPage = err instanceof ApiError && (err.status === 0 || err.status >= 500);
  }
}

function showLogin(notice = null) {
  shell = null;
  forgetCases();
  silenceAlarms();
  if (stopAlerts) stopAlerts();
  if (controller) controller.abort();
  unseenAlerts = 0;
  pageTitle = "Sign in · facewarden";
  showTitle();
  replace(
    root,
    renderLogin({
      notice,
      onSignedIn: () => {
        route();
      },
    }),
  );
}

const SESSION_END = {
  expired: "Your session has ended. Sign in again to continue.",
  // A change refused for an ended session: say so, or it reads as done.
  "expired-unsaved": "Your session ended before your last change was saved: it was not recorded. Sign in again, then repeat it.",
};

onSessionEnd((reason) => {
  if (reason === "signed-out") forgetDrafts();
  showLogin(SESSION_END[reason] || "You have signed out.");
});

window.addEventListener("hashchange", () => {
  if (currentUser()) route();
});

async function start() {
  let user = null;
  try {
    user = await resume();
  } catch (err) {
    replace(root, h("div", { class: "boot-error" }, errorBanner(err)));
    return;
  }
  if (user) route();
  else showLogin();
}

start();
