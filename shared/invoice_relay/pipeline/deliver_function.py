"""Powertools idempotency around `deliver`: one effect per (connector, source, event, id, version).

Built lazily (first call), so importing the handler reads no environment and creates no client.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from ..errors import ConfigurationError
from ..settings import settings
from .deliver import deliver
from .services import services
from .work import WorkItem

# `attempt` is part of the key: an item put back to wait (attempt + 1) must run again, while a duplicate
# of the same attempt must not (it would re-enqueue a second waiting copy).
IDEMPOTENCY_KEY = "[connector_id, source_system, event_type, source_id, version, attempt]"
IDEMPOTENCY_TTL_SECONDS = 30 * 24 * 3600


@lru_cache(maxsize=1)
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )


@lru_cache(maxsize=1)
def _idempotent_delivery() -> Any:
    table = settings().idempotency_table_name
    if not table:
        raise ConfigurationError("IDEMPOTENCY_TABLE_NAME is not set")

    @idempotent_function(
        data_keyword_argument="item",
        persistence_store=DynamoDBPersistenceLayer(table_name=table),
        config=idempotency_config(),
    )
    def deliver_item(item: WorkItem) -> dict[str, Any]:
        return deliver(item, services()).as_dict()

    return deliver_item


def deliver_once(*, item: WorkItem) -> dict[str, Any]:
    """Deliver `item` unless an item with the same key already took effect (then its result is returned).

    A delivery that raised is not recorded, so SQS's retry runs it again."""
    return _idempotent_delivery()(item=item)
