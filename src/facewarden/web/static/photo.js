// A photo input: choose a file, drop one, or capture a frame from a camera
// (getUserMedia; the camera option disappears where the browser has none).
// The chosen photo is shown on a FaceCanvas so callers can draw faces on it.

import { button, h, icon, replace } from "./dom.js";
import { decodePhoto, FaceCanvas } from "./faces.js";

const ACCEPT = "image/jpeg,image/png,image/webp,image/bmp";

export function cameraAvailable() {
  return Boolean(navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function");
}

export class PhotoInput {
  /**
   * @param {object} options
   * @param {string} options.name - name of the hidden file input (tests find it by this).
   * @param {string} options.prompt - what to ask for ("Photo of the person to enroll").
   * @param {boolean} options.camera - offer webcam capture when the browser can.
   * @param {(file: File, bitmap: ImageBitmap) => void} options.onChange - a photo was chosen.
   * @param {(index: number) => void} [options.onPick] - a face box was clicked.
   */
  constructor({ name, prompt, camera = true, onChange, onPick = null }) {
    this.file = null;
    this.bitmap = null;
    this.onChange = onChange;
    this.stream = null;
    this.faceCanvas = new FaceCanvas({ onPick, alt: prompt });
    this.input = h("input", { type: "file", accept: ACCEPT, name, class: "visually-hidden", tabindex: "-1" });
    this.input.addEventListener("change", () => {
      if (this.input.files && this.input.files[0]) this.#take(this.input.files[0]);
      this.input.value = "";
    });
    this.status = h("div", { class: "photo-status" });
    this.error = h("div", { class: "photo-error", role: "alert" });
    this.camera = camera && cameraAvailable();

    const choose = button("Choose photo", { kind: "primary", iconName: "upload", onclick: () => this.input.click() });
    const useCamera = this.camera ? button("Use camera", { kind: "secondary", iconName: "camera", onclick: () => this.#startCamera() }) : null;
    this.empty = h(
      "div",
      { class: "dropzone" },
      h("div", { class: "dropzone-art" }, icon("upload")),
      h("p", { class: "dropzone-title" }, prompt),
      h("p", { class: "dropzone-hint" }, "Drop a JPEG, PNG, WebP or BMP file here"),
      h("div", { class: "dropzone-actions" }, choose, useCamera),
      this.camera ? null : h("p", { class: "dropzone-hint muted" }, "No camera is available in this browser."),
    );
    this.stage = h("div", { class: "photo-stage" }, this.faceCanvas.canvas, this.status);
    this.toolbar = h(
      "div",
      { class: "photo-toolbar" },
      button("Replace photo", { kind: "ghost", iconName: "upload", onclick: () => this.input.click() }),
      this.camera ? button("Camera", { kind: "ghost", iconName: "camera", onclick: () => this.#startCamera() }) : null,
    );
    this.body = h("div", { class: "photo-body" }, this.empty);
    this.el = h("div", { class: "photo-input" }, this.input, this.body, this.error);

    for (const type of ["dragenter", "dragover"]) {
      this.el.addEventListener(type, (e) => {
        e.preventDefault();
        this.el.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      this.el.addEventListener(type, (e) => {
        e.preventDefault();
        this.el.classList.remove("dragging");
      });
    }
    this.el.addEventListener("drop", (e) => {
      const file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      if (file) this.#take(file);
    });
  }

  /** Show a line over the photo (e.g. "Detecting faces…"); null hides it. */
  setStatus(text) {
    replace(this.status, text ? [h("span", { class: "spinner", "aria-hidden": "true" }), text] : []);
    this.status.classList.toggle("visible", Boolean(text));
  }

  setError(message) {
    replace(this.error, message ? [icon("alert"), h("span", {}, message)] : []);
  }

  clear() {
    this.#stopCamera();
    this.file = null;
    this.bitmap = null;
    replace(this.body, this.empty);
    this.setError(null);
  }

  async #take(file) {
    this.setError(null);
    if (file.type && !ACCEPT.split(",").includes(file.type)) {
      this.setError(`"${file.name}" is not a supported photo. Use a JPEG, PNG, WebP or BMP file.`);
      return;
    }
    let bitmap;
    try {
      bitmap = await decodePhoto(file);
    } catch (err) {
      this.setError(err.message);
      return;
    }
    this.#stopCamera();
    this.file = file;
    this.bitmap = bitmap;
    this.faceCanvas.setPhoto(bitmap);
    replace(this.body, this.stage, this.toolbar);
    this.onChange(file, bitmap);
  }

  async #startCamera() {
    this.setError(null);
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
    } catch (err) {
      const why = err && err.name === "NotAllowedError" ? "permission was refused" : "no camera could be opened";
      this.setError(`The camera is not available (${why}). Choose a photo file instead.`);
      return;
    }
    this.stream = stream;
    const video = h("video", { class: "camera-video", autoplay: true, playsinline: true, muted: true });
    video.srcObject = stream;
    const capture = button("Capture", { kind: "primary", iconName: "camera" });
    const cancel = button("Cancel", { kind: "ghost" });
    capture.addEventListener("click", () => this.#capture(video));
    cancel.addEventListener("click", () => {
      this.#stopCamera();
      replace(this.body, this.file ? [this.stage, this.toolbar] : this.empty);
    });
    replace(this.body, h("div", { class: "camera" }, video, h("div", { class: "photo-toolbar" }, capture, cancel)));
  }

  #capture(video) {
    if (!video.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(
      (blob) => {
        if (blob) this.#take(new File([blob], "camera-capture.jpg", { type: "image/jpeg" }));
      },
      "image/jpeg",
      0.92,
    );
  }

  #stopCamera() {
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
      this.stream = null;
    }
  }
}
