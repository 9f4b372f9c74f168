// Small DOM helpers: every text goes through textContent (nothing from the API is parsed as HTML).

/** h("button", {type: "button", onclick: fn, "data-testid": "x"}, "Text", childNode, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in el && tag !== "button") el.value = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, ...children);
  return el;
}

/** Append nodes, strings and (nested) arrays of them; null/false/undefined are left out. */
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** A <time> element for an ISO timestamp ("—" when there is none). */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  return h("time", { datetime: iso, title: iso }, date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }));
}

export function bytes(size) {
  if (size === null || size === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let value = Number(size);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** "title case" of a schema property name: base_url → Base url. */
export function humanize(name) {
  const text = String(name).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A safe id fragment from any text (dots, slashes, spaces → "-"). */
export function idPart(text) {
  return String(text).replace(/[^A-Za-z0-9_-]+/g, "-");
}

export function table({ id, caption, columns, rows, empty, testid }) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c))));
  const body = h("tbody", {}, rows);
  const t = h("table", { id, class: "data", "data-testid": testid }, caption ? h("caption", {}, caption) : null, head, body);
  if (!rows.length && empty) {
    body.append(h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty)));
  }
  return t;
}

/** A definition list from [term, value] pairs. */
export function dl(pairs, attrs = {}) {
  return h("dl", { class: "summary", ...attrs }, pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}
