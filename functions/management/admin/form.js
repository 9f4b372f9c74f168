// Form fields generated from a side's JSON schema (pydantic's model_json_schema), credentials inputs from
// its `secrets`, and errors (400 `errors[].field`, a dotted path) shown next to their field.

import { h, humanize, idPart } from "./dom.js";

/** Field id of a dotted path: "source.base_url" → "f-source-base_url". */
export const fieldId = (path) => `f-${idPart(path.replace(/\./g, "-"))}`;

/**
 * A registry of the form's fields: `controls` (path → read()) and error slots (path → element).
 */
export class FormModel {
  constructor() {
    this.readers = []; // [path, read] read() → {skip} | {value} | {error}
    this.slots = new Map(); // path → {error element, inputs}
  }

  add(path, read) {
    this.readers.push([path, read]);
  }

  slot(path, errorEl, inputs = []) {
    this.slots.set(path, { errorEl, inputs });
  }

  /** {value, errors}: the nested object the API expects, and client-side problems. */
  collect() {
    const value = {};
    const errors = [];
    for (const [path, read] of this.readers) {
      const result = read();
      if (result.error) errors.push({ field: path, reason: result.error });
      else if (!result.skip) setPath(value, path, result.value);
    }
    return { value, errors };
  }

  clearErrors() {
    for (const { errorEl, inputs } of this.slots.values()) {
      errorEl.textContent = "";
      errorEl.hidden = true;
      for (const input of inputs) input.removeAttribute("aria-invalid");
    }
  }

  /** Put each error next to its field (or its nearest enclosing field); returns the ones left over. */
  showErrors(errors) {
    const leftover = [];
    let first = null;
    for (const error of errors) {
      const slot = this.nearest(String(error.field || ""));
      if (!slot) {
        leftover.push(error);
        continue;
      }
      const line = h("span", { class: "error-line" }, error.reason || "invalid");
      if (slot.errorEl.textContent) slot.errorEl.append(h("br"));
      slot.errorEl.append(line);
      slot.errorEl.hidden = false;
      for (const input of slot.inputs) input.setAttribute("aria-invalid", "true");
      first = first || slot.inputs[0];
    }
    return { leftover, first };
  }

  nearest(path) {
    let parts = path.split(".").filter(Boolean);
    while (parts.length) {
      const slot = this.slots.get(parts.join("."));
      if (slot) return slot;
      parts = parts.slice(0, -1);
    }
    return null;
  }
}

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

/** A labelled field: label, control, help text and an error slot wired with aria-describedby. */
export function field(model, { path, label, required = false, help, control, inputs, wide = false, controlFirst = false }) {
  const id = fieldId(path);
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const errorEl = h("p", { id: errorId, class: "field-error", "data-error-for": path, hidden: true });
  const controls = inputs || [control];
  for (const input of controls) {
    const described = [help ? helpId : null, errorId].filter(Boolean).join(" ");
    input.setAttribute("aria-describedby", described);
    if (required) input.setAttribute("aria-required", "true");
  }
  model.slot(path, errorEl, controls);
  const labelEl = h("label", { for: id }, label, required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null,
    required ? h("span", { class: "visually-hidden" }, " (required)") : null);
  return h("div", { class: `field${wide ? " wide" : ""}`, "data-field": path },
    controlFirst ? [control, labelEl] : [labelEl, control], help ? h("p", { id: helpId, class: "help" }, help) : null, errorEl);
}

// -- JSON schema → fields ------------------------------------------------------------------------------------

function resolve(schema, root) {
  let node = schema || {};
  for (let guard = 0; guard < 10; guard += 1) {
    if (node.$ref) {
      const name = node.$ref.split("/").pop();
      const defs = root.$defs || root.definitions || {};
      node = { ...defs[name], ...withoutKeys(node, ["$ref"]) };
    } else if (Array.isArray(node.allOf) && node.allOf.length === 1) {
      node = { ...resolve(node.allOf[0], root), ...withoutKeys(node, ["allOf"]) };
    } else break;
  }
  return node;
}

function withoutKeys(object, keys) {
  return Object.fromEntries(Object.entries(object).filter(([k]) => !keys.includes(k)));
}

