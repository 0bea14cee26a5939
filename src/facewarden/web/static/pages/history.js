// A subject's location history, asked for from the subject's page under the case the
// page is open for (POST /v1/subjects/{id}/history: investigators, audited, with a
// second person's approval where the deployment asks for one).

import { api } from "../api.js";
import { banner, button, card, errorBanner, field, h, replace } from "../dom.js";
import { sightingTable } from "./sightings.js";

/** The history card of a subject's page, carrying `caseRef`. */
export function historyPanel(subjectId, caseRef, signal) {
  const hours = h("input", { type: "number", name: "hours", min: "1", max: "744", step: "1", value: "24" });
  const reason = h("input", { type: "text", name: "reason", maxlength: "500", autocomplete: "off", placeholder: "e.g. tailgating at the loading dock, ticket 7781" });
  const out = h("div", { dataset: { testid: "history-result" }, "aria-live": "polite" });
  const submit = button("Request location history", { kind: "primary", type: "submit", iconName: "history" });
  const form = h(
    "form",
    { class: "form-grid", novalidate: true },
    field("Hours back", hours, { required: true, hint: "1 to 744 (31 days)." }),
    field("Reason", reason, { hint: "For the person who approves it; kept encrypted." }),
    h("div", { class: "field-wide form-row-end" }, h("p", { class: "hint" }, `For case ${caseRef}: recorded in the audit log with the request.`), submit),
  );

  function pendingBlock(requestId, problem = null) {
    const again = button("Run the approved request", { kind: "secondary", iconName: "refresh", onclick: () => ask(requestId) });
    return h(
      "div",
      { class: "history-pending", dataset: { testid: "history-pending" } },
      banner("warn", "Waiting for a second person's approval", "Another investigator or an administrator approves it from their list of pending requests. Your requests, with their state, are under History requests; run it from there or here once approved.", h("div", { class: "banner-actions" }, again, h("a", { href: "#/requests", class: "btn btn-ghost" }, "My requests"))),
      h("div", { class: "key-row" }, h("span", { class: "muted" }, "Request id"), h("code", { class: "mono request-id", dataset: { testid: "history-request-id" } }, requestId)),
      problem ? errorBanner(problem) : null,
    );
  }

  async function ask(requestId = null) {
    const query = { hours: Math.round(Number(hours.value)), case_reference: caseRef };
    if (requestId) query.request_id = requestId;
    else if (reason.value.trim()) query.reason = reason.value.trim();
    submit.disabled = true;
    replace(out, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Asking…"));
    try {
      const body = await api("POST", `/v1/subjects/${encodeURIComponent(subjectId)}/history`, { json: query, signal });
      if (body.status === "pending") replace(out, pendingBlock(body.request_id));
      else {
        const list = body.sightings || [];
        replace(out, h("p", { class: "muted history-summary", dataset: { testid: "history-done" } }, `${list.length} ${list.length === 1 ? "sighting" : "sightings"} in the last ${query.hours} h (case ${caseRef}).`), sightingTable(list, "No sightings of this subject in that time."));
      }
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(out, requestId ? pendingBlock(requestId, err) : errorBanner(err));
    } finally {
      submit.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const n = Number(hours.value);
    if (!(n >= 1 && n <= 744)) {
      replace(out, banner("warn", "Check the hours", "Give 1 to 744 hours."));
      return;
    }
    ask();
  });
  return card("Location history", [form, out], { subtitle: "Where this subject was seen: for this case only, audited.", cls: "card-history" });
}
