// A statement's output as the page shows it: text, pretty JSON, tables
// (Livy's table mime and SQL results), PNG plots and errors.

import { el, orDash } from "./common.js";

function cellText(v) {
  if (v === null || v === undefined) return null;
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function dataTable(headers, rows) {
  const head = el("tr", null, headers.map((h) =>
    el("th", null, h.name, h.type ? el("span", { class: "type", text: h.type }) : null)));
  const body = rows.map((r) => el("tr", null, (Array.isArray(r) ? r : [r]).map((v) => {
    const t = cellText(v);
    return t === null ? el("td", { class: "null", text: "null" }) : el("td", { text: t });
  })));
  return el("table", { class: "output" }, el("thead", null, head), el("tbody", null, body));
}

/** Livy's `application/vnd.livy.table.v1+json`: `{headers:[{name,type}], data:[[…]]}`. */
function livyTable(t) {
  const headers = Array.isArray(t && t.headers) ? t.headers : [];
  const rows = Array.isArray(t && t.data) ? t.data : [];
  return dataTable(
    headers.map((h) => ({ name: String(h && h.name), type: typeof (h && h.type) === "string" ? h.type.replace(/_TYPE$/, "") : null })),
    rows,
  );
}

/** `application/json`: a SQL statement's `{schema, data}` as a table, anything else pretty. */
function jsonOutput(v) {
  const pretty = el("pre", { class: "json", text: JSON.stringify(v, null, 2) });
  const fields = v && v.schema && Array.isArray(v.schema.fields) ? v.schema.fields : null;
  if (fields && Array.isArray(v.data)) {
    const headers = fields.map((f) => ({
      name: String(f && f.name),
      type: f && typeof f.type === "string" ? f.type : f && f.type ? JSON.stringify(f.type) : null,
    }));
    return [dataTable(headers, v.data), el("details", null, el("summary", { text: "JSON" }), pretty)];
  }
  return [pretty];
}

export function renderOutput(out) {
  if (!out || typeof out !== "object") return null;
  if (out.status === "error") {
    const tb = Array.isArray(out.traceback) ? out.traceback.map((l) => {
      const s = String(l);
      return s.endsWith("\n") ? s : s + "\n";
    }).join("") : "";
    return el("div", { class: "out error-output" },
      el("div", null, el("span", { class: "ename", text: orDash(out.ename) }), ": ",
        el("span", { class: "evalue", text: out.evalue === undefined ? "" : String(out.evalue) })),
      tb ? el("pre", { class: "traceback", text: tb }) : null);
  }
  const data = out.data && typeof out.data === "object" ? out.data : {};
  const parts = [];
  const text = data["text/plain"];
  if (typeof text === "string" && text !== "") parts.push(el("pre", { class: "text", text }));
  if (data["application/vnd.livy.table.v1+json"] !== undefined) parts.push(livyTable(data["application/vnd.livy.table.v1+json"]));
  if (data["application/json"] !== undefined) parts.push(...jsonOutput(data["application/json"]));
  const png = data["image/png"];
  if (typeof png === "string" && /^[A-Za-z0-9+/=\s]+$/.test(png)) {
    parts.push(el("img", { class: "plot", alt: "plot (image/png)", src: "data:image/png;base64," + png.replace(/\s+/g, "") }));
  }
  if (typeof data["text/html"] === "string") {
    parts.push(el("div", { class: "muted", text: "text/html output, shown as its source:" }), el("pre", { class: "html", text: data["text/html"] }));
  }
  const shown = new Set(["text/plain", "application/vnd.livy.table.v1+json", "application/json", "image/png", "text/html"]);
  const other = Object.keys(data).filter((k) => !shown.has(k));
  if (other.length) parts.push(el("div", { class: "muted", text: "Also: " + other.join(", ") }));
  if (!parts.length) parts.push(el("div", { class: "muted", text: "(no output)" }));
  return el("div", { class: "out" }, parts);
}

export function progressBar(p) {
  const v = Math.max(0, Math.min(1, Number(p) || 0));
  const pct = Math.round(v * 100);
  const fill = el("div");
  fill.style.width = pct + "%";
  return el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, title: pct + "%" }, fill);
}
