// Crowd analysis: one camera's anonymous aggregates per time bucket
// (GET /v1/cameras/{camera}/crowd): occupancy over time, unique visitors, the
// dwell-time distribution and a position heatmap, drawn as inline SVG, with the
// CSV report to download. Any count below the server's threshold k arrives as
// null: it is drawn hatched and written "<k", never as zero.

import { api, downloadFile } from "../api.js";
import { banner, button, card, errorBanner, field, h, icon, replace, svg, toast } from "../dom.js";
import { sensitiveBadge, stateBadge } from "./cameras.js";

const PRESETS = [
  { id: "1h", label: "Last hour", ms: 3600e3 },
  { id: "6h", label: "6 hours", ms: 6 * 3600e3 },
  { id: "24h", label: "24 hours", ms: 24 * 3600e3 },
  { id: "7d", label: "7 days", ms: 7 * 24 * 3600e3 },
];

// Chart geometry (SVG user units; the SVG scales to its box, so the widths are
// about the pixels each chart gets and its text stays at its size).
const WIDE = 1100;
const HALF = 520;
let W = WIDE;
const H = 240;
// Room on the left and at the bottom for the axes' titles (what is counted, and the time zone).
const PAD = { left: 58, right: 14, top: 14, bottom: 46 };
const HEAT = ["#eff6ff", "#bfdbfe", "#60a5fa", "#2563eb", "#1e3a8a"];

let uid = 0;

export default async function renderCrowd(view, cameraRef = null) {
  const { cameras } = await api("GET", "/v1/cameras", { signal: view.signal });
  const page = h("div", { class: "page page-crowd" });
  if (!cameras.length) {
    return replace(page, card("Crowd analysis", h("div", { class: "empty" }, icon("chart", "empty-icon"), h("p", {}, "No cameras are registered yet."), h("a", { href: "#/cameras", class: "btn btn-secondary" }, "Cameras"))));
  }
  const camera = cameraRef ? cameras.find((c) => c.camera_id === cameraRef || c.name === cameraRef) : cameras[0];
  if (!camera) {
    return replace(page, errorBanner({ title: "No such camera", message: "It may have been deleted. Pick another camera on the Crowd page." }));
  }
  view.setTitle(`Crowd · ${camera.name}`);

  const picker = h("select", { name: "camera" }, cameras.map((c) => h("option", { value: c.camera_id, selected: c.camera_id === camera.camera_id }, c.name)));
  picker.addEventListener("change", () => {
    location.hash = `#/cameras/${encodeURIComponent(picker.value)}/crowd`;
  });

  const now = Date.now();
  const range = { start: new Date(now - PRESETS[2].ms), end: new Date(now + 60e3), preset: "24h" };
  const startInput = h("input", { type: "datetime-local", name: "start", step: "60" });
  const endInput = h("input", { type: "datetime-local", name: "end", step: "60" });
  const presetButtons = PRESETS.map((p) =>
    h("button", { type: "button", class: "btn btn-ghost btn-small preset", dataset: { preset: p.id }, "aria-pressed": "false", onclick: () => usePreset(p) }, p.label),
  );
  const setInputs = () => {
    startInput.value = toLocalInput(range.start);
    endInput.value = toLocalInput(range.end);
    for (const b of presetButtons) b.setAttribute("aria-pressed", String(b.dataset.preset === range.preset));
  };
  const usePreset = (p) => {
    range.end = new Date(Date.now() + 60e3);
    range.start = new Date(range.end.getTime() - 60e3 - p.ms);
    range.preset = p.id;
    setInputs();
    load();
  };
  const rangeForm = h(
    "form",
    { class: "crowd-range", dataset: { testid: "crowd-range" } },
    field("Camera", picker),
    field("From", startInput),
    field("To", endInput),
    h("div", { class: "crowd-range-actions" }, button("Show", { kind: "primary", type: "submit", iconName: "refresh" }), h("div", { class: "preset-row", role: "group", "aria-label": "Quick ranges" }, presetButtons)),
  );
  rangeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const s = fromLocalInput(startInput.value);
    const en = fromLocalInput(endInput.value);
    if (!s || !en || s >= en) {
      replace(body, banner("warn", "Check the time range", "Give a start before the end."));
      return;
    }
    range.start = s;
    range.end = en;
    range.preset = null;
    setInputs();
    load();
  });

  const csv = button("Download CSV", { kind: "secondary", iconName: "download", dataset: { testid: "crowd-csv" } });
  csv.addEventListener("click", async () => {
    csv.disabled = true;
    try {
      const stamp = range.start.toISOString().slice(0, 10);
      await downloadFile(`/v1/cameras/${encodeURIComponent(camera.camera_id)}/crowd.csv`, { query: { start: range.start.toISOString(), end: range.end.toISOString() }, filename: `crowd-${camera.name}-${stamp}.csv` });
    } catch (err) {
      toast(err.message || "The download failed", "danger");
    } finally {
      csv.disabled = false;
    }
  });

  const body = h("div", { class: "crowd-body", "aria-live": "polite" });

  async function load() {
    replace(body, h("div", { class: "loading" }, h("span", { class: "spinner" }), "Loading crowd counts…"));
    let report;
    try {
      report = await api("GET", `/v1/cameras/${encodeURIComponent(camera.camera_id)}/crowd`, { query: { start: range.start.toISOString(), end: range.end.toISOString() }, signal: view.signal });
    } catch (err) {
      if (err && err.name === "AbortError") return;
      replace(body, errorBanner(err));
      return;
    }
    replace(body, renderReport(report, range));
  }

  setInputs();
  const head = h(
    "div",
    { class: "crowd-camera" },
    h("div", {}, h("div", { class: "strong" }, camera.name), h("div", { class: "muted" }, camera.location || "")),
    h("div", { class: "crowd-camera-badges" }, stateBadge(camera.state), camera.sensitive ? sensitiveBadge() : null),
  );
  replace(
    page,
    card("Crowd analysis", [head, rangeForm], {
      subtitle: "Anonymous aggregates per time bucket: no face, no identity. Small counts are suppressed.",
      actions: csv,
    }),
    body,
  );
  await load();
  return page;
}

