"""Releasing work held while its connector could not work: back onto the delivery queue.

Held when a delivery meets a connector problem (see deliver.py); released when the connector works
again:
- all of it when the connector was (re)connected (OAuth callback) or a delivery of it just went through;
- one item, as a probe, when a scheduled run of it succeeded (if the probe goes through, its success
  releases the rest; if not, it is held again — one wasted attempt per run, not one per held item).

Each item is sent before it is taken out of the store: a crash in between sends it twice, and the
delivery's idempotency makes the second a no-op — never a loss.
"""

from __future__ import annotations

from ..logs import logger
from .services import Services
from .work import WorkItem


def release_held(services: Services, connector_id: str, *, limit: int | None = None) -> int:
    """Put up to `limit` (all when None) held items of the connector back on the queue; returns how many."""
    released = 0
    for held in services.held.items(connector_id):
        if limit is not None and released >= limit:
            break
        item = WorkItem.model_validate_json(held.body)
        services.queue.send(item)
        if services.held.remove(held):
            released += 1
    if released:
        logger.info(
            f"released {released} held work item(s) of connector {connector_id}",
            extra={"connector_id": connector_id},
        )
    return released
