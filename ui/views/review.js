// Review queue: recently triaged tickets, filterable by route, field,
// confidence and connector; what was applied automatically and what waits
// for a person. A ticket opens in the triage desk.
import { api, badge, failure, field, h, pct, setContent, when } from "../lib.js";

export async function render(root) {
  const params = new URLSearchParams(location.search);
  const route = h("select", { name: "route" }, ["", "auto", "suggest"].map((v) => h("option", { value: v }, v || "any")));
  const fieldName = h("input", { name: "field", placeholder: "any field", list: "review-fields" });
  const fields = h("datalist", { id: "review-fields" });
  const min = h("input", { name: "min_confidence", type: "number", min: 0, max: 1, step: 0.05, placeholder: "0" });
  const max = h("input", { name: "max_confidence", type: "number", min: 0, max: 1, step: 0.05, placeholder: "1" });
  const connector = h("input", { name: "connector", placeholder: "any (api for the API)" });
  const waiting = h("select", { name: "needs_review" }, [["", "all"], ["true", "waits for a person"], ["false", "handled"]].map(([v, t]) => h("option", { value: v }, t)));
  for (const input of [route, fieldName, min, max, connector, waiting]) input.value = params.get(input.name) ?? "";
  const table = h("div", { id: "review-table" });
  const form = h("form", { class: "card filters", id: "review-filters" },
    field("Route", route), field("Field", fieldName), fields, field("Confidence from", min), field("to", max),
    field("Connector", connector), field("Status", waiting),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  setContent(root, form, h("section", { class: "card" }, table));

  async function load() {
    const query = new URLSearchParams();
    for (const input of [route, fieldName, min, max, connector, waiting]) if (input.value !== "") query.set(input.name, input.value);
    history.replaceState(null, "", query.size ? `?${query}` : location.pathname);
    setContent(table, h("p", { class: "muted" }, "Loading…"));
    try {
      const items = await api("GET", `/v1/review?${query}`);
      const known = new Set(items.flatMap((i) => Object.keys(i.suggestions)));
      setContent(fields, ...[...known].map((f) => h("option", { value: f })));
      draw(items);
    } catch (error) {
      failure(table, error);
    }
  }

  function draw(items) {
    if (!items.length) {
      setContent(table, h("p", { class: "muted" }, "No triaged ticket matches. Tickets with an id triaged through the API or a connector appear here."));
      return;
    }
    setContent(table, h("div", { class: "scroll" }, h("table", { class: "review" },
      h("thead", {}, h("tr", {}, ["Ticket", "Source", "Suggestions", "Applied", "Status", "Triaged"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((i) => h("tr", { dataset: { ticket: i.ticket_id } },
        h("td", {}, h("a", { href: `/ui/triage?ticket=${encodeURIComponent(i.ticket_id)}` }, i.ticket_id), h("br"), h("small", {}, i.title)),
        h("td", {}, i.source),
        h("td", {}, h("ul", { class: "plain" }, Object.entries(i.suggestions).map(([f, s]) => h("li", {}, `${f.replaceAll("_", " ")}: `, h("strong", {}, s.label), ` ${pct(s.confidence)} `, badge(s.route))))),
        h("td", {}, Object.keys(i.applied).length ? Object.entries(i.applied).map(([f, v]) => h("div", {}, `${f} = ${v}`)) : "–"),
        h("td", {}, i.needs_review ? badge("waits for a person", "suggest") : badge("handled", "auto")),
        h("td", {}, when(i.triaged_at), h("br"), h("small", {}, i.triaged_by))))))));
  }
  load();
}
