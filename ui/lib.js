// Shared helpers of the console's views: building DOM without innerHTML
// (every value from the API is text, never markup), calling the API with the
// session's CSRF token, and showing what went wrong in words.

/** The signed-in caller and what the page may offer them. */
export const me = (() => {
  const data = document.body.dataset;
  return {
    user: data.user,
    role: data.role,
    canRequest: data.canRequest === "true",
    canApprove: data.canApprove === "true",
    isAdmin: data.isAdmin === "true",
  };
})();

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

/** An element: h("a", { href: "/x", class: "c", onclick: fn }, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "rect", "line", "path", "circle", "text", "polyline", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...nodes(children));
  return el;
}

/** The children as nodes: arrays flattened, null / undefined / false left out. */
function nodes(children) {
  return children.flat(Infinity).filter((c) => c !== undefined && c !== null && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

/** Replaces `el`'s content (arrays and empty values handled as in h()). */
export function setContent(el, ...children) {
  el.replaceChildren(...nodes(children));
}

/** Appends to `el` (arrays and empty values handled as in h()). */
export function addContent(el, ...children) {
  el.append(...nodes(children));
}

/** An API failure, with the API's error code and message. */
export class ApiFailure extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Calls the API as the signed-in user; throws ApiFailure on any non-2xx. */
export async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") init.headers["x-csrf-token"] = csrf;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiFailure(0, "network", "Switchboard cannot be reached. Check your connection and try again.");
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    const error = json?.error ?? {};
    if (response.status === 401) {
      throw new ApiFailure(401, "unauthorized", "Your session has ended. Sign in again to continue.");
    }
    throw new ApiFailure(response.status, error.code ?? "error", error.message ?? `The server answered ${response.status}.`, error.field);
  }
  return json;
}

/**
 * POSTs to `path` asking for server-sent events, calling `onEvent(name, data)`
 * for each as it arrives (EventSource cannot POST or send the CSRF header).
 * Throws ApiFailure when the answer is not a stream.
 */
export async function apiStream(path, onEvent) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { accept: "text/event-stream", "x-csrf-token": csrf },
    });
  } catch {
    throw new ApiFailure(0, "network", "Switchboard cannot be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    const error = (await response.json().catch(() => null))?.error ?? {};
    throw new ApiFailure(response.status, error.code ?? "error", error.message ?? `The server answered ${response.status}.`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name && data) onEvent(name, JSON.parse(data));
    }
  }
}

/** Shows a message in the page's status area (and for screen readers). */
export function notice(message, kind = "info") {
  const area = document.getElementById("notice");
  area.replaceChildren(message ? h("p", { class: `notice ${kind}` }, message) : "");
}

/** A refusal or failure as a clear message in `container`. */
export function failure(container, error) {
  const message = error instanceof ApiFailure ? error.message : `Something went wrong: ${error.message}`;
  const box = h("p", { class: "error", role: "alert" }, message);
  if (error.status === 401) box.append(" ", h("a", { href: "/ui/login" }, "Sign in"));
  container.replaceChildren(box);
}

/** A percentage with no decimals. */
export const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);

/** A time (Unix ms) in the user's locale. */
export const when = (ms) => (ms ? new Date(ms).toLocaleString() : "–");

/** A duration in ms as words. */
export function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A confidence bar: the value as a filled track with its threshold marked. */
export function confidenceBar(value, threshold, label) {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
  const track = h("span", { class: "track", role: "meter", "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": value.toFixed(2), "aria-label": label }, fill);
  if (threshold !== undefined && threshold !== null) {
    const mark = h("span", { class: "mark", title: `threshold ${pct(threshold)}` });
    mark.style.left = `${threshold * 100}%`;
    track.append(mark);
  }
  return h("span", { class: "bar" }, track, h("span", { class: "value" }, pct(value)));
}

/** A small badge. */
export const badge = (text, kind = text) => h("span", { class: `badge badge-${String(kind).replace(/[^a-z_-]/gi, "")}` }, text);

/** A labelled form control. */
export function field(label, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control, help ? h("small", { class: "help" }, help) : null);
}

/** Debounces `fn` by `ms`. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
