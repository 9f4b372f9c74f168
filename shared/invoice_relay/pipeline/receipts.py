"""Receipts: what a target says back after delivery — a trade network's READ acknowledgement — recorded on
the timeline of the document it is about, once, when it comes.

A poll of a connector whose target provides `DELIVERY_RECEIPTS` asks for the receipts that came since its
`receipts` cursor (the newest receipt time recorded, and the receipts recorded at exactly that time, so the
boundary is read again without recording anything twice). Each is matched to the connector's document by
its number (the number index) and becomes an event of the run's log with the document's source id: the
document's timeline then says "read by the recipient at …". A receipt for a document this connector did not
send (sent by hand on the network) is counted and passed over.

Receipts are news, not work: a transient failure to read them is a warning and the next poll catches up
from the cursor; the documents themselves were queued before this runs and are not held up by it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ..connector import ConnectorConfig
from ..errors import TransientError
from ..partners.capabilities import DELIVERY_RECEIPTS
from ..storage.table import iso, utc_now
from .run import Run
from .services import Services

if TYPE_CHECKING:
    from ..partners.capabilities import DeliveryReceipt

CURSOR = "receipts"


def record_receipts(services: Services, config: ConnectorConfig, run: Run) -> None:
    """Record the receipts that came since the last poll (see the module docstring)."""
    if not services.partners.provides(config, DELIVERY_RECEIPTS):
        return
    cursor = services.cursors.get(config.connector_id, CURSOR)
    since = dt.datetime.fromisoformat(cursor["since"]) if cursor.get("since") else None
    at_since = set(cursor.get("ids_at_since", []))
    newest, at_newest = since, set(at_since)
    target = services.open(config, DELIVERY_RECEIPTS)
    try:
        for receipt in target.receipts(since):
            if since is not None and receipt.at <= since and receipt.target_id in at_since:
                continue  # recorded by an earlier poll (the boundary is read again)
            _record(services, config, run, receipt)
            if newest is None or receipt.at > newest:
                newest, at_newest = receipt.at, {receipt.target_id}
            elif receipt.at == newest:
                at_newest.add(receipt.target_id)
    except TransientError as exc:
        run.event("warn", f"receipts could not be read this time ({exc}); the next poll catches up")
    finally:
        target.close()
        if newest is not None and (newest != since or at_newest != at_since):
            services.cursors.save(
                config.connector_id,
                CURSOR,
                {"since": newest.isoformat(), "ids_at_since": sorted(at_newest), "saved_at": iso(utc_now())},
            )


def _record(services: Services, config: ConnectorConfig, run: Run, receipt: DeliveryReceipt) -> None:
    number = receipt.number
    records = services.documents.numbered(number, config.connector_id) if number else []
    record = next((r for r in records if r.target_id == receipt.target_id), None)
    if record is None:
        run.counts["receipts_not_ours"] += 1
        return
    run.counts["receipts"] += 1
    run.event(  # kept in the run's log: the document's timeline shows it
        "info",
        f"{number} {receipt.status} by the recipient at {receipt.at.isoformat()}"
        f" ({config.target.system} {receipt.target_id})",
        source_id=record.source_id,
        number=number,
    )
