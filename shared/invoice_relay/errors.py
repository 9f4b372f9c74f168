"""Domain errors. Every failure the pipeline handles is one of these, and each says who must act:

- `TransientError`: worth retrying later (timeouts, 429, 5xx, a lock held by another worker). Nothing is
  marked done; the work is retried.
- `PermanentError`: *this document* cannot go through (validation, unknown SKU, a document that cannot
  be mapped or rendered, the target refusing it). The document fails: its reason is written back to the
  source where it has a status, and shown in the run log. Retrying cannot help.
- `ConnectorError`: *the connector* cannot work (credentials refused or expired, OAuth connection
  missing or revoked, bad configuration, a pairing that cannot work). No document is failed for it: the
  run ends `failed` with the reason, the work is held until the connector works again, an alarm fires.
  `ConfigurationError` and `AuthenticationError` are its two kinds.

(Airbyte's CDK draws the same line: 401/403 are a *config* error the user must fix, 429/5xx transient,
the rest the record's problem.)
"""

from __future__ import annotations

from typing import Any


class RelayError(Exception):
    """Base class. `reason` is a sentence a bookkeeper can read; it must never contain a secret."""

    def __init__(self, reason: str, *, partner: str | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.partner = partner
        self.status = status


class TransientError(RelayError):
    """Try again later: the same call may succeed (timeouts, 429, 5xx, connection errors)."""


class PermanentError(RelayError):
    """This document cannot go through: the input is wrong or the partner refused it for good."""


class MappingError(PermanentError):
    """A partner record cannot be turned into a canonical model (missing customer, bad date, ...).

    `raw` is the partner payload that could not be mapped, when there is one, so it can be archived.
    """

    def __init__(
        self,
        reason: str,
        *,
        partner: str | None = None,
        status: int | None = None,
        raw: dict[str, Any] | None = None,
    ):
        super().__init__(reason, partner=partner, status=status)
        self.raw = raw


class RenderError(PermanentError):
    """A canonical document cannot be written in the target's format (unmapped value, overflow, ...)."""


class ConnectorError(RelayError):
    """The connector cannot work until somebody fixes it; no document is to blame."""


class ConfigurationError(ConnectorError):
    """The connector's configuration is missing, invalid, or pairs systems that cannot work together."""


class AuthenticationError(ConnectorError):
    """The partner refused our credentials even after re-authenticating (or there are none yet)."""
