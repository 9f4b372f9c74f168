"""Sandbox ShipServ Invoicing API (see `server.py` for the API it imitates, the public sources and the
assumptions).

- `server.py`: `ShipServSandbox`, the Flask routes and the Python control API;
- `store.py`: tenants, users, parties, tokens, documents, attachments and idempotency keys, and their rules;
- `seed.py`: the deterministic demo network (`DemoData`) and `demo_pdf()`.
"""

from .seed import (
    DEMO_BUYER_TNID,
    DEMO_NOT_SET_UP_BUYER,
    DEMO_SEED,
    DEMO_SENDERS,
    DEMO_SUPPLIER_BUYERS,
    DEMO_SUPPLIER_TNID,
    DEMO_UNKNOWN_BUYER_TNID,
    DEMO_VESSELS,
    DemoData,
    demo_pdf,
)
from .server import (
    DEFAULT_PAGE_SIZE,
    IDEMPOTENCY_HEADER,
    MAX_PAGE_SIZE,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    TOKEN_PATH,
    TOKEN_TTL_SECONDS,
    ShipServSandbox,
)
from .store import (
    CLASSIFICATIONS,
    DEFAULT_TENANT,
    DOCUMENT_TYPES,
    DUPLICATE_DOCUMENT,
    LINKED_INVOICE_NOT_FOUND,
    PO_REQUIRED,
    ROLE_BOTH,
    ROLE_BUYER,
    ROLE_SUPPLIER,
    STATUS_READ,
    STATUS_SENT,
    TOTALS_MISMATCH,
    UNKNOWN_BUYER,
    LineSpec,
)

__all__ = [
    "CLASSIFICATIONS",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TENANT",
    "DEMO_BUYER_TNID",
    "DEMO_NOT_SET_UP_BUYER",
    "DEMO_SEED",
    "DEMO_SENDERS",
    "DEMO_SUPPLIER_BUYERS",
    "DEMO_SUPPLIER_TNID",
    "DEMO_UNKNOWN_BUYER_TNID",
    "DEMO_VESSELS",
    "DOCUMENT_TYPES",
    "DUPLICATE_DOCUMENT",
    "IDEMPOTENCY_HEADER",
    "LINKED_INVOICE_NOT_FOUND",
    "MAX_PAGE_SIZE",
    "PO_REQUIRED",
    "ROLE_BOTH",
    "ROLE_BUYER",
    "ROLE_SUPPLIER",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "STATUS_READ",
    "STATUS_SENT",
    "TOKEN_PATH",
    "TOKEN_TTL_SECONDS",
    "TOTALS_MISMATCH",
    "UNKNOWN_BUYER",
    "DemoData",
    "LineSpec",
    "ShipServSandbox",
    "demo_pdf",
]
