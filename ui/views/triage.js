// Triage desk: paste a ticket or open one by id; see each suggestion with its
// confidence, route, alternatives, evidence and the words that weighed most;
// confirm or correct a label; request a runbook with validated parameters.
import { addContent, api, apiStream, badge, confidenceBar, debounce, failure, field, h, me, notice, pct, setContent } from "../lib.js";

let catalog = null;

export async function render(root) {
  const id = h("input", { name: "id", autocomplete: "off", placeholder: "e.g. INC0012345", maxlength: 128 });
  const title = h("input", { name: "title", required: true, maxlength: 1000, placeholder: "Short description" });
  const description = h("textarea", { name: "description", rows: 7, placeholder: "The ticket's text" });
  const result = h("section", { id: "triage-result", "aria-live": "polite" });
  const form = h("form", { class: "card ticket-form", id: "triage-form" },
    h("h2", {}, "Ticket"),
    field("Ticket id", id, me.canRequest ? "Leave empty for a new ticket: the console gives it an id so feedback can be recorded." : "Optional."),
    field("Title", title),
    field("Description", description),
    h("div", { class: "actions" },
      h("button", { type: "submit", id: "suggest" }, "Suggest"),
      h("button", { type: "button", class: "secondary", id: "open-ticket", onclick: () => openById(id.value.trim()) }, "Open by id")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    triage();
  });
  setContent(root, h("div", { class: "desk" }, form, result));

  async function openById(ticket) {
    if (!ticket) {
      notice("Type the ticket id to open.", "error");
      id.focus();
      return;
    }
    try {
      const item = await api("GET", `/v1/review/${encodeURIComponent(ticket)}`);
      title.value = item.title;
      description.value = item.description;
      await triage();
      // The text before scrubbing, when the privacy policy kept it (agents only).
      if (item.original) {
        result.prepend(h("details", { class: "card original" },
          h("summary", {}, "Original text, before personal data was replaced (kept by the privacy policy)"),
          h("p", { class: "ticket-title" }, item.original.title),
          h("p", { class: "ticket-text" }, item.original.description)));
      }
    } catch (error) {
      failure(result, error);
    }
  }

  async function triage() {
    notice("");
    if (!title.value.trim() && !description.value.trim()) {
      notice("Give the ticket a title or a description.", "error");
      title.focus();
      return;
    }
    if (!id.value.trim() && me.canRequest) id.value = newTicketId();
    setContent(result, h("p", { class: "muted" }, "Reading the ticket…"));
    try {
      const body = { title: title.value, description: description.value };
      if (id.value.trim()) body.id = id.value.trim();
      const triaged = await api("POST", "/v1/triage", body);
      catalog ??= await api("GET", "/v1/runbooks").catch(() => []);
      drawResult(result, triaged, body);
    } catch (error) {
      failure(result, error);
    }
  }

  const wanted = new URLSearchParams(location.search).get("ticket");
  if (wanted) {
    id.value = wanted;
    openById(wanted);
  }
}

