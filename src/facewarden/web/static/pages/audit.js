// Audit log: the hash-chained record of every access to personal data, with the
// chain's verification (GET /v1/audit/verify) as a banner above a paged table.
// Entries carry no personal values; object ids are opaque.

import { api } from "../api.js";
import { banner, button, card, errorBanner, h, icon, orDash, pill, replace, time, words } from "../dom.js";

const PAGE_SIZE = 50;

const ACTIONS = {
  "auth.login": "Signed in",
  "auth.logout": "Signed out",
  "auth.api_key": "API key used",
  "api_key.create": "API key created",
  "api_key.revoke": "API key revoked",
  "deployment.init": "Deployment initialised",
  "face.add": "Face added",
  "face.remove": "Face removed",
  "face.replace": "Face replaced",
  "keys.rotate_master": "Master key rotated",
  "keys.rotate_templates": "Templates re-protected",
  "keys.destroy_master": "Old master key destroyed",
  "retention.purge": "Retention purge",
  "subject.enroll": "Subject enrolled",
  "subject.erase": "Subject erased",
  "subject.export": "Subject data exported",
  "subject.list": "Subjects listed",
  "subject.lookup": "Looked up by ID number",
  "subject.read": "Subject record viewed",
  "subject.update": "Subject record updated",
  "user.create": "User created",
  "user.disable": "User disabled",
  "user.password": "Password changed",
  "identify": "Photo search",
  "verify.images": "Two photos compared",
  "verify": "Photo verified against a subject",
  "http.request": "API request",
  "watchlist.add": "Added to watchlist",
  "watchlist.create": "Watchlist created",
  "watchlist.remove": "Removed from watchlist",
  "watchlist.alert_severity": "Alert severity set",
  "alert.show": "Alert shown",
  "alert.photo": "Alert photo viewed",
  "alert.acknowledge": "Alert acknowledged",
  "alert.dismiss": "Alert dismissed",
  "alert.escalate": "Alert escalated",
  "alert.note": "Alert note added",
  "sightings.alerts": "Alerts listed",
  "sightings.at_camera": "Who is at a camera",
  "sightings.history": "Location history read",
  "sightings.history_request": "Location history requested",
  "sightings.history_approve": "History request approved",
  "sightings.history_refuse": "History request refused",
  "sightings.history_requests": "History requests listed",
};

/** The banner for a verification result `{ok, checked, first_bad_seq, problem}`. */
export function chainBanner(result, extra = null) {
  const checked = Number(result.checked || 0).toLocaleString();
  if (result.ok) {
    return banner("ok", "Audit chain intact", `All ${checked} entries verified: none has been altered, deleted or reordered.`, extra);
  }
  const where = result.first_bad_seq !== null && result.first_bad_seq !== undefined ? ` at entry #${result.first_bad_seq}` : "";
  return banner("danger", `Audit chain broken${where}`, `${result.problem || "The chain does not verify."} Report this to your security officer: entries from this point cannot be trusted.`, extra);
}

export default async function renderAudit(view) {
  const status = h("div", { dataset: { testid: "chain-status" } });
  const tableHost = h("div", {});
  const pager = h("div", { class: "pager" });
  const state = { total: 0, start: 0, filter: "", history: [] };

  async function verify() {
    replace(status, banner("info", "Verifying the audit chain…"));
    try {
      const result = await api("GET", "/v1/audit/verify", { signal: view.signal });
      state.total = Number(result.checked || 0);
      const again = button("Verify again", { kind: "secondary", iconName: "refresh", class: "btn btn-secondary btn-small", onclick: () => verify() });
      replace(status, chainBanner(result, again));
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(status, errorBanner(err));
    }
  }

  async function load(after) {
    let page;
    try {
      page = await api("GET", "/v1/audit", { query: { after: after || undefined, limit: PAGE_SIZE, object_id: state.filter || undefined }, signal: view.signal });
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(tableHost, errorBanner(err));
      return;
    }
    state.start = after;
    const entries = [...page.entries].reverse(); // newest first
    replace(tableHost, entries.length ? auditTable(entries) : h("div", { class: "empty" }, icon("audit", "empty-icon"), h("p", {}, state.filter ? "No entries for this object id." : "No entries.")));
    const older = state.filter ? state.history.length > 0 : after > 0;
    const olderBtn = button("Older", {
      kind: "ghost",
      disabled: !older,
      onclick: () => {
        if (state.filter) load(state.history.pop());
        else load(Math.max(0, after - PAGE_SIZE));
      },
    });
    const newerBtn = button("Newer", {
      kind: "ghost",
      disabled: !page.next_after,
      onclick: () => {
        if (state.filter) state.history.push(after);
        load(page.next_after);
      },
    });
    const first = page.entries.length ? page.entries[0].seq : null;
    const last = page.entries.length ? page.entries[page.entries.length - 1].seq : null;
    replace(pager, h("span", { class: "muted" }, first !== null ? `Entries #${first}–#${last}` : ""), olderBtn, newerBtn);
  }

  const filterInput = h("input", { type: "search", name: "object_id", class: "mono", placeholder: "Filter by object id (sub_…, wl_…)", autocomplete: "off", spellcheck: "false", "aria-label": "Object id" });
  const filterForm = h("form", { class: "inline-form" }, filterInput, button("Filter", { kind: "secondary", type: "submit" }), button("Newest", { kind: "ghost", iconName: "refresh", onclick: () => reset() }));
  filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    state.filter = filterInput.value.trim();
    state.history = [];
    load(state.filter ? 0 : newestStart());
  });
  const newestStart = () => Math.max(0, state.total - PAGE_SIZE);
  async function reset() {
    filterInput.value = "";
    state.filter = "";
    state.history = [];
    await verify();
    await load(newestStart());
  }

  await verify();
  await load(newestStart());
  return h("div", { class: "page" }, status, card("Entries", [filterForm, tableHost, pager], { subtitle: "Newest first. Entries hold ids and actions, never personal data or biometrics." }));
}

