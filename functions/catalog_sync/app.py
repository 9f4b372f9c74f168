"""CatalogSyncFunction: EventBridge Scheduler → bring the target's items in step with the shop's products."""

from invoice_relay.pipeline.catalog import run_catalog_sync
from invoice_relay.pipeline.scheduled import scheduled_handler

lambda_handler = scheduled_handler(run_catalog_sync)
