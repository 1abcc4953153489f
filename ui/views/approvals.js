// Approvals and executions: what waits for my decision (approve / reject with
// a comment, the plan with values substituted, who asked and for which
// ticket, the time left), and every execution with its steps' output
// (redacted by the server), state, timings, audit entries and whether the
// audit chain verifies.
import { api, badge, duration, failure, field, h, me, notice, setContent, when } from "../lib.js";

const FINISHED = ["succeeded", "failed", "timed_out", "rolled_back", "rejected", "expired", "cancelled", "interrupted"];

export async function render(root) {
  const pending = h("section", { class: "card", id: "pending" }, h("h2", {}, "Waiting for a decision"));
  const list = h("section", { class: "card", id: "executions" }, h("h2", {}, "Executions"));
  const detail = h("section", { class: "card", id: "execution-detail", hidden: true });
  setContent(root, h("div", { class: "approvals" }, pending, list), detail);
  const selected = new URLSearchParams(location.search).get("execution");
  let timer;
  // Redrawn only when what they show changed, so a comment being typed is
  // never wiped by the periodic refresh.
  let shownPending = null;
  let shownList = null;
  async function refresh() {
    try {
      const all = await api("GET", "/v1/executions");
      const waiting = all.filter((e) => e.state === "pending_approval");
      const pendingKey = JSON.stringify(waiting.map((e) => [e.id, e.decisions.length]));
      if (pendingKey !== shownPending) {
        shownPending = pendingKey;
        drawPending(pending, waiting, refresh);
      }
      const listKey = JSON.stringify(all.map((e) => [e.id, e.state, e.finished_at]));
      if (listKey !== shownList) {
        shownList = listKey;
        drawList(list, all, (id) => show(id));
      }
    } catch (error) {
      shownPending = shownList = null;
      failure(pending, error);
      setContent(list);
    }
  }
  async function show(id) {
    history.replaceState(null, "", `?execution=${encodeURIComponent(id)}`);
    await drawDetail(detail, id, refresh);
  }
  await refresh();
  if (selected) await show(selected);
  // Running executions and countdowns move on their own.
  timer = setInterval(async () => {
    await refresh();
    const open = new URLSearchParams(location.search).get("execution");
    if (open && !detail.hidden && !FINISHED.includes(detail.dataset.state)) await drawDetail(detail, open, refresh);
    document.querySelectorAll("[data-expires]").forEach(tick);
  }, 2000);
  window.addEventListener("pagehide", () => clearInterval(timer));
}

function tick(el) {
  const left = Number(el.dataset.expires) - Date.now();
  el.textContent = left > 0 ? `expires in ${duration(left)}` : "expired";
}

function drawPending(section, executions, refresh) {
  const items = executions.map((e) => {
    const mine = e.requested_by === me.user;
    const decided = e.decisions.some((d) => d.approver === me.user);
    const comment = h("textarea", { rows: 2, name: "comment", placeholder: "Why (recorded in the audit trail)" });
    const status = h("p", { role: "status", class: "decision-status" });
    const decide = async (verb, button) => {
      button.disabled = true;
      try {
        const after = await api("POST", `/v1/executions/${encodeURIComponent(e.id)}/${verb}`, { comment: comment.value });
        notice(`${verb === "approve" ? "Approved" : "Rejected"}: ${e.runbook} is now ${after.state.replaceAll("_", " ")}.`, "ok");
        await refresh();
      } catch (error) {
        status.textContent = error.message;
        status.className = "decision-status error";
        button.disabled = false;
      }
    };
    const expires = h("span", { class: "countdown", dataset: { expires: e.expires_at ?? 0 } });
    tick(expires);
    let actions;
    if (!me.canApprove) actions = null;
    else if (mine) actions = h("p", { class: "muted own-request" }, "You requested this: another approver must decide.");
    else if (decided) actions = h("p", { class: "muted" }, "You have decided; waiting for another approver.");
    else {
      actions = h("div", { class: "decide" }, field("Comment", comment),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "approve", onclick: (ev) => decide("approve", ev.currentTarget) }, "Approve"),
          h("button", { type: "button", class: "danger reject", onclick: (ev) => decide("reject", ev.currentTarget) }, "Reject")),
        status);
    }
    return h("article", { class: "pending-item", dataset: { execution: e.id } },
      h("h3", {}, e.runbook, " ", badge(e.plan.target ?? "no target", "target")),
      h("p", {}, `Requested by ${e.requested_by}`, e.ticket_id ? [" for ticket ", h("a", { href: `/ui/triage?ticket=${encodeURIComponent(e.ticket_id)}` }, e.ticket_id)] : "",
        ` · ${when(e.created_at)} · `, expires,
        ` · ${e.approvals_needed} more approval${e.approvals_needed === 1 ? "" : "s"} needed`),
      planView(e.plan),
      e.decisions.length ? h("ul", {}, e.decisions.map((d) => h("li", {}, `${d.approver} ${d.decision}${d.comment ? `: ${d.comment}` : ""}`))) : null,
      actions);
  });
  setContent(section, h("h2", {}, "Waiting for a decision"),
    items.length ? items : h("p", { class: "muted" }, "Nothing waits for a decision."));
}

