// The case reference an investigator works under. An investigator reads a subject
// only for a case (promise 18), so opening a subject asks for the case in a dialog
// and the reference is carried along: to every read of that subject and to the
// location-history request made from its page. It is free text a person typed,
// so it lives in this page's memory only: never in a URL, never in storage.

import { field, h, modal } from "./dom.js";

const bySubject = new Map();
let last = "";

/** The case reference given for `subjectId` in this tab, or "". */
export function caseFor(subjectId) {
  return bySubject.get(subjectId) || "";
}

/** The case reference given last (any subject), to offer it again. */
export function lastCase() {
  return last;
}

/** Carry `reference` for `subjectId` from now on. */
export function rememberCase(subjectId, reference) {
  const ref = String(reference || "").trim();
  if (!ref) return;
  bySubject.set(subjectId, ref);
  last = ref;
}

/** Forget every carried case reference (sign-out). */
export function forgetCases() {
  bySubject.clear();
  last = "";
}

/**
 * Ask for the case reference to open `subjectId` under, in a dialog.
 * Resolves with the reference (also remembered), or null when cancelled.
 */
export async function askCase(subjectId, { title = "Open this subject for a case" } = {}) {
  const input = h("input", { type: "text", name: "case_reference", maxlength: "128", autocomplete: "off", spellcheck: "false", placeholder: "e.g. CASE-2026-0142" });
  input.value = caseFor(subjectId) || last;
  const ref = await modal({
    title,
    confirmLabel: "Open subject",
    body: [
      h("p", { class: "muted" }, "An investigator reads a subject only for a case. The reference is recorded in the audit log with every read, and carried to the location-history request you make from the subject's page."),
      field("Case reference", input, { required: true, hint: "Do not include personal data: the reference, not the person's name." }),
    ],
    validate: () => input.value.trim() !== "",
    onConfirm: async () => input.value.trim(),
  });
  if (ref) rememberCase(subjectId, ref);
  return ref || null;
}
