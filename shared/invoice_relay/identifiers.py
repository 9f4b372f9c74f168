"""Identifier rules used across the layer (defined once here)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

# A connector id is part of DynamoDB keys, S3 keys, schedule names and URL paths: lower-case, short, safe.
CONNECTOR_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
_CONNECTOR_ID = re.compile(CONNECTOR_ID_PATTERN)

ConnectorId = Annotated[str, Field(pattern=CONNECTOR_ID_PATTERN, description="e.g. 'acme-servicetrade'")]


def is_connector_id(value: object) -> bool:
    """Whether `value` is a well-formed connector id (it may still be unknown)."""
    return isinstance(value, str) and _CONNECTOR_ID.match(value) is not None
