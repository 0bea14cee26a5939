// Verify two photos (1:1): are they the same person? POST /v1/verify/images
// compares the main face of each photo; the page shows both, the face each
// comparison used, the similarity against the threshold, and the decision.

import { api } from "../api.js";
import { banner, button, card, errorBanner, fmtSimilarity, h, icon, pill, replace } from "../dom.js";
import { COLORS } from "../faces.js";
import { faceCrop, facePair } from "../crop.js";
import { PhotoInput } from "../photo.js";
import { similarityBar } from "./search.js";

export default async function renderVerify(view) {
  const state = { busy: false, seq: 0 };
  const result = h("div", { class: "verify-result", dataset: { testid: "verify-result" } }, empty());
  const changed = () => {
    state.seq++;
    a.faceCanvas.setFaces([]);
    b.faceCanvas.setFaces([]);
    replace(result, empty(a.file && b.file ? "Both photos are ready: compare them." : null));
    refresh();
  };
  const a = new PhotoInput({ name: "verify-a", prompt: "First photo", onChange: changed });
  const b = new PhotoInput({ name: "verify-b", prompt: "Second photo", onChange: changed });
  const submit = button("Compare photos", { kind: "primary", iconName: "verify", disabled: true });
  const why = h("p", { class: "hint disabled-reason", dataset: { testid: "disabled-reason" } });
  const refresh = () => {
    // A disabled button says why.
    const reason = !a.file && !b.file ? "Add both photos first." : !a.file ? "Add the first photo." : !b.file ? "Add the second photo." : "";
    submit.disabled = state.busy || Boolean(reason);
    submit.title = reason;
    why.textContent = state.busy ? "" : reason;
  };

  submit.addEventListener("click", async () => {
    if (submit.disabled) return;
    const seq = ++state.seq;
    state.busy = true;
    refresh();
    a.setStatus("Comparing…");
    b.setStatus("Comparing…");
    const body = new FormData();
    body.append("image_a", a.file);
    body.append("image_b", b.file);
    try {
      const r = await api("POST", "/v1/verify/images", { form: body, signal: view.signal });
      if (seq !== state.seq) return;
      const color = r.is_match ? COLORS.candidate : COLORS.nomatch;
      a.faceCanvas.setFaces(r.face_a ? [{ box: r.face_a.box_xyxy, color, label: "Compared face" }] : []);
      b.faceCanvas.setFaces(r.face_b ? [{ box: r.face_b.box_xyxy, color, label: "Compared face" }] : []);
      replace(result, facePair(faceCrop(a.file, r.face_a && r.face_a.box_xyxy, { label: "Compared face of photo A" }), "Photo A's face", faceCrop(b.file, r.face_b && r.face_b.box_xyxy, { label: "Compared face of photo B" }), "Photo B's face"), decision(r));
    } catch (err) {
      if (seq !== state.seq || (err && err.name === "AbortError")) return;
      replace(result, errorBanner(err));
    } finally {
      state.busy = false;
      if (seq === state.seq) {
        a.setStatus(null);
        b.setStatus(null);
      }
      refresh();
    }
  });

  refresh();
  return h(
    "div",
    { class: "page page-verify" },
    h("div", { class: "grid-2 grid-photo" }, card("Photo A", a.el), card("Photo B", b.el)),
    card("Comparison", [h("div", { class: "verify-actions" }, h("p", { class: "hint" }, "Neither photo is stored. When a photo shows several people, the main face (large and central) is compared."), h("div", { class: "verify-submit" }, submit, why)), result]),
  );
}

function empty(text = null) {
  return h("div", { class: "empty empty-inline" }, icon("verify", "empty-icon"), h("p", {}, text || "Add two photos, then compare them."));
}

function decision(r) {
  const verdict = r.is_match
    ? banner("warn", "Likely the same person — needs human review", "The similarity is above the threshold. A person must compare the photos before relying on it.")
    : banner("info", "Not confirmed as the same person", "The similarity is below the threshold: the photos are unlikely to show the same person.");
  return h(
    "div",
    { class: "decision" },
    h(
      "div",
      { class: "decision-figures" },
      h("div", { class: "figure" }, h("div", { class: "figure-label" }, "Similarity"), h("div", { class: "figure-value mono", dataset: { testid: "similarity" } }, fmtSimilarity(r.similarity))),
      h("div", { class: "figure" }, h("div", { class: "figure-label" }, "Threshold"), h("div", { class: "figure-value mono" }, fmtSimilarity(r.threshold))),
      h("div", { class: "figure" }, h("div", { class: "figure-label" }, "Decision"), h("div", { class: "figure-value" }, r.is_match ? pill("Above threshold", "warn") : pill("Below threshold", "neutral"))),
    ),
    similarityBar(r.similarity, r.threshold, r.is_match),
    verdict,
    cautions(r.warnings),
  );
}

// What the decision rests on that the figures do not show (several faces in a
// photo, one below the quality bar), with the form's field names as the page's.
function cautions(warnings) {
  if (!warnings || !warnings.length) return null;
  const named = warnings.map((text) => text.replace(/^image_a:/, "Photo A:").replace(/^image_b:/, "Photo B:"));
  return h("div", { dataset: { testid: "verify-warnings" } }, banner("warn", "Check which faces were compared", named.join(" · ")));
}
