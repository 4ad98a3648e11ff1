// A batch's or session's log, following its end as lines arrive.

import { UI, POLL_MS, FAST_MS, LOG_WINDOW, LOG_KEEP, FINAL_RECORD, el, extLink, badge, api, poller } from "./common.js";

function logSections(lines) {
  const out = [];
  let cur = { name: "stdout", lines: [], framed: false };
  for (const raw of lines) {
    const line = String(raw);
    const m = /^\n?(stdout|stderr|YARN Diagnostics): $/.exec(line);
    if (m) {
      if (cur.framed || cur.lines.length) out.push(cur);
      cur = { name: m[1], lines: [], framed: true };
    } else {
      cur.lines.push(line);
    }
  }
  if (cur.framed || cur.lines.length) out.push(cur);
  return out;
}

/**
 * The lines of `cur` not seen in `prev`, where both are windows of a log
 * that only grows at its end and may drop lines at its start (a ring).
 */
function newLines(prev, cur) {
  for (let d = 0; d < prev.length; d++) {
    const n = prev.length - d;
    if (n > cur.length) continue;
    let same = true;
    for (let i = 0; i < n && same; i++) same = prev[d + i] === cur[i];
    if (same) return cur.slice(n);
  }
  return cur.slice();
}

export function logView(root, what, id) {
  const label = what === "sessions" ? "Session" : "Batch";
  document.title = `${label} ${id} log · livy-server`;
  const base = `/${what}/${encodeURIComponent(id)}`;
  const stateSlot = el("span");
  const links = el("div", { class: "toolbar" });
  const notice = el("div", { class: "notice", hidden: true });
  const follow = el("input", { type: "checkbox", checked: true });
  const count = el("span");
  const box = el("div", { class: "log-box", id: "log" });
  const placeholder = el("div", { class: "empty", text: "No log lines yet." });
  box.append(placeholder);
  root.append(
    el("h1", null, `${label} ${id} — log`, stateSlot),
    links, notice,
    el("div", { class: "toolbar" }, el("label", null, follow, " follow the end"), count),
    box,
  );

  // name -> { pre, prev (the server's last window), chunks: [[node, n]], n }
  const sections = new Map();
  let recordSig = null;
  let total = 0;
  let finished = false;

  box.addEventListener("scroll", () => {
    follow.checked = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
  });

  function section(name) {
    let s = sections.get(name);
    if (!s) {
      const title = el("h3", { text: name, hidden: true });
      const pre = el("pre", { class: "log-lines", "data-section": name });
      box.append(el("div", { class: "log-section" }, title, pre));
      s = { title, pre, prev: [], chunks: [], n: 0 };
      sections.set(name, s);
    }
    return s;
  }

  function append(s, lines) {
    if (!lines.length) return;
    const node = document.createTextNode(lines.join("\n") + "\n");
    s.pre.append(node);
    s.chunks.push([node, lines.length]);
    s.n += lines.length;
    total += lines.length;
    while (s.n > LOG_KEEP && s.chunks.length > 1) {
      const [old, k] = s.chunks.shift();
      old.remove();
      s.n -= k;
      total -= k;
    }
  }

  function drawRecord(r) {
    finished = FINAL_RECORD.has(r.state);
    const sig = JSON.stringify([r.state, r.failure, r.appId, r.appInfo]);
    if (sig === recordSig) return;
    recordSig = sig;
    stateSlot.replaceChildren(badge(r.state, r.failure));
    const info = r.appInfo && typeof r.appInfo === "object" ? r.appInfo : {};
    links.replaceChildren(...[
      el("a", { href: `${UI}/${what}`, text: what === "sessions" ? "← sessions" : "← batches" }),
      what === "sessions" ? el("a", { href: `${UI}/sessions/${encodeURIComponent(id)}`, text: "statements" }) : null,
      r.appId ? el("span", { class: "mono", text: r.appId }) : null,
      extLink(info.sparkUiUrl, "Spark UI"),
      extLink(info.driverLogUrl, "driver log"),
    ].filter(Boolean));
  }

  const poll = poller(async () => {
    try {
      drawRecord(await api(base));
      const body = await api(`${base}/log?size=${LOG_WINDOW}`);
      notice.hidden = true;
      const parts = logSections(Array.isArray(body.log) ? body.log : []);
      for (const part of parts) {
        const s = section(part.name);
        append(s, newLines(s.prev, part.lines));
        s.prev = part.lines;
      }
      const withLines = [...sections.values()].filter((s) => s.n > 0);
      for (const s of sections.values()) s.title.hidden = withLines.length < 2 || s.n === 0;
      placeholder.hidden = total > 0;
      count.textContent = `${total} lines`;
      if (follow.checked) box.scrollTop = box.scrollHeight;
    } catch (e) {
      notice.hidden = false;
      notice.textContent = e.status === 404 ? `${label} ${id} was not found.` : `Cannot read the log: ${e.message}`;
      throw e;
    }
    return finished ? POLL_MS * 2 : FAST_MS;
  }, FAST_MS);
  return poll;
}
