// Location-history requests as lists (GET /v1/history-requests): an investigator's own
// requests with their state (kept by the server, so they survive a reload), and the
// requests of others waiting for a second person, approved or refused from the list.
// Subjects appear by id; opening one carries the request's case reference.

import { api, can } from "../api.js";
import { rememberCase } from "../case.js";
import { button, card, errorBanner, h, icon, modal, pill, replace, time, toast } from "../dom.js";
import { sightingTable } from "./sightings.js";

const STATUS = {
  pending: ["Waiting for approval", "warn"],
  approved: ["Approved", "ok"],
  refused: ["Refused", "danger"],
};

function statusPill(r) {
  const [label, kind] = STATUS[r.status] || [r.status, "neutral"];
  const el = pill(label, kind, r.decided_by ? `By ${r.decided_by}` : null);
  el.dataset.status = r.status;
  return el;
}

function subjectLink(r) {
  const a = h("a", { class: "mono", href: `#/subjects/${encodeURIComponent(r.subject_id)}` }, r.subject_id);
  // The subject opens under the request's case: no second dialog.
  a.addEventListener("click", () => rememberCase(r.subject_id, r.case_reference));
  return a;
}

export default async function renderRequests(view) {
  const blocks = [];
  if (can("history")) blocks.push(await mineCard(view));
  blocks.push(await pendingCard(view));
  return h("div", { class: "page page-requests" }, blocks);
}

async function mineCard(view) {
  const host = h("div", { dataset: { testid: "my-requests" } });
  const result = h("div", { dataset: { testid: "request-result" }, "aria-live": "polite" });
  const load = async () => {
    const { requests } = await api("GET", "/v1/history-requests", { query: { scope: "mine" }, signal: view.signal });
    replace(host, requests.length ? mineTable(requests, run) : h("div", { class: "empty empty-inline" }, icon("history", "empty-icon"), h("p", {}, "No requests in the last 31 days. Ask for a location history from a subject's page, under a case.")));
  };
  async function run(r) {
    replace(result, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Asking…"));
    try {
      const body = await api("POST", `/v1/subjects/${encodeURIComponent(r.subject_id)}/history`, { json: { hours: r.hours, case_reference: r.case_reference, request_id: r.request_id }, signal: view.signal });
      const list = body.sightings || [];
      replace(result, h("p", { class: "muted history-summary", dataset: { testid: "history-done" } }, `${list.length} ${list.length === 1 ? "sighting" : "sightings"} of `, subjectLink(r), ` in the last ${r.hours} h (case ${r.case_reference}).`), sightingTable(list, "No sightings of this subject in that time."));
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(result, errorBanner(err));
    }
  }
  await load();
  return card("My requests", [host, result], { subtitle: "Your location-history requests and where each stands. Run an approved one to see the sightings.", actions: button("Refresh", { kind: "ghost", iconName: "refresh", class: "btn btn-ghost btn-small", onclick: () => load() }), cls: "card-my-requests" });
}

function mineTable(requests, run) {
  return h(
    "table",
    { class: "table table-compact table-cards" },
    h("thead", {}, h("tr", {}, ["Asked", "Subject", "Case", "Hours", "Reason", "State", ""].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      requests.map((r) =>
        h(
          "tr",
          { dataset: { request: r.request_id, status: r.status } },
          h("td", { class: "nowrap", dataset: { label: "Asked" } }, time(r.created_at)),
          h("td", { dataset: { label: "Subject" } }, subjectLink(r)),
          h("td", { class: "mono", dataset: { label: "Case" } }, r.case_reference),
          h("td", { class: "num", dataset: { label: "Hours" } }, String(r.hours)),
          h("td", { dataset: { label: "Reason" } }, r.reason || h("span", { class: "muted" }, "—")),
          h("td", { dataset: { label: "State" } }, statusPill(r), r.decided_at ? h("div", { class: "muted small" }, time(r.decided_at)) : null),
          h(
            "td",
            { class: "row-actions" },
            r.status === "approved"
              ? button("Run", { kind: "primary", class: "btn btn-primary btn-small", iconName: "history", onclick: () => run(r) })
              : button("Run", { kind: "secondary", class: "btn btn-secondary btn-small", disabled: true, title: r.status === "refused" ? "Refused: it cannot be run" : "Waiting for a second person's approval" }),
          ),
        ),
      ),
    ),
  );
}

async function pendingCard(view) {
  const host = h("div", { dataset: { testid: "pending-requests" } });
  const load = async () => {
    const { requests } = await api("GET", "/v1/history-requests", { query: { scope: "pending" }, signal: view.signal });
    replace(host, requests.length ? pendingTable(requests, load) : h("div", { class: "empty empty-inline" }, icon("check", "empty-icon"), h("p", {}, "Nothing waits for your decision.")));
  };
  await load();
  return card("Waiting for your decision", host, { subtitle: "Other people's location-history requests. You cannot decide on your own. Each decision is recorded in the audit log.", actions: button("Refresh", { kind: "ghost", iconName: "refresh", class: "btn btn-ghost btn-small", onclick: () => load() }), cls: "card-pending-requests" });
}

function pendingTable(requests, reload) {
  const decide = async (r, what) => {
    if (what === "refuse") {
      const ok = await modal({ title: "Refuse this request?", body: h("p", {}, `${r.requested_by} asked for ${r.hours} h of ${r.subject_id}'s sightings for case ${r.case_reference}. Refusing cannot be undone; they may ask again.`), confirmLabel: "Refuse request", kind: "danger", onConfirm: async () => true });
      if (!ok) return;
    }
    try {
      await api("POST", `/v1/history-requests/${encodeURIComponent(r.request_id)}/${what}`);
      toast(what === "approve" ? "Request approved" : "Request refused");
      await reload();
    } catch (err) {
      toast(err.message, "danger");
    }
  };
  return h(
    "table",
    { class: "table table-compact table-cards" },
    h("thead", {}, h("tr", {}, ["Asked", "By", "Subject", "Case", "Hours", "Reason", ""].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      requests.map((r) =>
        h(
          "tr",
          { dataset: { request: r.request_id } },
          h("td", { class: "nowrap", dataset: { label: "Asked" } }, time(r.created_at)),
          h("td", { dataset: { label: "By" } }, r.requested_by),
          h("td", { class: "mono", dataset: { label: "Subject" } }, r.subject_id),
          h("td", { class: "mono", dataset: { label: "Case" } }, r.case_reference),
          h("td", { class: "num", dataset: { label: "Hours" } }, String(r.hours)),
          h("td", { dataset: { label: "Reason" } }, r.reason || h("span", { class: "muted" }, "—")),
          h("td", { class: "row-actions" }, button("Approve", { kind: "primary", class: "btn btn-primary btn-small", iconName: "check", onclick: () => decide(r, "approve") }), button("Refuse", { kind: "secondary", class: "btn btn-secondary btn-small", iconName: "x", onclick: () => decide(r, "refuse") })),
        ),
      ),
    ),
  );
}