/** The report's charts, heatmap and table (exported for reuse). */
export function renderReport(report, range = null) {
  const k = Number(report.min_count) || 0;
  const buckets = [...(report.buckets || [])].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  if (!buckets.length) {
    return card(null, h("div", { class: "empty", dataset: { testid: "crowd-empty" } }, icon("chart", "empty-icon"), h("p", {}, "No crowd counts for this camera in this time range."), h("p", { class: "hint" }, range ? `${fmtDateTime(range.start)} – ${fmtDateTime(range.end)}` : "")));
  }
  const ids = { hatch: `hatch-${++uid}` };
  const suppressedNote = () => h("p", { class: "hint crowd-k" }, hatchSwatch(`hatch-${++uid}`), ` Hatched: fewer than ${k}, suppressed so that no report can single anyone out.`);
  return h(
    "div",
    { class: "crowd-report", dataset: { testid: "crowd-report" } },
    summary(buckets, k),
    card("Occupancy over time", [occupancyChart(buckets, k), legend([["series-people", "People in view (max)"], ["series-faces", "Faces in view (max)"], ["hatch", `Fewer than ${k}`, ids.hatch]])], { subtitle: "The most people and faces in view in each bucket.", cls: "chart-card" }),
    h(
      "div",
      { class: "grid-2 crowd-grid" },
      card("Unique visitors", [visitorsChart(buckets, k), suppressedNote()], { subtitle: "Distinct people per bucket (a visitor who comes back within the hour counts once).", cls: "chart-card" }),
      card("Dwell time", [dwellChart(buckets, k), suppressedNote()], { subtitle: "How long visits lasted, over the whole range.", cls: "chart-card" }),
    ),
    heatmapCard(buckets, k),
    card(null, bucketTable(buckets, k), { cls: "crowd-table-card" }),
  );
}

// ------------------------------------------------------------------ summary

