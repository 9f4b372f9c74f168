"""Sandbox ClearBooks (see `server.py` for the API it serves, the sources and the assumptions behind it):
`server.py` the routes and the Python control API, `store.py` the records and their rules, `seed.py` the
demo books."""

from .seed import (
    DEMO_BUYER_TNIDS,
    DEMO_NAMED_SUPPLIER,
    DEMO_START,
    DEMO_SUPPLIERS,
    TNID_FIELD,
    DemoData,
    seed_demo_data,
)
from .server import (
    ACCESS_TOKEN_TTL_SECONDS,
    BUSINESS_HEADER,
    DEFAULT_LIMIT,
    DEFAULT_REDIRECT_URI,
    DOCUMENTED_RATE_LIMIT,
    MAX_LIMIT,
    PAGE_HEADERS,
    SANDBOX_CLIENT_ID,
    ClearBooksSandbox,
)
from .store import (
    DEFAULT_ACCOUNT_CODES,
    HOME_CURRENCY,
    SCOPES,
    VAT_RATES,
    VAT_TREATMENTS,
    ClearBooksStore,
    Invalid,
)

__all__ = [
    "ACCESS_TOKEN_TTL_SECONDS",
    "BUSINESS_HEADER",
    "DEFAULT_ACCOUNT_CODES",
    "DEFAULT_LIMIT",
    "DEFAULT_REDIRECT_URI",
    "DEMO_BUYER_TNIDS",
    "DEMO_NAMED_SUPPLIER",
    "DEMO_START",
    "DEMO_SUPPLIERS",
    "DOCUMENTED_RATE_LIMIT",
    "HOME_CURRENCY",
    "MAX_LIMIT",
    "PAGE_HEADERS",
    "SANDBOX_CLIENT_ID",
    "SCOPES",
    "TNID_FIELD",
    "VAT_RATES",
    "VAT_TREATMENTS",
    "ClearBooksSandbox",
    "ClearBooksStore",
    "DemoData",
    "Invalid",
    "seed_demo_data",
]
