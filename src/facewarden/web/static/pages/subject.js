// One subject: record, faces, watchlists; export (a JSON download), record
// edits, added faces, and erasure behind a typed confirmation.

import { api, ApiError, can, downloadJson } from "../api.js";
import { append, banner, button, card, errorBanner, field, h, icon, modal, orDash, pill, replace, time, toast } from "../dom.js";
import { COLORS, isUsable, reasonsOf } from "../faces.js";
import { askCase, caseFor } from "../case.js";
import { enrolledPhoto } from "../crop.js";
import { PhotoInput } from "../photo.js";
import { historyPanel } from "./history.js";

const LABELS = {
  full_name: "Full name",
  lawful_basis: "Lawful basis or consent",
  id_number: "ID number",
  date_of_birth: "Date of birth",
  sex: "Sex",
  nationality: "Nationality",
  address: "Address",
  employer: "Employer or organisation",
  notes: "Notes",
};

export default async function renderSubject(view, subjectId) {
  // An investigator reads a subject only for a case: ask for it (once per subject in
  // this tab) and carry it to every read and to the location-history request.
  let purpose = "";
  if (can("case-read")) {
    purpose = caseFor(subjectId) || (await askCase(subjectId));
    if (view.signal.aborted) return null;
    if (!purpose) return casePrompt(subjectId);
  }
  const read = () => api("GET", `/v1/subjects/${encodeURIComponent(subjectId)}`, { query: { purpose }, signal: view.signal });
  let subject;
  try {
    subject = await read();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return h("div", { class: "page" }, banner("warn", "No such subject", "It may have been erased. Erased subjects leave only a pseudonymous entry in the audit log."), h("a", { href: can("subjects") ? "#/subjects" : "#/", class: "btn btn-secondary" }, "Back"));
    }
    throw err;
  }
  const page = h("div", { class: "page page-subject" });
  let lists = await watchlistIndex(view.signal);
  const rerender = async () => {
    [subject, lists] = await Promise.all([read(), watchlistIndex(view.signal)]);
    draw();
  };
  const draw = () => {
    view.setTitle(subject.record.full_name || "Subject");
    replace(
      page,
      purpose ? caseBar(subjectId, purpose) : null,
      subjectHeader(subject, lists, rerender),
      h("div", { class: "grid-2 grid-wide-left" }, recordCard(subject), h("div", { class: "stack" }, facesCard(subject, rerender, purpose), can("watchlists") ? watchlistsCard(subject, lists, rerender) : null, can("history") ? historyPanel(subjectId, purpose, view.signal) : null)),
      can("subject-write") ? dangerZone(subject) : null,
    );
  };
  draw();
  return page;
}

/** The page shown when the case-reference dialog was cancelled. */
function casePrompt(subjectId) {
  const open = button("Give a case reference", {
    kind: "primary",
    iconName: "lock",
    onclick: async () => {
      if (await askCase(subjectId)) window.dispatchEvent(new HashChangeEvent("hashchange"));
    },
  });
  return h(
    "div",
    { class: "page page-subject-case", dataset: { testid: "case-needed" } },
    banner("info", "A case reference is needed", "An investigator reads a subject only for a case. Give the case reference to open this subject; it is recorded in the audit log with the read.", open),
    h("a", { href: "#/", class: "btn btn-ghost" }, "Back to the dashboard"),
  );
}

/** The case this subject is open for, with a way to change it. */
function caseBar(subjectId, purpose) {
  const change = button("Change case", {
    kind: "ghost",
    class: "btn btn-ghost btn-small",
    onclick: async () => {
      if (await askCase(subjectId, { title: "Change the case reference" })) window.dispatchEvent(new HashChangeEvent("hashchange"));
    },
  });
  return h("div", { class: "case-bar", dataset: { testid: "case-bar" } }, icon("lock"), h("span", {}, "Open for case "), h("strong", { class: "mono", dataset: { testid: "case-reference" } }, purpose), change);
}

/** The watchlists by id and by name (empty for roles that cannot read them). */
async function watchlistIndex(signal) {
  const index = { all: [], byRef: new Map() };
  if (!can("watchlists")) return index;
  const { watchlists } = await api("GET", "/v1/watchlists", { signal });
  index.all = watchlists;
  for (const w of watchlists) {
    index.byRef.set(w.watchlist_id, w);
    index.byRef.set(w.name, w);
  }
  return index;
}

