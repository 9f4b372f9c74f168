"""Domain errors. Every failure the pipeline handles is one of these, so it can decide: retry or give up.

- `TransientError`: worth retrying later (timeouts, 429, 5xx, a lock held by another worker).
- `PermanentError`: retrying cannot help (validation, unknown SKU, a document that cannot be rendered);
  the reason is written back to the source and shown in the run log.
"""

from __future__ import annotations


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
    """Do not retry: the input is wrong or the partner refused it for good."""


class AuthenticationError(PermanentError):
    """Credentials were refused even after re-authenticating."""


class MappingError(PermanentError):
    """A partner record cannot be turned into a canonical model (missing customer, bad date, ...)."""


class RenderError(PermanentError):
    """A canonical document cannot be written in the target's format (unmapped value, overflow, ...)."""


class ConfigurationError(PermanentError):
    """The connector's configuration is missing or invalid."""
