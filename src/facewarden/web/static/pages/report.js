// The records of processing (GDPR Art. 30) for auditors: built by the server from the
// live configuration (GET /v1/processing-report, audited), shown as tables, and
// downloadable as the Markdown document for the data-protection officer.

import { api, downloadFile } from "../api.js";
import { button, card, h, toast, words } from "../dom.js";

export default async function renderReport(view) {
  const report = await api("GET", "/v1/processing-report", { signal: view.signal });
  const download = button("Download as Markdown", {
    kind: "secondary",
    iconName: "download",
    onclick: async () => {
      try {
        await downloadFile("/v1/processing-report.md", { filename: "records-of-processing.md" });
        toast("Report downloaded");
      } catch (err) {
        toast(err.message, "danger");
      }
    },
  });
  const blocks = Object.entries(report).map(([key, value]) => section(key, value));
  return h("div", { class: "page page-report", dataset: { testid: "processing-report" } }, card("Records of processing", h("p", { class: "muted" }, "Built from the live configuration when this page was opened: purposes, lawful bases, cameras, retention, protections, access. No person, source address or secret appears in it."), { actions: download }), blocks);
}

function section(key, value) {
  return card(words(key), render(value), { cls: "report-section" });
}

function render(value) {
  if (Array.isArray(value)) {
    if (!value.length) return h("p", { class: "muted" }, "None.");
    if (value.every((v) => v && typeof v === "object" && !Array.isArray(v))) {
      const cols = [...new Set(value.flatMap((v) => Object.keys(v)))];
      return h("div", { class: "table-wrap" }, h("table", { class: "table table-compact" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, words(c))))), h("tbody", {}, value.map((row) => h("tr", {}, cols.map((c) => h("td", {}, scalar(row[c]))))))));
    }
    return h("ul", {}, value.map((v) => h("li", {}, scalar(v))));
  }
  if (value && typeof value === "object") {
    return h("dl", { class: "record" }, Object.entries(value).map(([k, v]) => h("div", { class: "record-row" }, h("dt", {}, words(k)), h("dd", {}, typeof v === "object" && v !== null ? render(v) : scalar(v)))));
  }
  return h("p", {}, scalar(value));
}

function scalar(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "Yes" : "No";
  if (typeof v === "object") return Array.isArray(v) ? v.map(scalar).join(", ") : Object.entries(v).map(([k, x]) => `${k}: ${scalar(x)}`).join("; ");
  return String(v);
}
