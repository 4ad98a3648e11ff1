// Shared by the views: constants, safe DOM building, the REST client and a poller.
//
// Text from the API is user-controlled (names, code, output): it only ever
// reaches the page through text nodes and attribute values, never parsed as
// HTML, and links taken from it must be http(s).

export const UI = "/ui";
export const POLL_MS = 2000;
export const FAST_MS = 1000;
export const LIST_SIZE = 100;
export const LOG_WINDOW = 1000;
export const LOG_KEEP = 20000;
export const FINAL_STATEMENT = new Set(["available", "cancelled", "error"]);
export const FINAL_RECORD = new Set(["success", "dead", "killed", "error"]);
const STATE_CLASS = {
  idle: "ok", success: "ok", available: "ok",
  busy: "busy", running: "busy", cancelling: "busy",
  starting: "wait", not_started: "wait", recovering: "wait", waiting: "wait",
  shutting_down: "off", cancelled: "off",
  error: "bad", dead: "bad", killed: "bad",
};

// ------------------------------------------------------------- DOM helpers

/** An element; `props` are ours (never API data as a key), kids are nodes or text. */
export function el(tag, props, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = String(v);
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    n.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return n;
}

/** An http(s) URL from the API, or null (no `javascript:` or `data:` links). */
export function safeUrl(u) {
  if (typeof u !== "string" || u === "") return null;
  try {
    const url = new URL(u, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function extLink(u, text, cls) {
  const href = safeUrl(u);
  return href ? el("a", { href, class: cls, target: "_blank", rel: "noopener noreferrer", text }) : null;
}

// A state's badge; `failure` (the record's failure cause) shows on hover.
export function badge(state, failure) {
  const s = typeof state === "string" ? state : "unknown";
  const attrs = { class: "badge state " + (STATE_CLASS[s] || "off"), "data-state": s, text: s };
  if (typeof failure === "string") {
    attrs["data-failure"] = failure;
    attrs.title = `failed: ${failure.replace(/_/g, " ")}`;
  }
  return el("span", attrs);
}

export function orDash(v) {
  return v === null || v === undefined || v === "" ? "–" : String(v);
}

export function time(ms) {
  return ms > 0 ? new Date(ms).toLocaleTimeString() : null;
}

// --------------------------------------------------------------------- API

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, opts = {}) {
  const method = opts.method || "GET";
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  // Livy's CSRF protection wants this header on every changing request.
  if (method !== "GET") headers["X-Requested-By"] = "livy-server-ui";
  const r = await fetch(path, init);
  const text = await r.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!r.ok) {
    let msg = r.statusText || "request failed";
    if (body && typeof body === "object" && typeof body.msg === "string") msg = body.msg;
    else if (typeof body === "string" && body !== "") msg = body;
    else if (r.status === 403) msg = "access denied";
    throw new ApiError(r.status, `${r.status}: ${msg}`);
  }
  return body;
}

export function setStatus(error) {
  const s = document.getElementById("status");
  if (error) {
    s.className = "status error";
    s.textContent = String(error.message || error);
  } else {
    s.className = "status";
    s.textContent = "updated " + new Date().toLocaleTimeString();
  }
}

/**
 * Runs `fn` now and again after the interval it returns (or `interval`),
 * never two at once; `poke()` runs it again as soon as possible.
 */
export function poller(fn, interval, onError) {
  let stopped = false;
  let timer = null;
  let running = false;
  let again = false;
  async function tick() {
    clearTimeout(timer);
    timer = null;
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    let next = interval;
    try {
      const r = await fn();
      if (typeof r === "number") next = r;
      if (!stopped) setStatus(null);
    } catch (e) {
      if (!stopped) (onError || setStatus)(e);
    }
    running = false;
    if (stopped) return;
    if (again) {
      again = false;
      next = 0;
    }
    timer = setTimeout(tick, next);
  }
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    poke: tick,
  };
}
