"""The one home of the demo's identities, secrets and sample records.

Every demo connector id, every demo secret (they only sign or unlock things on loopback; none is a real
secret) and the sample records of the committed sample events are defined here and imported from here —
by the demo stack, the sample events, the commands and the tests.
"""

from __future__ import annotations

import base64

from local.runtime.platform import STAGE
from local.sandboxes.documents import pdf_file

# -- connectors of the demo stack ----------------------------------------------------------------------
SERVICETRADE_CONNECTOR_ID = "demo-servicetrade"  # ServiceTrade → import file (flows 1 + 2)
SHOP_CONNECTOR_ID = "demo-shop"  # shop webhooks → FreshBooks (flow 3); the sample events' connector
CLEARNOX_CONNECTOR_ID = "demo-clearnox"  # drop zone → Clearnox bundles (flow 4)
UPLOAD_CONNECTOR_ID = "demo-upload"  # ClearBooks → ShipServ: a supplier's invoices to the network (flow 5)
DOWNLOAD_CONNECTOR_ID = "demo-download"  # ShipServ → ClearBooks: a buyer's received documents (flow 5)
SERVICETRADE_TEMPLATE = "example_legacy_header_detail"


def secret_name(connector_id: str, purpose: str) -> str:
    """The Secrets Manager name of a demo connector's secret (within the functions' policy)."""
    return f"invoice-relay/{STAGE}/{connector_id}/{purpose}"


# -- secrets (loopback only) ---------------------------------------------------------------------------
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"invoice-relay demo shop webhooks").decode()
WEBHOOK_SECRET_NAME = secret_name(SHOP_CONNECTOR_ID, "webhook")
FRESHBOOKS_VERIFIER_SECRET_NAME = secret_name(SHOP_CONNECTOR_ID, "freshbooks-callbacks")
FRESHBOOKS_CALLBACK_ID = "2001"
FRESHBOOKS_VERIFIER = "demo-freshbooks-verifier-2001"
FRESHBOOKS_ACCOUNT_ID = "xZNQ1X"
FRESHBOOKS_BUSINESS_ID = "6543"

# -- sample records (the committed sample events carry these) -------------------------------------------
SAMPLE_CUSTOMER = {
    "id": "cus_501",
    "email": "jane.doe@example.com",
    "firstName": "Jane",
    "lastName": "Doe",
    "company": "Doe Outfitters",
    "phone": "+1 512 555 0101",
    "billingAddress": {
        "line1": "100 Congress Ave",
        "line2": "Suite 200",
        "city": "Austin",
        "region": "TX",
        "postalCode": "78701",
        "country": "US",
    },
    "updatedAt": "2026-11-20T15:10:00.000Z",
}
SAMPLE_ORDER = {
    "id": "ord_1001",
    "number": "1001",
    "orderDate": "2026-11-20T09:14:30.000-06:00",
    "currency": "USD",
    "customer": SAMPLE_CUSTOMER,
    "lineItems": [
        {
            "sku": "MUG-12OZ",
            "name": "Ceramic mug",
            "description": "12 oz, speckled",
            "quantity": 2,
            "unitPrice": "12.00",
            "discount": "0",
            "taxRate": "8.25",
        },
        {
            "sku": "TEE-M-NAVY",
            "name": "T-shirt",
            "description": "Navy, size M",
            "quantity": 1,
            "unitPrice": "20.00",
            "discount": "0",
            "taxRate": "8.25",
        },
        {
            "sku": None,
            "name": "Standard shipping",
            "description": None,
            "quantity": 1,
            "unitPrice": "5.00",
            "discount": "0",
            "taxRate": None,
        },
    ],
    "pricesIncludeTax": False,
    "subtotal": "49.00",
    "taxTotal": "3.63",
    "total": "52.63",
    "status": "open",
    "paymentStatus": "pending",
    "paidAt": None,
    "paymentReference": None,
    "updatedAt": "2026-11-20T15:14:30.000Z",
}
SAMPLE_PAYMENT = {
    "id": "pay_9001",
    "orderId": "ord_1001",
    "amount": "52.63",
    "currency": "USD",
    "capturedAt": "2026-11-20T09:14:58.000-06:00",
    "method": "card",
    "transactionId": "txn_3QK7Z2DEMO",
    "status": "captured",
}


def demo_pdf(title: str) -> bytes:
    """A small, valid one-page PDF saying `title` (drop-zone demo data)."""
    text = f"BT /F1 24 Tf 72 720 Td (Invoice {title}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_file(objects)
