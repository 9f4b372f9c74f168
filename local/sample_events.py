"""Signed API Gateway sample events for every webhook type, for `make invoke`, `sam local invoke -e` and
`make api`.

    python -m local.sample_events                          # (re)write events/webhook_*.json
    python -m local.sample_events --post http://127.0.0.1:3000   # send them, freshly signed, to `make api`

The events go to connector `demo-shop` (`ensure_demo_shop` registers it in a local stack): the shop signs
with Standard Webhooks and the secret `DEMO_WEBHOOK_SECRET` (Secrets Manager name
`DEMO_WEBHOOK_SECRET_NAME`); FreshBooks callbacks are signed with `DEMO_FRESHBOOKS_VERIFIER`, the
confirmed verifier of callback `DEMO_FRESHBOOKS_CALLBACK_ID` (secret `DEMO_FRESHBOOKS_VERIFIER_SECRET_NAME`).
These are demo values for loopback only.

A Standard Webhooks signature is valid for 5 minutes, so a committed sample is stale by the time it is
used: `resign(event, secret)` stamps it with the current time and signs it again (same message id and
body). FreshBooks signatures carry no time and need no refresh.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from local import runner  # noqa: F401 (imported first: it puts the layer, shared/, on sys.path)

# isort: split
from invoice_relay.webhooks import freshbooks, standard
from local.api import proxy_event

REPO = Path(__file__).resolve().parent.parent
EVENTS_DIR = REPO / "events"
STAGE = "dev"  # as local.stack.STAGE

DEMO_CONNECTOR_ID = "demo-shop"
DEMO_WEBHOOK_SECRET_NAME = f"invoice-relay/{STAGE}/{DEMO_CONNECTOR_ID}/webhook"
# Not a secret: it only signs demo events sent to loopback.
DEMO_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"invoice-relay demo shop webhooks").decode()
DEMO_FRESHBOOKS_VERIFIER_SECRET_NAME = f"invoice-relay/{STAGE}/{DEMO_CONNECTOR_ID}/freshbooks-callbacks"
DEMO_FRESHBOOKS_CALLBACK_ID = "2001"
DEMO_FRESHBOOKS_VERIFIER = "demo-freshbooks-verifier-2001"
DEMO_FRESHBOOKS_ACCOUNT_ID = "xZNQ1X"
DEMO_FRESHBOOKS_BUSINESS_ID = "6543"

# Fixed so the committed files are stable; `resign` brings a shop event to the present.
_SENT = dt.datetime(2026, 11, 20, 15, 15, 0, tzinfo=dt.UTC)
_RESOURCE = "/webhooks/{connector_id}"
_SOURCE_IP = "203.0.113.10"  # documentation range (RFC 5737)

_CUSTOMER = {
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
_ORDER = {
    "id": "ord_1001",
    "number": "1001",
    "orderDate": "2026-11-20T09:14:30.000-06:00",
    "currency": "USD",
    "customer": _CUSTOMER,
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
_PAYMENT = {
    "id": "pay_9001",
    "orderId": "ord_1001",
    "amount": "52.63",
    "currency": "USD",
    "capturedAt": "2026-11-20T09:14:58.000-06:00",
    "method": "card",
    "transactionId": "txn_3QK7Z2DEMO",
    "status": "captured",
}


def shop_webhook(
    event_type: str,
    data: dict[str, Any],
    *,
    message_id: str,
    secret: str = DEMO_WEBHOOK_SECRET,
    sent: dt.datetime = _SENT,
    connector_id: str = DEMO_CONNECTOR_ID,
) -> dict[str, Any]:
    """The proxy event of one shop webhook: `{"type", "timestamp", "data"}` signed per Standard Webhooks."""
    envelope = {"type": event_type, "timestamp": _iso(sent), "data": data}
    body = json.dumps(envelope, separators=(",", ":")).encode()
    signed = standard.sign(body, secret, message_id=message_id, timestamp=sent)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shop-Webhooks/1.0",
        **signed,
    }
    return _event(connector_id, headers, body, sent)


def freshbooks_callback(
    fields: dict[str, str],
    *,
    verifier: str | None = DEMO_FRESHBOOKS_VERIFIER,
    sent: dt.datetime = _SENT,
    connector_id: str = DEMO_CONNECTOR_ID,
) -> dict[str, Any]:
    """The proxy event of one FreshBooks callback (form-encoded); `verifier=None` leaves it unsigned,
    as FreshBooks sends the `callback.verify` handshake."""
    if verifier is None:
        body, headers = freshbooks.sign(fields, "unused")
        headers.pop(freshbooks.SIGNATURE_HEADER)
    else:
        body, headers = freshbooks.sign(fields, verifier)
    return _event(connector_id, {**headers, "User-Agent": "FreshBooks-Webhooks"}, body, sent)


def _event(connector_id: str, headers: dict[str, str], body: bytes, sent: dt.datetime) -> dict[str, Any]:
    path = f"/webhooks/{connector_id}"
    host = "abc123defg.execute-api.us-east-1.amazonaws.com"
    all_headers = {"Host": host, **headers, "X-Forwarded-For": _SOURCE_IP, "X-Forwarded-Proto": "https"}
    return proxy_event(
        method="POST",
        resource=_RESOURCE,
        path=path,
        headers=list(all_headers.items()),
        path_parameters={"connector_id": connector_id},
        body=body,
        content_type=headers.get("Content-Type"),
        stage=STAGE,
        source_ip=_SOURCE_IP,
        request_id=str(uuid.UUID(bytes=hashlib.sha256(body).digest()[:16])),
        received=sent,
    )


def resign(event: dict[str, Any], secret: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A copy of a Standard Webhooks proxy event stamped `now` (default: the current time) and signed
    again with `secret`; the message id and body stay. Events without `webhook-timestamp` (FreshBooks
    callbacks, other functions' events) come back unchanged."""
    headers = event.get("headers") or {}
    names = {name.lower(): name for name in headers}
    if standard.TIMESTAMP_HEADER not in names or standard.ID_HEADER not in names:
        return copy.deepcopy(event)
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    signed = standard.sign(raw, secret, message_id=headers[names[standard.ID_HEADER]], timestamp=now)
    fresh = copy.deepcopy(event)
    for header, value in signed.items():
        name = names.get(header, header)
        fresh["headers"][name] = value
        if fresh.get("multiValueHeaders") is not None:
            fresh["multiValueHeaders"][name] = [value]
    moment = now or dt.datetime.now(dt.UTC)
    context = fresh.setdefault("requestContext", {})
    context["requestTimeEpoch"] = int(moment.timestamp() * 1000)
    context["requestTime"] = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return fresh