function watchlistName(lists, ref) {
  const w = lists.byRef.get(ref);
  return w ? w.name : ref;
}

function subjectHeader(subject, lists, rerender) {
  const r = subject.record;
  const copy = h("button", { class: "icon-btn", type: "button", title: "Copy subject id", "aria-label": "Copy subject id" }, icon("copy"));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(subject.subject_id);
      toast("Subject id copied");
    } catch {
      toast("Copy failed: select the id and copy it", "warn");
    }
  });
  const actions = [];
  if (can("subject-write")) {
    actions.push(button("Edit record", { kind: "secondary", onclick: () => editRecord(subject, rerender) }));
    actions.push(
      button("Export data", {
        kind: "secondary",
        iconName: "download",
        onclick: async () => {
          try {
            const data = await api("GET", `/v1/subjects/${encodeURIComponent(subject.subject_id)}/export`);
            downloadJson(data, `facewarden-export-${subject.subject_id}.json`);
            toast("Export downloaded");
          } catch (err) {
            toast(err.message, "danger");
          }
        },
      }),
    );
  }
  return h(
    "section",
    { class: "subject-head card" },
    h("div", { class: "subject-avatar", "aria-hidden": "true" }, initials(r.full_name)),
    h(
      "div",
      { class: "subject-id-block" },
      h("h2", { class: "subject-name" }, r.full_name || "Unnamed subject"),
      h("div", { class: "subject-meta" }, h("span", { class: "mono" }, subject.subject_id), copy, h("span", { class: "dot" }, "·"), h("span", {}, "Enrolled "), time(subject.created_at), h("span", { class: "dot" }, "·"), h("span", {}, "Updated "), time(subject.updated_at)),
      h("div", { class: "chips" }, (subject.watchlists || []).map((w) => h("span", { class: "chip" }, watchlistName(lists, w))), (subject.faces || []).length ? pill(`${subject.faces.length} face${subject.faces.length === 1 ? "" : "s"}`, "info") : pill("No face", "warn")),
    ),
    actions.length ? h("div", { class: "subject-actions" }, actions) : null,
  );
}

