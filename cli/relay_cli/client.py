"""HTTP client of the management API (contract: issue 10): base URL, ID token header, readable errors.

Every failure becomes an `ApiError` (a click exception: `Error: <message>` on stderr, exit code 1):
400 lists the API's `errors[]` one per line, 401 says to sign in again, others show the API's `message`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click
import requests

from relay_cli import __version__
from relay_cli.session import SIGN_IN_AGAIN, Session

TIMEOUT = 30


class ApiError(click.ClickException):
    exit_code = 1

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def api_path(*parts: str) -> str:
    """`/connectors/<id>/runs` with every part URL-quoted (ids come from the command line)."""
    return "/" + "/".join(quote(str(part), safe="") for part in parts)


class Client:
    def __init__(self, api: str, session: Session | None = None, http: requests.Session | None = None):
        self.api = api.rstrip("/")
        self.session = session
        self.http = http or requests.Session()
        self.http.headers["User-Agent"] = f"invoice-relay-cli/{__version__}"

    def get(self, path: str, params: dict[str, Any] | None = None, *, auth: bool = True) -> Any:
        return self.request("GET", path, params=params, auth=auth)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        auth: bool = True,
    ) -> Any:
        """The decoded JSON answer (None for 204). A 401 with a cached session refreshes the token once."""
        response = self._send(method, path, params, body, auth)
        if response.status_code == 401 and auth and self.session is not None:
            self.session.refresh()
            response = self._send(method, path, params, body, auth)
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"{method} {self.api}{path} answered HTTP {response.status_code} without JSON: "
                "is --api right?",
                response.status_code,
            ) from None

    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, body: Any, auth: bool
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if auth:
            if self.session is None:
                raise ApiError(f"not signed in to {self.api}: run relay login")
            headers["Authorization"] = self.session.id_token()
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        try:
            return self.http.request(
                method, self.api + path, params=params, data=data, headers=headers, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise ApiError(
                f"cannot reach the API at {self.api} ({type(exc).__name__}): is it running (make api), "
                "is --api / RELAY_API right?"
            ) from None


def _error(response: requests.Response) -> ApiError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or body.get("Message") or response.reason or "error")
    if status == 401:
        return ApiError(f"{message} (HTTP 401): {SIGN_IN_AGAIN}", status)
    text = f"{message} (HTTP {status})"
    if status == 403 and "Missing Authentication Token" in message:
        text += ": API Gateway knows no such route; does --api name the stage (.../dev)?"
    elif status == 403:
        text += ": your account may only read; changes need the admins group"
    errors = body.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                field = item.get("field") or "-"
                text += f"\n  {field}: {item.get('reason') or item.get('message') or ''}".rstrip()
            else:
                text += f"\n  {item}"
    return ApiError(text, status)
