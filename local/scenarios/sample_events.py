"""Signed API Gateway sample events for every webhook type (`events/webhook_*.json`) and the OAuth connect
link (`events/oauth_connect.json`), for `make invoke`, `sam local invoke -e` and `make api`;
`local.commands.sample_events` writes or posts them. They are HTTP API events (payload format 2.0), as
the template's `WebhookHttpApi` sends them: header names lower-cased, the path with the stage in front, and
the form-encoded FreshBooks callbacks in base64.

The events go to the demo stack's shop connector (`fixtures.SHOP_CONNECTOR_ID`): the shop signs with
Standard Webhooks and `fixtures.WEBHOOK_SECRET`; FreshBooks callbacks are signed with
`fixtures.FRESHBOOKS_VERIFIER`, the confirmed verifier of callback `fixtures.FRESHBOOKS_CALLBACK_ID`.

A Standard Webhooks signature is valid for 5 minutes, so a committed sample is stale by the time it is
used: `resign(event, secret)` stamps it with the current time and signs it again (same message id and
body) — `make invoke` and `--post` do so at send time. FreshBooks signatures carry no time.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from invoice_relay.partners.freshbooks import callbacks
from invoice_relay.webhooks import standard
from local.runtime.api_gateway import body_of, http_api_event, proxy_event, request_of
from local.runtime.platform import STAGE
from local.scenarios import fixtures

REPO = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO / "events"

# Fixed so the committed files are stable; `resign` brings a shop event to the present.
_SENT = dt.datetime(2026, 11, 20, 15, 15, 0, tzinfo=dt.UTC)
_RESOURCE = "/webhooks/{connector_id}"
_SOURCE_IP = "203.0.113.10"  # documentation range (RFC 5737)
_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"


def shop_webhook(
    event_type: str,
    data: dict[str, Any],
    *,
    message_id: str,
    secret: str = fixtures.WEBHOOK_SECRET,
    sent: dt.datetime = _SENT,
    connector_id: str = fixtures.SHOP_CONNECTOR_ID,
) -> dict[str, Any]:
    """The API event of one shop webhook: `{"type", "timestamp", "data"}` signed per Standard Webhooks."""
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
    """The API event of one FreshBooks callback (form-encoded, so base64 in the event); `verifier=None`
    leaves it unsigned, as FreshBooks sends the `callback.verify` handshake."""
    if verifier is None:
        body, headers = callbacks.sign(fields, "unused")
        headers.pop(callbacks.SIGNATURE_HEADER)
    else:
        body, headers = callbacks.sign(fields, verifier)
    return _event(connector_id, {**headers, "User-Agent": "FreshBooks-Webhooks"}, body, sent)


def oauth_connect(
    connector_id: str = fixtures.SHOP_CONNECTOR_ID, *, sent: dt.datetime = _SENT
) -> dict[str, Any]:
    """The API event of a person opening a connector's FreshBooks connect link in a browser."""
    path = f"/oauth/{connector_id}/connect"
    return http_api_event(
        method="GET",
        resource="/oauth/{connector_id}/connect",
        path=path,
        headers=_as_sent({"Accept": "text/html", "User-Agent": "Mozilla/5.0"}, path.encode(), sent),
        path_parameters={"connector_id": connector_id},
        stage=STAGE,
        source_ip=_SOURCE_IP,
        request_id=_request_id(path.encode(), sent),
        received=sent,
    )


def _event(connector_id: str, headers: dict[str, str], body: bytes, sent: dt.datetime) -> dict[str, Any]:
    return http_api_event(
        method="POST",
        resource=_RESOURCE,
        path=f"/webhooks/{connector_id}",
        headers=_as_sent({**headers, "Content-Length": str(len(body))}, body, sent),
        path_parameters={"connector_id": connector_id},
        body=body,
        stage=STAGE,
        source_ip=_SOURCE_IP,
        request_id=_request_id(body, sent),
        received=sent,
    )


