// The views: store, configure, my integrations, a connector's details (logs, files, dead letters) and a
// document's timeline. Viewers get no element that changes anything: those are not rendered at all.

import { ApiError, SignedOut, del, enc, get, post } from "./api.js";
import { append, bytes, clear, dl, h, humanize, table, time } from "./dom.js";
import { FormModel, field, fieldId, schemaFields, secretFields } from "./form.js";
import { sleep, ui } from "./ui.js";

const DEFAULT_SCHEDULES = {
  poll: "rate(15 minutes)",
  export: "cron(0 18 * * ? *)",
  catalog: "rate(1 hour)",
  bundle: "cron(30 6 * * ? *)",
};
const RUN_POLL_MS = 1000;
const RUN_WAIT_MS = 120_000;

// -- shared pieces ----------------------------------------------------------------------------------------

/** Show an error: SignedOut goes back to the sign-in form; anything else in the status area. */
export function report(error) {
  if (error instanceof SignedOut) {
    ui.onSignedOut(error.message);
    return;
  }
  const prefix = error instanceof ApiError && error.status === 409 ? "Not possible now: " : "";
  const detail = error instanceof ApiError && error.errors.length
    ? ` (${error.errors.map((e) => `${e.field}: ${e.reason}`).join("; ")})` : "";
  ui.status(`${prefix}${error.message}${detail}`, "error");
}

function heading(text, attrs = {}) {
  return h("h1", { tabindex: "-1", id: "view-title", ...attrs }, text);
}

/**
 * Re-render a view in place without losing the keyboard: focus goes back to the control that had it
 * (same id or data-testid), else to the first action of the same group, else to the heading.
 */
async function rerendering(main, render) {
  const active = document.activeElement;
  const key = active && main.contains(active) ? active.id || active.dataset.testid : null;
  const group = active && active.closest ? active.closest("[data-actions-for]") : null;
  const groupKey = group ? group.dataset.actionsFor : null;
  await render();
  if (document.activeElement && document.activeElement !== document.body && main.contains(document.activeElement)) return;
  const escaped = key ? CSS.escape(key) : null;
  const again = escaped && (main.querySelector(`#${escaped}`) || main.querySelector(`[data-testid="${escaped}"]`));
  const sibling = groupKey && main.querySelector(`[data-actions-for="${CSS.escape(groupKey)}"] button`);
  const target = again || sibling || main.querySelector("h1");
  if (target) target.focus();
}

/** A button that runs an async action once at a time (aria-busy while it runs). */
function actionButton(label, attrs, action) {
  const button = h("button", { type: "button", class: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-busy") === "true") return;
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus while it works
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    try {
      await action();
    } catch (error) {
      report(error);
    } finally {
      button.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
    }
  });
  return button;
}

function statusBadge(connector) {
  const active = connector.status === "active";
  return h("span", { class: "status-cell" },
    h("span", { class: `badge ${active ? "ok" : "paused"}`, "data-testid": "connector-status" }, active ? "Active" : "Paused"),
    connector.paused_reason ? h("span", { class: "reason", "data-testid": "paused-reason" }, connector.paused_reason) : null);
}

function runBadge(status) {
  const tone = { succeeded: "ok", partial: "warn", failed: "bad", running: "info", skipped: "muted" }[status] || "muted";
  return h("span", { class: `badge ${tone}` }, status || "—");
}

function countsText(counts) {
  const entries = Object.entries(counts || {});
  return entries.length ? entries.map(([k, v]) => `${humanize(k).toLowerCase()} ${v}`).join(", ") : "—";
}

function runSummary(run) {
  const parts = [`Run ${run.run_id} (${run.kind}) ${run.status}`];
  if (run.counts && Object.keys(run.counts).length) parts.push(countsText(run.counts));
  if (run.reason) parts.push(run.reason);
  if (run.export_file) parts.push(`file ${run.export_file}`);
  return parts.join(" — ");
}

const runKinds = (connector) => [...new Set((connector.schedules || []).map((s) => s.run))];

async function kinds() {
  if (!ui.kinds) ui.kinds = (await get("/kinds")).kinds;
  return ui.kinds;
}

const titleOf = (all, system) => (all.find((k) => k.system === system) || {}).title || system;

// -- actions (admins only: the buttons are not rendered for viewers) -----------------------------------

/**
 * Run now: POST .../runs (202), then poll the runs list until the new run appears (and until it finishes),
 * telling `onRun(run)` each time it is seen.
 */
