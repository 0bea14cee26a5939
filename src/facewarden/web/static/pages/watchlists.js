// Watchlists: each declares its purpose and lawful basis when created, and an
// operating point (false match rate) that sets its similarity threshold.

import { api, ApiError, can } from "../api.js";
import { banner, button, card, errorBanner, field, fmtFmr, fmtSimilarity, h, icon, modal, onSubmit, orDash, replace, time, toast } from "../dom.js";

const FMRS = [
  { value: "0.01", label: "1 in 100" },
  { value: "0.001", label: "1 in 1,000 (recommended)" },
  { value: "0.0001", label: "1 in 10,000" },
];

// How many pages of members the members view reads at most.
const MEMBER_PAGES = 10;

export default async function renderWatchlists(view) {
  const page = h("div", { class: "page" });
  const listHost = h("div", {});
  const membersHost = h("div", {});

  async function load() {
    const { watchlists } = await api("GET", "/v1/watchlists", { signal: view.signal });
    replace(listHost, watchlists.length ? table(watchlists) : h("div", { class: "empty" }, icon("watchlists", "empty-icon"), h("p", {}, "No watchlists yet. Create the first one above.")));
  }

  function table(watchlists) {
    return h(
      "table",
      { class: "table" },
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "Name"), h("th", {}, "Purpose"), h("th", {}, "Lawful basis"), h("th", {}, "False match rate"), h("th", { class: "num" }, "Threshold"), h("th", { class: "num" }, "Members"), h("th", {}, "Created"), h("th", {}, h("span", { class: "sr-only" }, "Actions"))),
      ),
      h(
        "tbody",
        {},
        watchlists.map((w) =>
          h(
            "tr",
            { dataset: { watchlist: w.name } },
            h("td", { class: "strong nowrap" }, w.name),
            h("td", {}, orDash(w.purpose)),
            h("td", {}, orDash(w.lawful_basis)),
            h("td", {}, fmtFmr(w.fmr)),
            h("td", { class: "num mono" }, fmtSimilarity(w.threshold)),
            h("td", { class: "num" }, String(w.members ?? "—")),
            h("td", {}, time(w.created_at, { withTime: false })),
            h(
              "td",
              { class: "row-action row-actions" },
              button("Members", { kind: "ghost", class: "btn btn-ghost btn-small", onclick: () => showMembers(w) }),
              can("watchlists") ? button("Edit", { kind: "ghost", class: "btn btn-ghost btn-small", onclick: () => editWatchlist(w) }) : null,
              can("watchlists") ? button("Delete", { kind: "ghost", class: "btn btn-ghost btn-small danger-text", onclick: () => deleteWatchlist(w) }) : null,
            ),
          ),
        ),
      ),
    );
  }

  async function editWatchlist(w) {
    const purpose = h("input", { type: "text", name: "purpose", maxlength: "128", value: w.purpose || "" });
    const basis = h("input", { type: "text", name: "lawful_basis", maxlength: "256", value: w.lawful_basis || "" });
    const severity = h(
      "select",
      { name: "severity" },
      h("option", { value: "" }, "Keep as it is"),
      h("option", { value: "alarm" }, "Alarm: stays up with a sound until acknowledged"),
      h("option", { value: "alert" }, "Alert: a notification (default)"),
      h("option", { value: "log" }, "Log: listed quietly"),
    );
    const saved = await modal({
      title: `Edit ${w.name}`,
      confirmLabel: "Save",
      body: [field("Purpose", purpose, { required: true }), field("Lawful basis", basis, { required: true }), field("Alerts of this watchlist", severity, { hint: "How loud a sighting of one of its subjects is at the security desk." })],
      validate: () => purpose.value.trim() !== "" && basis.value.trim() !== "",
      onConfirm: async () => {
        await api("PATCH", `/v1/watchlists/${encodeURIComponent(w.watchlist_id)}`, { json: { purpose: purpose.value.trim(), lawful_basis: basis.value.trim() } });
        if (severity.value) await api("PUT", `/v1/watchlists/${encodeURIComponent(w.watchlist_id)}/alert-severity`, { json: { severity: severity.value } });
        return true;
      },
    });
    if (saved) {
      toast("Watchlist saved");
      await load();
    }
  }

  async function deleteWatchlist(w) {
    const typed = h("input", { type: "text", name: "confirm", autocomplete: "off", spellcheck: "false" });
    const done = await modal({
      title: `Delete ${w.name}?`,
      kind: "danger",
      confirmLabel: "Delete watchlist",
      body: [
        banner("danger", "Its members come off it", `${plural(Number(w.members || 0), "subject", "subjects")} will no longer be searched or alerted on through it; their records stay. A watchlist a camera still checks cannot be deleted.`),
        field(h("span", {}, "To confirm, type its name ", h("strong", {}, w.name)), typed, { required: true }),
      ],
      validate: () => typed.value.trim() === w.name,
      onConfirm: async () => {
        await api("DELETE", `/v1/watchlists/${encodeURIComponent(w.watchlist_id)}`);
        return true;
      },
    });
    if (done) {
      toast("Watchlist deleted");
      replace(membersHost);
      await load();
    }
  }

  async function showMembers(w) {
    const list = h("div", {}, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Loading members…"));
    const close = button("Close", { kind: "ghost", iconName: "x", onclick: () => replace(membersHost) });
    replace(membersHost, card(`Members of ${w.name}`, [list, addMember(w)], { actions: close, subtitle: w.purpose || null }));
    membersHost.scrollIntoView({ behavior: "smooth", block: "start" });
    try {
      const found = await findMembers(w, view.signal);
      if (!found) {
        replace(list, banner("info", plural(Number(w.members || 0), "member", "members"), "This server does not list a watchlist's members. Open a subject to see and change their watchlists, or add one by id below."));
        return;
      }
      const { members, complete } = found;
      replace(
        list,
        members.length
          ? h(
              "table",
              { class: "table table-compact" },
              h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Subject id"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
              h(
                "tbody",
                {},
                members.map((s) => {
                  const remove = button("Remove", { kind: "ghost", class: "btn btn-ghost btn-small" });
                  remove.addEventListener("click", async () => {
                    const sure = await modal({ title: "Remove from the watchlist?", body: h("p", {}, `${s.full_name || s.subject_id} will no longer be searched or alerted on in ${w.name}. Their record stays.`), confirmLabel: "Remove", kind: "danger", onConfirm: async () => true });
                    if (!sure) return;
                    try {
                      await api("DELETE", `/v1/watchlists/${encodeURIComponent(w.watchlist_id)}/members/${encodeURIComponent(s.subject_id)}`);
                      toast("Removed from the watchlist");
                      await load();
                      showMembers({ ...w, members: Math.max(0, (w.members || 1) - 1) });
                    } catch (err) {
                      toast(err.message, "danger");
                    }
                  });
                  return h("tr", {}, h("td", { class: "strong" }, h("a", { href: `#/subjects/${encodeURIComponent(s.subject_id)}` }, s.full_name || "Unnamed subject")), h("td", { class: "mono muted" }, s.subject_id), h("td", { class: "row-action" }, remove));
                }),
              ),
            )
          : h("p", { class: "muted" }, "Nobody is on this watchlist."),
        complete ? null : h("p", { class: "hint" }, "Only the first members found are listed."),
      );
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(list, errorBanner(err));
    }
  }

  // Members are picked by name: the names come from the subjects list (an audited read).
  function addMember(w) {
    const input = h("input", { type: "search", name: "member_search", placeholder: "Type part of a name", autocomplete: "off", spellcheck: "false", "aria-label": "Name to search" });
    const out = h("div", { class: "member-matches", dataset: { testid: "member-matches" } });
    const form = h("form", { class: "inline-form" }, input, button("Find", { kind: "secondary", type: "submit", iconName: "search" }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const wanted = input.value.trim().toLowerCase();
      if (wanted.length < 2) {
        replace(out, h("p", { class: "hint" }, "Type at least two letters of the name."));
        return;
      }
      replace(out, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Searching…"));
      try {
        const found = [];
        let after = null;
        for (let i = 0; i < MEMBER_PAGES; i++) {
          const page = await api("GET", "/v1/subjects", { query: { limit: 100, after, purpose: `add members to ${w.name}` }, signal: view.signal });
          found.push(...page.subjects.filter((s) => String(s.full_name || "").toLowerCase().includes(wanted)));
          if (!page.next_after || found.length >= 20) break;
          after = page.next_after;
        }
        replace(
          out,
          found.length
            ? h(
                "ul",
                { class: "member-list" },
                found.slice(0, 20).map((s) => {
                  const add = button("Add", { kind: "secondary", class: "btn btn-secondary btn-small", iconName: "plus" });
                  add.addEventListener("click", async () => {
                    try {
                      await api("PUT", `/v1/watchlists/${encodeURIComponent(w.watchlist_id)}/members/${encodeURIComponent(s.subject_id)}`);
                      toast(`Added ${s.full_name || s.subject_id}`);
                      await load();
                      showMembers({ ...w, members: (w.members || 0) + 1 });
                    } catch (err) {
                      replace(out, errorBanner(err));
                    }
                  });
                  return h("li", {}, h("span", { class: "strong" }, s.full_name || "Unnamed subject"), h("span", { class: "mono muted" }, ` ${s.subject_id}`), add);
                }),
              )
            : h("p", { class: "muted" }, "Nobody enrolled has that in their name."),
        );
      } catch (err) {
        if (err && err.name === "AbortError") return;
        replace(out, errorBanner(err));
      }
    });
    return h("div", { class: "add-member" }, h("h3", {}, "Add a subject by name"), form, out);
  }

  await load();
  replace(page, can("watchlists") ? createCard(load) : null, card("Watchlists", listHost), membersHost);
  return page;
}

/**
 * The members of a watchlist, from GET /v1/watchlists/{ref}/members (docs/http-api.md,
 * "Console requests"). Resolves with null where the server has no such route.
 */
async function findMembers(w, signal) {
  const members = [];
  let after = null;
  for (let i = 0; i < MEMBER_PAGES; i++) {
    let page;
    try {
      page = await api("GET", `/v1/watchlists/${encodeURIComponent(w.watchlist_id)}/members`, { query: { limit: 100, after }, signal });
    } catch (err) {
      if (i === 0 && err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
      throw err;
    }
    members.push(...(page.members || []));
    if (!page.next_after) return { members, complete: true };
    after = page.next_after;
  }
  return { members, complete: false };
}

function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

function createCard(reload) {
  const name = h("input", { type: "text", name: "name", autocomplete: "off", maxlength: "64", placeholder: "e.g. staff-entrance" });
  const purpose = h("input", { type: "text", name: "purpose", autocomplete: "off", maxlength: "128", placeholder: "e.g. site access control at the staff entrance" });
  const lawful = h("input", { type: "text", name: "lawful_basis", autocomplete: "off", maxlength: "200", placeholder: "e.g. GDPR art. 6(1)(f), DPIA 2025-03" });
  const fmr = h("select", { name: "fmr" }, FMRS.map((f) => h("option", { value: f.value, selected: f.value === "0.001" }, f.label)));
  const messages = h("div", {});
  const submit = button("Create watchlist", { kind: "primary", type: "submit", iconName: "plus", disabled: true });
  const form = h(
    "form",
    { class: "form-grid form-grid-4", novalidate: true },
    field("Name", name, { required: true }),
    field("Purpose", purpose, { required: true }),
    field("Lawful basis", lawful, { required: true }),
    field("False match rate", fmr, { hint: "How often a stranger may come up as a candidate. Rarer means fewer false alarms and more misses." }),
    h("div", { class: "field-wide form-row-end" }, messages, submit),
  );
  const refresh = () => {
    submit.disabled = !(name.value.trim() && purpose.value.trim() && lawful.value.trim());
  };
  form.addEventListener("input", refresh);
  onSubmit(form, {
    submit,
    messages,
    refresh,
    send: async () => {
      const w = await api("POST", "/v1/watchlists", { json: { name: name.value.trim(), purpose: purpose.value.trim(), lawful_basis: lawful.value.trim(), fmr: Number(fmr.value) } });
      toast(`Watchlist ${w.name} created`);
      form.reset();
      await reload();
    },
  });
  return card("New watchlist", [banner("info", "Purpose and lawful basis are required", "Every watchlist records why it exists and on what legal ground, before anyone is enrolled on it."), form]);
}