function summary(buckets, k) {
  const frames = buckets.reduce((a, b) => a + (Number(b.frames) || 0), 0);
  const peak = (key) => {
    const known = buckets.map((b) => b[key]).filter(isNum);
    return known.length ? String(Math.max(...known)) : `<${k}`;
  };
  const visitors = buckets.map((b) => b.unique_visitors);
  const known = visitors.filter(isNum).reduce((a, v) => a + v, 0);
  const hidden = visitors.some((v) => !isNum(v));
  const visitorText = known ? `${hidden ? "≥ " : ""}${known.toLocaleString()}` : `<${k} each`;
  const span = Date.parse(buckets[buckets.length - 1].start) + buckets[buckets.length - 1].seconds * 1e3 - Date.parse(buckets[0].start);
  return h(
    "div",
    { class: "stats crowd-stats" },
    stat("Peak people in view", peak("people_max"), "the most at once", "subjects"),
    stat("Peak faces in view", peak("faces_max"), "the most faces at once", "camera"),
    stat("Unique visitors", visitorText, hidden ? `buckets under ${k} not added` : "over the range", "enroll"),
    stat("Buckets", buckets.length.toLocaleString(), `${fmtDuration(span)} · ${frames.toLocaleString()} frames`, "chart"),
  );
}

function stat(label, value, note, iconName) {
  return h("div", { class: "stat" }, h("div", { class: "stat-icon" }, icon(iconName)), h("div", {}, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), h("div", { class: "stat-note" }, note)));
}

// ------------------------------------------------------------------ charts

function timeScale(buckets) {
  const t0 = Date.parse(buckets[0].start);
  const last = buckets[buckets.length - 1];
  const t1 = Date.parse(last.start) + (Number(last.seconds) || 60) * 1e3;
  const span = Math.max(1, t1 - t0);
  const x = (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  return { t0, t1, x, span };
}

function yScale(max) {
  const top = niceMax(max);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  return { top, y };
}

function niceMax(v) {
  if (v <= 5) return 5;
  const pow = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= v) return m * pow;
  return 10 * pow;
}