export async function runNow(connectorId, kind, onRun) {
  const path = `/connectors/${enc(connectorId)}/runs`;
  let before = new Set();
  try {
    before = new Set((await get(`${path}?limit=50`)).runs.map((r) => r.run_id));
  } catch (error) {
    if (error instanceof SignedOut) throw error;
  }
  const accepted = await post(path, kind ? { kind } : {});
  const requested = accepted.requested_at ? new Date(accepted.requested_at).toLocaleTimeString() : "now";
  ui.status(`Run now accepted (202): ${accepted.kind} run of ${accepted.connector_id} requested at ${requested} `
    + `(${accepted.function}). Waiting for it in the logs…`, "info");
  const deadline = Date.now() + RUN_WAIT_MS;
  let seen = null;
  while (Date.now() < deadline) {
    await sleep(RUN_POLL_MS);
    const { runs } = await get(`${path}?limit=20`);
    const run = runs.find((r) => !before.has(r.run_id) && r.kind === accepted.kind);
    if (!run) continue;
    if (!seen || seen.status !== run.status) {
      if (onRun) await onRun(run);
      if (run.status === "running") ui.status(`Run ${run.run_id} (${run.kind}) is running…`, "info");
    }
    seen = run;
    if (run.status !== "running") {
      ui.status(runSummary(run), run.status === "failed" ? "error" : "success");
      return run;
    }
  }
  ui.status(seen ? `Run ${seen.run_id} is still running: see its logs.`
    : `The ${accepted.kind} run has not appeared in the logs after ${RUN_WAIT_MS / 1000} s.`, "error");
  return seen;
}

/** Start / Pause / Run now / Delete for one connector; `refresh(connector|null)` after a change. */
function connectorActions(connector, { refresh, onRun, compact = false }) {
  if (!ui.isAdmin()) return null;
  const id = connector.connector_id;
  const testid = (name) => (compact ? `${name}-${id}` : name);
  const domId = (name) => (compact ? null : name);
  const items = [];
  if (connector.status === "paused") {
    items.push(actionButton("Start", { "data-testid": testid("start"), id: domId("start"), "aria-label": compact ? `Start ${connector.name}` : null },
      async () => {
        const updated = await post(`/connectors/${enc(id)}/start`);
        ui.status(`${updated.name} started: its schedules are enabled.`, "success");
        await refresh(updated);
      }));
  } else {
    items.push(actionButton("Pause", { "data-testid": testid("pause"), id: domId("pause"), "aria-label": compact ? `Pause ${connector.name}` : null },
      async () => {
        const updated = await post(`/connectors/${enc(id)}/pause`);
        ui.status(`${updated.name} paused${updated.paused_reason ? ` (${updated.paused_reason})` : ""}.`, "success");
        await refresh(updated);
      }));
  }
  const kindsOfRuns = runKinds(connector);
  if (kindsOfRuns.length) {
    const selectId = compact ? `run-kind-${id}` : "run-kind";
    const select = h("select", { id: selectId, "data-testid": testid("run-kind"), class: "run-kind" },
      kindsOfRuns.map((k) => h("option", { value: k }, k)));
    const label = h("label", { for: selectId, class: compact ? "visually-hidden" : "inline-label" }, `Run of ${connector.name}`);
    if (!compact) label.textContent = "Run";
    items.push(h("span", { class: "run-now" }, label, select,
      actionButton("Run now", { "data-testid": testid("run-now"), id: domId("run-now"), "aria-label": compact ? `Run now: ${connector.name}` : null },
        () => runNow(id, select.value, onRun))));
  }
  items.push(actionButton("Delete", { class: "button danger", "data-testid": testid("delete"), id: domId("delete"), "aria-label": compact ? `Delete ${connector.name}` : null },
    async () => {
      const yes = await ui.confirm(
        `Delete “${connector.name}” (${id})? Its schedules and stored credentials are removed; its run logs and files stay until they expire.`,
        "Delete");
      if (!yes) {
        ui.status("Nothing deleted.", "info");
        return;
      }
      await del(`/connectors/${enc(id)}`);
      ui.status(`${connector.name} (${id}) deleted.`, "success");
      await refresh(null);
    }));
  return h("div", { class: "actions", role: "group", "aria-label": `Actions for ${connector.name}`, "data-actions-for": id }, items);
}

// -- store -------------------------------------------------------------------------------------------------

export async function storeView(main) {
  const all = await kinds();
  const cards = all.map((kind) => {
    const sides = Object.entries(kind.sides || {}).filter(([, side]) => side);
    const pairs = kind.pairs || [];
    return h("article", { class: "card", "data-testid": `kind-${kind.system}`, "aria-labelledby": `kind-${kind.system}-title` },
      h("h2", { id: `kind-${kind.system}-title` }, kind.title),
      dl([
        ["Category", kind.category || "—"],
        ["Documents", (kind.documents || []).map(humanize).join(", ") || "—"],
        ["Connection", kind.connection || "—"],
        ["Can be", sides.map(([name, side]) => `${name} (${(side.triggers || []).join(", ") || "scheduled"})`).join("; ") || "—"],
      ]),
      kind.notes && kind.notes.length ? h("ul", { class: "notes" }, kind.notes.map((n) => h("li", {}, n))) : null,
      kind.docs ? h("p", {}, h("a", { href: kind.docs, rel: "noopener noreferrer", target: "_blank" }, `${kind.title} API documentation`)) : null,
      h("h3", {}, "Pairs with"),
      pairs.length
        ? h("ul", { class: "pairs" }, pairs.map((pair) => h("li", { "data-testid": `pair-${pair.source}-${pair.target}` },
          h("span", { class: "pair-text" },
            h("strong", {}, `${titleOf(all, pair.source)} → ${titleOf(all, pair.target)}`),
            h("span", { class: "muted" }, `${pair.flow}${pair.runs && pair.runs.length ? ` · runs: ${pair.runs.join(", ")}` : " · on webhooks"}`)),
          ui.isAdmin()
            ? h("a", {
              class: "button small", href: `#/configure/${enc(pair.source)}/${enc(pair.target)}`,
              "data-testid": `configure-${pair.source}-${pair.target}`,
              "aria-label": `Configure ${titleOf(all, pair.source)} to ${titleOf(all, pair.target)}`,
            }, "Configure")
            : null)))
        : h("p", { class: "muted" }, "No pairing yet."));
  });
  append(clear(main),
    heading("Connector store"),
    h("p", { class: "lead" }, ui.isAdmin()
      ? "Every system Invoice Relay connects. Pick a pairing and Configure it."
      : "Every system Invoice Relay connects (read only: ask an admin to configure one)."),
    h("div", { class: "cards", id: "store" }, cards));
}

