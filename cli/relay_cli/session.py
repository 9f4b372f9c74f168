"""Sign-in: Cognito InitiateAuth over HTTPS (no AWS SDK), the tokens cached per API URL in a 0600 file.

The management API wants the Cognito **ID token** in `Authorization`. `relay login` signs in with
USER_PASSWORD_AUTH; a token that has expired (or is about to) is renewed with REFRESH_TOKEN_AUTH on the next
command, and the cache is rewritten. Passwords are never stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests

SESSION_ENV = "RELAY_SESSION_FILE"
DEFAULT_SESSION_FILE = Path("~/.config/invoice-relay/session.json")
EXPIRY_MARGIN = 60  # seconds: a token expiring within a minute is refreshed before it is used
TIMEOUT = 30
COGNITO_TARGET = "AWSCognitoIdentityProviderService."
SIGN_IN_AGAIN = "sign in again (relay login)"


class AuthError(click.ClickException):
    """Signing in or renewing the session failed: printed as `Error: ...`, exit code 1."""

    exit_code = 1


def session_path() -> Path:
    return Path(os.environ.get(SESSION_ENV) or DEFAULT_SESSION_FILE).expanduser()


class SessionStore:
    """`{"version": 1, "sessions": {<api url>: {tokens, cognito endpoint, client id, username}}}`."""

    def __init__(self, path: Path | None = None):
        self.path = path or session_path()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable cache: as if signed out; the next login rewrites it
        sessions = data.get("sessions") if isinstance(data, dict) else None
        return sessions if isinstance(sessions, dict) else {}

    def get(self, api: str) -> dict[str, Any] | None:
        entry = self._load().get(api)
        return entry if isinstance(entry, dict) else None

    def put(self, api: str, entry: dict[str, Any]) -> None:
        sessions = self._load()
        sessions[api] = entry
        self._write(sessions)

    def remove(self, api: str) -> bool:
        sessions = self._load()
        if sessions.pop(api, None) is None:
            return False
        if sessions:
            self._write(sessions)
        else:
            self.path.unlink(missing_ok=True)
        return True

    def _write(self, sessions: dict[str, Any]) -> None:
        """Atomically, readable by the owner only (mkstemp creates the file 0600)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".session-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump({"version": 1, "sessions": sessions}, handle, indent=2)
                handle.write("\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class Cognito:
    """The three Cognito user-pool calls the CLI makes, as plain JSON-1.1 POSTs to the pool's endpoint."""

    def __init__(self, endpoint: str, client_id: str, http: requests.Session | None = None):
        self.url = endpoint.rstrip("/") + "/"
        self.client_id = client_id
        self.http = http or requests.Session()

    def password_auth(self, username: str, password: str) -> dict[str, Any]:
        return self._call(
            "InitiateAuth",
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": self.client_id,
                "AuthParameters": {"USERNAME": username, "PASSWORD": password},
            },
        )

    def new_password(self, username: str, new_password: str, session: str) -> dict[str, Any]:
        return self._call(
            "RespondToAuthChallenge",
            {
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "ClientId": self.client_id,
                "Session": session,
                "ChallengeResponses": {"USERNAME": username, "NEW_PASSWORD": new_password},
            },
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._call(
            "InitiateAuth",
            {
                "AuthFlow": "REFRESH_TOKEN_AUTH",
                "ClientId": self.client_id,
                "AuthParameters": {"REFRESH_TOKEN": refresh_token},
            },
        )

    def _call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": COGNITO_TARGET + action,
        }
        try:
            response = self.http.post(self.url, data=json.dumps(body), headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise AuthError(f"cannot reach Cognito at {self.url} ({type(exc).__name__})") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise AuthError(f"Cognito at {self.url} answered HTTP {response.status_code} without JSON")
        if response.status_code >= 400:
            raise CognitoError(data)
        return data


class CognitoError(AuthError):
    def __init__(self, body: dict[str, Any]):
        self.type = str(body.get("__type") or "Error").rsplit("#", 1)[-1]
        self.detail = str(body.get("message") or body.get("Message") or self.type)
        super().__init__(f"{self.detail} ({self.type})")


def _entry(result: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    tokens = result.get("AuthenticationResult") or {}
    if not tokens.get("IdToken"):
        raise AuthError("Cognito answered without an ID token")
    return {
        **base,
        "id_token": tokens["IdToken"],
        "access_token": tokens.get("AccessToken", base.get("access_token")),
        # REFRESH_TOKEN_AUTH answers without a new refresh token: the old one stays valid
        "refresh_token": tokens.get("RefreshToken", base.get("refresh_token")),
        "expires_at": int(time.time()) + int(tokens.get("ExpiresIn") or 3600),
    }


def sign_in(
    config: dict[str, Any],
    username: str,
    password: str,
    new_password: Callable[[], str],
    http: requests.Session | None = None,
) -> dict[str, Any]:
    """USER_PASSWORD_AUTH against the pool named by `GET <api>/admin/config.json`; the session entry to cache.

    A user an admin created sets a permanent password first (NEW_PASSWORD_REQUIRED): `new_password()` asks.
    """
    endpoint, client_id = config.get("cognito_endpoint"), config.get("client_id")
    if not endpoint or not client_id:
        raise AuthError("the API's /admin/config.json names no cognito_endpoint or client_id")
    cognito = Cognito(endpoint, client_id, http)
    try:
        result = cognito.password_auth(username, password)
    except CognitoError as exc:
        raise AuthError(f"sign-in failed: {exc.detail}") from None
    if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
        try:
            result = cognito.new_password(username, new_password(), result.get("Session", ""))
        except CognitoError as exc:
            raise AuthError(f"setting the new password failed: {exc.detail}") from None
    if result.get("ChallengeName"):
        raise AuthError(f"Cognito asks for {result['ChallengeName']}, which relay cannot answer")
    base = {
        "username": username,
        "cognito_endpoint": endpoint,
        "client_id": client_id,
        "region": config.get("region"),
        "user_pool_id": config.get("user_pool_id"),
        "stage": config.get("stage"),
    }
    return _entry(result, base)


class Session:
    """The signed-in session for one API URL: hands out a current ID token, refreshing it when it expires."""

    def __init__(self, api: str, store: SessionStore, http: requests.Session | None = None):
        self.api = api
        self.store = store
        self.http = http or requests.Session()
        self._entry: dict[str, Any] | None = None

    @property
    def entry(self) -> dict[str, Any]:
        if self._entry is None:
            self._entry = self.store.get(self.api)
            if self._entry is None:
                raise AuthError(f"not signed in to {self.api}: run relay login")
        return self._entry

    def id_token(self) -> str:
        entry = self.entry
        if not entry.get("id_token") or time.time() >= float(entry.get("expires_at") or 0) - EXPIRY_MARGIN:
            self.refresh()
        return self.entry["id_token"]

    def refresh(self) -> None:
        """REFRESH_TOKEN_AUTH; a refused or missing refresh token means signing in again."""
        entry = self.entry
        if not entry.get("refresh_token"):
            raise AuthError(f"the session has expired: {SIGN_IN_AGAIN}")
        cognito = Cognito(entry["cognito_endpoint"], entry["client_id"], self.http)
        try:
            result = cognito.refresh(entry["refresh_token"])
        except CognitoError as exc:
            raise AuthError(f"the session has expired ({exc.detail}): {SIGN_IN_AGAIN}") from None
        self._entry = _entry(result, entry)
        self.store.put(self.api, self._entry)
