"""PollFunction: EventBridge Scheduler → list a connector's ready invoices, hand each on exactly once."""

from invoice_relay.pipeline.poll import run_poll
from invoice_relay.pipeline.scheduled import scheduled_handler

lambda_handler = scheduled_handler(run_poll)