// -- configure ----------------------------------------------------------------------------------------------

const slug = (text) => text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
  .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/g, "");

export async function configureView(main, sourceSystem, targetSystem) {
  if (!ui.isAdmin()) {
    append(clear(main), heading("Configure a connector"),
      h("p", { class: "notice", id: "configure-forbidden" }, "Only admins can configure connectors. You can browse the store and your integrations."));
    return;
  }
  const all = await kinds();
  const source = all.find((k) => k.system === sourceSystem);
  if (!source) throw new ApiError(404, { message: `unknown connector kind '${sourceSystem}'` });
  const pairs = (source.pairs || []).filter((p) => p.source === sourceSystem && (!targetSystem || p.target === targetSystem));
  if (pairs.length !== 1) {
    append(clear(main), heading(`Configure ${source.title}`),
      pairs.length ? h("ul", { class: "pairs" }, pairs.map((p) => h("li", {},
        h("a", { href: `#/configure/${enc(p.source)}/${enc(p.target)}`, "data-testid": `configure-${p.source}-${p.target}` },
          `${source.title} → ${titleOf(all, p.target)} (${p.flow})`))))
        : h("p", {}, `${source.title} cannot feed ${targetSystem || "any target"}.`));
    return;
  }
  const pair = pairs[0];
  const target = all.find((k) => k.system === pair.target);
  if (!target) throw new ApiError(404, { message: `unknown connector kind '${pair.target}'` });
  const sourceSide = source.sides.source;
  const targetSide = target.sides.target;
  const model = new FormModel();

  // general
  const nameInput = h("input", { type: "text", id: fieldId("name"), "data-field": "name", maxlength: 120, autocomplete: "off", required: true });
  const idInput = h("input", {
    type: "text", id: fieldId("connector_id"), "data-field": "connector_id", maxlength: 63, autocomplete: "off",
    pattern: "^[a-z0-9][a-z0-9-]{1,62}$", spellcheck: "false", required: true,
  });
  let idEdited = false;
  nameInput.addEventListener("input", () => {
    if (!idEdited) idInput.value = slug(nameInput.value);
  });
  idInput.addEventListener("input", () => {
    idEdited = idInput.value !== "";
  });
  model.add("name", () => ({ value: nameInput.value.trim() }));
  model.add("connector_id", () => ({ value: idInput.value.trim() }));

  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const timezone = h("input", { type: "text", id: fieldId("timezone"), "data-field": "timezone", list: "timezones", value: "UTC", autocomplete: "off", spellcheck: "false" });
  model.add("timezone", () => (timezone.value.trim() ? { value: timezone.value.trim() } : { skip: true }));
  const failureLimit = h("input", { type: "number", id: fieldId("failure_limit"), "data-field": "failure_limit", min: 1, max: 100, step: 1, value: "5", inputmode: "numeric" });
  model.add("failure_limit", () => {
    if (failureLimit.value.trim() === "") return { skip: true };
    const n = Number(failureLimit.value);
    return Number.isInteger(n) ? { value: n } : { error: "must be a whole number" };
  });

  // schedules of the pairing's runs
  const scheduleFields = (pair.runs || []).map((run) => {
    const input = h("input", { type: "text", id: fieldId(`schedules.${run}`), "data-field": `schedules.${run}`, value: DEFAULT_SCHEDULES[run] || "", spellcheck: "false", autocomplete: "off" });
    model.add(`schedules.${run}`, () => (input.value.trim() ? { value: input.value.trim() } : { skip: true }));
    return field(model, {
      path: `schedules.${run}`, label: `${humanize(run)} schedule`, control: input,
      help: "EventBridge Scheduler expression: rate(15 minutes), cron(minutes hours day month weekday year) or at(2026-12-31T18:00:00).",
    });
  });

  const sideSection = (sideName, kind, side) => {
    const secrets = (side && side.secrets) || [];
    const typed = secrets.filter((s) => !s.written_by);
    const legendId = `${sideName}-settings-legend`;
    return h("fieldset", { class: "section", id: `${sideName}-settings`, "aria-labelledby": legendId },
      h("legend", { id: legendId }, `${humanize(sideName)}: ${kind.title}`),
      side && side.schema && side.schema.description ? h("p", { class: "help" }, side.schema.description) : null,
      h("div", { class: "grid" }, schemaFields(model, (side && side.schema) || {}, sideName, { skip: secrets.map((s) => s.field) })),
      typed.length ? h("h3", {}, "Credentials") : null,
      typed.map((secret) => secretFields(model, sideName, secret)),
      secrets.filter((s) => s.written_by).map((s) => h("p", { class: "help" }, `${humanize(s.field)}: written by ${s.written_by} after the connector is created.`)));
  };

  const summary = h("div", { id: "form-errors", class: "error-summary", tabindex: "-1", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", id: "configure-submit", class: "button primary" }, "Create connector");
  const form = h("form", { id: "configure-form", novalidate: true, "aria-labelledby": "view-title" },
    summary,
    h("fieldset", { class: "section", "aria-labelledby": "general-legend" },
      h("legend", { id: "general-legend" }, "Connector"),
      h("div", { class: "grid" },
        field(model, { path: "name", label: "Friendly name", required: true, control: nameInput, help: "Shown in My Integrations, e.g. “Acme ServiceTrade to Sage”." }),
        field(model, { path: "connector_id", label: "Connector id", required: true, control: idInput, help: "Suggested from the name; lowercase letters, digits and dashes (2–63). It cannot be changed later." }),
        field(model, { path: "timezone", label: "Time zone", control: timezone, help: "IANA name (e.g. Europe/London) for the cron schedules." }),
        field(model, { path: "failure_limit", label: "Failure limit", control: failureLimit, help: "Failed runs in a row after which the connector pauses itself (1–100)." })),
      h("datalist", { id: "timezones" }, zones.map((z) => h("option", { value: z })))),
    sideSection("source", source, sourceSide),
    sideSection("target", target, targetSide),
    scheduleFields.length
      ? h("fieldset", { class: "section", "aria-labelledby": "schedules-legend" },
        h("legend", { id: "schedules-legend" }, "Schedules"),
        h("p", { class: "help" }, "A new connector starts paused: its schedules run once you Start it."),
        h("div", { class: "grid" }, scheduleFields))
      : null,
    h("div", { class: "actions" }, submit, h("a", { href: "#/store", class: "button secondary" }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    model.clearErrors();
    summary.hidden = true;
    clear(summary);
    const { value, errors } = model.collect();
    const body = { ...value, source: { ...(value.source || {}), system: source.system }, target: { ...(value.target || {}), system: target.system } };
    if (errors.length) {
      showFormErrors(model, summary, "Please correct the marked fields.", errors);
      return;
    }
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    ui.status("Creating the connector…", "info");
    try {
      const created = await post("/connectors", body);
      ui.status(`${created.name} (${created.connector_id}) created. It is paused: Start it to run on schedule.`, "success");
      ui.go(`#/connectors/${enc(created.connector_id)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        showFormErrors(model, summary, error.message || "The connector was not saved.", error.errors);
        ui.status(`The connector was not saved: ${error.errors.length || 1} problem(s).`, "error");
      } else if (error instanceof ApiError && error.status === 409) {
        showFormErrors(model, summary, error.message, [{ field: "connector_id", reason: error.message }]);
        report(error);
      } else {
        report(error);
      }
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });

  append(clear(main),
    h("p", {}, h("a", { href: "#/store" }, "← Connector store")),
    heading(`Configure ${source.title} → ${target.title}`),
    h("p", { class: "lead" }, `${pair.flow}. Fields marked * are required.`),
    form);
}

function showFormErrors(model, summary, message, errors) {
  const { leftover, first } = model.showErrors(errors);
  const placed = errors.filter((e) => !leftover.includes(e));
  append(summary,
    h("h2", {}, "The connector was not saved"),
    leftover.length || !placed.length ? h("p", {}, message) : null,
    leftover.length ? h("ul", { id: "form-errors-list" }, leftover.map((e) => h("li", { "data-error-field": e.field || "" }, e.field ? `${e.field}: ${e.reason}` : e.reason))) : null,
    placed.length ? h("p", {}, `${placed.length} problem(s) are shown next to their field${first ? "" : "s"}.`) : null,
    placed.length ? h("ul", { class: "links" }, placed.map((e) => {
      const target = model.nearest(String(e.field));
      const input = target && target.inputs[0];
      return h("li", {}, input ? h("a", { href: `#${input.id}`, onclick: (ev) => { ev.preventDefault(); input.focus(); } }, `${e.field}: ${e.reason}`) : `${e.field}: ${e.reason}`);
    })) : null);
  summary.hidden = false;
  summary.focus();
}

// -- my integrations --------------------------------------------------------------------------------------

export async function integrationsView(main) {
  const { connectors } = await get("/connectors");
  const generation = ui.generation;
  const rerender = async () => {
    if (generation === ui.generation) await rerendering(main, () => integrationsView(main));
  };
  const rows = connectors.map((c) => {
    const health = c.health || {};
    const last = health.last_run;
    return h("tr", { "data-connector": c.connector_id },
      h("th", { scope: "row" }, h("a", { href: `#/connectors/${enc(c.connector_id)}`, "data-testid": `open-${c.connector_id}` }, c.name),
        h("br"), h("code", { class: "muted" }, c.connector_id)),
      h("td", {}, statusBadge(c)),
      h("td", { "data-testid": "last-run" }, last ? [runBadge(last.status), " ", last.kind, h("br"), time(last.started_at)] : h("span", { class: "muted" }, "never")),
      h("td", {}, time(health.last_success_at)),
      h("td", { class: `num${health.failing_streak ? " bad" : ""}` }, String(health.failing_streak ?? 0)),
      h("td", { class: "num" }, String(health.documents_waiting ?? 0)),
      h("td", { class: "num" }, String(health.held ?? 0)),
      h("td", { class: `num${health.dead_letters ? " bad" : ""}` }, String(health.dead_letters ?? 0)),
      ui.isAdmin() ? h("td", {}, connectorActions(c, { refresh: rerender, onRun: rerender, compact: true })) : null);
  });
  const columns = ["Integration", "Status", "Last run", "Last success", "Failing streak", "Waiting", "Held", "Dead letters"];
  if (ui.isAdmin()) columns.push("Actions");
  append(clear(main),
    heading("My Integrations"),
    ui.isAdmin() ? h("p", {}, h("a", { href: "#/store", class: "button primary", id: "add-integration" }, "Add an integration")) : null,
    table({
      id: "connectors-table", caption: `${connectors.length} connector${connectors.length === 1 ? "" : "s"}`,
      columns, rows, empty: "No connectors yet: add one from the connector store.",
    }));
}

// -- connector details ------------------------------------------------------------------------------------

const TABS = [
  { key: "logs", label: "Logs" },
  { key: "files", label: "Files" },
  { key: "dead-letters", label: "Dead letters" },
];

/** A connector's health as a description list (`#health`). */
function healthList(connector) {
  const health = connector.health || {};
  return dl([
    ["Last run", health.last_run ? [runBadge(health.last_run.status), ` ${health.last_run.kind} `, time(health.last_run.started_at)] : "never"],
    ["Last success", time(health.last_success_at)],
    ["Failing streak", `${health.failing_streak ?? 0} of ${connector.failure_limit}`],
    ["Documents waiting", String(health.documents_waiting ?? 0)],
    ["Held", String(health.held ?? 0)],
    ["Dead letters", String(health.dead_letters ?? 0)],
  ], { id: "health" });
}

export async function detailsView(main, connectorId, tab = "logs") {
  const connector = await get(`/connectors/${enc(connectorId)}`);
  const generation = ui.generation;
  const here = () => generation === ui.generation;
  let panels = null;
  const refresh = async (updated) => {
    if (!here()) return;
    if (updated === null) {
      ui.go("#/integrations");
      return;
    }
    await rerendering(main, () => detailsView(main, connectorId, panels ? panels.current() : tab));
  };
  const onRun = async (run) => {
    if (!here()) return;
    if (panels.current() !== "logs") panels.select("logs");
    else await panels.reload();
    const row = main.querySelector(`tr[data-run-id="${CSS.escape(run.run_id)}"]`);
    if (row) row.classList.add("is-new");
    if (run.status !== "running") {
      // the run is over: its connector's health (last run, streak, documents waiting) changed with it
      const now = await get(`/connectors/${enc(connectorId)}`);
      const shown = main.querySelector("#health");
      if (here() && shown) shown.replaceWith(healthList(now));
    }
  };
  const secretFieldsOf = (side) => new Set((connector.credentials || []).filter((c) => c.side === side).map((c) => c.field));
  const sideSummary = (side) => {
    const config = connector[side] || {};
    const secrets = secretFieldsOf(side);
    const credential = (key) => {
      const entry = (connector.credentials || []).find((c) => c.side === side && c.field === key);
      const stored = Boolean(entry && entry.stored);
      const pending = entry && entry.written_by ? ` (written by ${entry.written_by})` : "";
      return h("span", { class: stored ? "stored" : "muted", "data-testid": `credential-${side}-${key}` },
        stored ? "stored" : `not stored${pending}`);
    };
    const pairs = Object.entries(config).filter(([key]) => key !== "system").map(([key, value]) => {
      if (secrets.has(key)) return [humanize(key), credential(key)]; // never the secret's name or content
      if (value && typeof value === "object" && !Array.isArray(value)) return [humanize(key), keyValues(value) || "—"];
      return [humanize(key), typeof value === "object" && value !== null ? h("code", {}, JSON.stringify(value)) : String(value ?? "—")];
    });
    for (const key of secrets) if (!(key in config)) pairs.push([humanize(key), credential(key)]);
    return dl(pairs, { "data-testid": `config-${side}` });
  };

  panels = tabs(TABS, tab, (key) => {
    window.history.replaceState(null, "", `#/connectors/${enc(connectorId)}/${key}`);
  }, (key, panel) => loadPanel(key, panel, connector));

  append(clear(main),
    h("p", {}, h("a", { href: "#/integrations" }, "← My Integrations")),
    h("div", { class: "title-row" }, heading(connector.name), statusBadge(connector)),
    h("p", { class: "muted" }, h("code", { id: "connector-id" }, connector.connector_id), ` · ${(connector.flows || []).join("; ")}`),
    connectorActions(connector, { refresh, onRun }),
    h("section", { id: "connector-details", "aria-labelledby": "health-title", class: "details" },
      h("div", { class: "panel-box" },
        h("h2", { id: "health-title" }, "Health"),
        healthList(connector)),
      h("div", { class: "panel-box" },
        h("h2", {}, "Configuration"),
        dl([["Time zone", connector.timezone || "UTC"], ["Failure limit", String(connector.failure_limit ?? "—")],
          ["Created", time(connector.created_at)], ["Updated", time(connector.updated_at)]]),
        h("h3", {}, `Source: ${connector.source && connector.source.system}`), sideSummary("source"),
        h("h3", {}, `Target: ${connector.target && connector.target.system}`), sideSummary("target"))),
    h("section", { "aria-labelledby": "schedules-title" },
      h("h2", { id: "schedules-title" }, "Schedules"),
      table({
        id: "schedules-table", columns: ["Run", "Expression", "Time zone", "State", "Schedule name"],
        rows: (connector.schedules || []).map((s) => h("tr", { "data-run": s.run },
          h("th", { scope: "row" }, s.run), h("td", {}, h("code", {}, s.expression)), h("td", {}, s.timezone),
          h("td", {}, h("span", { class: `badge ${s.state === "ENABLED" ? "ok" : s.state === "missing" ? "bad" : "paused"}` }, s.state)),
          h("td", {}, h("code", {}, s.name || "—")))),
        empty: "No schedules: this connector runs on webhooks.",
      })),
    panels.element);
  await panels.select(TABS.some((t) => t.key === tab) ? tab : "logs", { focus: false });
}

/** ARIA tabs: arrow keys move between tabs; a panel's content is (re)loaded when its tab is chosen. */
function tabs(defs, initial, onChange, load) {
  let current = initial;
  const buttons = new Map();
  const panelEls = new Map();
  const tablist = h("div", { role: "tablist", "aria-label": "Connector activity", class: "tablist" });
  const select = async (key, { focus = true } = {}) => {
    current = key;
    for (const [k, button] of buttons) {
      const on = k === key;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      panelEls.get(k).hidden = !on;
    }
    if (focus) buttons.get(key).focus();
    onChange(key);
    await load(key, panelEls.get(key));
  };
  for (const def of defs) {
    const button = h("button", {
      type: "button", role: "tab", id: `tab-${def.key}`, "aria-controls": `panel-${def.key}`, "aria-selected": "false",
      tabindex: "-1", class: "tab",
    }, def.label);
    button.addEventListener("click", () => select(def.key).catch(report));
    button.addEventListener("keydown", (event) => {
      const keys = defs.map((d) => d.key);
      const index = keys.indexOf(def.key);
      const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: keys.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select(keys[(next + keys.length) % keys.length]).catch(report);
    });
    buttons.set(def.key, button);
    tablist.append(button);
    panelEls.set(def.key, h("div", { role: "tabpanel", id: `panel-${def.key}`, "aria-labelledby": `tab-${def.key}`, tabindex: "0", hidden: true, class: "tabpanel" }));
  }
  return {
    element: h("section", { class: "tabs", "aria-label": "Activity" }, tablist, [...panelEls.values()]),
    select,
    current: () => current,
    reload: () => load(current, panelEls.get(current)),
  };
}

async function loadPanel(key, panel, connector) {
  append(clear(panel), h("p", { class: "muted" }, "Loading…"));
  if (key === "logs") await logsPanel(panel, connector);
  else if (key === "files") await filesPanel(panel, connector);
  else await deadLettersPanel(panel, connector);
}

// -- logs: runs, a run's events, "where is invoice…" ------------------------------------------------------

async function logsPanel(panel, connector) {
  const id = connector.connector_id;
  const first = await get(`/connectors/${enc(id)}/runs?limit=20`);
  const finder = searchForm();
  const events = h("section", { id: "run-events", class: "run-events" });
  const body = h("tbody", {});
  const more = h("button", { type: "button", id: "runs-more", class: "button secondary" }, "More");
  let next = first.next;
  const addRuns = (runs) => {
    body.querySelector("tr.empty")?.remove();
    for (const run of runs) {
      body.append(h("tr", { "data-run-id": run.run_id, "data-kind": run.kind },
        h("td", {}, time(run.started_at)),
        h("td", {}, run.kind),
        h("td", { "data-testid": "run-status" }, runBadge(run.status)),
        h("td", {}, time(run.finished_at)),
        h("td", {}, countsText(run.counts)),
        h("td", {}, run.reason || ""),
        h("td", {}, run.export_file ? h("code", {}, run.export_file.split("/").pop()) : ""),
        h("td", {}, h("button", {
          type: "button", class: "button small secondary", "data-testid": `run-${run.run_id}`,
          "aria-label": `Events of the ${run.kind} run started ${run.started_at}`,
          onclick: () => showRun(events, connector, run.run_id, finder.find).catch(report),
        }, "Events"))));
    }
    if (!body.children.length) body.append(h("tr", { class: "empty" }, h("td", { colspan: 8 }, "No runs yet.")));
    more.hidden = !next;
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await get(`/connectors/${enc(id)}/runs?limit=20&cursor=${enc(next)}`);
      next = page.next;
      addRuns(page.runs);
      ui.status(`${page.runs.length} more run(s) loaded.`, "info");
    } catch (error) {
      report(error);
    } finally {
      more.disabled = false;
    }
  });
  const runsTable = h("table", { id: "runs-table", class: "data" },
    h("caption", {}, "Runs, newest first"),
    h("thead", {}, h("tr", {}, ["Started", "Kind", "Status", "Finished", "Counts", "Reason", "File", "Events"].map((c) => h("th", { scope: "col" }, c)))),
    body);
  addRuns(first.runs);
  append(clear(panel), finder.element, h("h2", {}, "Runs"), runsTable, h("p", {}, more), events);
}

/** A button that looks an invoice number up with "Where is invoice…". */
function findButton(number, find) {
  return h("button", {
    type: "button", class: "linkish find-invoice", "data-testid": `find-invoice-${number}`,
    "aria-label": `Where is invoice ${number}?`, onclick: () => find(String(number)),
  }, String(number));
}

async function showRun(container, connector, runId, find) {
  const { run, events } = await get(`/runs/${enc(runId)}`);
  append(clear(container),
    h("h2", { tabindex: "-1", id: "run-events-title" }, `Events of run ${run.run_id}`),
    h("p", {}, runBadge(run.status), ` ${run.kind} · `, time(run.started_at), " → ", time(run.finished_at), ` · ${countsText(run.counts)}`,
      run.reason ? ` · ${run.reason}` : ""),
    eventsTable("run-events-table", events, {
      find,
      extraColumns: ["Invoice", "Document"],
      extraCells: (event) => [
        h("td", {}, event.number ? findButton(event.number, find) : ""),
        h("td", {}, event.source_id
          ? h("a", {
            href: `#/connectors/${enc(connector.connector_id)}/documents/${enc(event.source_id)}`,
            class: "timeline-link", "data-testid": `timeline-${event.source_id}`,
          }, `Timeline of ${event.number || event.source_id}`)
          : ""),
      ],
    }));
  container.querySelector("#run-events-title").focus();
}

/** An event's details: the invoice numbers a page or a file lists as "find" buttons, the rest as JSON. */
function detailsCell(details, find) {
  if (!details || !Object.keys(details).length) return h("td", {}, "");
  const { invoices, ...rest } = details;
  const numbers = Array.isArray(invoices) ? invoices : [];
  return h("td", {},
    numbers.length
      ? h("span", { class: "invoice-list" }, `${numbers.length} invoice${numbers.length === 1 ? "" : "s"}: `,
        numbers.map((n, i) => [i ? ", " : "", find ? findButton(n, find) : String(n)]))
      : null,
    keyValues(numbers.length ? rest : details));
}

/** Details as "key: value" lines (values that are not text as JSON). */
function keyValues(object) {
  const entries = Object.entries(object || {});
  if (!entries.length) return null;
  return h("ul", { class: "kv" }, entries.map(([key, value]) => h("li", {},
    h("span", { class: "muted" }, `${humanize(key)}: `),
    h("code", {}, typeof value === "string" ? value : JSON.stringify(value)))));
}

function eventsTable(id, events, { find = null, extraCells = () => [], extraColumns = [], leading = () => [], leadingColumns = [] } = {}) {
  return table({
    id, columns: ["Time", ...leadingColumns, "Level", "Message", "Details", ...extraColumns],
    rows: events.map((e) => h("tr", { class: `level-${e.level}` },
      h("td", {}, time(e.at)),
      leading(e),
      h("td", {}, h("span", { class: `badge ${e.level === "error" ? "bad" : e.level === "warning" ? "warn" : "info"}` }, e.level)),
      h("td", {}, e.message),
      detailsCell(e.details, find),
      extraCells(e))),
    empty: "No events.",
  });
}

/** "Where is invoice…": GET /documents?number= in every connector; `find(number)` runs it from elsewhere. */
function searchForm() {
  const input = h("input", { type: "search", id: "doc-search-number", name: "number", autocomplete: "off", required: true, spellcheck: "false" });
  const results = h("div", { id: "doc-search-results" });
  const form = h("form", { id: "doc-search-form", role: "search", class: "search", "aria-labelledby": "doc-search-label" },
    h("label", { for: "doc-search-number", id: "doc-search-label" }, "Where is invoice…"),
    input,
    h("button", { type: "submit", class: "button", id: "doc-search-submit" }, "Find"));
  const search = async (number) => {
    try {
      const { documents } = await get(`/documents?number=${enc(number)}`);
      append(clear(results), table({
        id: "doc-search-table", caption: `Invoice ${number}: ${documents.length} document(s) in every connector`,
        columns: ["Connector", "Number", "State", "Version", "Updated", "Reason", "Timeline"],
        rows: documents.map((d) => h("tr", { "data-source-id": d.source_id, "data-connector": d.connector_id },
          h("td", {}, d.connector_id), h("td", {}, d.number), h("td", {}, d.state ? h("span", { class: "badge info" }, d.state) : "—"),
          h("td", {}, String(d.version ?? "")), h("td", {}, time(d.updated_at)), h("td", {}, d.reason || ""),
          h("td", {}, h("a", {
            href: `#/connectors/${enc(d.connector_id)}/documents/${enc(d.source_id)}`, class: "timeline-link",
            "aria-label": `Timeline of ${d.number} in ${d.connector_id}`,
          }, "Timeline")))),
        empty: "Not found in any connector.",
      }));
      ui.status(`Invoice ${number}: ${documents.length} document(s) found.`, documents.length ? "success" : "info");
    } catch (error) {
      report(error);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const number = input.value.trim();
    if (!number) {
      ui.status("Type an invoice number to find it.", "error");
      input.focus();
      return;
    }
    search(number);
  });
  const find = async (number) => {
    input.value = number;
    await search(number);
    results.scrollIntoView({ block: "nearest" });
    input.focus();
  };
  return { element: h("section", { class: "search-box", "aria-label": "Find an invoice" }, form, results), find };
}

// -- files -----------------------------------------------------------------------------------------------------

async function filesPanel(panel, connector) {
  const { files } = await get(`/connectors/${enc(connector.connector_id)}/files`);
  append(clear(panel),
    h("h2", {}, "Import files"),
    table({
      id: "files-table", caption: "Files exported for the bookkeeper to import (links are valid for an hour)",
      columns: ["Name", "Created", "Documents", "Size", "Run", "Download"],
      rows: files.map((f) => h("tr", { "data-file-key": f.key },
        h("th", { scope: "row" }, f.name),
        h("td", {}, time(f.created_at)),
        h("td", { class: "num" }, String(f.documents ?? "—")),
        h("td", { class: "num" }, bytes(f.size)),
        h("td", {}, h("code", {}, f.run_id || "—")),
        h("td", {}, h("a", {
          href: f.download_url, download: f.name, class: "download-link", "data-testid": "download",
          "aria-label": `Download ${f.name}`, rel: "noopener noreferrer",
        }, "Download")))),
      empty: "No files yet: an export run writes one.",
    }));
}

// -- dead letters ------------------------------------------------------------------------------------------------

async function deadLettersPanel(panel, connector) {
  const id = connector.connector_id;
  const { items } = await get(`/connectors/${enc(id)}/dead-letters`);
  const reload = () => deadLettersPanel(panel, connector).catch(report);
  const replay = async (ids) => {
    const answer = await post(`/connectors/${enc(id)}/dead-letters/replay`, ids ? { ids } : {});
    ui.status(`${answer.replayed} dead letter(s) replayed: back on the delivery queue.`, "success");
    await reload();
  };
  const admin = ui.isAdmin();
  const columns = ["When", "Attempts", "Reason", "Summary", "Work key"];
  if (admin) columns.push("Replay");
  append(clear(panel),
    h("h2", {}, "Dead letters"),
    admin && items.length ? h("p", {}, actionButton("Replay all", { id: "replay-all" }, () => replay(null))) : null,
    table({
      id: "dead-letters-table", caption: `${items.length} delivery(ies) that failed every attempt`,
      columns,
      rows: items.map((item) => h("tr", { "data-dead-letter": item.id },
        h("td", {}, time(item.at)),
        h("td", { class: "num" }, String(item.attempts ?? "—")),
        h("td", {}, item.reason || ""),
        h("td", {}, item.summary || ""),
        h("td", {}, h("code", {}, item.work_key || "")),
        admin ? h("td", {}, actionButton("Replay", { class: "button small", "data-testid": `replay-${item.id}`, "aria-label": `Replay ${item.summary || item.id}` },
          () => replay([item.id]))) : null)),
      empty: "No dead letters.",
    }));
}

// -- a document's timeline ---------------------------------------------------------------------------------------------

export async function timelineView(main, connectorId, sourceId) {
  const { document: doc, events } = await get(`/connectors/${enc(connectorId)}/documents/${enc(sourceId)}`);
  append(clear(main),
    h("p", {}, h("a", { href: `#/connectors/${enc(connectorId)}/logs` }, `← ${connectorId}`)),
    heading(`Invoice ${doc.number || doc.source_id}: timeline`),
    dl([
      ["Connector", doc.connector_id], ["Source id", h("code", {}, doc.source_id)], ["Number", doc.number || "—"],
      ["State", h("span", { class: "badge info", "data-testid": "document-state" }, doc.state)], ["Version", String(doc.version ?? "—")],
      ["Updated", time(doc.updated_at)], ["Reason", doc.reason || "—"],
    ], { id: "document-summary" }),
    h("h2", {}, "What happened"),
    eventsTable("timeline", events, {
      leading: (e) => [h("td", {}, e.kind || ""), h("td", {}, h("code", {}, e.run_id || ""))],
      leadingColumns: ["Run", "Run id"],
    }));
}
