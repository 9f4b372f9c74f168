"""Catalog sync: keep the target's items in step with the source's products, by SKU, incrementally.

The cursor is the newest `updatedAt` seen; it is saved only after every product up to it was synced, so
a run that dies is repeated from the last saved point (syncing a product twice is harmless: the target
reports it `unchanged`). One product that cannot be mapped or synced is reported and skipped; it does
not stop the others (the run ends `partial`).

The catalog's *generation*: deliveries keep each connector's SKU → item map per container (in the pooled
target, see `services.PartnerPool`). A run that created or updated an item stores a new generation (a
random stamp) in the catalog cursor — also when it stops half-way, keeping the cursor where it was — and a
delivery of a document reads it first (`catalog_generation`: one small read); a pooled target used with
another generation is replaced, so no container goes on using item names or ids from before the sync.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from ..connector import ConnectorConfig
from ..errors import PermanentError
from ..logs import logger
from ..partners.capabilities import CATALOG_SOURCE, CATALOG_TARGET
from ..storage.table import iso, utc_now
from .services import Services

if TYPE_CHECKING:
    from .run import Finished, Run
    from .summary import RunSummary

CURSOR = "catalog"
GENERATION = "generation"  # the cursor's field that changes whenever the run changed the target's items


def run_catalog_sync(connector_id: str, services: Services) -> RunSummary:
    # deferred (and in _sync): DeliverFunction imports this module for `catalog_generation` only (cold start)
    from .run import run_connector

    return run_connector(connector_id, "catalog", services, _sync, needs=(CATALOG_SOURCE, CATALOG_TARGET))


def _sync(config: ConnectorConfig, services: Services, run: Run) -> Finished:
    from .run import Finished

    cid = config.connector_id
    cursor = services.cursors.get(cid, CURSOR)
    since = dt.datetime.fromisoformat(cursor["updated_since"]) if cursor.get("updated_since") else None
    run.event("info", "syncing the catalog" + (f" changed since {since.isoformat()}" if since else ""))
    source = services.open(config, CATALOG_SOURCE)
    target = services.open(config, CATALOG_TARGET)
    newest = since
    changed = False
    try:
        for change in source.products(since):
            try:
                if change.product is None:
                    raise PermanentError(change.problem or "cannot be mapped")
                item_id, outcome = target.sync_product(change.product)
            except PermanentError as exc:
                run.counts["failed"] += 1
                run.document_failed(
                    change.key, change.key, exc.reason, f"product {change.key} not synced: {exc.reason}"
                )
                continue
            run.counts[outcome] += 1
            if outcome != "unchanged":
                changed = True
                run.event(
                    "info",
                    f"product {change.key} {outcome} as {target.system} item {item_id}",
                    source_id=change.key,
                )
            if change.updated_at is not None and change.updated_at.tzinfo is not None:  # aware stamps only
                newest = max(newest, change.updated_at) if newest else change.updated_at
    except Exception:
        if changed:  # the cursor stays where it was; the deliveries must still drop what they know
            try:
                _save(services, cid, cursor, new_generation=True)
            except Exception:  # the run's own error is the one to report
                logger.exception(
                    "the catalog changed but its new generation could not be stored: deliveries may use the "
                    "items they knew until their targets are renewed (secret_cache_seconds)",
                    extra={"connector_id": cid},
                )
        raise
    finally:
        source.close()
        target.close()
    if newest is not None or changed:
        position = {"updated_since": newest.isoformat()} if newest is not None else {}
        _save(services, cid, {**cursor, **position}, new_generation=changed)
    counts = run.counts
    return Finished(
        status="partial" if counts["failed"] else "succeeded",
        message=", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "catalog already in step",
    )


def catalog_generation(services: Services, config: ConnectorConfig) -> str | None:
    """The connector's catalog generation (see the module docstring); None when it has no catalog sync."""
    if "catalog" not in services.partners.scheduled_runs(config):
        return None
    return str(services.cursors.get(config.connector_id, CURSOR).get(GENERATION) or "initial")


def _save(services: Services, cid: str, cursor: dict[str, Any], *, new_generation: bool) -> None:
    """Store the catalog cursor; with a new generation when the run changed the target's items."""
    saved = {**cursor, "saved_at": iso(utc_now())}
    if new_generation:
        saved[GENERATION] = uuid.uuid4().hex
    services.cursors.save(cid, CURSOR, saved)
