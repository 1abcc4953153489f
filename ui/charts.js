// Small SVG charts drawn from data (no library, no inline styles): a line
// chart, a reliability diagram, horizontal bars, stacked day bars and a
// matrix heat map. Each has a title and a text alternative.
import { h, pct } from "./lib.js";

const W = 360;
const H = 220;
const PAD = { left: 42, right: 12, top: 12, bottom: 34 };
const PALETTE = ["#1f5f8b", "#3a9d74", "#d98c2b", "#8a5fb0", "#c2554a", "#4a8fc2", "#7d8a2e", "#b0508a"];

function frame(label, xLabel, yLabel) {
  const svg = h("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" }, h("title", {}, label));
  const x0 = PAD.left;
  const y0 = H - PAD.bottom;
  svg.append(h("line", { x1: x0, y1: y0, x2: W - PAD.right, y2: y0, class: "axis" }), h("line", { x1: x0, y1: PAD.top, x2: x0, y2: y0, class: "axis" }));
  for (const t of [0, 0.5, 1]) {
    const y = y0 - t * (y0 - PAD.top);
    const x = x0 + t * (W - PAD.right - x0);
    svg.append(h("text", { x: x0 - 6, y: y + 4, class: "tick", "text-anchor": "end" }, pct(t)), h("text", { x, y: y0 + 14, class: "tick", "text-anchor": "middle" }, pct(t)));
  }
  svg.append(h("text", { x: (x0 + W - PAD.right) / 2, y: H - 4, class: "axis-label", "text-anchor": "middle" }, xLabel),
    h("text", { x: 10, y: PAD.top + (y0 - PAD.top) / 2, class: "axis-label", "text-anchor": "middle", transform: `rotate(-90 10 ${PAD.top + (y0 - PAD.top) / 2})` }, yLabel));
  const at = (x, y) => [x0 + x * (W - PAD.right - x0), y0 - y * (y0 - PAD.top)];
  return { svg, at };
}

/** Precision against coverage over thresholds; `mark` highlights one point. */
export function curveChart(points, mark) {
  const { svg, at } = frame("Precision against coverage as the threshold moves", "coverage", "precision");
  const sorted = points.filter((p) => p.coverage > 0).sort((a, b) => a.coverage - b.coverage);
  svg.append(h("polyline", { class: "series", points: sorted.map((p) => at(p.coverage, p.precision).join(",")).join(" ") }));
  for (const p of sorted) {
    const [x, y] = at(p.coverage, p.precision);
    svg.append(h("circle", { cx: x, cy: y, r: 2.5, class: "dot" }, h("title", {}, `threshold ${p.threshold.toFixed(2)}: coverage ${pct(p.coverage)}, precision ${pct(p.precision)}`)));
  }
  if (mark) {
    const [x, y] = at(mark.coverage, mark.precision);
    svg.append(h("circle", { cx: x, cy: y, r: 5, class: "dot-mark" }, h("title", {}, `calibrated threshold ${mark.threshold.toFixed(2)}`)));
  }
  return svg;
}

/** Accuracy per confidence bin against the diagonal of perfect calibration. */
export function reliabilityChart(bins) {
  const { svg, at } = frame("Reliability: accuracy per confidence bin", "confidence", "accuracy");
  const [ax, ay] = at(0, 0);
  const [bx, by] = at(1, 1);
  svg.append(h("line", { x1: ax, y1: ay, x2: bx, y2: by, class: "diagonal" }));
  for (const bin of bins.filter((b) => b.count > 0)) {
    const [left, top] = at(bin.lower, bin.accuracy);
    const [right, bottom] = at(bin.upper, 0);
    svg.append(h("rect", { x: left + 0.5, y: top, width: Math.max(1, right - left - 1), height: Math.max(0, bottom - top), class: "bin" },
      h("title", {}, `${pct(bin.lower)}–${pct(bin.upper)}: ${bin.count} tickets, accuracy ${pct(bin.accuracy)}`)));
  }
  return svg;
}

/** Horizontal bars of values in [0, 1], one per row: [{label, value, note}]. */
export function barList(rows, label) {
  return h("ul", { class: "bar-list", "aria-label": label }, rows.map((r) => {
    const fill = h("span", { class: "fill" });
    fill.style.width = `${(r.value ?? 0) * 100}%`;
    return h("li", {}, h("span", { class: "name" }, r.label), h("span", { class: "track" }, fill), h("span", { class: "value" }, r.value === null ? "–" : pct(r.value)), r.note ? h("small", { class: "muted" }, r.note) : null);
  }));
}

