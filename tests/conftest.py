"""Test-wide environment: never real AWS credentials; the service name the template gives the functions."""

from __future__ import annotations

import os

# Set before any layer module is imported (their Powertools Logger reads the service name at import).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "invoice-relay",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "InvoiceRelay",
    }
)
