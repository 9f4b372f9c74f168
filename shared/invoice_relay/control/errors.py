"""What the control plane answers when it cannot do what was asked; the API maps each to one HTTP status."""

from __future__ import annotations


class ControlError(Exception):
    """A request the control plane refuses; `message` is shown to the person who asked."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ControlError):
    """Bad input: each error names the field (a dotted path such as `source.base_url`) and the reason."""

    status = 400

    def __init__(self, errors: list[dict[str, str]], message: str | None = None):
        super().__init__(message or "; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


class Forbidden(ControlError):
    status = 403


class NotFound(ControlError):
    status = 404


class Conflict(ControlError):
    """The request conflicts with the connector's state (a run holds the lease, it exists already...)."""

    status = 409
