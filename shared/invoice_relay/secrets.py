"""Partner credentials from Secrets Manager (cached per container; never logged, never stored elsewhere)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters

from .errors import ConfigurationError


def partner_credentials(secret_name: str, max_age: int = 300, *, fresh: bool = False) -> dict[str, Any]:
    """The JSON secret `secret_name` as a dict (Powertools caches it for `max_age` seconds; `fresh` reads
    it again now, e.g. after a check failed with a secret that may have been rotated meanwhile)."""
    try:
        value = parameters.get_secret(secret_name, transform="json", max_age=max_age, force_fetch=fresh)
    except parameters.exceptions.GetParameterError as exc:
        # The exception text can include the secret's name but never its value.
        raise ConfigurationError(f"cannot read credentials secret '{secret_name}'") from exc
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigurationError(f"credentials secret '{secret_name}' is not valid JSON") from exc
    if not isinstance(value, dict):
        raise ConfigurationError(f"credentials secret '{secret_name}' must be a JSON object")
    return value
