"""relay: the ops command line of the Invoice Relay management API (see cli/README.md)."""

__version__ = "0.1.0"
