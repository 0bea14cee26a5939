// Enroll a subject: the record (with its lawful basis), the watchlists, and a
// photo whose faces are detected and quality-checked (POST /v1/detect) and drawn
// on it before anything is stored (POST /v1/subjects).

import { api } from "../api.js";
import { banner, button, card, errorBanner, field, h, icon, pill, replace, toast } from "../dom.js";
import { COLORS, isUsable, reasonsOf } from "../faces.js";
import { PhotoInput } from "../photo.js";

const RECORD_FIELDS = ["full_name", "lawful_basis", "id_number", "date_of_birth", "sex", "nationality", "address", "employer", "notes"];

export default async function renderEnroll(view) {
  const { watchlists } = await api("GET", "/v1/watchlists", { signal: view.signal });
  const state = { detection: null, selected: -1, busy: false, seq: 0 };

  // The record.
  const inputs = {
    full_name: h("input", { type: "text", name: "full_name", autocomplete: "off", maxlength: "200" }),
    lawful_basis: h("input", { type: "text", name: "lawful_basis", autocomplete: "off", maxlength: "200", placeholder: "e.g. GDPR art. 6(1)(f) · consent ref. C-2291" }),
    id_number: h("input", { type: "text", name: "id_number", autocomplete: "off", maxlength: "200", spellcheck: "false" }),
    date_of_birth: h("input", { type: "date", name: "date_of_birth", max: new Date().toISOString().slice(0, 10) }),
    sex: h("select", { name: "sex" }, h("option", { value: "" }, "Not recorded"), h("option", { value: "F" }, "F (female)"), h("option", { value: "M" }, "M (male)"), h("option", { value: "X" }, "X (unspecified)")),
    nationality: h("input", { type: "text", name: "nationality", autocomplete: "off", maxlength: "200", placeholder: "e.g. FR or French" }),
    address: h("textarea", { name: "address", rows: "2", maxlength: "500" }),
    employer: h("input", { type: "text", name: "employer", autocomplete: "off", maxlength: "200" }),
    notes: h("textarea", { name: "notes", rows: "3", maxlength: "4000" }),
  };
  const recordGrid = h(
    "div",
    { class: "form-grid" },
    field("Full name", inputs.full_name, { required: true }),
    field("Lawful basis or consent reference", inputs.lawful_basis, { required: true, hint: "Why this person may be enrolled: the legal ground, or the reference of their written consent." }),
    field("ID number", inputs.id_number, { hint: "Stored encrypted; looked up by exact match only." }),
    field("Date of birth", inputs.date_of_birth),
    field("Sex", inputs.sex, { hint: "As written on the identity document." }),
    field("Nationality", inputs.nationality),
    field("Employer or organisation", inputs.employer),
    field("Address", inputs.address, { wide: true }),
    field("Notes", inputs.notes, { wide: true }),
  );

  // The watchlists.
  const checks = watchlists.map((w) =>
    h(
      "label",
      { class: "check-card" },
      h("input", { type: "checkbox", name: "watchlist", value: w.name }),
      h("span", { class: "check-card-body" }, h("span", { class: "check-card-title" }, w.name), h("span", { class: "check-card-note" }, w.purpose || "No purpose recorded")),
    ),
  );
  const watchlistBody = checks.length
    ? h("div", { class: "check-grid" }, checks)
    : banner("info", "No watchlists yet", "The subject will be enrolled without a watchlist; add them to one later from their page.");

  // The photo and its verdict.
  const verdict = h("div", { class: "verdict", dataset: { testid: "enroll-verdict" } }, h("p", { class: "muted" }, "Choose a photo: the faces found on it and whether each is usable for recognition will show here."));
  const photo = new PhotoInput({
    name: "enroll-photo",
    prompt: "Photo of the person to enroll",
    onChange: (file) => detect(file),
    onPick: (index) => select(index),
  });
  const force = h("input", { type: "checkbox", name: "force" });
  const forceRow = h("label", { class: "force-row", hidden: true }, force, h("span", {}, "Enroll anyway: I have checked that this face, although below the quality bar, is the right person and the best photo available."));

  const messages = h("div", { class: "form-messages" });
  const why = h("p", { class: "hint disabled-reason", dataset: { testid: "disabled-reason" } });
  const dupes = h("div", { class: "duplicates", dataset: { testid: "duplicates" }, "aria-live": "polite" });
  const submit = button("Enroll subject", { kind: "primary", iconName: "enroll", type: "submit", disabled: true });
  const form = h(
    "form",
    { class: "page page-enroll", novalidate: true },
    h(
      "div",
      { class: "grid-2" },
      card("Photo", [photo.el, verdict, dupes], { subtitle: "Faces are checked for size, sharpness, lighting and pose before enrolling." }),
      h("div", { class: "stack" }, card("Record", recordGrid, { subtitle: "Personal fields are encrypted at rest." }), card("Watchlists", watchlistBody, { subtitle: "Searches on these watchlists will find this person." })),
    ),
    h(
      "div",
      { class: "form-footer" },
      messages,
      forceRow,
      h(
        "div",
        { class: "form-footer-actions" },
        h("p", { class: "hint footer-note" }, icon("lock"), " Only a protected face template is stored; the photo is kept (encrypted) only where the deployment is configured to."),
        h("a", { href: "#/", class: "btn btn-ghost" }, "Cancel"),
        submit,
      ),
      h("div", { class: "form-footer-reason" }, why),
    ),
  );

  const refresh = () => {
    const haveFace = state.detection && state.selected >= 0;
    const face = haveFace ? state.detection.faces[state.selected] : null;
    forceRow.hidden = !face || isUsable(face);
    if (forceRow.hidden) force.checked = false;
    // A disabled button says why.
    let reason = "";
    if (!state.detection) reason = "Choose a photo of the person first.";
    else if (!haveFace) reason = "No face was found on the photo: choose another.";
    else if (!inputs.full_name.value.trim()) reason = "Give the full name.";
    else if (!inputs.lawful_basis.value.trim()) reason = "Give the lawful basis or consent reference.";
    else if (!isUsable(face) && !force.checked) reason = "The face is below the quality bar: choose a better photo, or confirm below to enroll it anyway.";
    submit.disabled = Boolean(reason) || state.busy;
    submit.title = reason;
    why.textContent = state.busy ? "" : reason;
  };
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);

  async function detect(file) {
    const seq = ++state.seq;
    state.detection = null;
    state.selected = -1;
    refresh();
    replace(verdict, h("p", { class: "muted" }, "Checking the photo…"));
    photo.setStatus("Detecting faces…");
    const body = new FormData();
    body.append("file", file);
    body.append("mode", "accurate");
    try {
      const result = await api("POST", "/v1/detect", { form: body, signal: view.signal });
      if (seq !== state.seq) return;
      state.detection = result;
      photo.faceCanvas.setSourceWidth(result.width);
      state.selected = defaultFace(result.faces);
      drawVerdict();
      checkDuplicates(file, seq);
    } catch (err) {
      if (seq !== state.seq || (err && err.name === "AbortError")) return;
      replace(verdict, errorBanner(err));
      photo.faceCanvas.setFaces([]);
    } finally {
      if (seq === state.seq) photo.setStatus(null);
      refresh();
    }
  }

  function select(index) {
    if (!state.detection) return;
    state.selected = index;
    drawVerdict();
    drawDuplicates();
    refresh();
  }

  // Does the face already match someone enrolled? Each watchlist is searched (audited,
  // with this purpose); a match warns before a second record of one person is made.
  async function checkDuplicates(file, seq) {
    state.matches = null;
    replace(dupes);
    if (!watchlists.length) return;
    const found = [];
    for (const w of watchlists.slice(0, 5)) {
      const body = new FormData();
      body.append("file", file);
      body.append("watchlist", w.name);
      body.append("top_k", "1");
      body.append("purpose", "enrollment: duplicate check");
      try {
        const r = await api("POST", "/v1/identify", { form: body, signal: view.signal });
        for (const f of r.faces || []) for (const c of f.candidates || []) if (c.is_match) found.push({ box: f.face.box_xyxy, watchlist: w.name, ...c });
      } catch {
        // A search that fails only leaves the warning out.
      }
      if (seq !== state.seq) return;
    }
    state.matches = found;
    drawDuplicates();
  }

  function drawDuplicates() {
    if (!state.matches || !state.detection || state.selected < 0) return replace(dupes);
    const [x0, y0, x1, y1] = state.detection.faces[state.selected].box_xyxy;
    const near = (b) => Math.abs((b[0] + b[2]) / 2 - (x0 + x1) / 2) < (x1 - x0) / 2 && Math.abs((b[1] + b[3]) / 2 - (y0 + y1) / 2) < (y1 - y0) / 2;
    const same = state.matches.filter((m) => near(m.box));
    if (!same.length) return replace(dupes);
    replace(
      dupes,
      banner("warn", "This face already matches someone enrolled", "Enrolling makes a second record of the same person. Check the existing one first."),
      h("ul", { class: "duplicate-list" }, same.map((m) => h("li", {}, h("a", { href: `#/subjects/${encodeURIComponent(m.subject_id)}` }, m.full_name || m.subject_id), h("span", { class: "muted" }, ` on ${m.watchlist}, similarity ${m.similarity.toFixed(3)}`)))),
    );
  }

  function drawVerdict() {
    const faces = state.detection.faces;
    photo.faceCanvas.setFaces(
      faces.map((f, i) => ({
        box: f.box_xyxy,
        landmarks: f.landmarks,
        color: isUsable(f) ? COLORS.usable : COLORS.unusable,
        label: faces.length > 1 ? `${i + 1}` : isUsable(f) ? "Usable" : "Not usable",
        selected: faces.length > 1 && i === state.selected,
        dashed: faces.length > 1 && i !== state.selected,
      })),
    );
    if (!faces.length) {
      replace(verdict, banner("danger", "No face found", "Use a photo where the face is clearly visible, facing the camera, and not too small."));
      return;
    }
    const chosen = faces[state.selected];
    const head = faces.length === 1
      ? isUsable(chosen)
        ? banner("ok", "Usable face found", "This face meets the quality bar for enrollment.")
        : banner("danger", "The face is below the quality bar", reasonsOf(chosen).join("; ") || "See the details below.")
      : banner(isUsable(chosen) ? "info" : "warn", `${faces.length} faces found`, `Face ${state.selected + 1} (highlighted) will be enrolled. Click another face on the photo or in the list to choose it.`);
    const rows = faces.map((f, i) => faceRow(f, i, faces.length > 1, i === state.selected, () => select(i)));
    replace(verdict, head, h("ul", { class: "face-list" }, rows));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    refresh();
    if (submit.disabled) return;
    const record = {};
    for (const key of RECORD_FIELDS) {
      const value = inputs[key].value.trim();
      if (value) record[key] = value;
    }
    const body = new FormData();
    body.append("record", JSON.stringify(record));
    body.append("file", photo.file);
    for (const box of form.querySelectorAll('input[name="watchlist"]:checked')) body.append("watchlist", box.value);
    body.append("face", String(state.selected + 1));
    if (force.checked) body.append("force", "true");
    state.busy = true;
    refresh();
    replace(messages);
    try {
      const subject = await api("POST", "/v1/subjects", { form: body, signal: view.signal });
      toast(`Enrolled ${record.full_name}`);
      location.hash = `#/subjects/${subject.subject_id}`;
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(messages, errorBanner(err));
    } finally {
      state.busy = false;
      refresh();
    }
  });

  refresh();
  return form;
}

