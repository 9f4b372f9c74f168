"""Demo data for the sandbox FreshBooks: the demo shop's catalog as items, and the demo webhook callback
that the committed sample event `events/webhook_freshbooks_callback_verify.json` confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import FreshBooksSandbox

DEMO_ITEMS = (
    ("TEE-BLK-M", "Organic tee, black, M", "24.00"),
    ("TEE-WHT-L", "Organic tee, white, L", "24.00"),
    ("MUG-12OZ", "Ceramic mug 12 oz", "14.50"),
    ("CAP-NAVY", "Baseball cap, navy", "19.99"),
    ("STICKER-PACK", "Sticker pack (10)", "6.00"),
)

# The callback of the sample handshake (`local.scenarios.fixtures`: FRESHBOOKS_CALLBACK_ID and
# FRESHBOOKS_VERIFIER; keep them equal). Demo values for loopback only.
DEMO_CALLBACK_ID = "2001"
DEMO_CALLBACK_VERIFIER = "demo-freshbooks-verifier-2001"
DEMO_CALLBACK_EVENT = "payment.create"
DEMO_CALLBACK_URI = "http://127.0.0.1:3000/webhooks/demo-shop"  # `make api`'s webhook route


def seed_demo_catalog(sandbox: FreshBooksSandbox) -> list[dict[str, Any]]:
    """The demo shop's catalog (`DEMO_ITEMS`) as FreshBooks items."""
    return [sandbox.add_item(sku, name, price) for sku, name, price in DEMO_ITEMS]


def seed_demo_callback(
    sandbox: FreshBooksSandbox,
    callback_id: str | int = DEMO_CALLBACK_ID,
    verifier: str = DEMO_CALLBACK_VERIFIER,
    event: str = DEMO_CALLBACK_EVENT,
    uri: str = DEMO_CALLBACK_URI,
    verified: bool = False,
) -> dict[str, Any]:
    """Register the demo callback WITHOUT sending the verification request: the sample handshake event
    plays that part, and the confirming `PUT .../events/callbacks/<callback_id> {"callback": {"verifier":
    <verifier>}}` our adapter then sends is answered 200. `verified=True` skips the handshake altogether
    (events such as `payment.create` go to `uri` at once). Seeding again resets it. Returns the callback
    as the API serves it (no verifier)."""
    return sandbox.add_callback(
        event, uri, verifier=verifier, callback_id=int(callback_id), verified=verified
    )
