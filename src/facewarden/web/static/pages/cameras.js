// Cameras: where each one is, what it checks, and its live state (GET /v1/cameras),
// refreshed every few seconds while the page is open. A camera's error (a file
// that cannot be read, a stream that dropped, a wrong URL) is shown in full. A
// sensitive camera counts people and identifies nobody.

import { api, ApiError, can } from "../api.js";
import { banner, button, card, clock, errorBanner, field, h, icon, modal, onSubmit, pill, replace, toast } from "../dom.js";

/** How often the states are refreshed while the page is open (ms). */
export const REFRESH_MS = 3000;

// Each state as people read it: label, pill kind, and what it means.
const STATES = {
  idle: ["Idle", "neutral", "No source is being read for this camera."],
  starting: ["Starting", "info", "Opening the source."],
  opening: ["Opening", "info", "Opening the source."],
  live: ["Live", "ok", "Frames are arriving and being processed."],
  reconnecting: ["Reconnecting", "warn", "The stream dropped; trying again."],
  unreachable: ["Unreachable", "danger", "The source cannot be reached."],
  error: ["Error", "danger", "The camera stopped on an error."],
  failed: ["Failed", "danger", "The camera stopped on an error."],
  ended: ["Ended", "neutral", "The source came to its end."],
  stopped: ["Stopped", "neutral", "Stopped by the server."],
};

const TROUBLE = new Set(["error", "failed", "unreachable", "reconnecting"]);

const SOURCE_KIND = { file: "Video file", stream: "Stream", push: "Frames pushed over the API" };

/** A camera's state as a pill (the state name in `data-state`). */
export function stateBadge(state) {
  const [label, kind, note] = STATES[state] || [state ? String(state) : "Unknown", "neutral", ""];
  const el = pill(label, kind, note || null);
  el.classList.add("state-badge");
  el.dataset.state = state || "unknown";
  if (state === "live") el.prepend(h("span", { class: "live-dot", "aria-hidden": "true" }));
  return el;
}

/** The pill that marks a sensitive camera: counts only, no identification. */
export function sensitiveBadge() {
  return h("span", { class: "pill pill-sensitive", title: "A sensitive place: frames feed anonymous crowd counts only; no face is ever identified here." }, icon("lock"), "Sensitive: counts only, no identification");
}

