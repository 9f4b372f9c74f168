"""Hostile webhook input through the real WebhookFunction and DeliverFunction of a local stack.

    with LocalStack() as stack:
        report = run_fuzz(stack, requests=10_000, seed=7)
        print(report.summary())

`python -m local.chaos.fuzz --requests 10000 --seed 7` does the same on a fresh demo stack.

Each request is an HTTP API event (payload format 2.0) for the demo shop connector
(`fixtures.SHOP_CONNECTOR_ID`), of one of `KINDS` (drawn by weight): Standard Webhooks deliveries from the
shop and FreshBooks callbacks, most of them validly signed so that they reach the parser — deep nesting,
lone surrogates, invalid UTF-8, truncated or binary or empty bodies, NaN and 1e400, huge integers, ids of
kilobytes or with control characters, values of the wrong type, amounts like 1e30, list-valued fields,
oversize bodies, missing / garbled / wrong-secret / stale signatures, tampered bodies, duplicate and
re-signed deliveries, unknown event types — with header names in random letter case on a third of them.
Every kind says what the intake must answer (`Expect`) and, for what it queues, how the delivery must end.

Then the queue is inspected (drained, every message's delivery id checked against the validly signed
requests, and sent again unchanged) and fed to DeliverFunction (`stack.drain_delivery_queue`).

Violations (`FuzzReport.violations`; the goal is none):
- an answer ≥ 500 (or a handler that raised: the HTTP API's 500), each recorded with its kind;
- an answer other than the kind's expectation, or a 4xx without a reason;
- a queued message without a valid signature;
- a queue record that failed (it would be retried: a retry loop) or reached the dead-letter queue, or a
  message left on the queue;
- a delivery run left `running`, a queued item without exactly one run, or deliveries whose outcomes
  differ from the kinds' expectations (hostile items fail, each once, with a reason; valid ones go
  through).

Seeded (`random.Random(seed)`): the same seed draws the same kinds with the same shapes, so a failure
replays. Ids carry a per-run `nonce` (random unless given) so that a second run on the same stack is not
taken for duplicates of the first.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import random
import sys
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from invoice_relay.partners.freshbooks import callbacks
from invoice_relay.storage import keys
from invoice_relay.storage.table import iso, query_all, state_table, utc_now
from invoice_relay.webhooks import intake, standard
from local.chaos.report import ScenarioResult
from local.runtime.api_gateway import http_api_event
from local.runtime.platform import STAGE
from local.scenarios import fixtures

RESOURCE = "/webhooks/{connector_id}"
OTHER_SECRET = "whsec_" + base64.b64encode(b"not the shop's secret, 32 bytes!").decode()
MAX_EXAMPLES = 20  # violations list at most this many examples of one sort


@dataclass(frozen=True)
class Expect:
    """What the intake must answer (status code and the answer's `status`) and, when it queues the
    event, how its delivery must end (`failed` for hostile data, `delivered` for a good one)."""

    status_code: int
    status: str
    delivery: str | None = None


UNAUTHENTIC = Expect(401, "rejected")
MALFORMED = Expect(400, "rejected")
TOO_LARGE = Expect(413, "rejected")
POISON = Expect(202, "accepted", delivery="failed")
GOOD = Expect(202, "accepted", delivery="delivered")
IGNORED = Expect(202, "ignored")
REPEATED = {"delivered": "already_delivered", "failed": "already_failed"}  # a repeat's outcome


def repeat_of(original: FuzzRequest) -> Expect:
    """A delivery sent again is queued again as the same work: its delivery is the original's kind, and
    every copy after the first is answered by the first's idempotency record (`REPEATED`)."""
    return Expect(202, "accepted", delivery=original.expect.delivery)


@dataclass(frozen=True)
class FuzzRequest:
    """One request: `delivery_id` is set when it is validly signed (only those may reach the queue)."""

    kind: str
    headers: dict[str, str]
    body: bytes
    expect: Expect
    delivery_id: str | None = None


@dataclass
class FuzzReport:
    """What `run_fuzz` saw. `by_class` counts answers as "2xx", "4xx", "5xx"."""

    seed: int
    nonce: str
    requests: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_class: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # "kind: status reason", every answer ≥ 500
    unexpected_answers: int = 0
    enqueued: int = 0
    enqueued_unsigned: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)  # delivery outcome → count
    runs: Counter[str] = field(default_factory=Counter)  # final status of delivery runs → count
    failed_receives: int = 0
    poison: int = 0  # messages dead-lettered or left on the queue
    runs_not_closed: int = 0
    intake_seconds: float = 0.0
    delivery_seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """A few readable lines (the violations last)."""
        classes = ", ".join(f"{n}× {c}" for c, n in sorted(self.by_class.items()))
        statuses = ", ".join(f"{n}× {s}" for s, n in sorted(self.by_status.items()))
        lines = [
            f"fuzz seed {self.seed} (nonce {self.nonce}): {self.requests} requests in "
            f"{self.intake_seconds:.1f} s ({self.requests / max(self.intake_seconds, 1e-9):.0f}/s)",
            f"answers          {classes}  ({statuses})",
            f"queued           {self.enqueued} ({self.enqueued_unsigned} without a valid signature)",
            f"delivered in     {self.delivery_seconds:.1f} s: "
            + ", ".join(f"{n}× {s}" for s, n in sorted(self.deliveries.items())),
            f"queue            {self.failed_receives} failed receives, {self.poison} poison messages, "
            f"{self.runs_not_closed} runs left running",
            "kinds            " + ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items())),
        ]
        if self.violations:
            lines.append(f"VIOLATIONS ({len(self.violations)}):")
            lines.extend(f"  - {violation}" for violation in self.violations)
        else:
            lines.append("no violations")
        return "\n".join(lines)