function newTicketId() {
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return `console-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

function drawResult(result, triaged, ticket) {
  const terms = new Set();
  for (const suggestion of Object.values(triaged.suggestions)) {
    for (const t of suggestion.terms ?? []) t.term.split(" ").forEach((w) => terms.add(w.toLowerCase()));
  }
  const remembered = triaged.remembered && triaged.ticket_id;
  setContent(result,
    triaged.storm ? h("p", { class: "banner storm", role: "alert" }, "Part of a storm of ", h("strong", {}, `${triaged.storm.size} similar tickets`),
      " (probably one failure): link it to the parent ", h("a", { href: `/ui/triage?ticket=${encodeURIComponent(triaged.storm.parent)}` }, triaged.storm.parent),
      " instead of working it alone. ", h("a", { href: `/ui/storms?storm=${encodeURIComponent(triaged.storm.id)}` }, "See the storm")) : null,
    triaged.duplicate_of ? h("p", { class: "banner duplicate" }, "Near-duplicate of ",
      h("a", { href: `/ui/triage?ticket=${encodeURIComponent(triaged.duplicate_of.id)}` }, triaged.duplicate_of.id),
      ` (${triaged.duplicate_of.reason}, ${pct(triaged.duplicate_of.similarity)} similar).`) : null,
    h("div", { class: "card" },
      h("h2", {}, "Ticket text ", h("small", { class: "muted" }, terms.size ? "(the words that weighed most are marked)" : "")),
      h("p", { class: "ticket-title" }, highlight(ticket.title, terms)),
      h("p", { class: "ticket-text", id: "ticket-text" }, highlight(ticket.description, terms)),
      remembered ? h("p", { class: "muted" }, `Remembered as ${triaged.ticket_id}: feedback on it teaches Switchboard.`) : null),
    itemsCard(triaged.configuration_items ?? []),
    h("div", { class: "suggestions" },
      Object.entries(triaged.suggestions).map(([name, s]) => suggestionCard(name, s, remembered ? triaged.ticket_id : null))),
    triaged.priority ? h("p", { class: "card priority" }, "Derived priority: ", h("strong", {}, `${triaged.priority.level} - ${triaged.priority.name}`), ` (impact ${triaged.priority.impact[0]}, urgency ${triaged.priority.urgency[0]}, ${pct(triaged.priority.confidence)} confident)`) : null,
    remembered && me.canRequest ? draftCard(triaged.ticket_id) : null,
    runbooksCard(triaged.runbooks ?? [], triaged.ticket_id),
    similarCard(triaged.similar_incidents ?? []),
    knowledgeCard(triaged.knowledge_articles ?? []),
  );
}

/** The configuration items the ticket mentions, from the inventory. */
function itemsCard(items) {
  if (!items.length) return null;
  return h("section", { class: "card", id: "configuration-items" }, h("h2", {}, "Configuration items mentioned"),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Item", "Kind", "Found as", "Owner group", "Service", "Environment"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((i) => h("tr", { dataset: { item: i.name } },
        h("td", {}, i.name), h("td", {}, i.kind), h("td", {}, i.matched),
        h("td", {}, i.owner_group ?? "–"), h("td", {}, i.service ?? "–"), h("td", {}, i.environment ?? "–")))))));
}

/** The text with every word in `terms` marked. */
function highlight(text, terms) {
  if (!terms.size) return text;
  const out = [];
  let last = 0;
  for (const match of text.matchAll(/[\p{L}\p{N}][\p{L}\p{N}_.-]*/gu)) {
    const word = match[0].replace(/[.-]+$/, "");
    if (!terms.has(word.toLowerCase())) continue;
    out.push(text.slice(last, match.index), h("mark", {}, word));
    last = match.index + word.length;
  }
  out.push(text.slice(last));
  return out;
}

function suggestionCard(name, s, ticketId) {
  const card = h("article", { class: "card suggestion", dataset: { field: name } },
    h("header", {},
      h("h3", {}, name.replaceAll("_", " ")),
      badge(s.route, s.route),
      h("small", { class: "muted" }, ` threshold ${pct(s.threshold)}`)),
    h("p", { class: "label" }, s.label),
    confidenceBar(s.confidence, s.threshold, `confidence in ${s.label}`),
    s.abstained ? h("p", { class: "abstained" }, s.abstained === "vague"
      ? "Left to a person: the ticket says too little about what is wrong."
      : "Left to a person: nothing like this ticket has been seen before.") : null,
    s.terms?.length ? h("p", { class: "why" }, "Why: ", s.terms.map((t) => h("span", { class: "chip", title: `weight ${t.weight.toFixed(2)}` }, t.term))) : null,
    s.ci_owner ? h("p", { class: `ci-owner ${s.ci_owner.agrees ? "agrees" : "differs"}` },
      `${s.ci_owner.configuration_item} is owned by `, h("strong", {}, s.ci_owner.owner_group),
      s.ci_owner.agrees ? " (agrees)" : " (differs: check the routing)") : null,
    s.alternatives?.length ? h("p", { class: "alternatives" }, "Alternatives: ", s.alternatives.map((a) => h("span", { class: "chip" }, `${a.label} ${pct(a.confidence)}`))) : null,
    s.evidence?.length ? h("details", { class: "evidence" },
      h("summary", {}, `Evidence: ${s.evidence.length} similar incident${s.evidence.length === 1 ? "" : "s"}`),
      h("ul", {}, s.evidence.map((e) => h("li", {},
        h("button", { type: "button", class: "link", onclick: () => openIncident(e.id) }, e.id), ` ${pct(e.similarity)} similar`)))) : null);
  if (ticketId && me.canRequest) addContent(card, feedbackForm(name, s, ticketId));
  return card;
}

function feedbackForm(name, s, ticketId) {
  const status = h("span", { class: "feedback-status", role: "status" });
  const choices = h("input", { list: `labels-${name}`, name: `correct-${name}`, placeholder: "Correct label", maxlength: 256 });
  const list = h("datalist", { id: `labels-${name}` }, (s.alternatives ?? []).map((a) => h("option", { value: a.label })));
  const send = async (label, button) => {
    button.disabled = true;
    try {
      const receipt = await api("POST", `/v1/tickets/${encodeURIComponent(ticketId)}/feedback`, { field: name, label, agent: me.user });
      status.textContent = receipt.changed ? `Corrected to ${label}.` : `Confirmed ${label}.`;
      status.className = "feedback-status ok";
    } catch (error) {
      status.textContent = error.message;
      status.className = "feedback-status error";
    } finally {
      button.disabled = false;
    }
  };
  const confirm = h("button", { type: "button", class: "secondary confirm", onclick: (e) => send(s.label, e.currentTarget) }, `Confirm ${s.label}`);
  const correct = h("form", { class: "correct" },
    h("label", { for: `correct-${name}-input`, class: "visually-hidden" }, `Correct ${name}`),
    choices, list, h("button", { type: "submit", class: "secondary" }, "Correct"));
  choices.id = `correct-${name}-input`;
  correct.addEventListener("submit", (event) => {
    event.preventDefault();
    const label = choices.value.trim();
    if (!label) {
      status.textContent = "Type or pick the right label.";
      status.className = "feedback-status error";
      return;
    }
    send(label, event.submitter ?? correct.querySelector("button"));
  });
  return h("div", { class: "feedback" }, confirm, correct, status);
}

async function openIncident(id) {
  const dialog = h("dialog", { class: "incident", "aria-label": `Incident ${id}` }, h("p", {}, "Loading…"));
  addContent(document.body, dialog);
  dialog.addEventListener("close", () => dialog.remove());
  dialog.showModal();
  try {
    const incident = await api("GET", `/v1/incidents/${encodeURIComponent(id)}`);
    setContent(dialog, 
      h("h2", {}, `${incident.id}: ${incident.title}`),
      h("p", { class: "ticket-text" }, incident.description),
      h("h3", {}, "Resolution"),
      h("p", { class: "resolution" }, incident.resolution ?? "No resolution recorded."),
      h("dl", { class: "labels" }, Object.entries(incident.labels ?? {}).map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, v)])),
      h("form", { method: "dialog" }, h("button", { autofocus: true }, "Close")));
  } catch (error) {
    failure(dialog, error);
    addContent(dialog, h("form", { method: "dialog" }, h("button", {}, "Close")));
  }
}

/**
 * A suggested resolution, streamed sentence by sentence (only sentences that
 * passed grounding arrive), each with the evidence it cites; then the agent
 * says whether it was used.
 */
function draftCard(ticketId) {
  const body = h("div", { class: "draft-body" });
  const start = h("button", { type: "button", id: "draft-button" }, "Draft a resolution");
  const card = h("section", { class: "card", id: "draft" }, h("h2", {}, "Suggested resolution"),
    h("p", { class: "muted" }, "Written from the similar incidents and articles; every sentence cites its source."),
    start, body);
  const sentence = (s) => h("li", { class: "draft-sentence" }, s.text,
    s.citations.flatMap((c) => [" ", h("span", { class: "citation" }, `[${c}]`)]));
  start.addEventListener("click", async () => {
    start.disabled = true;
    const list = h("ol", { class: "draft-sentences" });
    setContent(body, h("p", { class: "muted" }, "Reading the evidence…"), list);
    try {
      await apiStream(`/v1/tickets/${encodeURIComponent(ticketId)}/draft`, (event, data) => {
        if (event === "evidence") setContent(body, h("p", { class: "muted" }, `Writing from ${data.length} pieces of evidence…`), list);
        if (event === "sentence") addContent(list, sentence(data));
        if (event === "error") throw new Error(data.error?.message ?? "the draft failed");
        if (event === "draft") drawDraft(card, body, data);
      });
    } catch (error) {
      failure(body, error);
    } finally {
      start.disabled = false;
    }
  });
  return card;

  function drawDraft(card, body, draft) {
    card.dataset.status = draft.status;
    if (draft.status !== "drafted") {
      setContent(body, h("p", { class: "draft-reason" }, `No draft: ${draft.reason}`));
      return;
    }
    const status = h("p", { class: "draft-review-status", role: "status" });
    const edited = h("textarea", { rows: 4, id: "draft-edit" });
    edited.value = draft.sentences.map((s) => s.text).join("\n");
    const review = async (verdict, text) => {
      try {
        await api("POST", `/v1/tickets/${encodeURIComponent(ticketId)}/draft/review`, { draft_id: draft.id, verdict, ...(text ? { text } : {}) });
        setContent(status, { accepted: "Accepted as written.", edited: "Recorded as edited.", rejected: "Recorded as not used." }[verdict]);
      } catch (error) {
        failure(status, error);
      }
    };
    setContent(body,
      h("ol", { class: "draft-sentences" }, draft.sentences.map(sentence)),
      h("p", { class: "muted" }, `${draft.backend}${draft.model !== "none" ? ` (${draft.model})` : ""} · ${Math.round(draft.latency_ms)} ms`
        + (draft.checks.sentences_dropped ? ` · ${draft.checks.sentences_dropped} unsupported sentences left out` : "")),
      h("details", {}, h("summary", {}, "Edit before sending"), field("What you sent", edited),
        h("button", { type: "button", class: "secondary", onclick: () => review("edited", edited.value) }, "Sent edited")),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "draft-accept", onclick: () => review("accepted") }, "Sent as written"),
        h("button", { type: "button", class: "secondary", id: "draft-reject", onclick: () => review("rejected") }, "Not used")),
      status);
  }
}

function similarCard(similar) {
  if (!similar.length) return null;
  return h("section", { class: "card" }, h("h2", {}, "Similar incidents"),
    h("ul", { class: "similar" }, similar.map((s) => h("li", {},
      h("button", { type: "button", class: "link", onclick: () => openIncident(s.id) }, s.id),
      ` ${pct(s.similarity)} · ${s.title}`,
      s.resolution ? h("p", { class: "resolution" }, s.resolution) : null))));
}

function knowledgeCard(articles) {
  if (!articles.length) return null;
  return h("section", { class: "card" }, h("h2", {}, "Knowledge articles"),
    h("ul", { class: "similar" }, articles.map((a) => h("li", {},
      h("strong", {}, a.title), a.heading ? ` › ${a.heading}` : "", ` ${pct(a.similarity)}`,
      h("p", {}, a.snippet),
      a.url && /^https?:\/\//.test(a.url) ? h("a", { href: a.url, rel: "noopener noreferrer", target: "_blank" }, "Open article") : null))));
}

function runbooksCard(matches, ticketId) {
  if (!matches.length) return null;
  return h("section", { class: "card" }, h("h2", {}, "Runbooks that fit"),
    matches.map((m) => {
      const spec = (catalog ?? []).find((r) => r.id === m.id);
      return h("article", { class: "runbook-match", dataset: { runbook: m.id } },
        h("h3", {}, m.title, " ", badge(m.risk), " ", badge(m.approval)),
        h("p", { class: "muted" }, `${pct(m.similarity)} similar · ${(m.reasons ?? []).join("; ")}`),
        me.canRequest && spec ? requestForm(spec, m.params ?? {}, ticketId) : null);
    }));
}

/** The request form of a runbook: fields pre-filled from the ticket,
 * validated as you type by the server's own rules (a plan preview). */
export function requestForm(spec, prefilled, ticketId) {
  const inputs = {};
  const errors = {};
  const plan = h("pre", { class: "plan", "aria-label": "Plan" });
  const status = h("p", { class: "request-status", role: "status" });
  const submit = h("button", { type: "submit", class: "request" }, `Request ${spec.approval?.mode === "auto" ? "run" : "approval"}`);
  const params = [...(spec.parameters ?? [])];
  if (spec.targets?.required) params.unshift({ name: "target", description: `Inventory item (${(spec.targets.kinds ?? []).join(", ") || "any"})`, required: true });
  let touched = false;
  const validate = debounce(() => {
    touched = true;
    check();
  }, 200);
  const fields = params.map((p) => {
    const input = p.enum?.length
      ? h("select", { name: p.name }, h("option", { value: "" }, "—"), p.enum.map((c) => h("option", { value: c }, c)))
      : h("input", { name: p.name, autocomplete: "off", placeholder: p.default ?? "" });
    input.value = prefilled[p.name] ?? p.default ?? "";
    input.addEventListener("input", validate);
    inputs[p.name] = input;
    errors[p.name] = h("small", { class: "field-error", role: "alert" });
    const wrapped = field(`${p.name}${p.required ? " *" : ""}`, input, p.description);
    addContent(wrapped, errors[p.name]);
    return wrapped;
  });
  const values = () => Object.fromEntries(Object.entries(inputs).filter(([, i]) => i.value !== "").map(([k, i]) => [k, i.value]));
  async function check() {
    Object.values(errors).forEach((e) => (e.textContent = ""));
    Object.values(inputs).forEach((i) => i.removeAttribute("aria-invalid"));
    status.textContent = "";
    try {
      const preview = await api("POST", `/v1/runbooks/${encodeURIComponent(spec.id)}/plan`, values());
      if (preview.valid) {
        plan.textContent = preview.plan.steps.map((s) => `${s.name}: ${s.argv?.length ? s.argv.join(" ") : `${s.http?.method} ${s.http?.url}`}`).join("\n");
        submit.disabled = false;
        return true;
      }
      const name = preview.field?.replace(/^params\./, "");
      if (name && errors[name]) {
        // An empty required field is not an error until the user has typed.
        if (inputs[name].value !== "" || touched) {
          errors[name].textContent = preview.message;
          inputs[name].setAttribute("aria-invalid", "true");
        }
      } else {
        status.textContent = preview.message;
      }
    } catch (error) {
      status.textContent = error.message;
    }
    plan.textContent = "";
    submit.disabled = true;
    return false;
  }
  // An emergency change may start during a freeze; it needs a justification
  // and an approver with the emergency role.
  const emergency = h("input", { type: "checkbox", name: "emergency" });
  const justification = h("textarea", { name: "justification", rows: 2, maxlength: 2000 });
  const justify = field("Why it cannot wait", justification, "Recorded with the change and shown to the change manager");
  justify.hidden = true;
  emergency.addEventListener("change", () => { justify.hidden = !emergency.checked; });
  const urgent = h("label", { class: "emergency" }, emergency, " Emergency change (needs a change manager's approval)");
  const form = h("form", { class: "request-form" }, fields, urgent, justify, plan, h("div", { class: "actions" }, submit), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    touched = true;
    if (!(await check())) return;
    submit.disabled = true;
    try {
      const body = { runbook: spec.id, params: values(), idempotency_key: `console-${crypto.randomUUID()}` };
      if (ticketId) body.ticket_id = ticketId;
      if (emergency.checked) {
        body.emergency = true;
        body.justification = justification.value;
      }
      const execution = await api("POST", "/v1/executions", body);
      setContent(status, `Requested: ${execution.state.replaceAll("_", " ")}. `, h("a", { href: `/ui/approvals?execution=${encodeURIComponent(execution.id)}` }, "Follow it"));
      status.className = "request-status ok";
    } catch (error) {
      status.textContent = error.message;
      status.className = "request-status error";
      submit.disabled = false;
    }
  });
  check();
  return form;
}
