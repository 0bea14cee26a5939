// Photos with faces drawn over them. The photo is decoded by the browser into an
// ImageBitmap and painted on a canvas: no object or data URL is needed, so the
// page's CSP (default-src 'self') stays strict. Boxes come from the API in xyxy
// pixels of the decoded image.

import { h } from "./dom.js";

export const COLORS = {
  usable: "#16a34a",
  unusable: "#dc2626",
  candidate: "#f59e0b",
  nomatch: "#64748b",
  neutral: "#2563eb",
};

/** Decode a photo file for display; rejects with a readable Error when the browser cannot. */
export async function decodePhoto(file) {
  try {
    return await createImageBitmap(file);
  } catch {
    throw new Error("This file could not be read as an image. Use a JPEG, PNG, WebP or BMP photo.");
  }
}

/**
 * A canvas showing one photo and the faces found on it.
 *
 * faces: [{box: [x0, y0, x1, y1], color, label, caption, landmarks, selected, dashed}]
 * `onPick(index)` is called when a person clicks inside a face's box.
 */
export class FaceCanvas {
  constructor({ onPick = null, alt = "Photo" } = {}) {
    this.canvas = h("canvas", { class: "face-canvas", role: "img", "aria-label": alt });
    this.bitmap = null;
    this.faces = [];
    this.scale = 1;
    this.onPick = onPick;
    // Line widths and labels are sized for the canvas as displayed, so redraw when that changes.
    this.resizeObserver = new ResizeObserver(() => this.draw());
    this.resizeObserver.observe(this.canvas);
    if (onPick) {
      this.canvas.classList.add("pickable");
      this.canvas.addEventListener("click", (e) => this.#click(e));
    }
  }

  /** Show `bitmap`; `sourceWidth` is the width the API measured (boxes are in its pixels). */
  setPhoto(bitmap, sourceWidth = null) {
    this.bitmap = bitmap;
    this.faces = [];
    this.scale = sourceWidth ? bitmap.width / sourceWidth : 1;
    this.canvas.width = bitmap.width;
    this.canvas.height = bitmap.height;
    this.draw();
  }

  setSourceWidth(sourceWidth) {
    if (this.bitmap && sourceWidth) this.scale = this.bitmap.width / sourceWidth;
  }

  setFaces(faces) {
    this.faces = faces;
    this.draw();
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    if (!this.bitmap) {
      ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      return;
    }
    const { width, height } = this.canvas;
    ctx.drawImage(this.bitmap, 0, 0);
    const shown = this.canvas.clientWidth;
    const cssPx = shown ? width / shown : Math.max(1, width / 700); // canvas pixels per CSS pixel
    const unit = 2 * cssPx;
    this.cssPx = cssPx;
    const anySelected = this.faces.some((f) => f.selected);
    if (anySelected) {
      // Dim everything but the selected face, so it is clear which one counts.
      ctx.save();
      ctx.fillStyle = "rgba(15, 23, 42, 0.45)";
      ctx.beginPath();
      ctx.rect(0, 0, width, height);
      for (const f of this.faces.filter((x) => x.selected)) {
        const [x0, y0, x1, y1] = this.#box(f);
        ctx.rect(x1, y0, x0 - x1, y1 - y0);
      }
      ctx.fill("evenodd");
      ctx.restore();
    }
    this.faces.forEach((f) => this.#drawFace(ctx, f, unit));
  }

  #box(f) {
    const s = this.scale;
    return f.box.map((v) => v * s);
  }

  #drawFace(ctx, f, unit) {
    const [x0, y0, x1, y1] = this.#box(f);
    const color = f.color || COLORS.neutral;
    const line = f.selected ? unit * 1.6 : unit;
    ctx.save();
    ctx.lineJoin = "round";
    ctx.setLineDash(f.dashed ? [unit * 4, unit * 3] : []);
    ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
    ctx.lineWidth = line + unit * 1.2;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.strokeStyle = color;
    ctx.lineWidth = line;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.setLineDash([]);
    if (f.landmarks) {
      ctx.fillStyle = color;
      for (const [x, y] of f.landmarks) {
        ctx.beginPath();
        ctx.arc(x * this.scale, y * this.scale, unit * 1.1, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    const text = f.label || "";
    if (text) {
      const size = Math.round(13 * this.cssPx);
      ctx.font = `600 ${size}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
      const pad = Math.round(size * 0.35);
      const tw = ctx.measureText(text).width + pad * 2;
      const th = size + pad * 1.4;
      let ty = y0 - th - line / 2;
      if (ty < 0) ty = y1 + line / 2; // no room above: put the tag below the box
      if (ty + th > this.canvas.height) ty = y0 + line; // nor below: inside
      const tx = Math.min(Math.max(0, x0 - line / 2), this.canvas.width - tw);
      ctx.fillStyle = color;
      roundRect(ctx, tx, ty, tw, th, Math.round(size * 0.25));
      ctx.fill();
      ctx.fillStyle = "#ffffff";
      ctx.textBaseline = "middle";
      ctx.fillText(text, tx + pad, ty + th / 2 + 1);
    }
    ctx.restore();
  }

  #click(e) {
    if (!this.bitmap || !this.faces.length) return;
    const rect = this.canvas.getBoundingClientRect();
    const x = ((e.clientX - rect.left) * this.canvas.width) / rect.width;
    const y = ((e.clientY - rect.top) * this.canvas.height) / rect.height;
    const hit = this.faces.findIndex((f) => {
      const [x0, y0, x1, y1] = this.#box(f);
      return x >= x0 && x <= x1 && y >= y0 && y <= y1;
    });
    if (hit >= 0) this.onPick(hit);
  }
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

/** Reasons a face is not usable, in words (the API sends them as text already). */
export function reasonsOf(face) {
  const q = face && face.quality;
  return q && Array.isArray(q.reasons) ? q.reasons.map(String) : [];
}

/** Whether a face's quality verdict says usable (no verdict counts as usable). */
export function isUsable(face) {
  const q = face && face.quality;
  return !q || q.usable !== false;
}