def sample_events() -> dict[str, dict[str, Any]]:
    """File name → proxy event, one per webhook type."""
    return {
        "webhook_shop_order_created.json": shop_webhook(
            "order.created", _ORDER, message_id="msg_demo_order_created_ord_1001"
        ),
        "webhook_shop_customer_updated.json": shop_webhook(
            "customer.updated", _CUSTOMER, message_id="msg_demo_customer_updated_cus_501"
        ),
        "webhook_shop_payment_captured.json": shop_webhook(
            "payment.captured", _PAYMENT, message_id="msg_demo_payment_captured_pay_9001"
        ),
        "webhook_freshbooks_callback_verify.json": freshbooks_callback(
            {
                "name": freshbooks.VERIFY_EVENT,
                "object_id": DEMO_FRESHBOOKS_CALLBACK_ID,
                "verifier": DEMO_FRESHBOOKS_VERIFIER,
                "account_id": DEMO_FRESHBOOKS_ACCOUNT_ID,
                "business_id": DEMO_FRESHBOOKS_BUSINESS_ID,
                "identity_id": "712052",
                "user_id": "1",
            },
            verifier=None,
        ),
        "webhook_freshbooks_invoice_paid.json": freshbooks_callback(
            {
                "name": "invoice.paid",
                "object_id": "987654",
                "account_id": DEMO_FRESHBOOKS_ACCOUNT_ID,
                "business_id": DEMO_FRESHBOOKS_BUSINESS_ID,
                "identity_id": "712052",
                "user_id": "1",
            }
        ),
    }