function frame(title, desc, ids, ...content) {
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${title}. ${desc}`, preserveAspectRatio: "xMidYMid meet" },
    svg("title", {}, title),
    svg("defs", {}, hatchPattern(ids.hatch)),
    content,
  );
}

function hatchPattern(id) {
  return svg("pattern", { id, patternUnits: "userSpaceOnUse", width: 6, height: 6, patternTransform: "rotate(45)" }, svg("rect", { width: 6, height: 6, fill: "#f1f5f9" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#94a3b8", "stroke-width": 2 }));
}

function hatchSwatch(id) {
  return svg("svg", { class: "swatch", viewBox: "0 0 14 14", width: 14, height: 14, "aria-hidden": "true" }, svg("defs", {}, hatchPattern(id)), svg("rect", { width: 14, height: 14, rx: 2, fill: `url(#${id})`, stroke: "#94a3b8" }));
}

/** The values of the horizontal grid lines: whole steps from 0 to the top. */
function yTicks(top) {
  const parts = Number.isInteger(top / 5) ? 5 : 4;
  return Array.from({ length: parts + 1 }, (_, i) => (top / parts) * i);
}

/** Where the time axis is labelled: bucket edges when there are few buckets, else even steps; no label twice. */
function xTicks(ts, buckets) {
  let times;
  if (buckets && buckets.length <= 8) {
    times = buckets.map((b) => Date.parse(b.start));
    times.push(ts.t1);
  } else {
    const n = Math.min(6, Math.max(2, Math.round((W - PAD.left - PAD.right) / 130)));
    times = Array.from({ length: n + 1 }, (_, i) => ts.t0 + (ts.span / n) * i);
  }
  const out = [];
  let last = null;
  for (const t of [...new Set(times)].sort((a, b) => a - b)) {
    const label = fmtAxisTime(t, ts.span);
    if (label !== last) out.push([t, label]);
    last = label;
  }
  return out;
}

function axes(ts, ys, buckets = null, yTitle = "people") {
  const out = [];
  // Axis titles with their units: the count (per bucket) and the time in this browser's zone.
  out.push(svg("text", { x: 12, y: (PAD.top + H - PAD.bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(PAD.top + H - PAD.bottom) / 2})`, class: "axis-title" }, yTitle));
  out.push(svg("text", { x: (PAD.left + W - PAD.right) / 2, y: H - 4, "text-anchor": "middle", class: "axis-title" }, `time (${Intl.DateTimeFormat().resolvedOptions().timeZone || "local"}, 24-hour)`));
  for (const v of yTicks(ys.top)) {
    const y = ys.y(v);
    out.push(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid-line" }));
    out.push(svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "axis-label" }, fmtTick(v)));
  }
  const ticks = xTicks(ts, buckets);
  ticks.forEach(([t, label], i) => {
    const x = ts.x(t);
    out.push(svg("line", { x1: x, x2: x, y1: H - PAD.bottom, y2: H - PAD.bottom + 4, class: "axis-line" }));
    out.push(svg("text", { x, y: H - PAD.bottom + 17, "text-anchor": i === 0 ? "start" : i === ticks.length - 1 ? "end" : "middle", class: "axis-label" }, label));
  });
  out.push(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: "axis-line" }));
  return out;
}

/** Hatched band from 0 to k over a bucket whose counts are suppressed. */
function suppressedBand(x0, x1, ys, k, ids, label) {
  const y = ys.y(Math.max(k - 1, 0.5));
  return svg("rect", { x: x0, y, width: Math.max(1, x1 - x0), height: ys.y(0) - y, fill: `url(#${ids.hatch})`, class: "suppressed", "data-suppressed": "true" }, svg("title", {}, label));
}

function occupancyChart(buckets, k) {
  W = WIDE;
  const ids = { hatch: `hatch-${++uid}` };
  const ts = timeScale(buckets);
  const max = Math.max(k, ...buckets.flatMap((b) => [b.people_max, b.faces_max]).filter(isNum));
  const ys = yScale(max);
  const bands = [];
  for (const b of buckets) {
    if (isNum(b.people_max) && isNum(b.faces_max)) continue;
    const t = Date.parse(b.start);
    bands.push(suppressedBand(ts.x(t), ts.x(t + b.seconds * 1e3), ys, k, ids, `${fmtDateTime(new Date(t))}: ${isNum(b.people_max) ? `${b.people_max} people, faces` : "people and faces"} fewer than ${k}`));
  }
  const series = [
    ["people_max", "series-people"],
    ["faces_max", "series-faces"],
  ].map(([key, cls]) => {
    const d = linePath(buckets, key, ts, ys);
    const dots = buckets.length <= 90 ? buckets.filter((b) => isNum(b[key])).map((b) => svg("circle", { cx: mid(b, ts), cy: ys.y(b[key]), r: 3, class: `dot ${cls}` }, svg("title", {}, `${fmtDateTime(new Date(Date.parse(b.start)))}: ${b[key]}`))) : [];
    return svg("g", { class: cls }, d ? svg("path", { d, class: `line ${cls}` }) : null, dots);
  });
  const desc = `${buckets.length} buckets; the peak is ${max === k && !buckets.some((b) => isNum(b.people_max)) ? `fewer than ${k}` : `${max} people`}.`;
  return h("figure", { class: "chart-box", dataset: { testid: "occupancy-chart" } }, frame("Occupancy over time", desc, ids, axes(ts, ys, buckets, "people in view (count)"), bands, series));
}

function mid(b, ts) {
  const t = Date.parse(b.start);
  return ts.x(t + (b.seconds * 1e3) / 2);
}

/**
 * A step line through the known values (each bucket's maximum held over the bucket);
 * broken at suppressed values and at gaps in time.
 */
function linePath(buckets, key, ts, ys) {
  let d = "";
  let prevEnd = null;
  for (const b of buckets) {
    const t = Date.parse(b.start);
    const v = b[key];
    if (!isNum(v)) {
      prevEnd = null;
      continue;
    }
    const contiguous = prevEnd !== null && Math.abs(t - prevEnd) < 1000;
    const y = ys.y(v).toFixed(1);
    d += `${contiguous ? "L" : "M"}${ts.x(t).toFixed(1)},${y}H${ts.x(t + b.seconds * 1e3).toFixed(1)}`;
    prevEnd = t + b.seconds * 1e3;
  }
  return d;
}

function visitorsChart(buckets, k) {
  W = HALF;
  const ids = { hatch: `hatch-${++uid}` };
  const ts = timeScale(buckets);
  const max = Math.max(k, ...buckets.map((b) => b.unique_visitors).filter(isNum));
  const ys = yScale(max);
  const bars = buckets.map((b) => {
    const t = Date.parse(b.start);
    const x0 = ts.x(t);
    const w = Math.max(1, ts.x(t + b.seconds * 1e3) - x0);
    const gap = Math.min(2, w * 0.15);
    const when = fmtDateTime(new Date(t));
    if (!isNum(b.unique_visitors)) return suppressedBand(x0 + gap, x0 + w - gap, ys, k, ids, `${when}: fewer than ${k} visitors`);
    const y = ys.y(b.unique_visitors);
    return svg("rect", { x: x0 + gap, y, width: Math.max(1, w - 2 * gap), height: ys.y(0) - y, class: "bar bar-visitors", rx: 1.5 }, svg("title", {}, `${when}: ${b.unique_visitors} visitors`));
  });
  return h("figure", { class: "chart-box", dataset: { testid: "visitors-chart" } }, frame("Unique visitors per bucket", `${buckets.length} buckets.`, ids, axes(ts, ys, buckets, "visitors (count)"), bars));
}

function dwellChart(buckets, k) {
  W = HALF;
  const ids = { hatch: `hatch-${++uid}` };
  const labels = [];
  for (const b of buckets) for (const label of Object.keys(b.dwell || {})) if (!labels.includes(label)) labels.push(label);
  const bins = labels.map((label) => {
    const values = buckets.map((b) => (b.dwell || {})[label]);
    const known = values.filter(isNum);
    return { label, total: known.reduce((a, v) => a + v, 0), hidden: values.length - known.length, any: known.length > 0 };
  });
  const max = Math.max(k, ...bins.map((b) => b.total));
  const ys = yScale(max);
  const slot = (W - PAD.left - PAD.right) / Math.max(1, bins.length);
  const out = [];
  for (const v of yTicks(ys.top)) {
    out.push(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: ys.y(v), y2: ys.y(v), class: "grid-line" }));
    out.push(svg("text", { x: PAD.left - 6, y: ys.y(v) + 4, "text-anchor": "end", class: "axis-label" }, fmtTick(v)));
  }
  bins.forEach((bin, i) => {
    const x = PAD.left + slot * i + slot * 0.2;
    const w = slot * 0.6;
    const cx = x + w / 2;
    if (!bin.any) {
      out.push(svg("g", { class: "dwell-bin", "data-bin": bin.label }, suppressedBand(x, x + w, ys, k, ids, `${bin.label}: fewer than ${k} in every bucket`), svg("text", { x: cx, y: ys.y(Math.max(k - 1, 0.5)) - 6, "text-anchor": "middle", class: "bar-label muted-label" }, `<${k}`)));
    } else {
      const y = ys.y(bin.total);
      out.push(
        svg(
          "g",
          { class: "dwell-bin", "data-bin": bin.label },
          svg("rect", { x, y, width: w, height: ys.y(0) - y, class: "bar bar-dwell", rx: 2 }, svg("title", {}, `${bin.label}: ${bin.hidden ? "at least " : ""}${bin.total} visits`)),
          svg("text", { x: cx, y: y - 6, "text-anchor": "middle", class: "bar-label" }, `${bin.hidden ? "≥" : ""}${bin.total}`),
        ),
      );
    }
    out.push(svg("text", { x: cx, y: H - PAD.bottom + 17, "text-anchor": "middle", class: "axis-label" }, bin.label));
  });
  out.push(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: "axis-line" }));
  const desc = bins.map((b) => `${b.label}: ${b.any ? `${b.hidden ? "at least " : ""}${b.total}` : `fewer than ${k}`}`).join("; ");
  return h("figure", { class: "chart-box", dataset: { testid: "dwell-chart" } }, frame("Dwell-time distribution", desc, ids, out));
}

