// livy-server web UI: a single-page app over the server's own REST API.
//
// Every piece of data comes from the REST API (same origin, with the
// browser's credentials), so authentication and access control apply as to
// any client. This module routes by path (/ui/sessions/3) and starts views.

import { UI, el, api } from "./common.js";
import { listView } from "./lists.js";
import { sessionView } from "./session.js";
import { logView } from "./log.js";

// ------------------------------------------------------------------ router

let current = null;

function navigate(path) {
  history.pushState(null, "", path);
  render();
}

document.addEventListener("click", (e) => {
  const a = e.target instanceof Element ? e.target.closest("a") : null;
  if (!a || a.target || e.defaultPrevented || e.button !== 0) return;
  if (e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(UI)) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", render);

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const ROUTES = [
  [/^\/ui(?:\/sessions)?$/, (root) => listView(root, "sessions")],
  [/^\/ui\/batches$/, (root) => listView(root, "batches")],
  [/^\/ui\/sessions\/([^/]+)$/, (root, m) => sessionView(root, decode(m[1]))],
  [/^\/ui\/(sessions|batches)\/([^/]+)\/log$/, (root, m) => logView(root, m[1], decode(m[2]))],
  [/^\/ui\/batches\/([^/]+)$/, (root, m) => logView(root, "batches", decode(m[1]))],
];

function render() {
  if (current) current.stop();
  current = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  const path = location.pathname.replace(/\/+$/, "");
  const section = /^\/ui\/batches/.test(path) ? "batches" : "sessions";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.nav === section);
  }
  for (const [re, view] of ROUTES) {
    const m = path.match(re);
    if (m) {
      const root = el("section");
      main.append(root);
      current = view(root, m);
      return;
    }
  }
  document.title = "Not found · livy-server";
  main.append(
    el("h1", { text: "Not found" }),
    el("p", null, "There is no page at ", el("code", { text: location.pathname }), ". ",
      el("a", { href: UI + "/sessions", text: "Go to sessions" })),
  );
}

// ------------------------------------------------------------------ start

async function showVersion() {
  try {
    const v = await api("/version");
    const parts = [v.server || `Livy ${v.version}`];
    if (v.sparkVersion) parts.push(`Spark ${v.sparkVersion}`);
    document.getElementById("version").textContent = parts.join(" · ");
  } catch {
    // The version is decoration; the views report errors.
  }
}

showVersion();
render();
