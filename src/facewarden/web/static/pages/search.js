// Search by photo (1:N): every face on the probe photo is searched on one
// watchlist (POST /v1/identify). Faces are numbered on the photo; the list
// beside it shows each face's top candidates with their similarity. A match is
// a candidate for a person to review, never a fact, and the wording says so.

import { api, can } from "../api.js";
import { banner, button, card, errorBanner, field, fmtSimilarity, h, icon, pill, replace } from "../dom.js";
import { COLORS, reasonsOf } from "../faces.js";
import { enrolledPhoto, faceCrop, facePair } from "../crop.js";
import { PhotoInput } from "../photo.js";

// Similarity bars span this range: below it everything is equally unlike.
const BAR_MIN = 0.5;
const BAR_MAX = 1.0;

export default async function renderSearch(view) {
  const { watchlists } = await api("GET", "/v1/watchlists", { signal: view.signal });
  if (!watchlists.length) {
    return h(
      "div",
      { class: "page" },
      banner("info", "No watchlists to search", "A search runs against one watchlist. Create one and enroll people onto it first.", can("watchlists") ? h("a", { href: "#/watchlists", class: "btn btn-secondary" }, "Go to watchlists") : null),
    );
  }
  const state = { busy: false, seq: 0 };
  const watchlist = h(
    "select",
    { name: "watchlist" },
    watchlists.map((w) => {
      const n = Number(w.members ?? 0);
      return h("option", { value: w.name }, `${w.name} (${n.toLocaleString()} ${n === 1 ? "member" : "members"})`);
    }),
  );
  const purpose = h("input", { type: "text", name: "purpose", maxlength: "200", autocomplete: "off", placeholder: "e.g. incident 2025-114 · gate B access check" });
  const topK = h("select", { name: "top_k" }, [1, 3, 5, 10].map((k) => h("option", { value: String(k), selected: k === 5 }, String(k))));
  const submit = button("Search", { kind: "primary", iconName: "search", type: "submit", disabled: true });
  const results = h("div", { class: "results", dataset: { testid: "search-results" } }, emptyResults());
  const photo = new PhotoInput({
    name: "search-photo",
    prompt: "Photo to search with",
    onChange: () => {
      state.seq++;
      replace(results, emptyResults("Photo ready. Choose the watchlist, state the purpose, and search."));
      refresh();
    },
  });

  const why = h("p", { class: "hint disabled-reason", dataset: { testid: "disabled-reason" } });
  const refresh = () => {
    // A disabled button says why.
    const reason = !photo.file ? "Choose a photo to search with." : !purpose.value.trim() ? "State the purpose of this search." : !watchlist.value ? "Choose a watchlist." : "";
    submit.disabled = state.busy || Boolean(reason);
    submit.title = reason;
    why.textContent = state.busy ? "" : reason;
  };
  const controls = h(
    "form",
    { class: "toolbar-form", novalidate: true },
    field("Watchlist", watchlist, { required: true }),
    field("Purpose of this search", purpose, { required: true, hint: "Recorded in the audit log with the search." }),
    field("Candidates per face", topK),
    h("div", { class: "toolbar-submit" }, submit, why),
  );
  controls.addEventListener("input", refresh);
  controls.addEventListener("change", refresh);
  controls.addEventListener("submit", async (e) => {
    e.preventDefault();
    refresh();
    if (submit.disabled) return;
    const seq = ++state.seq;
    state.busy = true;
    refresh();
    photo.setStatus("Searching…");
    photo.faceCanvas.setFaces([]);
    replace(results, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Searching the watchlist…"));
    const body = new FormData();
    body.append("file", photo.file);
    body.append("watchlist", watchlist.value);
    body.append("top_k", topK.value);
    body.append("purpose", purpose.value.trim());
    try {
      const result = await api("POST", "/v1/identify", { form: body, signal: view.signal });
      if (seq !== state.seq) return;
      show(result);
    } catch (err) {
      if (seq !== state.seq || (err && err.name === "AbortError")) return;
      replace(results, errorBanner(err));
    } finally {
      state.busy = false;
      if (seq === state.seq) photo.setStatus(null);
      refresh();
    }
  });

  function show(result) {
    // Faces are numbered left to right, as a person reads the photo.
    const faces = [...(result.faces || [])].sort((p, q) => p.face.box_xyxy[0] - q.face.box_xyxy[0]);
    photo.faceCanvas.setFaces(
      faces.map((f, i) => {
        const kind = faceKind(f);
        return { box: f.face.box_xyxy, color: COLORS[kind], label: `${i + 1}${kind === "candidate" ? " · Candidate" : ""}` };
      }),
    );
    const review = { file: photo.file, purpose: purpose.value.trim() };
    const candidates = faces.filter((f) => faceKind(f) === "candidate").length;
    const summary = h(
      "div",
      { class: "results-summary" },
      h("div", {}, h("div", { class: "summary-label" }, "Watchlist"), h("div", { class: "summary-value" }, String(result.watchlist))),
      h("div", {}, h("div", { class: "summary-label" }, "Faces on photo"), h("div", { class: "summary-value" }, String(faces.length))),
      h("div", {}, h("div", { class: "summary-label" }, "With a candidate"), h("div", { class: "summary-value" }, String(candidates))),
      h("div", {}, h("div", { class: "summary-label" }, "Threshold"), h("div", { class: "summary-value mono" }, fmtSimilarity(result.threshold))),
    );
    // Faces with a candidate come first; each keeps its number on the photo.
    const numbered = faces.map((f, i) => [f, i]);
    const ordered = [...numbered.filter(([f]) => faceKind(f) === "candidate"), ...numbered.filter(([f]) => faceKind(f) !== "candidate")];
    const blocks = faces.length
      ? ordered.map(([f, i]) => faceResult(f, i, result.threshold, review))
      : [banner("warn", "No face found on this photo", "Use a photo where faces are visible, frontal and not too small.")];
    replace(
      results,
      summary,
      blocks,
      h("p", { class: "disclaimer" }, icon("info"), h("span", {}, "A match is a candidate, not a fact. A trained person must compare the photos and confirm before anything is done about it.")),
    );
  }

  refresh();
  return h(
    "div",
    { class: "page page-search" },
    card(null, controls, { cls: "card-toolbar" }),
    h("div", { class: "grid-2 grid-photo" }, card("Probe photo", [photo.el, h("p", { class: "hint" }, "The photo is searched and then discarded: probe images are never stored.")]), card("Candidates", results)),
  );
}

function faceKind(f) {
  if (f.usable === false) return "unusable";
  return (f.candidates || []).some((c) => c.is_match) ? "candidate" : "nomatch";
}

function emptyResults(text = "Choose a photo to search with. Each face found on it is searched on the watchlist.") {
  return h("div", { class: "empty" }, icon("search", "empty-icon"), h("p", {}, text));
}

function faceResult(f, index, threshold, review) {
  const kind = faceKind(f);
  const status = {
    candidate: pill("Candidate — needs human review", "warn"),
    nomatch: pill("No candidate above threshold", "neutral"),
    unusable: pill("Not searchable", "danger"),
  }[kind];
  const reasons = f.reasons && f.reasons.length ? f.reasons : reasonsOf(f.face);
  let body;
  if (kind === "unusable") {
    body = h("p", { class: "muted" }, `This face is below the quality bar: ${reasons.join("; ") || "no reason given"}.`);
  } else if (!(f.candidates || []).length) {
    body = h("p", { class: "muted" }, "Nobody on this watchlist resembles this face.");
  } else {
    // Matches first; look-alikes below the threshold fold away (their names are withheld).
    const ranked = f.candidates.map((c, i) => [c, i]);
    const above = ranked.filter(([c]) => c.is_match);
    const below = ranked.filter(([c]) => !c.is_match);
    const top = above.length ? above[0][0] : null;
    body = [
      top && review
        ? facePair(faceCrop(review.file, f.face.box_xyxy, { label: `Face ${index + 1} of the probe photo` }), `Face ${index + 1} (probe)`, enrolledPhoto(top.subject_id, { purpose: review.purpose, label: `Enrolled photo of ${top.full_name || "the candidate"}` }), `Enrolled: ${top.full_name || top.subject_id}`)
        : null,
      above.length ? h("ol", { class: "candidates" }, above.map(([c, i]) => candidateRow(c, i, threshold))) : null,
      below.length
        ? h(
            "details",
            { class: "below-threshold", open: !above.length },
            h("summary", {}, `${below.length} below the threshold`),
            h("ol", { class: "candidates", start: String(above.length + 1) }, below.map(([c, i]) => candidateRow(c, i, threshold))),
          )
        : null,
    ];
  }
  return h(
    "section",
    { class: `face-result face-result-${kind}`, dataset: { face: String(index + 1), left: String(Math.round(f.face.box_xyxy[0])) } },
    h("header", { class: "face-result-head" }, h("span", { class: `face-num face-num-${kind}` }, String(index + 1)), h("h3", {}, `Face ${index + 1}`), status),
    body,
  );
}

function candidateRow(c, rank, threshold) {
  // Below the threshold the API withholds the name: a look-alike is not shown as a person.
  const named = Boolean(c.full_name);
  const name = named ? String(c.full_name) : "Name withheld below threshold";
  const nameEl = named && can("subject-read") ? h("a", { href: `#/subjects/${encodeURIComponent(c.subject_id)}`, class: "candidate-name" }, name) : h("span", { class: ["candidate-name", !named && "withheld"] }, name);
  return h(
    "li",
    { class: ["candidate", c.is_match && "is-match"], dataset: { subject: c.subject_id } },
    h("span", { class: "candidate-rank" }, String(rank + 1)),
    h(
      "div",
      { class: "candidate-main" },
      h("div", { class: "candidate-top" }, nameEl, c.is_match ? pill("Above threshold", "warn") : pill("Below threshold", "neutral")),
      similarityBar(c.similarity, threshold, c.is_match),
      h("div", { class: "candidate-id mono muted" }, c.subject_id),
    ),
  );
}

/** A bar for a similarity with a tick at the threshold. */
export function similarityBar(similarity, threshold, above) {
  const pct = (v) => `${Math.max(0, Math.min(1, (v - BAR_MIN) / (BAR_MAX - BAR_MIN))) * 100}%`;
  const fill = h("div", { class: `simbar-fill ${above ? "above" : "below"}` });
  fill.style.width = pct(similarity);
  const tick = h("div", { class: "simbar-threshold", title: `Threshold ${fmtSimilarity(threshold)}` });
  tick.style.left = pct(threshold);
  return h(
    "div",
    { class: "simbar-row" },
    h("div", { class: "simbar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "1", "aria-valuenow": String(similarity), "aria-label": "Similarity" }, fill, tick),
    h("span", { class: "simbar-value mono" }, fmtSimilarity(similarity)),
  );
}