/** Stacked bars of counts per day and label: [{day, label, count}]. */
export function volumeChart(points) {
  const days = [...new Set(points.map((p) => p.day))].sort();
  const totals = new Map();
  for (const p of points) totals.set(p.label, (totals.get(p.label) ?? 0) + p.count);
  const labels = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const top = labels.slice(0, 7);
  const colour = (label) => PALETTE[top.indexOf(label)] ?? "#9aa5b1";
  const perDay = days.map((d) => points.filter((p) => p.day === d));
  const max = Math.max(1, ...perDay.map((ps) => ps.reduce((s, p) => s + p.count, 0)));
  const svg = h("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Tickets per day by suggested group", class: "chart" }, h("title", {}, "Tickets per day by suggested group"));
  const x0 = PAD.left;
  const y0 = H - PAD.bottom;
  const step = (W - PAD.right - x0) / Math.max(1, days.length);
  svg.append(h("line", { x1: x0, y1: y0, x2: W - PAD.right, y2: y0, class: "axis" }), h("text", { x: x0 - 6, y: PAD.top + 4, class: "tick", "text-anchor": "end" }, max));
  days.forEach((day, i) => {
    let y = y0;
    for (const p of perDay[i].sort((a, b) => labels.indexOf(a.label) - labels.indexOf(b.label))) {
      const height = (p.count / max) * (y0 - PAD.top);
      y -= height;
      const rect = h("rect", { x: x0 + i * step + 2, y, width: Math.max(1, step - 4), height, fill: colour(p.label) }, h("title", {}, `${day}: ${p.label} ${p.count}`));
      svg.append(rect);
    }
    svg.append(h("text", { x: x0 + i * step + step / 2, y: y0 + 14, class: "tick", "text-anchor": "middle" }, day.slice(5)));
  });
  const legend = h("ul", { class: "legend" }, top.map((label) => {
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = colour(label);
    return h("li", {}, swatch, `${label} (${totals.get(label)})`);
  }));
  return h("figure", { class: "volume" }, svg, legend);
}

/** A from × to matrix of counts as a table shaded by count. */
export function matrix(moves, caption) {
  const from = [...new Set(moves.map((m) => m.from))].sort();
  const to = [...new Set(moves.map((m) => m.to))].sort();
  const max = Math.max(1, ...moves.map((m) => m.count));
  const count = (f, t) => moves.find((m) => m.from === f && m.to === t)?.count ?? 0;
  return h("div", { class: "scroll" }, h("table", { class: "matrix" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "suggested ↓ / set to →"), to.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, from.map((f) => h("tr", {}, h("th", { scope: "row" }, f), to.map((t) => {
      const n = count(f, t);
      const cell = h("td", { title: `${f} → ${t}: ${n}` }, n || "");
      if (n) cell.style.background = `rgba(194, 85, 74, ${0.15 + 0.75 * (n / max)})`;
      return cell;
    }))))));
}