function defaultFace(faces) {
  if (!faces.length) return -1;
  let best = 0;
  let bestScore = -1;
  faces.forEach((f, i) => {
    const [x0, y0, x1, y1] = f.box_xyxy;
    const score = (x1 - x0) * (y1 - y0) * (isUsable(f) ? 4 : 1);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  });
  return best;
}

function faceRow(face, index, pickable, selected, onSelect) {
  const q = face.quality || {};
  const usable = isUsable(face);
  const reasons = reasonsOf(face);
  const metrics = [
    ["Face size", q.face_px !== undefined ? `${Math.round(q.face_px)} px` : "—"],
    ["Sharpness", q.sharpness !== undefined ? String(Math.round(q.sharpness)) : "—"],
    ["Brightness", q.brightness !== undefined ? String(Math.round(q.brightness)) : "—"],
    ["Yaw", q.yaw_degrees !== undefined ? `${Math.round(q.yaw_degrees)}°` : "—"],
  ];
  const item = h(
    "li",
    { class: ["face-item", selected && "selected", pickable && "pickable"], dataset: { face: String(index + 1) } },
    h("span", { class: `face-num face-num-${usable ? "ok" : "bad"}` }, String(index + 1)),
    h(
      "div",
      { class: "face-item-body" },
      h("div", { class: "face-item-head" }, usable ? pill("Usable", "ok") : pill("Not usable", "danger"), selected && pickable ? pill("Selected", "info") : null),
      reasons.length ? h("ul", { class: "reasons" }, reasons.map((r) => h("li", {}, r))) : null,
      h("dl", { class: "metrics" }, metrics.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
    ),
  );
  if (pickable) {
    item.tabIndex = 0;
    item.setAttribute("role", "button");
    item.setAttribute("aria-pressed", String(selected));
    item.addEventListener("click", onSelect);
    item.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        onSelect();
      }
    });
  }
  return item;
}
