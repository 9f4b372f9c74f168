"""Invoice Relay: the domain layer shared by every Lambda function (deployed as a Lambda layer)."""

__version__ = "0.1.0"