function legend(items) {
  return h(
    "ul",
    { class: "chart-legend" },
    items.map(([cls, label, hatchId]) => h("li", {}, cls === "hatch" ? hatchSwatch(`${hatchId}-l`) : h("span", { class: `legend-line ${cls}`, "aria-hidden": "true" }), h("span", {}, label))),
  );
}

// ------------------------------------------------------------------ heatmap

function heatmapCard(buckets, k) {
  const withGrid = buckets.filter((b) => Array.isArray(b.heatmap) && b.heatmap.length);
  const choose = h("select", { name: "heatmap-bucket", "aria-label": "Heatmap time" }, h("option", { value: "all" }, "All buckets in the range"), withGrid.map((b, i) => h("option", { value: String(i) }, fmtDateTime(new Date(Date.parse(b.start))))));
  const host = h("div", { class: "heatmap-host" });
  const draw = () => {
    const chosen = choose.value === "all" ? withGrid : [withGrid[Number(choose.value)]];
    replace(host, heatmap(chosen, k, choose.value === "all"));
  };
  choose.addEventListener("change", draw);
  if (withGrid.length) draw();
  else replace(host, h("p", { class: "muted" }, "No position counts in this range."));
  return card("Where faces were seen", host, { subtitle: "Face positions in the frame, on a coarse grid. Only counts, never a face or a track.", actions: withGrid.length ? choose : null, cls: "heatmap-card" });
}