# -- requests -------------------------------------------------------------------------------------------


class HostileRequests:
    """Draws fuzz requests: `draw()` one of KINDS by weight, `make(kind)` one of that kind.

    Tell it the answers (`answered`): duplicates and re-signed deliveries repeat a recent accepted one.
    """

    def __init__(self, rng: random.Random, *, nonce: str = "", secret: str = fixtures.WEBHOOK_SECRET):
        self.rng = rng
        self.nonce = nonce
        self.secret = secret
        self.count = 0
        self.accepted: deque[FuzzRequest] = deque(maxlen=50)
        self._kinds = list(KINDS)
        self._weights = [KINDS[kind] for kind in self._kinds]

    def draw(self) -> FuzzRequest:
        return self.make(self.rng.choices(self._kinds, self._weights)[0])

    def make(self, kind: str) -> FuzzRequest:
        request = getattr(self, f"_{kind}")()
        if self.rng.random() < 0.3:
            request = FuzzRequest(
                request.kind, _random_case(self.rng, request.headers), request.body, request.expect,
                request.delivery_id,
            )  # fmt: skip
        return request

    def answered(self, request: FuzzRequest, status_code: int, status: str) -> None:
        if (
            (status_code, status) == (202, "accepted")
            and request.delivery_id
            and "webhook-id" in {name.lower() for name in request.headers}
        ):
            self.accepted.append(request)

    # -- building blocks ------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.nonce}{self.count}"

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def order(self) -> dict[str, Any]:
        """A good order (SKUs in the demo catalog, totals that add up), with a fresh id and number."""
        order_id = self._id("ord")
        return {
            "id": order_id,
            "number": order_id.removeprefix("ord_"),
            "orderDate": "2026-11-20T09:14:30.000-06:00",
            "currency": "USD",
            "customer": {
                "id": "cus_fuzz",
                "email": "fuzz.buyer@example.com",
                "firstName": "Fuzz",
                "lastName": "Buyer",
            },
            "lineItems": [
                {
                    "sku": "MUG-12OZ",
                    "name": "Stoneware mug",
                    "quantity": 2,
                    "unitPrice": "16.50",
                    "discount": "0",
                    "taxRate": "8.25",
                },
                {
                    "sku": "SHIP-STD",
                    "name": "Standard shipping",
                    "quantity": 1,
                    "unitPrice": "6.95",
                    "discount": "0",
                    "taxRate": None,
                },
            ],
            "pricesIncludeTax": False,
            "subtotal": "39.95",
            "taxTotal": "2.72",
            "total": "42.67",
            "status": "open",
            "updatedAt": "2026-11-20T15:14:30.000Z",
        }

    def payment(self) -> dict[str, Any]:
        return {
            "id": self._id("pay"),
            "orderId": self._id("ord"),
            "amount": "42.67",
            "currency": "USD",
            "capturedAt": "2026-11-20T09:14:58.000-06:00",
            "method": "card",
            "status": "captured",
        }

    def customer(self) -> dict[str, Any]:
        return {
            "id": self._id("cus"),
            "email": "fuzz.customer@example.com",
            "firstName": "Fuzz",
            "billingAddress": {"line1": "1 Main St", "city": "Austin", "country": "US"},
            "updatedAt": "2026-11-20T15:10:00.000Z",
        }

    def envelope(self, event_type: Any, data: Any) -> bytes:
        return json.dumps(
            {"type": event_type, "timestamp": "2026-11-20T15:15:00Z", "data": data}, separators=(",", ":")
        ).encode()

    def signed(
        self,
        kind: str,
        body: bytes,
        expect: Expect,
        *,
        message_id: str | None = None,
        sent: dt.datetime | None = None,
        secret: str | None = None,
        content_type: str = "application/json",
    ) -> FuzzRequest:
        """A Standard Webhooks delivery; `delivery_id` is set only when signed validly (our secret, now)."""
        message_id = message_id or self._id("msg")
        headers = standard.sign(
            body, secret or self.secret, message_id=message_id, timestamp=sent or self._now()
        )
        valid = secret in (None, self.secret) and sent is None
        return FuzzRequest(
            kind,
            {"Content-Type": content_type, "User-Agent": "Shop-Webhooks/1.0", **headers},
            body,
            expect,
            message_id if valid else None,
        )

    def with_marker(self, data: dict[str, Any], text: str) -> bytes:
        """The envelope of `data` with the string value "@@" replaced by raw JSON `text`."""
        return self.envelope("order.created", data).replace(b'"@@"', text.encode())

    def choice(self, options: list[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    # -- signatures: 401 ------------------------------------------------------------------------------

    def _missing_signature(self) -> FuzzRequest:
        request = self.signed("missing_signature", self.envelope("order.created", self.order()), UNAUTHENTIC)
        names = [n for n in standard.HEADERS if self.rng.random() < 0.5] or [
            self.choice(list(standard.HEADERS))
        ]
        headers = {k: v for k, v in request.headers.items() if k not in names}
        return FuzzRequest(request.kind, headers, request.body, UNAUTHENTIC)

    def _garbled_signature(self) -> FuzzRequest:
        request = self.signed("garbled_signature", self.envelope("order.created", self.order()), UNAUTHENTIC)
        garbage = self.choice([
            "v1,", "v1,!!!not base64!!!", "v2," + base64.b64encode(self.rng.randbytes(32)).decode(),
            "v1," + base64.b64encode(self.rng.randbytes(32)).decode(),
            base64.b64encode(self.rng.randbytes(32)).decode(),
            "v1a," + "A" * 88, " ", "v1," + "A" * 5000, "v1,\u00e9\u00e9",
        ])  # fmt: skip
        return FuzzRequest(
            request.kind, {**request.headers, "webhook-signature": garbage}, request.body, UNAUTHENTIC
        )

    def _wrong_secret(self) -> FuzzRequest:
        body = self.envelope("order.created", self.order())
        return self.signed("wrong_secret", body, UNAUTHENTIC, secret=OTHER_SECRET)

    def _stale_signature(self) -> FuzzRequest:
        skew = dt.timedelta(seconds=self.rng.randint(310, 86_400)) * self.choice([-1, 1])
        body = self.envelope("order.created", self.order())
        return self.signed("stale_signature", body, UNAUTHENTIC, sent=self._now() + skew)

    def _tampered_body(self) -> FuzzRequest:
        order = self.order()
        request = self.signed("tampered_body", self.envelope("order.created", order), UNAUTHENTIC)
        tampered = self.envelope("order.created", {**order, "total": "0.01"})
        return FuzzRequest(request.kind, request.headers, tampered, UNAUTHENTIC)

    def _malformed_message_id(self) -> FuzzRequest:
        message_id = self.choice(["msg with spaces", "m" * 300, "msg_\u00e9t\u00e9", "msg/../x", "msg\tx"])
        body = self.envelope("order.created", self.order())
        request = self.signed("malformed_message_id", body, UNAUTHENTIC, message_id=message_id)
        return FuzzRequest(request.kind, request.headers, request.body, UNAUTHENTIC)

    # -- size: 413 ------------------------------------------------------------------------------------

    def _oversize_body(self) -> FuzzRequest:
        filler = "x" * (intake.DEFAULT_MAX_BODY_BYTES + self.rng.randint(1, 64 * 1024))
        return self.signed(
            "oversize_body", self.envelope("order.created", {**self.order(), "note": filler}), TOO_LARGE
        )

    # -- authentic bodies the intake must refuse: 400 -------------------------------------------------

    def _deep_nesting(self) -> FuzzRequest:
        depth = self.choice([31, 32, 40, 100, 999, 1000, 5000, self.rng.randint(31, 30_000)])
        opening, closing = self.choice([(b"[", b"]"), (b'{"a":', b"}")])
        nested = opening * depth + b"1" + closing * depth
        body = self.with_marker({**self.order(), "extra": "@@"}, nested.decode())
        return self.signed("deep_nesting", body, MALFORMED)

    def _lone_surrogate(self) -> FuzzRequest:
        order = self.order()
        text = self.choice(['"\\ud800"', '"mug \\ud83d"', '"\\udc00 tail"', '"\\udfff\\ud800"'])
        where = self.choice(["id", "number", "name", "key", "status"])
        if where == "name":
            order["lineItems"][0]["name"] = "@@"
        elif where == "key":
            order["extra"] = "@@"
            text = '{"\\ud800key": 1}'
        else:
            order[where] = "@@"
        return self.signed("lone_surrogate", self.with_marker(order, text), MALFORMED)

    def _invalid_utf8(self) -> FuzzRequest:
        order = {**self.order(), "note": "@@"}
        raw = self.choice(
            [b'"\xff"', b'"\xc3\x28"', b'"\xed\xa0\x80"', b'"\xf8\x88\x80\x80\x80"', b'"\x80abc"']
        )
        body = self.envelope("order.created", order).replace(b'"@@"', raw)
        return self.signed("invalid_utf8", body, MALFORMED)

    def _truncated_json(self) -> FuzzRequest:
        body = self.envelope("order.created", self.order())
        return self.signed("truncated_json", body[: self.rng.randint(1, len(body) - 1)], MALFORMED)

    def _binary_body(self) -> FuzzRequest:
        body = self.rng.randbytes(self.rng.randint(1, 4096))
        content_type = self.choice(["application/json", "application/octet-stream", "image/png"])
        return self.signed("binary_body", b"\x00" + body, MALFORMED, content_type=content_type)

    def _empty_body(self) -> FuzzRequest:
        return self.signed("empty_body", b"", MALFORMED)

    def _not_an_object(self) -> FuzzRequest:
        body = self.choice([b"[]", b'["order.created"]', b'"order.created"', b"42", b"null", b"true", b" "])
        return self.signed("not_an_object", body, MALFORMED)

    def _nan_or_infinity(self) -> FuzzRequest:
        order = self.order()
        order[self.choice(["subtotal", "total", "taxTotal"])] = "@@"
        text = self.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
        return self.signed("nan_or_infinity", self.with_marker(order, text), MALFORMED)

    def _huge_integer(self) -> FuzzRequest:
        order = self.order()
        order[self.choice(["subtotal", "total", "extra"])] = "@@"
        digits = self.choice([33, 100, 4300, 5000, self.rng.randint(33, 100_000)])
        text = "1" + "0" * (digits - 1)
        return self.signed("huge_integer", self.with_marker(order, text), MALFORMED)

    def _huge_id(self) -> FuzzRequest:
        event_type, data = self._record()
        length = self.choice([201, 2049, 10_000, self.rng.randint(201, 150_000)])
        field_name = self.choice(
            ["id", _VERSION_FIELD[event_type]] + (["number"] if event_type == "order.created" else [])
        )
        data[field_name] = "x" * length
        return self.signed("huge_id", self.envelope(event_type, data), MALFORMED)

    def _control_characters_in_id(self) -> FuzzRequest:
        event_type, data = self._record()
        field_name = self.choice(["id", _VERSION_FIELD[event_type]])
        data[field_name] = f"id{self.choice(['\x00', '\n', '\x1b[31m', '\x7f', '\x85', '\r\n'])}x"
        return self.signed("control_characters_in_id", self.envelope(event_type, data), MALFORMED)

    def _wrong_type_id(self) -> FuzzRequest:
        event_type, data = self._record()
        data["id"] = self.choice([[1, 2], {"id": "ord_1"}, True, False, None, "", "   ", []])
        return self.signed("wrong_type_id", self.envelope(event_type, data), MALFORMED)

    def _wrong_type_version(self) -> FuzzRequest:
        event_type, data = self._record()
        data[_VERSION_FIELD[event_type]] = self.choice([["2026-11-20"], {"at": 1}, True, None, "", " "])
        return self.signed("wrong_type_version", self.envelope(event_type, data), MALFORMED)

    def _wrong_type_event(self) -> FuzzRequest:
        event_type = self.choice(
            [12, ["order.created"], {"type": "x"}, None, "", "order.\x00created", "t" * 300]
        )
        return self.signed("wrong_type_event", self.envelope(event_type, self.order()), MALFORMED)

    def _data_not_object(self) -> FuzzRequest:
        data = self.choice([[self.order()], "ord_1", 42, None, True])
        return self.signed("data_not_object", self.envelope("order.created", data), MALFORMED)

    def _record(self) -> tuple[str, dict[str, Any]]:
        return self.choice(
            [
                ("order.created", self.order()),
                ("customer.updated", self.customer()),
                ("payment.captured", self.payment()),
            ]
        )

    # -- authentic events the intake queues, whose delivery must fail once, with a reason ----------------

    def _out_of_range_amount(self) -> FuzzRequest:
        order = self.order()
        value = self.choice([1e30, -1e30, "1e30", 10**20, 1e300, "9999999999999999", "0.1234567", 1e-7, "NaN",
                             "Infinity", "1e308"])  # fmt: skip
        where = self.choice(["subtotal", "taxTotal", "total", "unitPrice", "discount", "quantity", "taxRate"])
        if where in ("subtotal", "taxTotal", "total"):
            order[where] = value
        else:
            order["lineItems"][0][where] = value
        return self.signed("out_of_range_amount", self.envelope("order.created", order), POISON)

    def _list_valued_field(self) -> FuzzRequest:
        order = self.order()
        where = self.choice(
            ["status", "currency", "orderDate", "number", "pricesIncludeTax", "customer", "quantity", "email",
             "lineItems", "unitPrice"]
        )  # fmt: skip
        value: Any = self.choice([["open"], ["open", "paid"], [], [{"a": 1}]])
        if where in ("quantity", "unitPrice"):
            order["lineItems"][0][where] = value
        elif where == "email":
            order["customer"]["email"] = value
        elif where == "lineItems":
            order["lineItems"] = {"0": order["lineItems"][0]}
        else:
            order[where] = value
        return self.signed("list_valued_field", self.envelope("order.created", order), POISON)

    def _wrong_typed_order(self) -> FuzzRequest:
        order = self.order()
        change = self.rng.randrange(8)
        if change == 0:
            order["orderDate"] = self.choice([12345, "yesterday", "2026-13-45", "0001-01-01T00:00:00"])
        elif change == 1:
            order["customer"]["email"] = "a" * 300 + "@example.com"
        elif change == 2:
            order["customer"] = self.choice(["cus_1", 7, True])
        elif change == 3:
            order["lineItems"] = self.choice([[], ["mug"], [None], [[1]]])
        elif change == 4:
            order["currency"] = self.choice(["US", 840, "EURO", "\u20ac"])
        elif change == 5:
            order["taxTotal"] = "2.71"  # does not match the lines
        elif change == 6:
            order["customer"]["billingAddress"] = self.choice(
                [["1 Main St"], "1 Main St", {"country": "USA"}]
            )
        else:
            order["customer"]["id"] = "c" * 500
        return self.signed("wrong_typed_order", self.envelope("order.created", order), POISON)

    def _hostile_payment(self) -> FuzzRequest:
        payment = self.payment()
        change = self.rng.randrange(5)
        if change == 0:
            payment["amount"] = self.choice([1e30, "1e30", [1], -5, "0", None, "NaN"])
        elif change == 1:
            payment["status"] = self.choice([["captured"], "refunded", {"s": 1}])
        elif change == 2:
            payment["orderId"] = self.choice(["o" * 5000, ["ord_1"], None, "", "ord\x00"])
        elif change == 3:
            payment["currency"] = self.choice([["USD"], 978, "XXXX"])
        else:
            payment["capturedAt"] = self.choice(["0999-01-01T00:00:00Z", "tomorrow"])
        return self.signed("hostile_payment", self.envelope("payment.captured", payment), POISON)

    def _hostile_customer(self) -> FuzzRequest:
        customer = self.customer()
        change = self.rng.randrange(4)
        if change == 0:
            customer["email"] = self.choice(
                [["a@example.com"], None, "not-an-email", "a" * 300 + "@example.io"]
            )
        elif change == 1:
            customer["billingAddress"] = self.choice([["1 Main St"], "1 Main St", 5])
        elif change == 2:
            customer["billingAddress"] = {"country": self.choice(["USA", "U", "U1", 12])}
        else:
            customer["email"] = {"primary": "a@example.com"}
        return self.signed("hostile_customer", self.envelope("customer.updated", customer), POISON)

    # -- good, ignored and repeated deliveries -----------------------------------------------------------

    def _valid_order(self) -> FuzzRequest:
        return self.signed("valid_order", self.envelope("order.created", self.order()), GOOD)

    def _unknown_event_type(self) -> FuzzRequest:
        event_type = self.choice(
            ["order.fulfilled", "refund.created", "ping", "ORDER.CREATED", "order.created.v2"]
        )
        return self.signed("unknown_event_type", self.envelope(event_type, {"id": self._id("x")}), IGNORED)

    def _duplicate_delivery(self) -> FuzzRequest:
        if not self.accepted:
            return self._valid_order()
        original = self.choice(list(self.accepted))
        return FuzzRequest(
            "duplicate_delivery", original.headers, original.body, repeat_of(original), original.delivery_id
        )

    def _resigned_delivery(self) -> FuzzRequest:
        if not self.accepted:
            return self._valid_order()
        original = self.choice(list(self.accepted))
        return self.signed(
            "resigned_delivery", original.body, repeat_of(original), message_id=original.delivery_id
        )

    # -- FreshBooks callbacks to the same connector ------------------------------------------------------

    def callback(
        self, kind: str, fields: dict[str, str], expect: Expect, verifier: str | None
    ) -> FuzzRequest:
        body, headers = callbacks.sign(fields, verifier or "unused")
        if verifier is None:
            headers.pop(callbacks.SIGNATURE_HEADER)
        valid = verifier == fixtures.FRESHBOOKS_VERIFIER
        return FuzzRequest(kind, headers, body, expect, callbacks.delivery_id(fields) if valid else None)

    def payment_created(self, object_id: str) -> dict[str, str]:
        return {
            "name": "payment.create",
            "object_id": object_id,
            "account_id": fixtures.FRESHBOOKS_ACCOUNT_ID,
            "business_id": fixtures.FRESHBOOKS_BUSINESS_ID,
            "identity_id": "712052",
            "user_id": "1",
        }

    def _freshbooks_unsigned(self) -> FuzzRequest:
        fields = self.payment_created(str(self.rng.randint(10**8, 10**9)))
        return self.callback("freshbooks_unsigned", fields, UNAUTHENTIC, None)

    def _freshbooks_wrong_verifier(self) -> FuzzRequest:
        fields = self.payment_created(str(self.rng.randint(10**8, 10**9)))
        return self.callback("freshbooks_wrong_verifier", fields, UNAUTHENTIC, "not-the-verifier")

    def _freshbooks_hostile_object_id(self) -> FuzzRequest:
        object_id = self.choice(["9" * 201, "9" * 5000, "12\x003", "12\n3", "1\x1b[0m"])
        fields = self.payment_created(object_id)
        return self.callback("freshbooks_hostile_object_id", fields, MALFORMED, fixtures.FRESHBOOKS_VERIFIER)

    def _freshbooks_unknown_payment(self) -> FuzzRequest:
        fields = self.payment_created(str(self.rng.randint(10**8, 10**9)) + self.nonce)
        return self.callback("freshbooks_unknown_payment", fields, POISON, fixtures.FRESHBOOKS_VERIFIER)


_VERSION_FIELD = {
    "order.created": "updatedAt",
    "customer.updated": "updatedAt",
    "payment.captured": "capturedAt",
}

# kind → weight: most requests are validly signed, so that they reach the parser; about 1 in 11 is queued
# (hostile data the intake cannot judge, and good orders), so that the delivery of 10,000 requests' worth
# stays within a few minutes
KINDS: dict[str, int] = {
    "missing_signature": 3, "garbled_signature": 3, "wrong_secret": 3, "stale_signature": 3,
    "tampered_body": 3, "malformed_message_id": 2,
    "oversize_body": 1,
    "deep_nesting": 5, "lone_surrogate": 5, "invalid_utf8": 4, "truncated_json": 4, "binary_body": 3,
    "empty_body": 2, "not_an_object": 2, "nan_or_infinity": 4, "huge_integer": 3, "huge_id": 5,
    "control_characters_in_id": 4, "wrong_type_id": 4, "wrong_type_version": 3, "wrong_type_event": 3,
    "data_not_object": 2,
    "out_of_range_amount": 2, "list_valued_field": 2, "wrong_typed_order": 2, "hostile_payment": 1,
    "hostile_customer": 1,
    "valid_order": 1, "unknown_event_type": 2, "duplicate_delivery": 2, "resigned_delivery": 2,
    "freshbooks_unsigned": 1, "freshbooks_wrong_verifier": 1, "freshbooks_hostile_object_id": 1,
    "freshbooks_unknown_payment": 1,
}  # fmt: skip


def _random_case(rng: random.Random, headers: dict[str, str]) -> dict[str, str]:
    """The same headers with names in random letter case (HTTP header names are case-insensitive)."""
    cased = {}
    for name, value in headers.items():
        style = rng.randrange(4)
        if style == 0:
            name = name.upper()
        elif style == 1:
            name = name.lower()
        elif style == 2:
            name = "-".join(part.capitalize() for part in name.split("-"))
        else:
            name = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)
        cased[name] = value
    return cased


# -- the run ------------------------------------------------------------------------------------------------


def post(stack: Any, connector_id: str, request: FuzzRequest) -> tuple[int, dict[str, Any]]:
    """Send one request through the real WebhookFunction, as the HTTP API would; a handler that raises is
    the HTTP API's 500."""
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), None)
    event = http_api_event(
        method="POST",
        resource=RESOURCE,
        path=f"/webhooks/{connector_id}",
        headers=list(request.headers.items()),
        path_parameters={"connector_id": connector_id},
        body=request.body,
        content_type=content_type,
        stage=STAGE,
    )
    try:
        result = stack.invoke("WebhookFunction", event)
    except Exception as exc:  # an unhandled exception is exactly what is being counted
        return 500, {"status": "unhandled", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return 500, {"status": "unhandled", "reason": f"not an HTTP API answer: {str(result)[:300]}"}
    try:
        body = json.loads(result.get("body") or "{}")
    except ValueError:
        body = {"status": "unreadable", "reason": str(result.get("body"))[:300]}
    return result["statusCode"], body if isinstance(body, dict) else {"status": "unreadable"}


def run_fuzz(
    stack: Any,
    *,
    requests: int,
    seed: int,
    connector_id: str = fixtures.SHOP_CONNECTOR_ID,
    nonce: str | None = None,
) -> FuzzReport:
    """Send `requests` hostile webhook requests through the stack's WebhookFunction, check the queue,
    deliver what was queued through DeliverFunction and report (see the module docstring).

    `stack` is a started `LocalStack` whose demo shop connector (or `connector_id`, a shop → FreshBooks
    connector with the demo secrets) takes the requests. Work already on the delivery queue is delivered
    first, so that it is not counted."""
    nonce = nonce if nonce is not None else uuid.uuid4().hex[:6]
    report = FuzzReport(seed=seed, nonce=nonce)
    stack.drain_delivery_queue()
    sqs = boto3.client("sqs")
    queue_url, dead_letters = stack.physical["DeliveryQueue"], stack.physical["DeliveryDeadLetterQueue"]
    dead_before = _depth(sqs, dead_letters)
    started = iso(utc_now())
    generator = HostileRequests(random.Random(seed), nonce=nonce)
    signed: dict[str, FuzzRequest] = {}
    unexpected: list[str] = []
    no_reason: list[str] = []

    clock = time.monotonic()
    for _ in range(requests):
        request = generator.draw()
        status_code, answer = post(stack, connector_id, request)
        status = str(answer.get("status", ""))
        generator.answered(request, status_code, status)
        if request.delivery_id and (status_code, status) == (202, "accepted"):
            signed[request.delivery_id] = request
        report.requests += 1
        report.by_kind[request.kind] += 1
        report.by_status[status_code] += 1
        report.by_class[f"{status_code // 100}xx"] += 1
        reason = str(answer.get("reason", ""))
        if status_code >= 500:
            report.server_errors.append(f"{request.kind}: {status_code} {status} {reason}"[:400])
        if (status_code, status) != (request.expect.status_code, request.expect.status):
            unexpected.append(
                f"{request.kind}: expected {request.expect.status_code} {request.expect.status}, got "
                f"{status_code} {status} {reason}"[:400]
            )
        if 400 <= status_code < 500 and not reason.strip():
            no_reason.append(f"{request.kind}: {status_code} without a reason")
    report.intake_seconds = time.monotonic() - clock
    report.unexpected_answers = len(unexpected)

    # The queue: only validly signed deliveries on it; then the same messages go to DeliverFunction.
    messages = _take_all(sqs, queue_url)
    report.enqueued = len(messages)
    expected_outcomes: Counter[str] = Counter()
    copies: Counter[str] = Counter()
    for message in messages:
        delivery_id = _delivery_id(message["Body"])
        request = signed.get(delivery_id or "")
        if request is None:
            report.enqueued_unsigned += 1
        elif request.expect.delivery:
            first = copies[request.delivery_id or ""] == 0
            copies[request.delivery_id or ""] += 1
            delivery = request.expect.delivery
            expected_outcomes[delivery if first else REPEATED.get(delivery, delivery)] += 1
    _send_all(sqs, queue_url, messages)

    clock = time.monotonic()
    while True:
        counts = stack.drain_delivery_queue()
        report.failed_receives += counts["failed"]
        if counts["batches"] < 50:  # the drain stopped because the queue was empty, not at its batch cap
            break
    report.delivery_seconds = time.monotonic() - clock
    report.poison = _depth(sqs, dead_letters) - dead_before + _depth(sqs, queue_url)

    outcomes = _count_outcomes(report, _delivery_runs(stack.table_name, connector_id, started))
    report.violations = _violations(report, unexpected, no_reason, expected_outcomes, outcomes)
    return report


def _count_outcomes(report: FuzzReport, runs: list[dict[str, Any]]) -> int:
    """Count the delivery runs by status and their records by outcome (a run per batch holds the outcome
    of each of its records); returns how many records have one."""
    outcomes = 0
    for run in runs:
        report.runs[run["status"]] += 1
        for record in json.loads(run.get("details") or "{}").get("records", []):
            report.deliveries[str(record["status"])] += 1
            outcomes += 1
    report.runs_not_closed = report.runs["running"]
    return outcomes


def _violations(
    report: FuzzReport, unexpected: list[str], no_reason: list[str], expected: Counter[str], outcomes: int
) -> list[str]:
    violations: list[str] = []

    def add(count: int, what: str, examples: list[str] = ()) -> None:  # type: ignore[assignment]
        if count:
            violations.append(what)
            violations.extend(f"    e.g. {example}" for example in examples[:MAX_EXAMPLES])

    add(len(report.server_errors), f"{len(report.server_errors)} answers ≥ 500", report.server_errors)
    add(len(unexpected), f"{len(unexpected)} answers differ from their kind's expectation", unexpected)
    add(len(no_reason), f"{len(no_reason)} 4xx answers without a reason", no_reason)
    add(report.enqueued_unsigned, f"{report.enqueued_unsigned} queued messages without a valid signature")
    add(report.failed_receives, f"{report.failed_receives} queue records failed and went back to the queue")
    add(report.poison, f"{report.poison} poison messages (dead-lettered or left on the queue)")
    add(report.runs_not_closed, f"{report.runs_not_closed} delivery runs left running")
    add(
        outcomes != report.enqueued,
        f"{outcomes} delivery outcomes in the runs for {report.enqueued} queued items (one each)",
    )
    # A repeat may be delivered before its original (a batch's order is not the requests'): both counted.
    for outcome in ("delivered", "failed"):
        seen = report.deliveries[outcome] + report.deliveries[REPEATED[outcome]]
        wanted = expected[outcome] + expected[REPEATED[outcome]]
        add(seen != wanted, f"{seen} deliveries {outcome} (first or repeat), {wanted} expected")
    return violations


def _take_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message on the queue (deleted as read)."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def _send_all(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Put messages back, unchanged (body and attributes), as fresh messages (in batches within SQS's
    limits: 10 messages, 256 KiB)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for message in messages:
        attributes = {
            name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
            for name, value in message.get("MessageAttributes", {}).items()
        }
        entry_size = len(message["Body"].encode()) + 1024
        if batch and (len(batch) == 10 or size + entry_size > 250 * 1024):
            sqs.send_message_batch(QueueUrl=url, Entries=batch)
            batch, size = [], 0
        batch.append({"Id": str(len(batch)), "MessageBody": message["Body"], "MessageAttributes": attributes})
        size += entry_size
    if batch:
        sqs.send_message_batch(QueueUrl=url, Entries=batch)


