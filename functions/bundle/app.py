"""BundleFunction: EventBridge Scheduler → bundle the PDFs a credit-management target lacks (streamed zip +
metadata.json) and upload them, sending nothing twice."""

from invoice_relay.pipeline.bundle import run_bundle
from invoice_relay.pipeline.scheduled import scheduled_handler

lambda_handler = scheduled_handler(run_bundle)