function planView(plan) {
  const lines = (steps, phase) => steps.map((s) => `${phase} ${s.name}: ${s.argv?.length ? s.argv.join(" ") : `${s.http?.method} ${s.http?.url}`}`);
  return h("details", { class: "plan-details", open: true },
    h("summary", {}, "Plan"),
    h("dl", { class: "labels" }, Object.entries(plan.params ?? {}).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("pre", { class: "plan" }, [...lines(plan.check ?? [], "check"), ...lines(plan.steps ?? [], "step"), ...lines(plan.rollback ?? [], "rollback")].join("\n")));
}

function drawList(section, executions, show) {
  const rows = executions.map((e) => h("tr", { dataset: { execution: e.id, state: e.state } },
    h("td", {}, h("button", { type: "button", class: "link", onclick: () => show(e.id) }, e.runbook)),
    h("td", {}, badge(e.state.replaceAll("_", " "), e.state)),
    h("td", {}, e.requested_by),
    h("td", {}, when(e.created_at)),
    h("td", {}, e.started_at ? duration((e.finished_at ?? Date.now()) - e.started_at) : "–")));
  setContent(section, h("h2", {}, "Executions"),
    rows.length
      ? h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ["Runbook", "State", "Requested by", "Requested", "Ran for"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)))
      : h("p", { class: "muted" }, "No executions yet."));
}

async function drawDetail(section, id, refresh) {
  section.hidden = false;
  try {
    const [e, audit, chain] = await Promise.all([
      api("GET", `/v1/executions/${encodeURIComponent(id)}`),
      api("GET", `/v1/executions/${encodeURIComponent(id)}/audit`),
      api("GET", "/v1/audit/verify"),
    ]);
    section.dataset.state = e.state;
    const cancel = me.canApprove && !FINISHED.includes(e.state)
      ? h("button", { type: "button", class: "danger", onclick: async (ev) => {
        ev.currentTarget.disabled = true;
        try { await api("POST", `/v1/executions/${encodeURIComponent(id)}/cancel`, {}); await refresh(); await drawDetail(section, id, refresh); } catch (error) { notice(error.message, "error"); }
      } }, "Cancel")
      : null;
    setContent(section, 
      h("h2", {}, `Execution ${e.runbook} `, h("span", { class: "execution-state" }, badge(e.state.replaceAll("_", " "), e.state)), " ", cancel),
      h("p", { class: "muted" }, `Requested by ${e.requested_by} at ${when(e.created_at)}; started ${when(e.started_at)}; finished ${when(e.finished_at)}${e.dry_run ? " (dry run)" : ""}`),
      planView(e.plan),
      h("h3", {}, "Steps"),
      e.steps.length ? e.steps.map((s) => h("article", { class: "step", dataset: { status: s.status } },
        h("h4", {}, `${s.phase} · ${s.name} `, badge(s.status), h("small", { class: "muted" }, ` ${duration(s.duration_ms)}, exit ${s.exit_code ?? "–"}, ${s.attempts} attempt${s.attempts === 1 ? "" : "s"}`)),
        s.stdout ? h("pre", { class: "output stdout", "aria-label": "standard output" }, s.stdout) : null,
        s.stderr ? h("pre", { class: "output stderr", "aria-label": "standard error" }, s.stderr) : null,
        s.truncated ? h("p", { class: "muted" }, "Output was cut at the limit.") : null,
        s.killed_processes ? h("p", { class: "muted" }, `${s.killed_processes} leftover process(es) killed.`) : null))
        : h("p", { class: "muted" }, "No step has run."),
      h("h3", {}, "Audit trail ", chain.broken
        ? h("span", { class: "badge badge-failed", id: "chain-state" }, `chain broken at entry ${chain.broken[0]}`)
        : h("span", { class: "badge badge-succeeded", id: "chain-state" }, `chain verifies (${chain.entries} entries)`)),
      h("div", { class: "scroll" }, h("table", { class: "audit" },
        h("thead", {}, h("tr", {}, ["#", "When", "Who", "What", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, audit.map((a) => h("tr", {}, h("td", {}, a.seq), h("td", {}, when(a.at)), h("td", {}, a.actor), h("td", {}, a.action, a.before || a.after ? ` (${a.before || "–"} → ${a.after || "–"})` : ""), h("td", {}, h("code", {}, a.detail))))))));
  } catch (error) {
    failure(section, error);
  }
}
