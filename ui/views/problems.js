// Problems: the last problem report (recurring clusters of incidents) as a
// chart a problem manager reads at a glance, and a table with each
// cluster's representative tickets, recurring fixes, groups and the
// knowledge passage that covers it (or a knowledge gap).
import { api, ApiFailure, badge, failure, h, me, notice, pct, setContent, when } from "../lib.js";
import { problemChart } from "../charts.js";

export async function render(root) {
  const summary = h("section", { class: "card", id: "problem-chart" }, h("p", { class: "muted" }, "Loading…"));
  const table = h("section", { class: "card", id: "problem-list" });
  setContent(root, summary, table);
  let report;
  try {
    report = await api("GET", "/v1/problems");
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 404) {
      setContent(summary, h("h2", {}, "Problem candidates"),
        h("p", { class: "muted" }, "No report yet. Run `switchboard problems` (or `--server` against this service), or make one here as an admin."),
        makeButton(root));
      return;
    }
    failure(summary, error);
    return;
  }
  const o = report.options;
  setContent(summary, h("h2", {}, "Problem candidates"),
    h("p", { class: "muted" }, `${report.incidents} incidents${o.since ? ` since ${when(o.since)}` : ""}; ${report.clustered} of them in ${report.clusters} recurring clusters (similarity ≥ ${o.similarity.toFixed(2)}, at least ${o.min_size} incidents). Made ${when(report.generated_at)}. Red: no knowledge passage at least ${pct(o.knowledge_gap)} similar (a knowledge gap).`),
    problemChart(report.problems),
    makeButton(root));
  setContent(table, h("h2", {}, "Clusters"), h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Problem", "Incidents", "Trend", "Recurring resolutions", "Groups", "Knowledge"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, report.problems.map((p) => h("tr", { dataset: { problem: p.id } },
      h("td", {}, p.terms.map((t) => h("span", { class: "chip" }, t)),
        h("ul", { class: "plain" }, p.representatives.map((r) => h("li", {}, h("a", { href: `/ui/triage?ticket=${encodeURIComponent(r.id)}` }, r.id), ` ${r.title} (${pct(r.similarity)})`)))),
      h("td", {}, String(p.size), h("br"), h("small", { class: "muted" }, `cohesion ${pct(p.cohesion)}`)),
      h("td", {}, badge(p.trend.direction, p.trend.direction === "rising" ? "failed" : "auto"),
        p.trend.direction === "unknown" ? null : h("small", { class: "muted" }, ` ${p.trend.last_30_days} in the last 30 days, ${p.trend.previous_30_days} before`)),
      h("td", {}, p.resolutions.length
        ? h("ul", { class: "plain" }, p.resolutions.map((r) => h("li", {}, `${r.count}× ${r.text}`)))
        : h("span", { class: "muted" }, `none recurs (${p.resolved} resolved)`)),
      h("td", {}, p.groups.map((g) => h("div", {}, `${g.label} (${g.count})`))),
      h("td", { class: p.knowledge_gap ? "gap" : "" },
        p.knowledge ? `${p.knowledge.title}${p.knowledge.heading ? ` › ${p.knowledge.heading}` : ""} (${pct(p.knowledge.similarity)})` : "–",
        p.knowledge_gap ? h("div", {}, badge("knowledge gap", "failed")) : null)))))));
}

function makeButton(root) {
  if (!me.isAdmin) return null;
  const button = h("button", { type: "button", id: "make-problems" }, "Make a report now");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Clustering…";
    try {
      await api("POST", "/v1/admin/problems", {});
      await render(root);
    } catch (error) {
      notice(error.message, "error");
      button.disabled = false;
      button.textContent = "Make a report now";
    }
  });
  return h("div", { class: "actions" }, button);
}
