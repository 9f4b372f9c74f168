"""OAuth 2.0 token endpoint pieces shared by the sandboxes: the refusal their stores raise and the entry
a sandbox logs for each token request (tests read what grant was asked for and how it was answered).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, request


class GrantRefused(Exception):
    """A token request refused: HTTP `status` with `{"error", "error_description"}` (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def grant_entry(grant_type: str, response: Response, fields: Iterable[str], **extra: Any) -> dict[str, Any]:
    """The log entry of the token request being answered: `{grant_type, status, error, **extra,
    content_type, fields}` (`fields`: the names of the request's form or JSON fields)."""
    error = response.get_json(silent=True) or {}
    return {
        "grant_type": grant_type,
        "status": response.status_code,
        "error": error.get("error"),
        **extra,
        "content_type": request.mimetype,
        "fields": sorted(fields),
    }
