"""Placeholder: filled in by the pipeline work (thin handler around invoice_relay.pipeline)."""


def lambda_handler(event, context):
    raise NotImplementedError
