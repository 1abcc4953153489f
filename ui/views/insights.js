// Insights: whether auto-routing can be trusted, at a glance. Coverage and
// precision per field (live, from agents' feedback on routed tickets), the
// last eval report's precision-coverage curve and reliability diagram,
// corrections and ping-pong between groups, volume per group, and the
// service's health from /metrics.
import { addContent, api, failure, h, pct, setContent, when } from "../lib.js";
import { barList, curveChart, matrix, reliabilityChart, volumeChart } from "../charts.js";

export async function render(root) {
  try {
    const [insights, metrics] = await Promise.all([api("GET", "/v1/insights"), fetchMetrics()]);
    setContent(root, h("div", { class: "insights" },
      routingCard(insights.fields),
      correctionsCard(insights.feedback),
      evalCard(insights.eval, insights.eval_written_at),
      h("section", { class: "card" }, h("h2", {}, "Volume per group"), insights.volume.length ? volumeChart(insights.volume) : h("p", { class: "muted" }, "No tickets triaged in the last 14 days.")),
      healthCard(metrics)));
  } catch (error) {
    failure(root, error);
  }
}

function routingCard(fields) {
  const names = Object.keys(fields);
  if (!names.length) return h("section", { class: "card", id: "routing" }, h("h2", {}, "Auto-routing"), h("p", { class: "muted" }, "No ticket has been triaged with an id yet."));
  const cell = (value, note, label) => h("td", {}, barList([{ label: "", value, note }], label));
  return h("section", { class: "card", id: "routing" }, h("h2", {}, "Auto-routing"),
    h("div", { class: "scroll" }, h("table", { class: "routing" },
      h("thead", {}, h("tr", {}, ["Field", "Coverage", "Precision", "Corrected"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, names.map((f) => {
        const r = fields[f];
        return h("tr", { class: "field-routing", dataset: { field: f } },
          h("th", { scope: "row" }, f.replaceAll("_", " ")),
          cell(r.coverage, `${r.auto} of ${r.triaged} auto`, `${f} coverage`),
          cell(r.precision, r.auto_reviewed ? `${r.auto_kept} of ${r.auto_reviewed} kept` : "none reviewed yet", `${f} precision`),
          h("td", {}, r.corrected));
      })))),
    h("p", { class: "muted" }, "Coverage: share of triaged tickets routed automatically. Precision: of the auto-routed tickets an agent later confirmed or corrected, the share kept."));
}

function evalCard(report, writtenAt) {
  const card = h("section", { class: "card", id: "eval" }, h("h2", {}, "Last evaluation"));
  if (!report) {
    addContent(card, h("p", { class: "muted" }, "No evaluation report yet. Run ", h("code", {}, "switchboard eval --train TRAIN --test TEST --report DATA_DIR/eval"), " to see the precision-coverage curve and reliability diagram here."));
    return card;
  }
  addContent(card, h("p", { class: "muted" }, `Written ${when(writtenAt * 1000)}.`));
  for (const [field, r] of Object.entries(report)) {
    const scores = Object.entries(r.scores ?? {}).filter(([, v]) => typeof v === "number");
    addContent(card, h("div", { class: "eval-field" },
      h("h3", {}, field.replaceAll("_", " ")),
      h("p", {}, scores.map(([k, v]) => h("span", { class: "chip" }, `${k.replaceAll("_", " ")} ${v <= 1 ? pct(v) : v}`)),
        r.calibrated ? h("span", { class: "chip" }, `threshold ${r.calibrated.threshold.toFixed(2)} → precision ${pct(r.calibrated.test.precision)} at coverage ${pct(r.calibrated.test.coverage)}`) : null,
        h("span", { class: "chip" }, `calibration error ${r.expected_calibration_error.toFixed(3)}`)),
      h("div", { class: "charts" }, curveChart(r.precision_coverage ?? [], r.calibrated ? { ...r.calibrated.test, threshold: r.calibrated.threshold } : null), reliabilityChart(r.reliability ?? []))));
  }
  return card;
}

function correctionsCard(feedback) {
  const card = h("section", { class: "card", id: "corrections" }, h("h2", {}, "Corrections and ping-pong"));
  const fields = Object.entries(feedback.fields ?? {});
  if (!fields.length) {
    addContent(card, h("p", { class: "muted" }, "No feedback from agents yet."));
    return card;
  }
  for (const [field, f] of fields) {
    addContent(card, h("h3", {}, field.replaceAll("_", " ")),
      h("p", {}, `${f.total} feedback: ${f.confirmed} confirmed, ${f.changed} changed.`),
      f.reassignments.length ? matrix(f.reassignments, `${field}: from the suggested label to the one set`) : null,
      f.ping_pong.length ? h("ul", { class: "ping-pong" }, f.ping_pong.map((p) => h("li", {}, `${p.between[0]} ⇄ ${p.between[1]}: ${p.bounces} bounce${p.bounces === 1 ? "" : "s"} over ${p.tickets} ticket${p.tickets === 1 ? "" : "s"}`))) : null);
  }
  return card;
}

async function fetchMetrics() {
  try {
    const response = await fetch("/metrics", { credentials: "same-origin" });
    return response.ok ? await response.text() : "";
  } catch {
    return "";
  }
}

/** Samples of `name` (with labels) from Prometheus text. */
function samples(text, name) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = line.match(/^([a-z_]+)(\{([^}]*)\})?\s+([0-9.eE+-]+|NaN|\+Inf)/);
    if (!match || match[1] !== name) continue;
    const labels = Object.fromEntries([...(match[3] ?? "").matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    out.push({ labels, value: Number(match[4]) });
  }
  return out;
}

/** A quantile from cumulative histogram buckets. */
function quantile(buckets, q) {
  const sorted = buckets.map((b) => ({ le: b.labels.le === "+Inf" ? Infinity : Number(b.labels.le), value: b.value })).sort((a, b) => a.le - b.le);
  const merged = [];
  for (const b of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.le === b.le) last.value += b.value;
    else merged.push({ ...b });
  }
  const total = merged[merged.length - 1]?.value ?? 0;
  if (!total) return null;
  return merged.find((b) => b.value >= q * total)?.le ?? null;
}

