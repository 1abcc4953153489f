// Changes: every runbook execution as a change record (standard, normal,
// emergency) on a calendar with the freeze and maintenance windows, so a
// change manager sees what ran, what waits for a window, and which
// emergencies overrode a freeze, with who justified and approved them.
import { api, badge, failure, h, setContent, when } from "../lib.js";
import { changeCalendar } from "../charts.js";

export async function render(root) {
  const calendar = h("section", { class: "card", id: "change-calendar" }, h("p", { class: "muted" }, "Loading…"));
  const table = h("section", { class: "card", id: "change-list" });
  setContent(root, calendar, table);
  try {
    const list = await api("GET", "/v1/changes");
    setContent(calendar, h("h2", {}, "Change calendar"),
      h("p", { class: "muted" }, `${when(list.from)} – ${when(list.to)}. Red: freeze (only emergency changes start). Green: maintenance window (deferred changes start in the next one).`),
      changeCalendar(list),
      list.windows.length ? null : h("p", { class: "muted" }, "No freeze or maintenance window is configured ([[changes.windows]])."));
    if (!list.changes.length) {
      setContent(table, h("h2", {}, "Changes"), h("p", { class: "muted" }, "No change in this period."));
      return;
    }
    setContent(table, h("h2", {}, "Changes"), h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Type", "Runbook", "Target", "State", "Requested", "Scheduled for", "Approved by", "Justification"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.changes.map((c) => h("tr", { dataset: { change: c.id, type: c.change_type } },
        h("td", {}, badge(c.change_type), c.during_freeze ? h("small", { class: "muted" }, ` during ${c.during_freeze}`) : null),
        h("td", {}, h("a", { href: `/ui/approvals?execution=${encodeURIComponent(c.id)}` }, c.title || c.runbook)),
        h("td", {}, c.target ?? "–"),
        h("td", {}, badge(c.state.replaceAll("_", " "), c.state)),
        h("td", {}, `${when(c.created_at)} by ${c.requested_by}`),
        h("td", {}, when(c.scheduled_for)),
        h("td", {}, c.approved_by.join(", ") || "–"),
        h("td", {}, c.justification ?? "")))))));
  } catch (error) {
    failure(calendar, error);
  }
}