function heatmap(buckets, k, aggregated) {
  const rows = buckets[0].heatmap.length;
  const cols = buckets[0].heatmap[0].length;
  const cells = [];
  let max = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const values = buckets.map((b) => (b.heatmap[r] || [])[c]);
      const known = values.filter(isNum);
      const total = known.reduce((a, v) => a + v, 0);
      const cell = { r, c, value: known.length ? total : null, partial: known.length > 0 && known.length < values.length };
      if (isNum(cell.value)) max = Math.max(max, cell.value);
      cells.push(cell);
    }
  }
  const size = 44;
  const gap = 2;
  const gw = cols * size;
  const gh = rows * size;
  const hatch = `hatch-${++uid}`;
  const grid = svg(
    "svg",
    { viewBox: `0 0 ${gw} ${gh}`, class: "heatmap", role: "img", "aria-label": `Heatmap of face positions, ${rows} by ${cols} cells; the busiest cell counts ${max || `fewer than ${k}`}; hatched cells count fewer than ${k}.`, "data-testid": "heatmap" },
    svg("title", {}, "Face position heatmap"),
    svg("defs", {}, hatchPattern(hatch)),
    svg("rect", { width: gw, height: gh, class: "heatmap-frame" }),
    cells.map((cell) => {
      const x = cell.c * size + gap / 2;
      const y = cell.r * size + gap / 2;
      const s = size - gap;
      const suppressed = !isNum(cell.value);
      const label = suppressed ? `Row ${cell.r + 1}, column ${cell.c + 1}: fewer than ${k}` : `Row ${cell.r + 1}, column ${cell.c + 1}: ${cell.partial ? "at least " : ""}${cell.value}`;
      const fill = suppressed ? `url(#${hatch})` : heatColour(max ? cell.value / max : 0);
      const dark = !suppressed && max && cell.value / max > 0.55;
      return svg(
        "g",
        { class: suppressed ? "heat-cell suppressed" : "heat-cell", "data-suppressed": suppressed ? "true" : "false", "data-value": suppressed ? "" : cell.value },
        svg("rect", { x, y, width: s, height: s, rx: 3, fill }, svg("title", {}, label)),
        svg("text", { x: x + s / 2, y: y + s / 2 + 4, "text-anchor": "middle", class: dark ? "heat-text heat-text-dark" : "heat-text" }, suppressed ? `<${k}` : String(cell.value)),
      );
    }),
  );
  const gradId = `heatgrad-${++uid}`;
  const scale = svg(
    "svg",
    { viewBox: "0 0 200 34", class: "heat-scale", "aria-hidden": "true" },
    svg("defs", {}, svg("linearGradient", { id: gradId }, HEAT.map((c, i) => svg("stop", { offset: `${(i / (HEAT.length - 1)) * 100}%`, "stop-color": c })))),
    svg("rect", { x: 0, y: 0, width: 200, height: 12, rx: 3, fill: `url(#${gradId})`, stroke: "#cbd5e1" }),
    svg("text", { x: 0, y: 28, class: "axis-label" }, max ? String(Math.min(k, max)) : "—"),
    svg("text", { x: 200, y: 28, "text-anchor": "end", class: "axis-label" }, max ? String(max) : "—"),
  );
  return h(
    "div",
    { class: "heatmap-wrap" },
    h("div", { class: "heatmap-grid" }, grid),
    h(
      "div",
      { class: "heatmap-legend", dataset: { testid: "heatmap-legend" } },
      h("h3", {}, "Legend"),
      h("div", { class: "legend-row" }, scale, h("span", {}, aggregated ? "faces counted in the cell, all buckets added" : "faces counted in the cell")),
      h("div", { class: "legend-row" }, hatchSwatch(`${hatch}-l`), h("span", {}, `fewer than ${k}: suppressed${aggregated ? " in every bucket" : ""}`)),
      aggregated && cells.some((c) => c.partial) ? h("p", { class: "hint" }, `Cells under ${k} in some buckets add only the buckets at ${k} or more.`) : null,
      h("p", { class: "hint" }, "The grid covers the whole camera frame, top left to bottom right."),
    ),
  );
}

