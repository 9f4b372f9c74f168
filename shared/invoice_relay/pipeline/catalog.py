"""Catalog sync: keep the target's items in step with the source's products, by SKU, incrementally.

The cursor is the newest `updatedAt` seen; it is saved only after every product up to it was synced, so
a run that dies is repeated from the last saved point (syncing a product twice is harmless: the target
reports it `unchanged`). One product that cannot be mapped or synced is reported and skipped; it does
not stop the others (the run ends `partial`).
"""

from __future__ import annotations

import datetime as dt

from ..connector import ConnectorConfig
from ..errors import PermanentError
from ..partners.capabilities import CATALOG_SOURCE, CATALOG_TARGET
from ..storage.table import iso, utc_now
from .run import Finished, Run, run_connector
from .services import Services
from .summary import RunSummary

CURSOR = "catalog"


def run_catalog_sync(connector_id: str, services: Services) -> RunSummary:
    return run_connector(connector_id, "catalog", services, _sync, needs=(CATALOG_SOURCE, CATALOG_TARGET))


def _sync(config: ConnectorConfig, services: Services, run: Run) -> Finished:
    cid = config.connector_id
    cursor = services.cursors.get(cid, CURSOR)
    since = dt.datetime.fromisoformat(cursor["updated_since"]) if cursor.get("updated_since") else None
    run.event("info", "syncing the catalog" + (f" changed since {since.isoformat()}" if since else ""))
    source = services.open(config, CATALOG_SOURCE)
    target = services.open(config, CATALOG_TARGET)
    newest = since
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
                run.event(
                    "info",
                    f"product {change.key} {outcome} as {target.system} item {item_id}",
                    source_id=change.key,
                )
            if change.updated_at is not None and change.updated_at.tzinfo is not None:  # aware stamps only
                newest = max(newest, change.updated_at) if newest else change.updated_at
    finally:
        source.close()
        target.close()
    if newest is not None:
        services.cursors.save(cid, CURSOR, {"updated_since": newest.isoformat(), "saved_at": iso(utc_now())})
    counts = run.counts
    return Finished(
        status="partial" if counts["failed"] else "succeeded",
        message=", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "catalog already in step",
    )