def _delivery_id(body: str) -> str | None:
    try:
        value = json.loads(body).get("delivery_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]  # fmt: skip
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def _delivery_runs(table_name: str, connector_id: str, since: str) -> list[dict[str, Any]]:
    """The connector's delivery runs started at or after `since` (every page, unlike `recent_runs`)."""
    items = query_all(
        state_table(table_name),
        KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
        & Key("SK").between(f"RUN#{since}", "RUN#\uffff"),
    )
    return [item for item in items if item.get("kind") == "deliver"]


def run_fuzz_scenario(*, requests: int, seed: int) -> ScenarioResult:
    """The fuzz as a row of the chaos report (`make chaos`): a fresh demo stack, `requests` hostile webhooks,
    their deliveries, and the secrets the stack used searched for everywhere afterwards."""
    from local.chaos.secrets import find_secrets
    from local.chaos.stack_secrets import stack_secrets
    from local.scenarios.stack import LocalStack

    result = ScenarioResult("webhook fuzz")
    started = time.time()
    with LocalStack() as stack:
        report = run_fuzz(stack, requests=requests, seed=seed)
        found = find_secrets(stack, stack_secrets(stack), responses=[], since=started)
    result.documents = report.requests
    result.server_errors = len(report.server_errors)
    result.lost = report.poison
    result.stuck = report.runs_not_closed
    result.secrets_found = len(found)
    result.violations = [*report.violations, *(f"secret found: {where}" for where in found)]
    result.details = {
        "answers": dict(sorted(report.by_class.items())),
        "queued": report.enqueued,
        "queued unsigned": report.enqueued_unsigned,
        "deliveries": dict(sorted(report.deliveries.items())),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m local.chaos.fuzz [--requests N] [--seed S]`: a fresh demo stack, the fuzz, the report;
    exit status 1 when there are violations."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from local.scenarios.stack import LocalStack

    with LocalStack() as stack:
        report = run_fuzz(stack, requests=args.requests, seed=args.seed)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
