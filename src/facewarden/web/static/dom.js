// DOM helpers. Every piece of text goes in through text nodes (never innerHTML),
// so names and other personal data can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Build an element: h("button", {class: "btn", onclick: fn, type: "button"}, "Save").
 * Props: `class`, `text`, `dataset` (object), `on<event>` (listener), `hidden`,
 * `disabled`, `value`, `checked` and `htmlFor` set as properties; anything else as
 * an attribute (false/null/undefined skip it). Children: nodes, strings (text
 * nodes), arrays, and null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) {
      // Listeners only: an inline handler attribute would be code (and CSP blocks it anyway).
      if (typeof value === "function") el.addEventListener(key.slice(2), value);
    } else if (["hidden", "disabled", "value", "checked", "htmlFor", "required", "multiple"].includes(key)) {
      el[key] = value;
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/** Append children (nodes, strings, arrays; null/false skipped) to `el`. */
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Icons: 24x24 strokes, drawn for this console.
const ICONS = {
  dashboard: ["M4 4h7v7H4z", "M13 4h7v4h-7z", "M13 10h7v10h-7z", "M4 13h7v7H4z"],
  enroll: ["M15 19c0-3-2.7-5-6-5s-6 2-6 5", "M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z", "M19 8v6", "M16 11h6"],
  search: ["M10.5 17a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13z", "M15.5 15.5 20 20"],
  verify: ["M3 5h7v14H3z", "M14 5h7v14h-7z", "M5.5 15l1.5 1.5 2-3", "M16.5 15l1.5 1.5 2-3"],
  subjects: ["M16 20c0-2.8-2.2-4.5-5-4.5S6 17.2 6 20", "M11 12.5a3.2 3.2 0 1 0 0-6.4 3.2 3.2 0 0 0 0 6.4z", "M3 20c0-2 1-3.3 2.5-4", "M18.5 16c1.5.7 2.5 2 2.5 4", "M16.5 5.5a3 3 0 0 1 0 6"],
  watchlists: ["M8 6h12", "M8 12h12", "M8 18h12", "M4 6h.01", "M4 12h.01", "M4 18h.01"],
  audit: ["M12 3 4 6v6c0 4.6 3.4 8.4 8 9 4.6-.6 8-4.4 8-9V6l-8-3z", "M8.5 12l2.5 2.5 4.5-5"],
  keys: ["M14.5 9.5a4.5 4.5 0 1 0-3.9 4.46", "M10.6 13.96 9 15.5H7v2H5v2H3v-2.5l6.04-6.04", "M15.5 8.5h.01"],
  logout: ["M15 4h4v16h-4", "M10 8l-4 4 4 4", "M6 12h10"],
  camera: ["M4 8h3l2-3h6l2 3h3v11H4z", "M12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z"],
  upload: ["M12 16V4", "M7 9l5-5 5 5", "M4 15v5h16v-5"],
  download: ["M12 4v12", "M7 11l5 5 5-5", "M4 15v5h16v-5"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v6", "M14 11v6"],
  copy: ["M9 9h11v11H9z", "M5 15H4V4h11v1"],
  plus: ["M12 5v14", "M5 12h14"],
  check: ["M5 12.5l4.5 4.5L19 7.5"],
  alert: ["M12 4 2.5 20h19L12 4z", "M12 10v4.5", "M12 17.5h.01"],
  info: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 11v6", "M12 7.5h.01"],
  x: ["M6 6l12 12", "M18 6 6 18"],
  chevron: ["M9 6l6 6-6 6"],
  refresh: ["M20 11a8 8 0 0 0-14.5-4.5L4 8", "M4 4v4h4", "M4 13a8 8 0 0 0 14.5 4.5L20 16", "M20 20v-4h-4"],
  lock: ["M6 11h12v10H6z", "M8.5 11V8a3.5 3.5 0 0 1 7 0v3"],
};

// Icons of the camera pages (cameras, crowd, sightings, alerts).
Object.assign(ICONS, {
  chart: ["M4 4v16h16", "M8 16v-5", "M12 16V8", "M16 16v-3", "M20 16V6"],
  eye: ["M2.5 12S6 5.5 12 5.5 21.5 12 21.5 12 18 18.5 12 18.5 2.5 12 2.5 12z", "M12 14.8a2.8 2.8 0 1 0 0-5.6 2.8 2.8 0 0 0 0 5.6z"],
  bell: ["M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z", "M10 20.5a2 2 0 0 0 4 0"],
  pin: ["M12 21s-6.5-6.2-6.5-11a6.5 6.5 0 0 1 13 0c0 4.8-6.5 11-6.5 11z", "M12 12.2a2.3 2.3 0 1 0 0-4.6 2.3 2.3 0 0 0 0 4.6z"],
  history: ["M3.5 12a8.5 8.5 0 1 0 2.5-6", "M3 4v4h4", "M12 7.5V12l3 2"],
});

/** An element in the SVG namespace (charts): attributes set as given, children appended. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An inline SVG icon by name (decorative: hidden from screen readers). */
export function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon ${extraClass}`.trim());
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** A labelled form field: label, control, optional hint. */
export function field(label, control, { hint = null, required = false, wide = false } = {}) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 10)}`;
  if (required) control.required = true;
  return h(
    "div",
    { class: ["field", wide && "field-wide"] },
    h("label", { htmlFor: control.id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control,
    hint ? h("p", { class: "hint" }, hint) : null,
  );
}

/** A status pill: kind is ok | warn | danger | info | neutral. */
export function pill(text, kind = "neutral", title = null) {
  return h("span", { class: `pill pill-${kind}`, title }, text);
}

/** A card with a title row (optional actions on the right) and a body. */
export function card(title, body, { actions = null, subtitle = null, cls = "" } = {}) {
  return h(
    "section",
    { class: `card ${cls}`.trim() },
    title
      ? h(
          "header",
          { class: "card-head" },
          h("div", {}, h("h2", {}, title), subtitle ? h("p", { class: "card-sub" }, subtitle) : null),
          actions ? h("div", { class: "card-actions" }, actions) : null,
        )
      : null,
    h("div", { class: "card-body" }, body),
  );
}

/** A banner: kind ok | warn | danger | info. */
export function banner(kind, title, message = null, extra = null) {
  const iconName = { ok: "check", warn: "alert", danger: "alert", info: "info" }[kind] || "info";
  return h(
    "div",
    { class: `banner banner-${kind}`, role: kind === "danger" ? "alert" : "status" },
    icon(iconName, "banner-icon"),
    h("div", { class: "banner-text" }, h("strong", {}, title), message ? h("p", {}, message) : null),
    extra ? h("div", { class: "banner-extra" }, extra) : null,
  );
}

/** A button with an optional icon. */
export function button(label, { kind = "secondary", iconName = null, onclick = null, type = "button", ...rest } = {}) {
  return h("button", { class: `btn btn-${kind}`, type, onclick, ...rest }, iconName ? icon(iconName) : null, h("span", {}, label));
}

/**
 * Show a short-lived notification. With `href` the whole toast is a link (an alert
 * opens its review), labelled `action`, and it stays a little longer.
 */
export function toast(message, kind = "ok", { href = null, action = null } = {}) {
  const host = document.getElementById("toasts");
  const body = [icon(kind === "ok" ? "check" : "alert"), h("span", {}, message), action ? h("span", { class: "toast-action" }, action) : null];
  const el = href ? h("a", { class: `toast toast-${kind} toast-link`, href, dataset: { testid: "alert-toast" } }, body) : h("div", { class: `toast toast-${kind}` }, body);
  if (href) el.addEventListener("click", () => el.remove());
  host.append(el);
  const stay = href ? 9000 : 4200;
  setTimeout(() => el.classList.add("toast-leave"), stay);
  setTimeout(() => el.remove(), stay + 400);
}

// 24-hour times everywhere, each with its time zone beside it (the header says which
// zone the browser shows times in).
const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const secondsFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" });
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" });

/** The browser's time zone, as the header shows it ("Europe/Berlin (CET)"). */
export function timeZoneLabel() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const part = clockFmt.formatToParts(new Date()).find((p) => p.type === "timeZoneName");
  return part && part.value !== zone ? `${zone} (${part.value})` : zone;
}

/** A time of day, 24-hour, with its zone ("14:05:09 UTC"). */
export function clock(date = new Date()) {
  return clockFmt.format(date);
}

/**
 * A timestamp for people: local date and time (the ISO value in the title); with
 * `seconds` to the second (an alert's evidence, to find in a camera's recording).
 */
export function time(iso, { withTime = true, seconds = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h("span", {}, iso);
  const fmt = !withTime ? dateOnly : seconds ? secondsFmt : dateFmt;
  return h("time", { datetime: iso, title: d.toISOString() }, fmt.format(d));
}

/** Similarity to a fixed number of decimals. */
export function fmtSimilarity(value) {
  return typeof value === "number" ? value.toFixed(3) : "—";
}

/** A false match rate such as 0.001 as "1 in 1,000". */
export function fmtFmr(value) {
  const n = Number(value);
  if (!n || n <= 0) return "—";
  return `1 in ${Math.round(1 / n).toLocaleString()}`;
}

/** Text that may be empty: a muted dash when it is. */
export function orDash(value) {
  return value === null || value === undefined || value === "" ? h("span", { class: "muted" }, "—") : String(value);
}

/** Open a modal dialog; resolves with the value `onConfirm` returns, or null when cancelled. */
export function modal({ title, body, confirmLabel = "Confirm", kind = "primary", onConfirm, validate = () => true }) {
  return new Promise((resolve) => {
    const error = h("div", { class: "modal-error" });
    const confirm = button(confirmLabel, { kind, type: "submit", disabled: !validate() });
    const cancel = button("Cancel", { kind: "ghost", type: "button" });
    const form = h(
      "form",
      { class: "modal-form", method: "dialog" },
      h("header", { class: "modal-head" }, h("h2", {}, title)),
      h("div", { class: "modal-body" }, body, error),
      h("footer", { class: "modal-foot" }, cancel, confirm),
    );
    const dialog = h("dialog", { class: "modal" }, form);
    const refresh = () => {
      confirm.disabled = !validate();
    };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(null);
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!validate()) return;
      confirm.disabled = true;
      try {
        finish(onConfirm ? await onConfirm() : true);
      } catch (err) {
        replace(error, errorBanner(err));
        confirm.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("input, select, textarea");
    (first || confirm).focus();
  });
}

/**
 * Wire a form's submit: when its button is enabled, `send` runs with the button
 * disabled and the messages cleared; an error is shown in `messages`; then
 * `after` (if any) and `refresh`, which sets the button again.
 */
export function onSubmit(form, { submit, messages, refresh, send, after = null }) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    refresh();
    if (submit.disabled) return;
    submit.disabled = true;
    replace(messages);
    try {
      await send();
    } catch (err) {
      replace(messages, errorBanner(err));
    } finally {
      if (after) after();
      refresh();
    }
  });
}

/** A banner explaining an error (ApiError or anything else) to a person. */
export function errorBanner(err) {
  const title = err && err.title ? err.title : "Something went wrong";
  const raw = err && err.message ? err.message : String(err);
  // Server messages may start in lower case ("a username is ..."): they open a sentence here.
  const message = raw.charAt(0).toUpperCase() + raw.slice(1);
  return banner("danger", title, message);
}

/** Turn a snake_case or dotted identifier into words: "subject.erase" -> "Subject erase". */
export function words(identifier) {
  const s = String(identifier || "").replace(/[._-]+/g, " ").trim();
  return s ? s[0].toUpperCase() + s.slice(1) : "";
}