function healthCard(text) {
  const card = h("section", { class: "card", id: "health" }, h("h2", {}, "Service health"));
  if (!text) {
    addContent(card, h("p", { class: "muted" }, "Metrics are not available."));
    return card;
  }
  const triage = samples(text, "switchboard_http_request_duration_seconds_bucket").filter((s) => s.labels.route === "/v1/triage");
  const ms = (s) => (s === null ? "–" : s === Infinity ? "> 10 s" : `≤ ${Math.round(s * 1000)} ms`);
  const queue = samples(text, "switchboard_embed_queue_depth")[0]?.value ?? 0;
  const overloaded = samples(text, "switchboard_embed_overloaded_total").reduce((s, x) => s + x.value, 0);
  const jobs = samples(text, "switchboard_connector_jobs");
  const executions = samples(text, "switchboard_executions");
  addContent(card, h("dl", { class: "health" },
    h("dt", {}, "Triage latency p50 / p95"), h("dd", {}, `${ms(quantile(triage, 0.5))} / ${ms(quantile(triage, 0.95))}`),
    h("dt", {}, "Embedding queue depth"), h("dd", {}, queue),
    h("dt", {}, "Requests refused for load"), h("dd", {}, overloaded),
    h("dt", {}, "Connector jobs"), h("dd", {}, jobs.length ? jobs.filter((j) => j.value).map((j) => `${j.labels.connector} ${j.labels.state}: ${j.value}`).join(", ") || "none" : "no connectors"),
    h("dt", {}, "Executions"), h("dd", {}, executions.filter((e) => e.value).map((e) => `${e.labels.state}: ${e.value}`).join(", ") || "none")));
  return card;
}
