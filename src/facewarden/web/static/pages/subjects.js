// Subjects: the paged list, and exact lookup by ID number (sent in a request
// body, never in a URL). One subject's page is pages/subject.js.

import { api, ApiError, can } from "../api.js";
import { banner, button, card, errorBanner, h, icon, replace } from "../dom.js";

const PAGE_SIZE = 25;

export default async function renderSubjects(view) {
  const cursors = [null];
  const tableHost = h("div", {}, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Loading…"));
  const pager = h("div", { class: "pager" });

  async function load(pageIndex) {
    const after = cursors[pageIndex];
    let page;
    try {
      page = await api("GET", "/v1/subjects", { query: { limit: PAGE_SIZE, after }, signal: view.signal });
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(tableHost, errorBanner(err));
      return;
    }
    cursors.length = pageIndex + 1;
    if (page.next_after) cursors.push(page.next_after);
    replace(tableHost, page.subjects.length ? subjectTable(page.subjects) : h("div", { class: "empty" }, icon("subjects", "empty-icon"), h("p", {}, pageIndex ? "No more subjects." : "Nobody is enrolled yet.")));
    const prev = button("Previous", { kind: "ghost", disabled: pageIndex === 0, onclick: () => load(pageIndex - 1) });
    const next = button("Next", { kind: "ghost", disabled: !page.next_after, onclick: () => load(pageIndex + 1) });
    replace(pager, h("span", { class: "muted" }, `Page ${pageIndex + 1}`), prev, next);
  }
  await load(0);

  return h(
    "div",
    { class: "page" },
    card("Find by ID number", lookupForm(), { subtitle: "Exact match on the encrypted ID number (the number is never put in a link)." }),
    card("Enrolled subjects", [tableHost, pager], {
      actions: can("enroll") ? h("a", { href: "#/enroll", class: "btn btn-primary" }, icon("plus"), h("span", {}, "Enroll a subject")) : null,
    }),
  );
}

function subjectTable(subjects) {
  return h(
    "table",
    { class: "table table-hover" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Subject id"), h("th", { class: "num" }, "Faces"), h("th", {}, "Watchlists"), h("th", {}, h("span", { class: "sr-only" }, "Open")))),
    h(
      "tbody",
      {},
      subjects.map((s) => {
        const href = `#/subjects/${encodeURIComponent(s.subject_id)}`;
        return h(
          "tr",
          {},
          h("td", { class: "strong" }, h("a", { href }, s.full_name || "Unnamed subject")),
          h("td", { class: "mono muted" }, s.subject_id),
          h("td", { class: "num" }, String(s.faces ?? "—")),
          h("td", {}, watchlistCount(s.watchlists)),
          h("td", { class: "row-action" }, h("a", { href, class: "btn btn-ghost btn-small" }, "Open", icon("chevron"))),
        );
      }),
    ),
  );
}

function watchlistCount(value) {
  const n = Array.isArray(value) ? value.length : Number(value) || 0;
  return n ? `${n} watchlist${n === 1 ? "" : "s"}` : h("span", { class: "muted" }, "None");
}

function lookupForm() {
  const input = h("input", { type: "text", name: "id_number", autocomplete: "off", spellcheck: "false", placeholder: "ID, passport or staff number" });
  const out = h("div", {});
  const form = h("form", { class: "inline-form" }, input, button("Find", { kind: "secondary", type: "submit", iconName: "search" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (!id) return;
    replace(out);
    try {
      const subject = await api("POST", "/v1/subjects/lookup", { json: { id_number: id } });
      location.hash = `#/subjects/${encodeURIComponent(subject.subject_id)}`;
    } catch (err) {
      replace(out, err instanceof ApiError && err.status === 404 ? banner("info", "Nobody has this ID number", "Check the number and try again.") : errorBanner(err));
    }
  });
  return h("div", {}, form, out);
}