/** The schema's kind for a control: string, integer, number, boolean, enum, object, dict, strings, json, text. */
function kindOf(schema, root) {
  let node = resolve(schema, root);
  let nullable = false;
  const options = node.anyOf || node.oneOf;
  if (Array.isArray(options)) {
    const concrete = options.map((o) => resolve(o, root)).filter((o) => o.type !== "null");
    nullable = concrete.length < options.length;
    if (concrete.length === 1) node = { ...concrete[0], ...withoutKeys(node, ["anyOf", "oneOf"]) };
    else return { kind: "text", node, nullable };
  }
  if (Array.isArray(node.type)) {
    const types = node.type.filter((t) => t !== "null");
    nullable = nullable || types.length < node.type.length;
    node = { ...node, type: types.length === 1 ? types[0] : undefined };
    if (types.length !== 1) return { kind: "text", node, nullable };
  }
  if (Array.isArray(node.enum)) return { kind: "enum", node, nullable };
  if (node.type === "object" && node.properties) return { kind: "object", node, nullable };
  if (node.type === "object") return { kind: "json", node, nullable };
  if (node.type === "array") {
    const items = resolve(node.items || {}, root);
    return { kind: items.type === "string" && !items.enum ? "strings" : "json", node, nullable };
  }
  if (["string", "integer", "number", "boolean"].includes(node.type)) return { kind: node.type, node, nullable };
  return { kind: "json", node, nullable };
}

function helpOf(node) {
  const parts = [];
  if (node.description) parts.push(node.description);
  const range = [];
  if (node.minimum !== undefined) range.push(`at least ${node.minimum}`);
  if (node.maximum !== undefined) range.push(`at most ${node.maximum}`);
  if (range.length) parts.push(`(${range.join(", ")})`);
  if (node.pattern === "^https?://") parts.push("(an http:// or https:// URL)");
  return parts.join(" ") || null;
}

/**
 * Fields for an object schema under `path` ("source"): nested objects as fieldsets, dicts and complex
 * arrays as JSON text areas. `skip` names properties not rendered (the side's secret fields).
 */
export function schemaFields(model, schema, path, { root = schema, skip = [] } = {}) {
  const node = resolve(schema, root);
  const required = new Set(node.required || []);
  const out = [];
  for (const [name, property] of Object.entries(node.properties || {})) {
    if (skip.includes(name)) continue;
    const resolved = resolve(property, root);
    if (resolved.const !== undefined || resolved["x-secret"] || property["x-secret"]) continue; // `system`, secrets
    out.push(schemaField(model, property, `${path}.${name}`, name, required.has(name), root));
  }
  return out;
}