export default async function renderCameras(view) {
  const listHost = h("div", { dataset: { testid: "camera-list" } });
  // The live view of one pushed camera: its latest frame, faces boxed, names none; the
  // server holds it in memory only, and has none for a sensitive camera.
  const viewHost = h("div", { dataset: { testid: "camera-view" } });
  let viewTimer = null;
  let viewFrame = null; // the blob URL of the frame shown
  const closeView = () => {
    if (viewTimer) clearInterval(viewTimer);
    viewTimer = null;
    if (viewFrame) URL.revokeObjectURL(viewFrame);
    viewFrame = null;
    replace(viewHost);
  };
  const openView = (c) => {
    closeView();
    const img = h("img", { class: "camera-view-img", alt: `Latest frame of ${c.name}, faces boxed`, width: "960", height: "540" });
    const note = h("p", { class: "hint" }, "The latest frame, refreshed every second. Boxes mark faces; no one is named here. Nothing of it is stored.");
    img.addEventListener("error", () => {
      note.textContent = "No live frame now: frames come when the camera pushes them.";
    });
    img.addEventListener("load", () => {
      note.textContent = `The latest frame (${clock()}), refreshed every second. Boxes mark faces; no one is named here. Nothing of it is stored.`;
    });
    let polling = false;
    const tick = async () => {
      if (polling) return;
      polling = true;
      try {
        const response = await fetch(`/v1/cameras/${encodeURIComponent(c.camera_id)}/view`, { credentials: "same-origin", cache: "no-store" });
        // 409: with several servers behind a load balancer, this poll reached one that does
        // not hold the camera's stream (the frame is in the holder's memory only). The last
        // frame stays, its time shown; a next poll may reach the holder.
        if (response.status === 409 || !img.isConnected) return;
        if (!response.ok) {
          img.removeAttribute("src");
          note.textContent = "No live frame now: frames come when the camera pushes them.";
          return;
        }
        const frame = URL.createObjectURL(await response.blob());
        if (viewFrame) URL.revokeObjectURL(viewFrame);
        viewFrame = frame;
        img.src = frame;
      } catch {
        // The server could not be reached this time: the last frame stays.
      } finally {
        polling = false;
      }
    };
    tick();
    viewTimer = setInterval(() => {
      if (!document.hidden) tick();
    }, 1000);
    replace(viewHost, card(`Live view: ${c.name}`, [img, note], { actions: button("Close", { kind: "ghost", iconName: "x", onclick: closeView }), cls: "card-camera-view" }));
  };
  const refreshNote = h("span", { class: "muted refresh-note", "aria-live": "off" });
  const liveErrors = h("div", { class: "sr-only", "aria-live": "polite", dataset: { testid: "camera-announce" } });
  const watchlists = await loadWatchlists(view.signal);
  const names = new Map(watchlists.map((w) => [w.watchlist_id, w.name]));
  let lastTrouble = new Map();
  let lastDrawn = null;
  let failures = 0;

  async function load({ quiet = false } = {}) {
    let cameras;
    try {
      ({ cameras } = await api("GET", "/v1/cameras", { signal: view.signal }));
    } catch (err) {
      if (err && err.name === "AbortError") return;
      failures += 1;
      if (!quiet || failures > 1) {
        lastDrawn = null;
        replace(listHost, errorBanner(err));
      }
      return;
    }
    failures = 0;
    refreshNote.textContent = `States refresh every ${REFRESH_MS / 1000} s · last ${clock()}`;
    // Tell screen readers when a camera runs into trouble (not on every refresh).
    const trouble = new Map(cameras.filter((c) => TROUBLE.has(c.state)).map((c) => [c.camera_id, `${c.state}:${c.error || ""}`]));
    const fresh = cameras.filter((c) => trouble.has(c.camera_id) && lastTrouble.get(c.camera_id) !== trouble.get(c.camera_id));
    if (quiet && fresh.length) liveErrors.textContent = fresh.map((c) => `Camera ${c.name}: ${(STATES[c.state] || [c.state])[0]}. ${c.error || ""}`).join(" ");
    lastTrouble = trouble;
    // Redraw only what changed (a focused button keeps its focus between refreshes).
    const drawn = JSON.stringify(cameras);
    if (drawn === lastDrawn && listHost.firstChild) return;
    lastDrawn = drawn;
    replace(listHost, cameras.length ? table(cameras) : h("div", { class: "empty" }, icon("camera", "empty-icon"), h("p", {}, can("camera-write") ? "No cameras yet. Add the first one above." : "No cameras are registered.")));
  }

  function table(cameras) {
    return h(
      "table",
      { class: "table table-cameras" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Camera"),
          h("th", { scope: "col" }, "State"),
          h("th", { scope: "col" }, "Source"),
          h("th", { scope: "col" }, "Identification"),
          h("th", { scope: "col", class: "num" }, "Frames"),
          h("th", { scope: "col", class: "num" }, "Sightings"),
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
        ),
      ),
      h("tbody", {}, cameras.map((c) => row(c))),
    );
  }

  function row(c) {
    const trouble = TROUBLE.has(c.state);
    const actions = [];
    if (can("crowd")) actions.push(h("a", { class: "btn btn-ghost btn-small", href: `#/cameras/${encodeURIComponent(c.camera_id)}/crowd` }, icon("chart"), h("span", {}, "Crowd")));
    if (can("sightings") && !c.sensitive && (c.watchlists || []).length) actions.push(h("a", { class: "btn btn-ghost btn-small", href: `#/sightings?camera=${encodeURIComponent(c.camera_id)}` }, icon("eye"), h("span", {}, "Sightings")));
    if (can("alerts") && !c.sensitive && c.source_kind === "push" && c.state === "live") actions.push(button("Live view", { kind: "ghost", class: "btn btn-ghost btn-small", iconName: "camera", onclick: () => openView(c) }));
    if (can("camera-write")) actions.push(button("Delete", { kind: "ghost", class: "btn btn-ghost btn-small btn-danger-text", iconName: "trash", onclick: () => remove(c) }));
    return h(
      "tr",
      { dataset: { camera: c.name, cameraId: c.camera_id, state: c.state || "unknown" }, class: trouble ? "camera-trouble" : null },
      h(
        "td",
        {},
        h("div", { class: "strong" }, c.name),
        h("div", { class: "muted camera-place" }, icon("pin"), h("span", {}, c.location || "—"), c.latitude !== null && c.latitude !== undefined ? h("span", { class: "mono" }, ` ${Number(c.latitude).toFixed(4)}, ${Number(c.longitude).toFixed(4)}`) : null),
        h("div", { class: "mono muted camera-id" }, c.camera_id),
      ),
      h(
        "td",
        { class: "camera-state" },
        stateBadge(c.state),
        c.error ? h("p", { class: `camera-error camera-error-${trouble ? "trouble" : "note"}`, role: trouble ? "note" : null, dataset: { testid: "camera-error" } }, c.error) : null,
        !c.error && STATES[c.state] ? h("p", { class: "hint" }, STATES[c.state][2]) : null,
      ),
      h("td", {}, c.source_kind ? SOURCE_KIND[c.source_kind] || c.source_kind : h("span", { class: "muted" }, "None")),
      h(
        "td",
        {},
        c.sensitive
          ? sensitiveBadge()
          : (c.watchlists || []).length
            ? h("div", { class: "chips" }, c.watchlists.map((id) => h("span", { class: "chip", title: id }, names.get(id) || id)))
            : h("span", { class: "muted" }, "No watchlists: counts only"),
        c.retention_hours ? h("p", { class: "hint" }, `Sightings kept ${c.retention_hours} h`) : null,
      ),
      h("td", { class: "num" }, fmtCount(c.frames)),
      h("td", { class: "num" }, c.sensitive || !(c.watchlists || []).length ? h("span", { class: "muted", title: "This camera identifies nobody" }, "—") : fmtCount(c.sightings)),
      h("td", { class: "row-action" }, h("div", { class: "row-actions" }, actions)),
    );
  }

  async function remove(c) {
    const done = await modal({
      title: `Delete camera ${c.name}?`,
      body: h("p", {}, "The camera, its sightings and its crowd counts are deleted. This is recorded in the audit log and cannot be undone."),
      confirmLabel: "Delete camera",
      kind: "danger",
      onConfirm: async () => {
        await api("DELETE", `/v1/cameras/${encodeURIComponent(c.camera_id)}`);
        return true;
      },
    });
    if (!done) return;
    toast(`Camera ${c.name} deleted`);
    await load();
  }

  await load();
  const timer = setInterval(() => {
    if (!view.signal.aborted && !document.hidden) load({ quiet: true });
  }, REFRESH_MS);
  view.signal.addEventListener(
    "abort",
    () => {
      clearInterval(timer);
      closeView();
    },
    { once: true },
  );

  return h(
    "div",
    { class: "page page-cameras" },
    can("camera-write") ? addCard(watchlists, load) : null,
    viewHost,
    card("Cameras", [listHost, liveErrors], { subtitle: "Live states refresh while this page is open.", actions: refreshNote }),
  );
}

