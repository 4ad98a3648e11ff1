// The sessions and batches lists, newest first, refreshed every POLL_MS.

import { UI, POLL_MS, LIST_SIZE, el, extLink, badge, orDash, api, setStatus, poller } from "./common.js";

export function listView(root, what) {
  const sessions = what === "sessions";
  document.title = (sessions ? "Sessions" : "Batches") + " · livy-server";
  const q = new URLSearchParams(location.search);
  // null: follow the newest page.
  const asked = q.has("from") ? Math.max(0, parseInt(q.get("from"), 10) || 0) : null;
  let lastTotal = 0;
  let lastSig = null;

  const cols = sessions
    ? ["ID", "Name", "Owner", "Proxy user", "Kind", "State", "Age", "Application", "Links"]
    : ["ID", "Name", "Owner", "Proxy user", "State", "Age", "Application", "Links"];
  const tbody = el("tbody");
  const summary = el("div", { class: "muted" });
  const pager = el("div", { class: "pager" });
  const notice = el("div", { class: "notice", hidden: true });
  root.append(
    el("h1", { text: sessions ? "Sessions" : "Batches" }),
    notice,
    summary,
    el("table", { class: "list", id: what + "-table" },
      el("thead", null, el("tr", null, cols.map((c) => el("th", { text: c })))),
      tbody),
    pager,
  );

  function row(r) {
    const id = String(r.id);
    const page = sessions ? `${UI}/sessions/${encodeURIComponent(id)}` : `${UI}/batches/${encodeURIComponent(id)}/log`;
    const info = r.appInfo && typeof r.appInfo === "object" ? r.appInfo : {};
    const app = r.appId
      ? extLink(info.sparkUiUrl, r.appId) || el("span", { class: "mono", text: r.appId })
      : el("span", { class: "muted", text: "–" });
    const links = el("td", { class: "links" });
    if (sessions) links.append(el("a", { href: page, text: "statements" }));
    links.append(el("a", { href: `${UI}/${what}/${encodeURIComponent(id)}/log`, text: "log" }));
    const driverLog = extLink(info.driverLogUrl, "driver log");
    if (driverLog) links.append(driverLog);
    const sparkUi = extLink(info.sparkUiUrl, "Spark UI");
    if (sparkUi) links.append(sparkUi);
    const cells = [
      el("td", { class: "c-id" }, el("a", { href: page, text: id })),
      el("td", { class: "c-name", text: orDash(r.name) }),
      el("td", { class: "c-owner", text: orDash(r.owner) }),
      el("td", { class: "c-proxy", text: orDash(r.proxyUser) }),
    ];
    if (sessions) cells.push(el("td", { class: "c-kind", text: orDash(r.kind) }));
    cells.push(
      el("td", { class: "c-state" }, badge(r.state, r.failure)),
      el("td", { class: "c-age", title: created(r.createdAt), text: age(r.createdAt) }),
      el("td", { class: "c-app" }, app),
      links,
    );
    return el("tr", { "data-id": id }, cells);
  }

  // "42 s", "5 min", "3 h", "2 d" since `ms` (epoch milliseconds); "–" if unknown.
  function age(ms) {
    const t = Number(ms);
    if (!t) return "–";
    const s = Math.max(0, Math.floor((Date.now() - t) / 1000));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
  }

  function created(ms) {
    const t = Number(ms);
    return t ? `created ${new Date(t).toISOString()}` : "";
  }

  function draw(body, start) {
    const items = Array.isArray(body.sessions) ? body.sessions : [];
    const total = Number(body.total) || items.length;
    // The list field `log` changes with every line: redraw only on a real change.
    const sig = JSON.stringify([start, total, items.map((r) => [r.id, r.name, r.owner, r.proxyUser, r.kind, r.state, r.failure, age(r.createdAt), r.appId, r.appInfo])]);
    if (sig === lastSig) return;
    lastSig = sig;
    const rows = items.slice().reverse().map(row);
    if (rows.length === 0) {
      rows.push(el("tr", null, el("td", { class: "empty", colspan: cols.length, text: sessions ? "No sessions." : "No batches." })));
    }
    tbody.replaceChildren(...rows);
    summary.textContent = items.length
      ? `${total} in all; showing ${start + 1}–${start + items.length}, newest first. Refreshes every ${POLL_MS / 1000} s.`
      : "";
    pager.replaceChildren();
    if (total > LIST_SIZE) {
      const here = `${UI}/${what}`;
      if (start + items.length < total) pager.append(el("a", { href: `${here}?from=${Math.min(total - 1, start + LIST_SIZE)}`, text: "← newer" }));
      if (start > 0) pager.append(el("a", { href: `${here}?from=${Math.max(0, start - LIST_SIZE)}`, text: "older →" }));
      if (asked !== null) pager.append(el("a", { href: here, text: "newest" }));
    }
  }

  return poller(async () => {
    let start = asked ?? Math.max(0, lastTotal - LIST_SIZE);
    let body = await api(`/${what}?from=${start}&size=${LIST_SIZE}`);
    const total = Number(body.total) || 0;
    if (asked === null && total !== lastTotal && Math.max(0, total - LIST_SIZE) !== start) {
      start = Math.max(0, total - LIST_SIZE);
      body = await api(`/${what}?from=${start}&size=${LIST_SIZE}`);
    }
    lastTotal = Number(body.total) || 0;
    notice.hidden = true;
    draw(body, start);
  }, POLL_MS, (e) => {
    notice.hidden = false;
    notice.textContent = `Cannot list ${what}: ${e.message}`;
    setStatus(e);
  });
}
