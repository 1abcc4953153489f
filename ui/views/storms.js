// Storms: bursts of similar tickets (probably one failure). Each with its
// parent ticket, size, the words and services its members share, and its
// members on a timeline with their similarity to the storm, so a major
// incident manager sees at a glance how it grew and can open any member.
import { api, badge, failure, h, pct, setContent, when } from "../lib.js";
import { timeline } from "../charts.js";

export async function render(root) {
  const list = h("section", { class: "card", id: "storm-list" }, h("p", { class: "muted" }, "Loading…"));
  const detail = h("section", { class: "card", id: "storm-detail", hidden: true });
  setContent(root, list, detail);
  try {
    const storms = await api("GET", "/v1/storms");
    if (!storms.length) {
      setContent(list, h("h2", {}, "Storms"), h("p", { class: "muted" }, "No storm so far: no burst of similar tickets has been seen."));
      return;
    }
    setContent(list, h("h2", {}, "Storms"), h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Parent", "State", "Tickets", "Shared words", "Started", "Latest"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, storms.map((s) => h("tr", { dataset: { storm: s.id } },
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => show(detail, s.id) }, s.parent)),
        h("td", {}, s.open ? badge("open", "failed") : badge("over", "auto")),
        h("td", {}, s.size),
        h("td", {}, s.terms.map((t) => h("span", { class: "chip" }, t))),
        h("td", {}, when(s.opened_at)),
        h("td", {}, when(s.last_at))))))));
    const wanted = new URLSearchParams(location.search).get("storm") ?? storms[0].id;
    await show(detail, wanted);
  } catch (error) {
    failure(list, error);
  }
}

async function show(detail, id) {
  detail.hidden = false;
  history.replaceState(null, "", `?storm=${encodeURIComponent(id)}`);
  try {
    const s = await api("GET", `/v1/storms/${encodeURIComponent(id)}`);
    const minutes = Math.max(1, Math.round((s.last_at - s.opened_at) / 60000));
    setContent(detail,
      h("h2", {}, `Storm of ${s.size} tickets `, s.open ? badge("open", "failed") : badge("over", "auto")),
      h("p", {}, "Parent: ", h("a", { href: `/ui/triage?ticket=${encodeURIComponent(s.parent)}` }, s.parent),
        ` · ${s.size} tickets in ${minutes} min (${(s.size / minutes).toFixed(1)} a minute) · started ${when(s.opened_at)}`),
      s.terms.length ? h("p", {}, "Shared words: ", s.terms.map((t) => h("span", { class: "chip" }, t))) : null,
      s.services.length ? h("p", {}, "Services: ", s.services.map((t) => h("span", { class: "chip" }, t))) : null,
      s.configuration_items?.length ? h("p", { class: "storm-cis" }, "Configuration items: ", s.configuration_items.map((t) => h("span", { class: "chip" }, t))) : null,
      timeline(s.members),
      h("div", { class: "scroll" }, h("table", { class: "members" },
        h("thead", {}, h("tr", {}, ["Ticket", "Title", "Opened", "Similarity to the storm"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, s.members.map((m) => h("tr", {},
          h("td", {}, h("a", { href: `/ui/triage?ticket=${encodeURIComponent(m.ticket_id)}` }, m.ticket_id)),
          h("td", {}, m.title),
          h("td", {}, when(m.at)),
          h("td", {}, pct(m.similarity))))))));
  } catch (error) {
    failure(detail, error);
  }
}