def write_sample_events(directory: Path = EVENTS_DIR) -> list[Path]:
    """Write every sample event as pretty JSON; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, event in sample_events().items():
        path = directory / name
        path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def ensure_demo_shop(stack: Any, *, shop_base_url: str = "http://127.0.0.1:9") -> Any:
    """Register the `demo-shop` connector (shop → FreshBooks) in a started local stack unless it exists,
    with its webhook secret and a confirmed FreshBooks callback verifier; returns its configuration.

    `shop_base_url` is where the shop's API would be (webhook intake never calls it).
    """
    from invoice_relay.connector import ConnectorConfig
    from invoice_relay.errors import ConfigurationError
    from invoice_relay.storage.state import ConnectorStore
    from invoice_relay.storage.table import state_table

    store = ConnectorStore(state_table(stack.table_name))
    try:
        return store.get(DEMO_CONNECTOR_ID)
    except ConfigurationError:
        pass
    stack.aws.create_secret(DEMO_WEBHOOK_SECRET_NAME, {"secrets": [DEMO_WEBHOOK_SECRET]})
    stack.aws.create_secret(
        DEMO_FRESHBOOKS_VERIFIER_SECRET_NAME,
        {"verifiers": {DEMO_FRESHBOOKS_CALLBACK_ID: DEMO_FRESHBOOKS_VERIFIER}, "pending": {}},
    )
    prefix = f"invoice-relay/{STAGE}/{DEMO_CONNECTOR_ID}"
    config = ConnectorConfig.model_validate(
        {
            "connector_id": DEMO_CONNECTOR_ID,
            "name": "Demo shop → FreshBooks",
            "source": {
                "system": "shop",
                "base_url": shop_base_url,
                "credentials_secret": f"{prefix}/shop",
                "webhook_secret": DEMO_WEBHOOK_SECRET_NAME,
            },
            "target": {
                "system": "freshbooks",
                "account_id": DEMO_FRESHBOOKS_ACCOUNT_ID,
                "oauth_app_secret": f"{prefix}/freshbooks-app",
                "token_secret": f"{prefix}/freshbooks-tokens",
                "callback_verifier_secret": DEMO_FRESHBOOKS_VERIFIER_SECRET_NAME,
            },
        }
    )
    store.put(config)
    return config


def post_samples(base_url: str) -> int:
    """Send every sample (shop events freshly signed) to a running local API; prints each answer."""
    import requests

    failures = 0
    for name, event in sample_events().items():
        event = resign(event, DEMO_WEBHOOK_SECRET)
        body = event["body"] or ""
        data = base64.b64decode(body) if event["isBase64Encoded"] else body.encode("utf-8")
        headers = {k: v for k, v in event["headers"].items() if k.lower() not in {"host", "content-length"}}
        response = requests.post(
            f"{base_url.rstrip('/')}{event['path']}", data=data, headers=headers, timeout=30
        )
        print(f"{name:<42} {response.status_code} {response.text.strip()}")
        failures += response.status_code >= 500
    return 1 if failures else 0


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.sample_events", description=__doc__.split("\n")[0])
    parser.add_argument("--post", metavar="BASE_URL", help="send the samples to a running `make api`")
    parser.add_argument("--out", type=Path, default=EVENTS_DIR, help="directory for the event files")
    args = parser.parse_args(argv)
    if args.post:
        return post_samples(args.post)
    for path in write_sample_events(args.out):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