function heatColour(t) {
  const x = Math.max(0, Math.min(1, t)) * (HEAT.length - 1);
  const i = Math.min(HEAT.length - 2, Math.floor(x));
  const f = x - i;
  const a = hex(HEAT[i]);
  const b = hex(HEAT[i + 1]);
  return `rgb(${a.map((v, j) => Math.round(v + (b[j] - v) * f)).join(",")})`;
}

function hex(s) {
  return [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16));
}

// ------------------------------------------------------------------ table

function bucketTable(buckets, k) {
  const labels = [];
  for (const b of buckets) for (const label of Object.keys(b.dwell || {})) if (!labels.includes(label)) labels.push(label);
  const cell = (v, digits = 0) => (isNum(v) ? h("td", { class: "num" }, digits ? v.toFixed(digits) : v.toLocaleString()) : h("td", { class: "num suppressed-cell", title: `fewer than ${k}` }, `<${k}`));
  return h(
    "details",
    { class: "crowd-table" },
    h("summary", {}, `Buckets as a table (${buckets.length})`),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "table table-compact" },
        h("caption", { class: "sr-only" }, `Crowd counts per bucket; "<${k}" means fewer than ${k}`),
        h(
          "thead",
          {},
          h("tr", {}, h("th", { scope: "col" }, "Start"), h("th", { scope: "col", class: "num" }, "Seconds"), h("th", { scope: "col", class: "num" }, "Frames"), h("th", { scope: "col", class: "num" }, "Faces max"), h("th", { scope: "col", class: "num" }, "Faces mean"), h("th", { scope: "col", class: "num" }, "People max"), h("th", { scope: "col", class: "num" }, "People mean"), h("th", { scope: "col", class: "num" }, "Visitors"), labels.map((l) => h("th", { scope: "col", class: "num" }, `Dwell ${l}`))),
        ),
        h(
          "tbody",
          {},
          buckets.map((b) => h("tr", {}, h("th", { scope: "row", class: "nowrap" }, fmtDateTime(new Date(Date.parse(b.start)))), h("td", { class: "num" }, String(b.seconds)), h("td", { class: "num" }, String(b.frames)), cell(b.faces_max), cell(b.faces_mean, 2), cell(b.people_max), cell(b.people_mean, 2), cell(b.unique_visitors), labels.map((l) => cell((b.dwell || {})[l])))),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ formatting

function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function fmtTick(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

const hm = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dayHm = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function fmtAxisTime(t, span) {
  return (span > 20 * 3600e3 ? dayHm : hm).format(new Date(t));
}

function fmtDateTime(d) {
  return dayHm.format(d);
}

function fmtDuration(ms) {
  const min = Math.round(ms / 60e3);
  if (min < 90) return `${min} min`;
  const hours = ms / 3600e3;
  return hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} days`;
}

/** A Date as the value of a datetime-local input (local time, minutes). */
export function toLocalInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of a datetime-local input as a Date (null when empty or invalid). */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}