/** A storm's members on a time axis, by similarity: [{ticket_id, at, similarity}]. */
export function timeline(members) {
  const label = "Storm members over time (higher: more similar to the storm)";
  const svg = h("svg", { viewBox: `0 0 ${W * 2} ${H}`, role: "img", "aria-label": label, class: "chart timeline" }, h("title", {}, label));
  if (!members.length) return svg;
  const first = Math.min(...members.map((m) => m.at));
  const last = Math.max(...members.map((m) => m.at));
  const span = Math.max(60000, last - first);
  const x0 = PAD.left;
  const x1 = W * 2 - PAD.right;
  const y0 = H - PAD.bottom;
  const y = (s) => y0 - Math.max(0, Math.min(1, (s - 0.4) / 0.6)) * (y0 - PAD.top);
  svg.append(h("line", { x1: x0, y1: y0, x2: x1, y2: y0, class: "axis" }), h("line", { x1: x0, y1: PAD.top, x2: x0, y2: y0, class: "axis" }));
  for (const t of [0.4, 0.7, 1]) svg.append(h("text", { x: x0 - 6, y: y(t) + 4, class: "tick", "text-anchor": "end" }, pct(t)));
  for (const f of [0, 0.5, 1]) {
    const at = new Date(first + f * span);
    svg.append(h("text", { x: x0 + f * (x1 - x0), y: y0 + 14, class: "tick", "text-anchor": "middle" }, at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  }
  members.forEach((m, i) => {
    const x = x0 + ((m.at - first) / span) * (x1 - x0);
    svg.append(h("circle", { cx: x, cy: y(m.similarity), r: i === 0 ? 6 : 4, class: i === 0 ? "dot-mark" : "dot" }, h("title", {}, `${m.ticket_id}: ${m.title} (${pct(m.similarity)})`)));
  });
  return svg;
}

/** The change calendar: one lane per freeze or maintenance window, then the
 * changes as marks at their start (or scheduled, or requested) time, with a
 * line at now. `list` is the answer of GET /v1/changes. */
export function changeCalendar(list) {
  const label = "Change calendar: freeze and maintenance windows, and changes";
  const names = [...new Set(list.windows.map((w) => w.name))];
  const lane = 22;
  const top = 18;
  const height = top + (names.length + 1) * lane + 26;
  const width = W * 2;
  const x0 = 150;
  const x1 = width - PAD.right;
  const span = Math.max(1, list.to - list.from);
  const x = (t) => x0 + (Math.max(list.from, Math.min(list.to, t)) - list.from) / span * (x1 - x0);
  const svg = h("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart calendar" }, h("title", {}, label));
  const day = 86400000;
  const first = Math.ceil(list.from / day) * day;
  for (let t = first; t < list.to; t += 7 * day) {
    svg.append(h("line", { x1: x(t), y1: top - 6, x2: x(t), y2: height - 22, class: "grid" }),
      h("text", { x: x(t), y: height - 8, class: "tick", "text-anchor": "middle" }, new Date(t).toLocaleDateString([], { month: "short", day: "numeric" })));
  }
  names.forEach((name, i) => {
    const y = top + i * lane;
    const kind = list.windows.find((w) => w.name === name).kind;
    svg.append(h("text", { x: x0 - 8, y: y + 14, class: "tick", "text-anchor": "end" }, name));
    for (const w of list.windows.filter((o) => o.name === name)) {
      svg.append(h("rect", { x: x(w.start), y: y + 2, width: Math.max(2, x(w.end) - x(w.start)), height: lane - 6, class: `window-${kind}` },
        h("title", {}, `${kind} ${name}${w.tags.length ? ` (${w.tags.join(", ")})` : ""}: ${new Date(w.start).toLocaleString()} – ${new Date(w.end).toLocaleString()}`)));
    }
  });
  const y = top + names.length * lane;
  svg.append(h("text", { x: x0 - 8, y: y + 14, class: "tick", "text-anchor": "end" }, "changes"));
  for (const c of list.changes) {
    const at = c.started_at ?? c.scheduled_for ?? c.created_at;
    svg.append(h("circle", { cx: x(at), cy: y + 9, r: 5, class: `change-${c.change_type}` },
      h("title", {}, `${c.change_type} change ${c.runbook}${c.target ? ` on ${c.target}` : ""}: ${c.state.replaceAll("_", " ")}, ${new Date(at).toLocaleString()}`)));
  }
  const now = Date.now();
  if (now > list.from && now < list.to) {
    svg.append(h("line", { x1: x(now), y1: top - 8, x2: x(now), y2: height - 22, class: "now" }), h("text", { x: x(now), y: top - 10, class: "tick", "text-anchor": "middle" }, "now"));
  }
  return svg;
}

/** Problem candidates as bars by size (red: a knowledge gap), each with its
 * incidents per month as a line over the report's months. */
export function problemChart(problems) {
  const rows = problems.slice(0, 20);
  const label = "Problem candidates by size, with knowledge coverage and monthly trend";
  const months = [...new Set(rows.flatMap((p) => p.by_month.map((m) => m.month)))].sort();
  const row = 22;
  const width = W * 2;
  const x0 = 260;
  const barSpace = 300;
  const sparkLeft = x0 + barSpace + 60;
  const sparkWidth = width - sparkLeft - PAD.right;
  const largest = Math.max(1, ...rows.map((p) => p.size));
  const svg = h("svg", { viewBox: `0 0 ${width} ${rows.length * row + 8}`, role: "img", "aria-label": label, class: "chart problems" }, h("title", {}, label));
  rows.forEach((p, i) => {
    const y = i * row;
    const name = p.representatives[0]?.title || p.terms.slice(0, 4).join(" · ") || p.id;
    svg.append(h("text", { x: x0 - 8, y: y + 14, class: "tick", "text-anchor": "end" }, name.length > 38 ? `${name.slice(0, 37)}…` : name),
      h("rect", { x: x0, y: y + 3, width: Math.max(2, (barSpace * p.size) / largest), height: 14, class: p.knowledge_gap ? "problem-bar gap" : "problem-bar", dataset: { problem: p.id } },
        h("title", {}, `${p.size} incidents${p.knowledge_gap ? ", knowledge gap" : ""}, trend ${p.trend.direction}`)),
      h("text", { x: x0 + (barSpace * p.size) / largest + 6, y: y + 14, class: "tick" }, `${p.size}${p.trend.direction === "rising" ? " ▲" : ""}`));
    if (months.length > 1) {
      const peak = Math.max(1, ...p.by_month.map((m) => m.count));
      const points = months.map((m, j) => {
        const count = p.by_month.find((b) => b.month === m)?.count ?? 0;
        return `${sparkLeft + (j * sparkWidth) / (months.length - 1)},${y + 18 - (15 * count) / peak}`;
      });
      svg.append(h("polyline", { class: "series", points: points.join(" ") }, h("title", {}, `per month, ${months[0]} to ${months[months.length - 1]}`)));
    }
  });
  return svg;
}
