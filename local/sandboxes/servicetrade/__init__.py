"""Sandbox ServiceTrade API (see `server.py` for the API it imitates and where each rule comes from).

- `server.py`: `ServiceTradeSandbox`, the Flask routes and the Python control API;
- `store.py`: the in-memory invoices, comments, sessions and tokens, and their rules;
- `seed.py`: `sample_invoice()` and the deterministic demo account.
"""

from .seed import (
    BAD_TRANSACTION_DATE,
    BROKEN_KINDS,
    SUBCONTRACTOR,
    UNMAPPED_SERVICE_LINE,
    DemoData,
    demo_account,
    sample_invoice,
)
from .server import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    SANDBOX_USERNAME,
    SESSION_COOKIE,
    TOKEN_PATH,
    TOKEN_TTL_SECONDS,
    ServiceTradeSandbox,
)
from .store import (
    COMMENT_VISIBILITY,
    DEFAULT_LIMIT,
    ENTITY_TYPES,
    INVOICE_ENTITY_TYPE,
    INVOICE_STATUSES,
    INVOICE_TYPES,
    MAX_COMMENT_LENGTH,
    MAX_INVOICE_NUMBER_LENGTH,
    MAX_LIMIT,
)

__all__ = [
    "BAD_TRANSACTION_DATE",
    "BROKEN_KINDS",
    "COMMENT_VISIBILITY",
    "DEFAULT_LIMIT",
    "ENTITY_TYPES",
    "INVOICE_ENTITY_TYPE",
    "INVOICE_STATUSES",
    "INVOICE_TYPES",
    "MAX_COMMENT_LENGTH",
    "MAX_INVOICE_NUMBER_LENGTH",
    "MAX_LIMIT",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_PASSWORD",
    "SANDBOX_USERNAME",
    "SESSION_COOKIE",
    "SUBCONTRACTOR",
    "TOKEN_PATH",
    "TOKEN_TTL_SECONDS",
    "UNMAPPED_SERVICE_LINE",
    "DemoData",
    "ServiceTradeSandbox",
    "demo_account",
    "sample_invoice",
]
