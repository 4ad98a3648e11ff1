// A session's page: its fields, a form to run a statement, and its
// statements (polled while any runs), newest first.

import { UI, POLL_MS, FAST_MS, FINAL_STATEMENT, el, extLink, badge, orDash, time, api, setStatus, poller } from "./common.js";
import { renderOutput, progressBar } from "./output.js";

function fieldTable(pairs) {
  return el("table", { class: "fields" }, el("tbody", null, pairs
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => el("tr", null, el("th", { text: k }), el("td", null, v)))));
}

export function sessionView(root, id) {
  document.title = `Session ${id} · livy-server`;
  const base = `/sessions/${encodeURIComponent(id)}`;
  const stateSlot = el("span");
  const links = el("div", { class: "toolbar" });
  const fields = el("div");
  const notice = el("div", { class: "notice", hidden: true });
  const stNotice = el("div", { class: "notice", hidden: true });
  const statements = el("div", { id: "statements" });
  const empty = el("div", { class: "empty", text: "No statements yet." });
  let sessionSig = null;

  const code = el("textarea", { name: "code", placeholder: "Code to run, e.g. spark.range(10).count()", spellcheck: "false" });
  const kind = el("select", { name: "kind" },
    el("option", { value: "", text: "session's kind" }),
    ["spark", "pyspark", "sparkr", "sql"].map((k) => el("option", { value: k, text: k })));
  const submitBtn = el("button", { type: "submit", class: "primary", text: "Run" });
  const formMsg = el("span", { class: "muted" });
  const form = el("form", { class: "submit", id: "submit-statement" },
    code,
    el("div", { class: "row" }, el("label", null, "Kind ", kind), submitBtn, formMsg));

  root.append(
    el("h1", null, `Session ${id}`, stateSlot),
    links, notice, fields,
    el("h2", { text: "Run a statement" }), form,
    el("h2", { text: "Statements" }), stNotice, empty, statements,
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!code.value.trim()) return;
    const body = { code: code.value };
    if (kind.value) body.kind = kind.value;
    submitBtn.disabled = true;
    formMsg.textContent = "submitting…";
    try {
      const st = await api(`${base}/statements`, { method: "POST", body });
      formMsg.textContent = `statement ${st.id} submitted`;
      code.value = "";
      upsert(st);
      stPoll.poke();
    } catch (err) {
      formMsg.textContent = err.message;
    } finally {
      submitBtn.disabled = false;
    }
  });
  code.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });

  function drawSession(s) {
    const sig = JSON.stringify([s.state, s.failure, s.name, s.appId, s.appInfo, s.owner, s.proxyUser, s.kind]);
    if (sig === sessionSig) return;
    sessionSig = sig;
    kind.options[0].textContent = `session's kind (${orDash(s.kind)})`;
    stateSlot.replaceChildren(badge(s.state, s.failure));
    const info = s.appInfo && typeof s.appInfo === "object" ? s.appInfo : {};
    links.replaceChildren(...[
      el("a", { href: `${UI}/sessions`, text: "← sessions" }),
      el("a", { href: `${UI}/sessions/${encodeURIComponent(id)}/log`, text: "log" }),
      extLink(info.sparkUiUrl, "Spark UI"),
      extLink(info.driverLogUrl, "driver log"),
    ].filter(Boolean));
    const conf = s.conf && typeof s.conf === "object" ? Object.entries(s.conf) : [];
    fields.replaceChildren(fieldTable([
      ["ID", String(s.id)],
      ["Name", s.name],
      ["Kind", s.kind],
      ["Owner", s.owner],
      ["Proxy user", s.proxyUser],
      ["Application", s.appId],
      ["Driver memory", s.driverMemory],
      ["Executor memory", s.executorMemory],
      ["Executors", s.numExecutors || null],
      ["Queue", s.queue],
      ["Conf", conf.length ? conf.map(([k, v]) => `${k}=${v}`).join("\n") : null],
    ]));
  }

  // Statements: id -> { st, node, sig }, drawn newest first.
  const known = new Map();

  function statementNode(st) {
    const open = !FINAL_STATEMENT.has(st.state);
    const head = el("div", { class: "head" },
      el("strong", { text: `#${st.id}` }),
      badge(st.state),
      open ? progressBar(st.progress) : null,
      el("span", { class: "grow" }),
      el("span", { class: "muted", text: timing(st) }));
    if (st.state === "waiting" || st.state === "running") {
      head.append(el("button", {
        type: "button",
        text: "Cancel",
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api(`${base}/statements/${st.id}/cancel`, { method: "POST", body: {} });
            stPoll.poke();
          } catch (err) {
            setStatus(err);
          }
        },
      }));
    }
    return el("div", { class: "statement", "data-id": st.id, "data-state": orDash(st.state) },
      head,
      el("div", { class: "body" }, el("pre", { class: "code", text: String(st.code ?? "") }), renderOutput(st.output)));
  }

  function timing(st) {
    const started = time(st.started);
    if (!started) return "";
    if (st.completed > 0) return `${started} · ${((st.completed - st.started) / 1000).toFixed(1)} s`;
    return `started ${started}`;
  }

  function upsert(st) {
    if (!st || typeof st.id !== "number") return;
    const sig = JSON.stringify([st.state, st.progress, st.started, st.completed, st.output != null]);
    const have = known.get(st.id);
    if (have && have.sig === sig) return;
    const node = statementNode(st);
    if (have) {
      have.node.replaceWith(node);
    } else {
      // Newest first: before the first statement with a smaller id.
      const after = [...statements.children].find((c) => Number(c.dataset.id) < st.id);
      statements.insertBefore(node, after || null);
    }
    known.set(st.id, { st, node, sig });
    empty.hidden = true;
  }

  async function fetchStatements() {
    if (known.size === 0) {
      return (await api(`${base}/statements`)).statements;
    }
    // Only what may have changed: the open statements and anything newer.
    const ids = [...known.keys()];
    const maxId = Math.max(...ids);
    const open = [...known.values()].filter((k) => !FINAL_STATEMENT.has(k.st.state)).map((k) => k.st.id);
    const need = Math.min(maxId + 1, ...open);
    const size = maxId - need + 1 + 20;
    const list = (await api(`${base}/statements?order=desc&size=${size}`)).statements;
    const oldest = list.reduce((m, s) => Math.min(m, s.id), Infinity);
    if (list.length === size && oldest > need) {
      return (await api(`${base}/statements`)).statements;
    }
    return list;
  }

  const sessionPoll = poller(async () => {
    try {
      drawSession(await api(base));
      notice.hidden = true;
    } catch (e) {
      notice.hidden = false;
      notice.textContent = e.status === 404 ? `Session ${id} was not found (it may have been deleted).` : `Cannot read session ${id}: ${e.message}`;
      throw e;
    }
  }, POLL_MS);

  const stPoll = poller(async () => {
    let list;
    try {
      list = await fetchStatements();
      stNotice.hidden = true;
    } catch (e) {
      stNotice.hidden = false;
      stNotice.textContent = `Cannot read statements: ${e.message}`;
      throw e;
    }
    for (const st of Array.isArray(list) ? list : []) upsert(st);
    const busy = [...known.values()].some((k) => !FINAL_STATEMENT.has(k.st.state));
    return busy ? FAST_MS : POLL_MS;
  }, POLL_MS, (e) => {
    if (e.status === 404) empty.hidden = true;
    setStatus(e);
  });

  return {
    stop() {
      sessionPoll.stop();
      stPoll.stop();
    },
  };
}