function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/);
  return (parts[0][0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

function recordCard(subject) {
  const r = subject.record;
  return card(
    "Record",
    h(
      "dl",
      { class: "record" },
      Object.entries(LABELS).map(([key, label]) => h("div", { class: ["record-row", (key === "address" || key === "notes") && "record-wide"] }, h("dt", {}, label), h("dd", { class: key === "id_number" ? "mono" : "" }, orDash(r[key])))),
    ),
    { subtitle: "Encrypted at rest. Reading this page is recorded in the audit log." },
  );
}

function facesCard(subject, rerender, purpose = "") {
  const faces = subject.faces || [];
  const rows = faces.map((f, i) => {
    const remove = can("subject-write")
      ? h("button", { class: "icon-btn danger", type: "button", title: "Remove this face", "aria-label": `Remove face ${i + 1}` }, icon("trash"))
      : null;
    if (remove) {
      remove.addEventListener("click", async () => {
        const ok = await modal({
          title: "Remove this face?",
          body: h("p", {}, "Its template is deleted; searches will no longer find the subject by it."),
          confirmLabel: "Remove face",
          kind: "danger",
          onConfirm: () => api("DELETE", `/v1/subjects/${encodeURIComponent(subject.subject_id)}/faces/${encodeURIComponent(f.face_id)}`).then(() => true),
        });
        if (ok) {
          toast("Face removed");
          rerender();
        }
      });
    }
    return h(
      "li",
      { class: "face-row", dataset: { faceId: f.face_id } },
      h("span", { class: "face-num face-num-ok" }, String(i + 1)),
      f.has_photo ? enrolledPhoto(subject.subject_id, { faceId: f.face_id, purpose, label: `Enrolled photo of face ${i + 1}` }) : null,
      h(
        "div",
        { class: "face-row-main" },
        h("span", { class: "face-row-id mono", title: f.model ? `Model: ${f.model}` : null }, f.face_id),
        h("span", { class: "face-row-meta" }, h("span", {}, "Added "), time(f.created_at, { withTime: false }), f.has_photo ? pill("Photo kept, encrypted", "info") : pill("Template only", "neutral", "Only the protected template is kept, not the photo")),
      ),
      remove,
    );
  });
  const list = faces.length
    ? h("ul", { class: "face-rows" }, rows)
    : banner("warn", "No face enrolled", "Searches cannot find this subject until a face is added.");
  return card("Faces", list, {
    actions: can("subject-write") ? button("Add face", { kind: "ghost", iconName: "plus", onclick: () => addFace(subject, rerender) }) : null,
  });
}

function watchlistsCard(subject, lists, rerender) {
  const member = subject.watchlists || [];
  const body = h("div", {});
  const chips = member.length
    ? h(
        "ul",
        { class: "member-list" },
        member.map((w) => {
          const remove = can("watchlists") ? button("Remove", { kind: "ghost", class: "btn btn-ghost btn-small" }) : null;
          if (remove) {
            remove.addEventListener("click", async () => {
              const sure = await modal({ title: "Remove from the watchlist?", body: h("p", {}, `This subject will no longer be searched or alerted on in ${watchlistName(lists, w)}. The record stays.`), confirmLabel: "Remove", kind: "danger", onConfirm: async () => true });
              if (!sure) return;
              try {
                await api("DELETE", `/v1/watchlists/${encodeURIComponent(w)}/members/${encodeURIComponent(subject.subject_id)}`);
                toast(`Removed from ${watchlistName(lists, w)}`);
                rerender();
              } catch (err) {
                replace(body, errorBanner(err));
              }
            });
          }
          return h("li", {}, h("span", { class: "chip" }, watchlistName(lists, w)), remove);
        }),
      )
    : h("p", { class: "muted" }, "Not on any watchlist: searches will not find this subject.");
  const adder = h("div", {});
  const others = lists.all.filter((w) => !member.includes(w.name) && !member.includes(w.watchlist_id));
  if (can("watchlists") && others.length) {
    const select = h("select", { name: "add-watchlist", "aria-label": "Watchlist to add to" }, others.map((w) => h("option", { value: w.watchlist_id }, w.name)));
    const add = button("Add to watchlist", { kind: "secondary", iconName: "plus" });
    add.addEventListener("click", async () => {
      try {
        await api("PUT", `/v1/watchlists/${encodeURIComponent(select.value)}/members/${encodeURIComponent(subject.subject_id)}`);
        toast(`Added to ${watchlistName(lists, select.value)}`);
        rerender();
      } catch (err) {
        replace(body, errorBanner(err));
      }
    });
    append(adder, h("div", { class: "inline-form" }, select, add));
  }
  return card("Watchlists", [chips, adder, body]);
}

function dangerZone(subject) {
  const erase = button("Erase subject…", { kind: "danger", iconName: "trash", onclick: () => confirmErase(subject) });
  return h(
    "section",
    { class: "card danger-zone" },
    h(
      "div",
      { class: "danger-text" },
      h("h2", {}, "Erase this subject"),
      h("p", {}, "Deletes the record, every face template and photo, sightings and the ID-number index entry, in one transaction. The audit log keeps a pseudonymous tombstone. This cannot be undone."),
    ),
    erase,
  );
}

async function confirmErase(subject) {
  const name = subject.record.full_name || "";
  const typed = h("input", { type: "text", name: "confirm", autocomplete: "off", spellcheck: "false" });
  const purpose = h("input", { type: "text", name: "purpose", autocomplete: "off", maxlength: "200", placeholder: "e.g. erasure request ER-0192" });
  const matches = () => {
    const v = typed.value.trim();
    return v !== "" && (v === subject.subject_id || (name !== "" && v.toLowerCase() === name.trim().toLowerCase()));
  };
  const erased = await modal({
    title: "Erase this subject?",
    kind: "danger",
    confirmLabel: "Erase permanently",
    body: [
      banner("danger", "This cannot be undone", "The record, faces and photos are deleted. After erasure the same face no longer matches anyone."),
      field("Reason for erasure", purpose, { required: true, hint: "Recorded in the audit log. Do not include personal data." }),
      field(h("span", {}, "To confirm, type the subject's full name ", h("strong", {}, name || "(none)"), " or id ", h("strong", { class: "mono" }, subject.subject_id)), typed, { required: true }),
    ],
    validate: () => matches() && purpose.value.trim() !== "",
    onConfirm: async () => {
      await api("DELETE", `/v1/subjects/${encodeURIComponent(subject.subject_id)}`, { query: { purpose: purpose.value.trim() } });
      return true;
    },
  });
  if (erased) {
    toast("Subject erased");
    location.hash = can("subjects") ? "#/subjects" : "#/";
  }
}

async function editRecord(subject, rerender) {
  const r = subject.record;
  const inputs = {};
  for (const key of Object.keys(LABELS)) {
    const multiline = key === "address" || key === "notes";
    inputs[key] = multiline ? h("textarea", { name: key, rows: "2" }) : h("input", { type: key === "date_of_birth" ? "date" : "text", name: key, autocomplete: "off" });
    inputs[key].value = r[key] || "";
  }
  const saved = await modal({
    title: "Edit record",
    confirmLabel: "Save changes",
    body: h("div", { class: "form-grid" }, Object.entries(LABELS).map(([key, label]) => field(label, inputs[key], { required: key === "full_name" || key === "lawful_basis", wide: key === "address" || key === "notes" }))),
    validate: () => inputs.full_name.value.trim() !== "" && inputs.lawful_basis.value.trim() !== "",
    onConfirm: async () => {
      const changes = {};
      for (const key of Object.keys(LABELS)) {
        const value = inputs[key].value.trim();
        if (value !== (r[key] || "")) changes[key] = value === "" ? null : value;
      }
      if (Object.keys(changes).length) await api("PATCH", `/v1/subjects/${encodeURIComponent(subject.subject_id)}`, { json: changes });
      return Object.keys(changes).length > 0;
    },
  });
  if (saved) {
    toast("Record updated");
    rerender();
  }
}

async function addFace(subject, rerender) {
  const state = { faces: null, selected: -1 };
  const verdict = h("div", { class: "verdict" });
  const photo = new PhotoInput({
    name: "add-face-photo",
    prompt: "Another photo of this person",
    onChange: async (file) => {
      state.faces = null;
      state.selected = -1;
      replace(verdict, h("p", { class: "muted" }, "Checking the photo…"));
      const body = new FormData();
      body.append("file", file);
      body.append("mode", "accurate");
      try {
        const r = await api("POST", "/v1/detect", { form: body });
        photo.faceCanvas.setSourceWidth(r.width);
        state.faces = r.faces;
        state.selected = r.faces.findIndex(isUsable);
        if (state.selected < 0 && r.faces.length) state.selected = 0;
        drawFaces();
      } catch (err) {
        replace(verdict, errorBanner(err));
      }
      photo.el.dispatchEvent(new Event("change", { bubbles: true }));
    },
    onPick: (i) => {
      state.selected = i;
      drawFaces();
      photo.el.dispatchEvent(new Event("change", { bubbles: true }));
    },
  });
  function drawFaces() {
    const faces = state.faces;
    photo.faceCanvas.setFaces(faces.map((f, i) => ({ box: f.box_xyxy, color: isUsable(f) ? COLORS.usable : COLORS.unusable, label: String(i + 1), selected: faces.length > 1 && i === state.selected })));
    if (!faces.length) replace(verdict, banner("danger", "No face found", "Use a clearer, frontal photo."));
    else {
      const f = faces[state.selected];
      replace(verdict, isUsable(f) ? banner("ok", `Face ${state.selected + 1} is usable`, faces.length > 1 ? "Click another face on the photo to choose it." : null) : banner("danger", `Face ${state.selected + 1} is below the quality bar`, reasonsOf(f).join("; ")));
    }
  }
  const added = await modal({
    title: "Add a face",
    confirmLabel: "Add face",
    body: [photo.el, verdict],
    validate: () => Boolean(state.faces && state.selected >= 0 && isUsable(state.faces[state.selected])),
    onConfirm: async () => {
      const body = new FormData();
      body.append("file", photo.file);
      body.append("face", String(state.selected + 1));
      await api("POST", `/v1/subjects/${encodeURIComponent(subject.subject_id)}/faces`, { form: body });
      return true;
    },
  });
  if (added) {
    toast("Face added");
    rerender();
  }
}
