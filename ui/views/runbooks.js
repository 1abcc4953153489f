// Runbook catalog: each runbook with its parameters, targets, risk, approval
// policy and steps, its last executions, and (for agents) a request form.
import { api, badge, failure, h, me, setContent, when } from "../lib.js";
import { requestForm } from "./triage.js";

export async function render(root) {
  try {
    const [runbooks, executions] = await Promise.all([api("GET", "/v1/runbooks"), api("GET", "/v1/executions")]);
    if (!runbooks.length) {
      setContent(root, h("p", { class: "muted" }, "No runbooks are loaded. Put runbook files in the runbooks directory (docs/runbooks.md)."));
      return;
    }
    setContent(root, h("div", { class: "catalog" }, runbooks.map((r) => card(r, executions.filter((e) => e.runbook === r.id).slice(0, 5)))));
  } catch (error) {
    failure(root, error);
  }
}

function steps(list, phase) {
  return list.map((s) => h("li", {}, h("strong", {}, `${phase} ${s.name}`), " ", h("code", {}, s.run?.length ? s.run.join(" ") : `${s.http?.method} ${s.http?.url}`), s.timeout ? ` (timeout ${s.timeout})` : ""));
}

function card(r, recent) {
  const approval = r.approval ?? {};
  return h("article", { class: "card runbook", id: `runbook-${r.id}` },
    h("h2", {}, r.title, " ", badge(r.risk), " ", badge(approval.mode ?? "manual")),
    h("p", {}, r.description),
    h("p", { class: "muted" }, `id ${r.id} · version ${r.version} · owner ${r.owner || "–"}`,
      approval.mode === "manual" ? ` · ${approval.approvers} approval(s) by ${approval.role}, expires after ${approval.expires_after}` : " · runs without approval"),
    h("h3", {}, "Parameters"),
    (r.parameters ?? []).length || r.targets?.required
      ? h("ul", {}, [
        r.targets?.required ? h("li", {}, h("strong", {}, "target"), ` inventory item (${(r.targets.kinds ?? []).join(", ") || "any kind"}${(r.targets.tags ?? []).length ? `, tags ${r.targets.tags.join(", ")}` : ""})`) : null,
        ...(r.parameters ?? []).map((p) => h("li", {}, h("strong", {}, p.name), ` ${p.type ?? ""}${p.required ? ", required" : ""}`,
          p.pattern ? [", pattern ", h("code", {}, p.pattern)] : "", p.enum?.length ? `, one of ${p.enum.join(", ")}` : "",
          p.min !== null && p.min !== undefined ? `, ≥ ${p.min}` : "", p.max !== null && p.max !== undefined ? `, ≤ ${p.max}` : "",
          p.description ? ` — ${p.description}` : ""))])
      : h("p", { class: "muted" }, "None."),
    h("h3", {}, "Steps"),
    h("ol", { class: "steps" }, [...steps(r.check ?? [], "check"), ...steps(r.steps ?? [], "step"), ...steps(r.rollback ?? [], "rollback")]),
    h("h3", {}, "Last executions"),
    recent.length
      ? h("ul", {}, recent.map((e) => h("li", {}, h("a", { href: `/ui/approvals?execution=${encodeURIComponent(e.id)}` }, when(e.created_at)), " ", badge(e.state.replaceAll("_", " "), e.state), ` by ${e.requested_by}`)))
      : h("p", { class: "muted" }, "Never run."),
    me.canRequest ? h("details", {}, h("summary", {}, "Request a run"), requestForm(r, {}, null)) : null);
}