function auditTable(entries) {
  return h(
    "table",
    { class: "table table-compact table-audit" },
    h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Time"), h("th", {}, "Actor"), h("th", {}, "Action"), h("th", {}, "Object"), h("th", {}, "Purpose"), h("th", {}, "Outcome"), h("th", {}, "Details"))),
    h(
      "tbody",
      {},
      entries.map((e) =>
        h(
          "tr",
          { dataset: { seq: String(e.seq), action: e.action } },
          h("td", { class: "num mono muted" }, String(e.seq)),
          h("td", { class: "nowrap" }, time(e.ts)),
          h("td", { class: "nowrap" }, actorLabel(e.actor)),
          h("td", { class: "strong nowrap", title: e.action }, actionLabel(e.action)),
          h("td", {}, e.object_id ? h("span", {}, e.object_type ? h("span", { class: "muted" }, `${words(e.object_type)} `) : null, h("span", { class: "mono" }, e.object_id)) : h("span", { class: "muted" }, "—")),
          h("td", { class: "purpose" }, orDash(e.purpose)),
          h("td", {}, outcomePill(e.outcome)),
          h("td", { class: "details" }, details(e.details)),
        ),
      ),
    ),
  );
}

/** An audit action for people ("subject.erase" -> "Subject erased"). */
export function actionLabel(action) {
  return ACTIONS[action] || words(action);
}

/** An actor: "user:<name>", "key:<id>", "system:<what>" or a bare word. */
export function actorLabel(value) {
  const text = String(value || "");
  const m = text.match(/^(user|key|system|test):(.+)$/);
  if (!m) return text ? h("span", {}, text) : h("span", { class: "muted" }, "—");
  const kind = { user: "Person", key: "API key", system: "System", test: "Test" }[m[1]];
  return h("span", { class: "actor", title: text }, h("span", { class: m[1] === "key" ? "mono" : "" }, m[2]), h("span", { class: "actor-kind" }, kind));
}

/** An entry's outcome as a pill. */
export function outcomePill(value) {
  const v = String(value || "ok").toLowerCase();
  if (["ok", "success", "succeeded", "allowed"].includes(v)) return pill("OK", "ok");
  if (["denied", "forbidden", "refused", "rate_limited"].includes(v)) return pill(words(v), "danger");
  if (["error", "failed", "failure"].includes(v)) return pill(words(v), "warn");
  return pill(words(v), "neutral");
}

function details(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  if (typeof value !== "object") return String(value);
  const pairs = flatten(value);
  if (!pairs.length) return h("span", { class: "muted" }, "—");
  return h("dl", { class: "kv" }, pairs.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}

function flatten(obj, prefix = "") {
  const out = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix} ${words(k).toLowerCase()}` : words(k);
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flatten(v, key));
    else if (Array.isArray(v)) out.push([key, v.length ? v.map((x) => (x && typeof x === "object" ? Object.values(x).join(" ") : String(x))).join(", ") : "none"]);
    else if (typeof v === "boolean") out.push([key, v ? "yes" : "no"]);
    else out.push([key, v === null ? "—" : String(v)]);
  }
  return out;
}
