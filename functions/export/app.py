"""ExportFunction: EventBridge Scheduler → one import file of the staged invoices in S3, then write-back."""

from invoice_relay.pipeline.export import run_export
from invoice_relay.pipeline.scheduled import scheduled_handler

lambda_handler = scheduled_handler(run_export)