async function loadWatchlists(signal) {
  if (!can("watchlists")) return [];
  try {
    return (await api("GET", "/v1/watchlists", { signal })).watchlists || [];
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    if (err instanceof ApiError && err.status === 403) return [];
    throw err;
  }
}

function fmtCount(value) {
  return typeof value === "number" ? value.toLocaleString() : "—";
}

function addCard(watchlists, reload) {
  const name = h("input", { type: "text", name: "camera-name", autocomplete: "off", maxlength: "64", placeholder: "e.g. gate-b-entrance" });
  const location = h("input", { type: "text", name: "camera-location", autocomplete: "off", maxlength: "128", placeholder: "e.g. Building 2, gate B" });
  const latitude = h("input", { type: "number", name: "latitude", step: "any", min: "-90", max: "90", placeholder: "e.g. 52.5200" });
  const longitude = h("input", { type: "number", name: "longitude", step: "any", min: "-180", max: "180", placeholder: "e.g. 13.4050" });
  const source = h("input", { type: "text", name: "camera-source", autocomplete: "off", spellcheck: "false", class: "mono", maxlength: "2000", placeholder: "rtsp://… or /srv/video/gate-b.mp4" });
  const retention = h("input", { type: "number", name: "retention_hours", min: "1", max: "8760", step: "1", placeholder: "deployment default" });
  const sensitive = h("input", { type: "checkbox", name: "sensitive" });
  const boxes = watchlists.map((w) => h("input", { type: "checkbox", name: "camera-watchlist", value: w.watchlist_id }));
  const watchlistField = h(
    "fieldset",
    { class: "field field-wide camera-watchlists" },
    h("legend", {}, "Watchlists checked at this camera"),
    boxes.length
      ? h("div", { class: "check-row" }, watchlists.map((w, i) => h("label", { class: "check-inline" }, boxes[i], h("span", {}, w.name))))
      : h("p", { class: "hint" }, "No watchlists yet: this camera will only count people."),
    h("p", { class: "hint" }, "Only members of these watchlists can be sighted here; everyone else is counted anonymously and forgotten."),
  );
  const sensitiveField = h(
    "div",
    { class: "field field-wide" },
    h(
      "label",
      { class: "check-card sensitive-check" },
      sensitive,
      h(
        "div",
        { class: "check-card-body" },
        h("div", { class: "check-card-title" }, "Sensitive place: counts only, no identification"),
        h("div", { class: "check-card-note" }, "A place of worship, clinic or shelter. Frames feed anonymous crowd counts only; nobody is ever identified, and no watchlist is checked."),
      ),
    ),
  );
  const messages = h("div", {});
  const submit = button("Add camera", { kind: "primary", type: "submit", iconName: "plus", disabled: true });
  const form = h(
    "form",
    { class: "form-grid form-grid-4", novalidate: true, dataset: { testid: "add-camera" } },
    field("Name", name, { required: true }),
    field("Location", location, { required: true }),
    field("Latitude", latitude, { hint: "Optional, with longitude." }),
    field("Longitude", longitude),
    h("div", { class: "field-span-3" }, field("Source", source, { hint: "An rtsp:// or http(s):// stream, or a video file in the server's video folder (FACEWARDEN_CAMERA_VIDEO_DIR). Leave empty (or write push) for a camera whose frames are sent over the API." })),
    field("Sighting retention (hours)", retention, { hint: "Optional; the shortest of this and the deployment's applies." }),
    sensitiveField,
    watchlistField,
    h("div", { class: "field-wide form-row-end" }, messages, submit),
  );
  const refresh = () => {
    for (const b of boxes) {
      b.disabled = sensitive.checked;
      if (sensitive.checked) b.checked = false;
    }
    watchlistField.classList.toggle("is-disabled", sensitive.checked);
    const coords = (latitude.value === "") === (longitude.value === "");
    submit.disabled = !(name.value.trim() && location.value.trim() && coords);
  };
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  onSubmit(form, {
    submit,
    messages,
    refresh,
    send: async () => {
      const body = {
        name: name.value.trim(),
        location: location.value.trim(),
        sensitive: sensitive.checked,
        watchlists: boxes.filter((b) => b.checked).map((b) => b.value),
      };
      if (latitude.value !== "") {
        body.latitude = Number(latitude.value);
        body.longitude = Number(longitude.value);
      }
      if (source.value.trim()) body.source = source.value.trim();
      if (retention.value !== "") body.retention_hours = Number(retention.value);
      const c = await api("POST", "/v1/cameras", { json: body });
      toast(`Camera ${c.name} added`);
      form.reset();
      await reload();
    },
  });
  refresh();
  return card("Add a camera", [banner("info", "Only watchlist members are ever identified", "Everyone else a camera sees is counted anonymously and forgotten; a sensitive camera identifies nobody."), form], { cls: "card-add-camera" });
}
