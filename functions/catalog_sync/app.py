"""CatalogSyncFunction: EventBridge Scheduler → bring the target's items in step with the source's catalog."""

from invoice_relay.pipeline.catalog import run_catalog_sync
from invoice_relay.pipeline.scheduled import scheduled_handler

lambda_handler = scheduled_handler(run_catalog_sync)