def _as_sent(headers: dict[str, str], content: bytes, sent: dt.datetime) -> list[tuple[str, str]]:
    """The sender's headers plus the ones API Gateway adds (stable for the same content and time)."""
    trace = f"Root=1-{int(sent.timestamp()):08x}-{hashlib.sha256(content).hexdigest()[:24]}"
    return [
        ("Host", _HOST),
        *headers.items(),
        ("X-Amzn-Trace-Id", trace),
        ("X-Forwarded-For", _SOURCE_IP),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]


def _request_id(content: bytes, sent: dt.datetime) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(content + sent.isoformat().encode()).digest()[:16]))


def resign(event: dict[str, Any], secret: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A copy of a Standard Webhooks API event (HTTP API or REST) stamped `now` (default: the current time)
    and signed again with `secret`; the message id and body stay. Events without `webhook-timestamp`
    (FreshBooks callbacks, other functions' events) come back unchanged."""
    headers = event.get("headers") or {}
    names = {name.lower(): name for name in headers}
    if standard.TIMESTAMP_HEADER not in names or standard.ID_HEADER not in names:
        return copy.deepcopy(event)
    raw = body_of(event)
    signed = standard.sign(raw, secret, message_id=headers[names[standard.ID_HEADER]], timestamp=now)
    fresh = copy.deepcopy(event)
    for header, value in signed.items():
        name = names.get(header, header)
        fresh["headers"][name] = value
        if fresh.get("multiValueHeaders") is not None:
            fresh["multiValueHeaders"][name] = [value]
    moment = now or dt.datetime.now(dt.UTC)
    context = fresh.setdefault("requestContext", {})
    v2 = event.get("version") == "2.0"  # HTTP API: time/timeEpoch; REST: requestTime/requestTimeEpoch
    time_field, epoch_field = ("time", "timeEpoch") if v2 else ("requestTime", "requestTimeEpoch")
    context[epoch_field] = int(moment.timestamp() * 1000)
    context[time_field] = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return fresh


def sample_events() -> dict[str, dict[str, Any]]:
    """File name → API event, one per webhook type."""
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


# The claims API Gateway's Cognito authorizer passes for the demo admin (every value a string).
DEMO_ADMIN_CLAIMS = {"cognito:username": "demo-admin", "cognito:groups": "admins", "token_use": "id"}


def management_request(
    method: str, path: str, body: Any = None, *, sent: dt.datetime = _SENT
) -> dict[str, Any]:
    """The REST event ManagementApiFunction receives for a request of the demo admin (token accepted)."""
    text = json.dumps(body) if body is not None else None
    return proxy_event(
        method=method,
        resource="/{proxy+}",
        path=path,
        path_parameters={"proxy": path.lstrip("/")},
        headers=[("Host", _HOST), *([("Content-Type", "application/json")] if text else [])],
        body=text,
        content_type="application/json" if text else None,
        stage=STAGE,
        request_id=_request_id(f"{method} {path}".encode(), sent),
        received=sent,
        authorizer={"claims": DEMO_ADMIN_CLAIMS},
    )


def management_samples() -> dict[str, dict[str, Any]]:
    """File name → a management API request of the demo admin."""
    return {
        "management_list_connectors.json": management_request("GET", "/connectors"),
        "management_run_now.json": management_request(
            "POST", f"/connectors/{fixtures.SERVICETRADE_CONNECTOR_ID}/runs", {"kind": "poll"}
        ),
    }


def write_sample_events(directory: Path = EVENTS_DIR) -> list[Path]:
    """Write every webhook sample, the management requests and `oauth_connect.json` as pretty JSON;
    returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    samples = {**sample_events(), **management_samples(), "oauth_connect.json": oauth_connect()}
    for name, event in samples.items():
        path = directory / name
        path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def post_samples(base_url: str) -> int:
    """Send every sample (shop events freshly signed) to a running local API; prints each answer."""
    import requests

    failures = 0
    for name, event in sample_events().items():
        request = request_of(resign(event, fixtures.WEBHOOK_SECRET))
        response = requests.request(
            request.method,
            f"{base_url.rstrip('/')}{request.path}",
            data=request.body,
            headers=request.headers,
            timeout=30,
        )
        print(f"{name:<42} {response.status_code} {response.text.strip()}")
        failures += response.status_code >= 500
    return 1 if failures else 0


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
