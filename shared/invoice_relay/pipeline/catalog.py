"""Catalog sync: keep the target's items in step with the shop's products, by SKU, incrementally.

The cursor is the newest `updatedAt` seen; it is saved only after every product up to it was synced, so
a run that dies is repeated from the last saved point (syncing a product twice is harmless: the target
reports it `unchanged`). One product that cannot be mapped or synced is reported and skipped; it does
not stop the others.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from ..connector import ConnectorConfig
from ..errors import MappingError, PermanentError
from ..storage.runs import RunLog
from ..storage.table import iso, utc_now
from .exclusive import run_exclusively
from .services import Services
from .summary import DocumentFailure, RunSummary

CURSOR = "catalog"


def run_catalog_sync(connector_id: str, services: Services) -> RunSummary:
    return run_exclusively(
        connector_id, "catalog", services, lambda config, run: _sync(config, services, run)
    )


def _sync(config: ConnectorConfig, services: Services, run: RunLog) -> RunSummary:
    from ..connectors import shop

    cid = config.connector_id
    cursor = services.cursors.get(cid, CURSOR)
    since = dt.datetime.fromisoformat(cursor["updated_since"]) if cursor.get("updated_since") else None
    run.start(updated_since=cursor.get("updated_since"))
    with services.source_for(config) as shop_adapter:
        target = services.target_for(config)
        counts: Counter[str] = Counter()
        failures: list[DocumentFailure] = []
        newest = since
        for raw in shop_adapter.client.products(updated_since=since):
            sku = str(raw.get("sku") or "?")
            try:
                product = shop.product_to_product(raw)
                item_id, outcome = target.sync_product(product)
            except (MappingError, PermanentError) as exc:
                counts["failed"] += 1
                failures.append(DocumentFailure(source_id=sku, number=sku, reason=exc.reason))
                run.event("warn", f"product {sku} not synced: {exc.reason}", source_id=sku)
                continue
            counts[outcome] += 1
            if outcome != "unchanged":
                run.event("info", f"product {sku} {outcome} as FreshBooks item {item_id}", source_id=sku)
            updated = dt.datetime.fromisoformat(str(raw.get("updatedAt")).replace("Z", "+00:00"))
            newest = max(newest, updated) if newest else updated
        if newest is not None:
            services.cursors.save(
                cid, CURSOR, {"updated_since": newest.isoformat(), "saved_at": iso(utc_now())}
            )
    run.finish("succeeded", dict(counts))
    return RunSummary(
        connector_id=cid,
        kind="catalog",
        run_id=run.run_id,
        status="succeeded",
        counts=dict(counts),
        failures=failures,
        message=", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "catalog already in step",
    )
