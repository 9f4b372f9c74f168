// The management API and Cognito sign-in (contract: /admin/config.json, Cognito InitiateAuth, ID token in
// the Authorization header). Tokens live in sessionStorage: they end with the tab.

const TOKENS_KEY = "invoice-relay.tokens";
const REFRESH_MARGIN_MS = 60_000; // refresh a minute before the ID token expires

/** The API's base URL: the page is at <base>/admin (deployed <base> ends with /<stage>; locally the origin). */
export function apiBase(loc = window.location) {
  const path = loc.pathname.replace(/\/admin(?:\/.*)?$/, "").replace(/\/+$/, "");
  return `${loc.origin}${path}`;
}

export const BASE = apiBase();

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const message = (body && (body.message || body.Message)) || fallback || `HTTP ${status}`;
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body || {};
    this.errors = Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}

/** Thrown when there is no usable session: the page shows the sign-in form. */
export class SignedOut extends Error {
  constructor(message) {
    super(message || "Please sign in.");
    this.name = "SignedOut";
  }
}

let configPromise = null;

/** The sign-in settings (`GET /admin/config.json`, open). */
export function loadConfig() {
  if (!configPromise) {
    configPromise = fetch(`${BASE}/admin/config.json`, { headers: { Accept: "application/json" } })
      .then(async (response) => {
        if (!response.ok) throw new ApiError(response.status, await readJson(response), "cannot load the sign-in settings");
        return response.json();
      })
      .catch((error) => {
        configPromise = null;
        throw error;
      });
  }
  return configPromise;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}

// -- tokens ---------------------------------------------------------------------------------------------

export function tokens() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKENS_KEY) || "null");
  } catch {
    return null;
  }
}

function storeTokens(result, previous) {
  const stored = {
    idToken: result.IdToken,
    accessToken: result.AccessToken,
    // REFRESH_TOKEN_AUTH answers without a new refresh token: keep the one we have.
    refreshToken: result.RefreshToken || (previous && previous.refreshToken) || null,
    expiresAt: Date.now() + (Number(result.ExpiresIn) || 3600) * 1000,
    username: (previous && previous.username) || claims(result.IdToken)["cognito:username"] || null,
  };
  sessionStorage.setItem(TOKENS_KEY, JSON.stringify(stored));
  return stored;
}

export function signedIn() {
  const current = tokens();
  return Boolean(current && current.idToken);
}

/** The claims of a JWT (not verified: the API does that; only for display). */
export function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

export function signOut() {
  sessionStorage.removeItem(TOKENS_KEY);
}

// -- Cognito ---------------------------------------------------------------------------------------------

async function cognito(action, body) {
  const config = await loadConfig();
  const endpoint = String(config.cognito_endpoint).replace(/\/+$/, "");
  let response;
  try {
    response = await fetch(`${endpoint}/`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, null, `Cannot reach the sign-in service at ${endpoint} (network or CORS): ${error.message}`);
  }
  const answer = await readJson(response);
  if (!response.ok) {
    const type = answer && answer.__type ? String(answer.__type).split("#").pop() : null;
    throw new ApiError(response.status, answer, type || "sign-in failed");
  }
  return answer || {};
}

/** USER_PASSWORD_AUTH; Cognito's own message on failure (e.g. "Incorrect username or password."). */
export async function signIn(username, password) {
  const config = await loadConfig();
  const answer = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config.client_id,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  if (!answer.AuthenticationResult) {
    const challenge = answer.ChallengeName || "an unknown challenge";
    throw new ApiError(400, null, `Cognito asks for ${challenge}: finish it with the AWS CLI or the console, then sign in here.`);
  }
  return storeTokens(answer.AuthenticationResult, { username });
}

let refreshing = null;

/** REFRESH_TOKEN_AUTH (one at a time); SignedOut when the session cannot be renewed. */
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const current = tokens();
      if (!current || !current.refreshToken) throw new SignedOut("Your session has ended: please sign in again.");
      const config = await loadConfig();
      try {
        const answer = await cognito("InitiateAuth", {
          AuthFlow: "REFRESH_TOKEN_AUTH",
          ClientId: config.client_id,
          AuthParameters: { REFRESH_TOKEN: current.refreshToken },
        });
        return storeTokens(answer.AuthenticationResult, current);
      } catch (error) {
        signOut();
        throw new SignedOut(`Your session has ended (${error.message}): please sign in again.`);
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// -- the management API ------------------------------------------------------------------------------------

/** Call the API: JSON in, JSON out; ApiError on an error answer, SignedOut when no session is left. */
export async function api(method, path, body, { retried = false } = {}) {
  let current = tokens();
  if (!current || !current.idToken) throw new SignedOut();
  if (current.expiresAt && current.expiresAt - Date.now() < REFRESH_MARGIN_MS) current = await refresh();
  const headers = { Accept: "application/json", Authorization: current.idToken };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${BASE}${path}`, init);
  } catch (error) {
    throw new ApiError(0, null, `Cannot reach the API (${error.message})`);
  }
  if (response.status === 401 && !retried) {
    await refresh();
    return api(method, path, body, { retried: true });
  }
  if (response.status === 401) {
    signOut();
    throw new SignedOut("Your session is no longer accepted: please sign in again.");
  }
  const answer = response.status === 204 ? null : await readJson(response);
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const del = (path) => api("DELETE", path);
export const enc = encodeURIComponent;
