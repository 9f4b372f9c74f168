"""Releasing parked work back onto the delivery queue (see storage/held.py for the two kinds).

Held work (its connector could not work) is released when the connector works again:
- all of it when the connector was (re)connected (OAuth callback) or a delivery of it just went through;
- one item, as a probe, when a scheduled run of it succeeded (if the probe goes through, its success
  releases the rest; if not, it is held again — one wasted attempt per run, not one per held item).

Waiting work (a payment before its order) is released when the record it waits for is delivered.

Each item is sent before it is taken out of the store: a crash in between sends it twice, and the
delivery's idempotency makes the second a no-op — never a loss.
"""

from __future__ import annotations

from ..logs import logger
from ..storage.held import HeldItem
from .services import Services


def release_held(services: Services, connector_id: str, *, limit: int | None = None) -> int:
    """Put up to `limit` (all when None) held items of the connector back on the queue; returns how many."""
    released = _release(services, services.held.items(connector_id), limit)
    if released:
        logger.info(
            f"released {released} held work item(s) of connector {connector_id}",
            extra={"connector_id": connector_id},
        )
    return released


def release_waiting(services: Services, connector_id: str, dependency: str) -> int:
    """Put the work waiting for `dependency` back on the queue (it was just delivered)."""
    released = _release(services, services.held.waiting_for(connector_id, dependency), None)
    if released:
        logger.info(
            f"released {released} work item(s) that waited for {dependency}",
            extra={"connector_id": connector_id},
        )
    return released


def _release(services: Services, items: list[HeldItem], limit: int | None) -> int:
    if not items:
        return 0
    # deferred: most runs (and every OAuth connect link) find no held work and never build it (cold start)
    from .work import WorkItem

    released = 0
    for held in items:
        if limit is not None and released >= limit:
            break
        item = WorkItem.model_validate_json(held.body)
        services.queue.send(item.model_copy(update={"attempt": item.attempt + 1}))
        if services.held.remove(held):
            released += 1
    return released
