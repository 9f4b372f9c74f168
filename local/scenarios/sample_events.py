"""Signed API Gateway sample events for every webhook type (`events/webhook_*.json`), for `make invoke`,
`sam local invoke -e` and `make api`; `local.commands.sample_events` writes or posts them.

The events go to the demo stack's shop connector (`fixtures.SHOP_CONNECTOR_ID`): the shop signs with
Standard Webhooks and `fixtures.WEBHOOK_SECRET`; FreshBooks callbacks are signed with
`fixtures.FRESHBOOKS_VERIFIER`, the confirmed verifier of callback `fixtures.FRESHBOOKS_CALLBACK_ID`.

A Standard Webhooks signature is valid for 5 minutes, so a committed sample is stale by the time it is
used: `resign(event, secret)` stamps it with the current time and signs it again (same message id and
body) — `make invoke` and `--post` do so at send time. FreshBooks signatures carry no time.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from invoice_relay.partners.freshbooks import callbacks
from invoice_relay.webhooks import standard
from local.runtime.api_gateway import proxy_event
from local.runtime.platform import STAGE
from local.scenarios import fixtures

REPO = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO / "events"

# Fixed so the committed files are stable; `resign` brings a shop event to the present.
_SENT = dt.datetime(2026, 11, 20, 15, 15, 0, tzinfo=dt.UTC)
_RESOURCE = "/webhooks/{connector_id}"
_SOURCE_IP = "203.0.113.10"  # documentation range (RFC 5737)


def shop_webhook(
    event_type: str,
    data: dict[str, Any],
    *,
    message_id: str,
    secret: str = fixtures.WEBHOOK_SECRET,
    sent: dt.datetime = _SENT,
    connector_id: str = fixtures.SHOP_CONNECTOR_ID,
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
    verifier: str | None = fixtures.FRESHBOOKS_VERIFIER,
    sent: dt.datetime = _SENT,
    connector_id: str = fixtures.SHOP_CONNECTOR_ID,
) -> dict[str, Any]:
    """The proxy event of one FreshBooks callback (form-encoded); `verifier=None` leaves it unsigned,
    as FreshBooks sends the `callback.verify` handshake."""
    if verifier is None:
        body, headers = callbacks.sign(fields, "unused")
        headers.pop(callbacks.SIGNATURE_HEADER)
    else:
        body, headers = callbacks.sign(fields, verifier)
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
            "order.created", fixtures.SAMPLE_ORDER, message_id="msg_demo_order_created_ord_1001"
        ),
        "webhook_shop_customer_updated.json": shop_webhook(
            "customer.updated", fixtures.SAMPLE_CUSTOMER, message_id="msg_demo_customer_updated_cus_501"
        ),
        "webhook_shop_payment_captured.json": shop_webhook(
            "payment.captured", fixtures.SAMPLE_PAYMENT, message_id="msg_demo_payment_captured_pay_9001"
        ),
        "webhook_freshbooks_callback_verify.json": freshbooks_callback(
            {
                "name": callbacks.VERIFY_EVENT,
                "object_id": fixtures.FRESHBOOKS_CALLBACK_ID,
                "verifier": fixtures.FRESHBOOKS_VERIFIER,
                "account_id": fixtures.FRESHBOOKS_ACCOUNT_ID,
                "business_id": fixtures.FRESHBOOKS_BUSINESS_ID,
                "identity_id": "712052",
                "user_id": "1",
            },
            verifier=None,
        ),
        "webhook_freshbooks_payment_create.json": freshbooks_callback(
            {
                "name": "payment.create",
                "object_id": "987654",
                "account_id": fixtures.FRESHBOOKS_ACCOUNT_ID,
                "business_id": fixtures.FRESHBOOKS_BUSINESS_ID,
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


def post_samples(base_url: str) -> int:
    """Send every sample (shop events freshly signed) to a running local API; prints each answer."""
    import requests

    failures = 0
    for name, event in sample_events().items():
        event = resign(event, fixtures.WEBHOOK_SECRET)
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
