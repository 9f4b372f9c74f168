// My Integrations: sign-in, hash routing, the session bar. Views are in views.js, the API in api.js.
//
// Routes: #/signin  #/integrations  #/store  #/configure/<source>/<target>
//         #/connectors/<id>[/logs|/files|/dead-letters]  #/connectors/<id>/documents/<source_id>

import { BASE, SignedOut, get, loadConfig, signIn, signOut, signedIn, tokens } from "./api.js";
import { append, clear, h } from "./dom.js";
import { ui } from "./ui.js";
import { configureView, detailsView, integrationsView, report, storeView, timelineView } from "./views.js";

const main = () => document.getElementById("main");
const DEFAULT_ROUTE = "#/integrations";

function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [name, a, b, c] = parts;
  switch (name) {
    case undefined:
    case "integrations":
      return { name: "integrations", title: "My Integrations", render: (m) => integrationsView(m) };
    case "store":
      return { name: "store", title: "Connector store", render: (m) => storeView(m) };
    case "configure":
      return { name: "configure", title: "Configure", render: (m) => configureView(m, a, b) };
    case "connectors":
      if (a && b === "documents" && c) return { name: "timeline", title: "Timeline", render: (m) => timelineView(m, a, c) };
      if (a) return { name: "details", title: a, render: (m) => detailsView(m, a, b || "logs") };
      return { name: "integrations", title: "My Integrations", render: (m) => integrationsView(m) };
    default:
      return null;
  }
}

function setSession(visible) {
  document.getElementById("nav").hidden = !visible;
  document.getElementById("session").hidden = !visible;
  if (visible && ui.me) {
    document.getElementById("user-name").textContent = ui.me.username;
    document.getElementById("user-role").textContent = ui.me.role === "admin" ? "admin" : `${ui.me.role}, read only`;
    document.body.dataset.role = ui.me.role;
  } else {
    delete document.body.dataset.role;
  }
}

function markNav(routeName) {
  for (const [id, names] of [["nav-integrations", ["integrations", "details", "timeline"]], ["nav-store", ["store", "configure"]]]) {
    const link = document.getElementById(id);
    if (names.includes(routeName)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  if (!signedIn()) {
    showSignIn();
    return;
  }
  if (!ui.me) {
    try {
      ui.me = await get("/me");
    } catch (error) {
      if (error instanceof SignedOut) showSignIn(error.message);
      else report(error);
      return;
    }
  }
  setSession(true);
  const hash = window.location.hash || DEFAULT_ROUTE;
  const target = parseRoute(hash === "#/signin" ? DEFAULT_ROUTE : hash);
  ui.generation += 1;
  const generation = ui.generation;
  const m = main();
  m.setAttribute("aria-busy", "true");
  if (!target) {
    append(clear(m), h("h1", { tabindex: "-1", id: "view-title" }, "Page not found"),
      h("p", {}, h("a", { href: DEFAULT_ROUTE }, "Back to My Integrations")));
  } else {
    markNav(target.name);
    try {
      await target.render(m);
    } catch (error) {
      if (generation !== ui.generation) return;
      if (error instanceof SignedOut) {
        showSignIn(error.message);
        return;
      }
      report(error);
      append(clear(m), h("h1", { tabindex: "-1", id: "view-title" }, "Could not load this page"),
        h("p", { class: "notice", id: "view-error" }, error.message),
        h("p", {}, h("a", { href: DEFAULT_ROUTE }, "Back to My Integrations")));
    }
  }
  if (generation !== ui.generation) return;
  m.removeAttribute("aria-busy");
  const title = m.querySelector("h1");
  document.title = `${title ? title.textContent : "My Integrations"} — Invoice Relay`;
  if (title) title.focus();
  m.dataset.view = target ? target.name : "not-found";
}

function showSignIn(message) {
  signOut();
  ui.me = null;
  ui.kinds = null;
  ui.generation += 1;
  setSession(false);
  markNav("");
  const m = main();
  m.removeAttribute("aria-busy");
  m.dataset.view = "signin";
  const username = h("input", { type: "text", id: "signin-username", name: "username", autocomplete: "username", required: true, spellcheck: "false", autocapitalize: "none" });
  const password = h("input", { type: "password", id: "signin-password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { id: "signin-error", class: "field-error", role: "alert", hidden: !message }, message || "");
  const submit = h("button", { type: "submit", id: "signin-submit", class: "button primary" }, "Sign in");
  const form = h("form", { id: "signin-form", class: "signin", "aria-labelledby": "view-title", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "signin-username" }, "Username"), username),
    h("div", { class: "field" }, h("label", { for: "signin-password" }, "Password"), password),
    error,
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!username.value.trim() || !password.value) {
      error.textContent = "Enter your username and password.";
      error.hidden = false;
      (username.value.trim() ? password : username).focus();
      return;
    }
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    ui.status("Signing in…", "info");
    try {
      await signIn(username.value.trim(), password.value);
      ui.me = await get("/me");
      password.value = "";
      ui.status(`Signed in as ${ui.me.username} (${ui.me.role}).`, "success");
      if (!window.location.hash || window.location.hash === "#/signin") window.location.hash = DEFAULT_ROUTE;
      await route();
    } catch (failure) {
      signOut();
      error.textContent = failure.message;
      error.hidden = false;
      ui.status(`Sign-in failed: ${failure.message}`, "error");
      password.focus();
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });
  append(clear(m),
    h("div", { class: "signin-box" },
      h("h1", { tabindex: "-1", id: "view-title" }, "Sign in"),
      h("p", {}, "Use the account an Invoice Relay admin created for you."),
      form));
  document.title = "Sign in — Invoice Relay";
  username.focus();
  // Load the sign-in settings early: a broken config shows before anyone types a password.
  loadConfig().catch((failure) => {
    error.textContent = `Sign-in is not available: ${failure.message}`;
    error.hidden = false;
  });
}

function boot() {
  ui.onSignedOut = (message) => showSignIn(message);
  document.getElementById("signout").addEventListener("click", () => {
    const who = (tokens() || {}).username || (ui.me && ui.me.username) || "";
    showSignIn();
    ui.status(`Signed out${who ? ` ${who}` : ""}.`, "info");
  });
  window.addEventListener("hashchange", () => {
    route().catch(report);
  });
  document.documentElement.dataset.apiBase = BASE;
  route().catch(report);
}

boot();