function schemaField(model, property, path, name, required, root) {
  const { kind, node, nullable } = kindOf(property, root);
  // a $ref's title is its class name (DocumentMatchConfig): the property's own name reads better
  const referenced = Boolean(property.$ref || property.allOf);
  const label = property.title || (referenced ? humanize(name) : node.title) || humanize(name);
  const help = helpOf({ ...resolve(property, root), ...node });
  const id = fieldId(path);
  const def = property.default !== undefined ? property.default : node.default;
  const optional = !required;

  if (kind === "object") {
    const legendId = `${id}-legend`;
    const errorEl = h("p", { id: `${id}-error`, class: "field-error", "data-error-for": path, hidden: true });
    model.slot(path, errorEl, []);
    const inner = schemaFields(model, node, path, { root });
    return h("fieldset", { class: "nested", id, "aria-labelledby": legendId },
      h("legend", { id: legendId }, label), help ? h("p", { class: "help" }, help) : null, errorEl,
      h("div", { class: "grid" }, inner));
  }

  if (kind === "boolean") {
    const input = h("input", { type: "checkbox", id, "data-field": path, checked: def === true });
    model.add(path, () => ({ value: input.checked }));
    const wrapper = field(model, { path, label, help, control: input, controlFirst: true });
    wrapper.classList.add("checkbox");
    return wrapper;
  }

  if (kind === "enum") {
    const select = h("select", { id, "data-field": path },
      optional || nullable ? h("option", { value: "" }, "(default)") : null,
      node.enum.map((v) => h("option", { value: String(v), selected: v === def }, String(v))));
    model.add(path, () => (select.value === "" ? { skip: true } : { value: node.enum.find((v) => String(v) === select.value) }));
    return field(model, { path, label, required, help, control: select });
  }

  if (kind === "integer" || kind === "number") {
    const input = h("input", {
      type: "number", id, "data-field": path, step: kind === "integer" ? "1" : "any",
      min: node.minimum, max: node.maximum, value: def === undefined || def === null ? "" : String(def),
      inputmode: kind === "integer" ? "numeric" : "decimal",
    });
    model.add(path, () => {
      const raw = input.value.trim();
      if (raw === "") return input.validity.badInput ? { error: "not a number" } : { skip: true };
      const value = Number(raw);
      if (kind === "integer" && !Number.isInteger(value)) return { error: "must be a whole number" };
      return { value };
    });
    return field(model, { path, label, required, help, control: input });
  }

  if (kind === "strings") {
    const area = h("textarea", { id, "data-field": path, rows: 3, value: Array.isArray(def) ? def.join("\n") : "" });
    model.add(path, () => {
      const lines = area.value.split("\n").map((l) => l.trim()).filter(Boolean);
      return lines.length || required ? { value: lines } : { skip: true };
    });
    return field(model, { path, label, required, help: [help, "One per line."].filter(Boolean).join(" "), control: area, wide: true });
  }

  if (kind === "json") {
    const initial = def === undefined || def === null ? (node.type === "array" ? "[]" : "{}") : JSON.stringify(def, null, 2);
    const area = h("textarea", { id, "data-field": path, rows: 4, class: "code", spellcheck: "false", value: initial });
    model.add(path, () => {
      const raw = area.value.trim();
      if (raw === "" || (!required && raw === initial.trim())) return { skip: true }; // untouched: the default
      try {
        return { value: JSON.parse(raw) };
      } catch (error) {
        return { error: `not valid JSON: ${error.message}` };
      }
    });
    return field(model, { path, label, required, help: [help, "JSON."].filter(Boolean).join(" "), control: area, wide: true });
  }

  // string, or a union of several types (e.g. a decimal as number or string): a text box, sent as typed
  const input = h("input", {
    type: "text", id, "data-field": path, value: def === undefined || def === null ? "" : String(def),
    maxlength: node.maxLength, inputmode: /url$/.test(name) ? "url" : null, autocomplete: "off",
  });
  model.add(path, () => {
    const raw = input.value.trim();
    return raw === "" ? { skip: true } : { value: raw }; // a missing required field: the API names it
  });
  return field(model, { path, label, required, help, control: input });
}

// -- credentials (write-only) -------------------------------------------------------------------------------

/**
 * Password inputs for one secret of a side: `{field, title, keys, alternatives}`. With alternatives, a
 * radio choice picks which set of keys is supplied. Sent as credentials.<side>.<field>.<key>.
 */
export function secretFields(model, side, secret) {
  const base = `credentials.${side}.${secret.field}`;
  const sets = [secret.keys || [], ...(secret.alternatives || [])].filter((s) => s.length);
  const id = fieldId(base);
  const errorEl = h("p", { id: `${id}-error`, class: "field-error", "data-error-for": base, hidden: true });
  const legendId = `${id}-legend`;
  const groups = sets.map((keys, index) =>
    h("div", { class: "secret-set", id: `${id}-set-${index}`, "data-set": index, hidden: index !== 0 },
      keys.map((key) => {
        const path = `${base}.${key}`;
        const input = h("input", {
          type: "password", id: fieldId(path), "data-field": path, autocomplete: "new-password", spellcheck: "false",
        });
        model.add(path, () => {
          const chosen = Number(form.querySelector(`input[name="${id}-choice"]:checked`)?.value || 0);
          if (chosen !== index || input.value === "") return { skip: true };
          return { value: input.value };
        });
        return field(model, { path, label: humanize(key), control: input, required: secret.required !== false });
      })));
  const choice = sets.length > 1
    ? h("fieldset", { class: "choice" }, h("legend", {}, "Credentials to supply"),
      sets.map((keys, index) => h("label", { class: "radio" },
        h("input", {
          type: "radio", name: `${id}-choice`, id: `${id}-choice-${index}`, value: String(index), checked: index === 0,
          onchange: () => groups.forEach((g, i) => { g.hidden = i !== index; }),
        }),
        ` ${keys.map(humanize).join(" + ")}`)))
    : null;
  model.slot(base, errorEl, []);
  const form = h("fieldset", { class: "nested secret", id, "aria-labelledby": legendId },
    h("legend", { id: legendId }, humanize(secret.field)),
    h("p", { class: "help" }, "Write-only: stored in AWS Secrets Manager, never shown again."
      + (secret.required === false ? " Optional." : "")),
    errorEl, choice, groups);
  return form;
}
