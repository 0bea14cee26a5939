// Face crops of a photo the operator chose, drawn in the browser: the probe face shown
// next to the enrolled one for a person to compare. The photo never leaves this page
// for this (the server has discarded its copy): the crop is drawn from the File itself.

import { h } from "./dom.js";

const SIDE = 160;

/**
 * A canvas with the face at `box` ([x0, y0, x1, y1] in the photo's pixels, EXIF
 * orientation applied, as the API gives it) cropped from `file`, with a margin.
 */
export function faceCrop(file, box, { label = "Probe face" } = {}) {
  const canvas = h("canvas", { class: "face-crop", width: String(SIDE), height: String(SIDE), role: "img", "aria-label": label });
  if (!file || !box) return canvas;
  createImageBitmap(file, { imageOrientation: "from-image" })
    .then((bitmap) => {
      const [x0, y0, x1, y1] = box;
      const size = Math.max(x1 - x0, y1 - y0) * 1.4;
      const cx = (x0 + x1) / 2;
      const cy = (y0 + y1) / 2;
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#e2e8f0";
      ctx.fillRect(0, 0, SIDE, SIDE);
      ctx.drawImage(bitmap, cx - size / 2, cy - size / 2, size, size, 0, 0, SIDE, SIDE);
      bitmap.close();
      canvas.dataset.drawn = "true";
    })
    .catch(() => {
      canvas.dataset.drawn = "failed";
    });
  return canvas;
}

/** An enrolled photo of a subject, fetched with the read's purpose (audited, never cached). */
export function enrolledPhoto(subjectId, { purpose = "", faceId = null, label = "Enrolled photo" } = {}) {
  const id = encodeURIComponent(subjectId);
  const path = faceId ? `/v1/subjects/${id}/faces/${encodeURIComponent(faceId)}/photo` : `/v1/subjects/${id}/photo`;
  const src = purpose ? `${path}?purpose=${encodeURIComponent(purpose)}` : path;
  const img = h("img", { class: "face-crop", src, alt: label, width: String(SIDE), height: String(SIDE), decoding: "async" });
  // None kept (photos are kept only when the deployment says so): say so instead.
  img.addEventListener("error", () => img.replaceWith(h("div", { class: "face-crop face-crop-missing" }, "No enrolled photo kept")), { once: true });
  return img;
}

/** Two faces side by side with captions: what a person compares. */
export function facePair(left, leftLabel, right, rightLabel) {
  return h("div", { class: "face-pair" }, h("figure", {}, left, h("figcaption", {}, leftLabel)), h("figure", {}, right, h("figcaption", {}, rightLabel)));
}
