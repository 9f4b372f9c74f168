"""FreshBooks webhook callbacks: the signature check, the verification handshake, the verifier store,
and the `WEBHOOK_SOURCE` capability of a FreshBooks target (events back from FreshBooks).

What FreshBooks sends (https://www.freshbooks.com/api/webhooks; the signing example is in the FreshBooks
Python SDK's user guide):
- an event: POST, `application/x-www-form-urlencoded`, fields `name` (the event), `object_id`,
  `account_id`, `business_id`, `identity_id`, `user_id`, and the header `X-FreshBooks-Hmac-SHA256` =
  base64(HMAC-SHA256(key = the callback's verifier, message = the JSON serialisation of the form fields));
- the handshake: right after a callback is registered, a POST with `name=callback.verify`,
  `object_id` = the callback id and `verifier`. It is not signed (there is no verifier yet). The callback
  becomes active only once the verifier is sent back: PUT
  `/events/account/<account_id>/events/callbacks/<callback_id>` with `{"callback": {"verifier":
  "<verifier>"}}` (FreshBooks' Python SDK `events.verify()`; done by `FreshBooksCallbacks.handshake`).

Assumption, because FreshBooks documents the serialisation only by an example (`json.dumps(request.form)`
in Flask): the signed JSON is the form fields in the order they were sent, the first value of a repeated
field, every value a string, blank values kept, Python's default separators (`", "` and `": "`) and
non-ASCII characters escaped as `\\uXXXX`; the key is the verifier's UTF-8 bytes. Check it against a
real delivery before go-live (`signed_content` is the one place to change).

Each callback (one per event name) has its own verifier and an event does not say which callback sent
it, so an event is authentic when its signature matches any confirmed verifier of the connector.

Verifiers are kept in Secrets Manager under the connector's `callback_verifier_secret`:
`{"verifiers": {"<callback id>": "<verifier>"}, "pending": {"<callback id>": "<verifier>"}}`. The
handshake request is unauthenticated, so the verifier it brings stays *pending* until FreshBooks has
accepted it back (the confirming PUT succeeded); only confirmed verifiers authenticate events. Otherwise
anybody could post a `callback.verify` with a verifier of their own and then sign forged events with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import boto3

from ...errors import ConfigurationError, MappingError, PermanentError, TransientError
from ...logs import logger
from ...webhooks import InvalidSignature, MalformedDelivery
from ..capabilities import DocumentSettled, HandshakeAnswer, NothingToDo, WebhookDelivery, Work, WorkRef
from .mapping import invoice_is_settled, invoice_number_of, invoice_outstanding_of, payment_invoice_id_of

if TYPE_CHECKING:
    from ..context import PartnerContext
    from .config import FreshBooksTargetConfig
    from .target import FreshBooksTarget

PARTNER = "freshbooks"
SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
VERIFY_EVENT = "callback.verify"
MAX_FORM_FIELDS = 100
MAX_PENDING = 10  # verifiers waiting for confirmation, per connector
MAX_CALLBACK_ID_DIGITS = 20
MAX_VERIFIER_LENGTH = 200
# FreshBooks events Invoice Relay acts on; others are archived only. FreshBooks names events
# `<noun>.create|update|delete` (and `invoice.sendByEmail`, `estimate.sendByEmail`): there is no
# `invoice.paid`, so a paid invoice is noticed by the payment recorded on it (`payment.create`).
PAYMENT_CREATED = "payment.create"
ROUTED_EVENTS = frozenset({PAYMENT_CREATED})


def form_fields(body: bytes) -> dict[str, str]:
    """The form fields of a callback body, in the order sent, the first value of a repeated field.

    ValueError when the body has more than MAX_FORM_FIELDS fields.
    """
    text = body.decode("utf-8", errors="replace")  # as Flask/werkzeug decode a form
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS):
        fields.setdefault(name, value)
    return fields


def signed_content(fields: Mapping[str, str]) -> bytes:
    """What FreshBooks signs: the JSON serialisation of the form fields (see the module docstring)."""
    return json.dumps(dict(fields)).encode("utf-8")


def signature(fields: Mapping[str, str], verifier: str) -> str:
    """The `X-FreshBooks-Hmac-SHA256` value for these fields and this verifier."""
    return base64.b64encode(_digest(fields, verifier)).decode()


def sign(fields: Mapping[str, str], verifier: str) -> tuple[bytes, dict[str, str]]:
    """A signed callback as FreshBooks sends it: the form body and its headers (sandboxes, tests)."""
    body = urlencode(list(fields.items())).encode()
    return body, {"Content-Type": FORM_CONTENT_TYPE, SIGNATURE_HEADER: signature(fields, verifier)}


def verify(headers: Mapping[str, str], body: bytes, verifiers: Sequence[str]) -> dict[str, str]:
    """Check a callback against the connector's confirmed verifiers; returns its form fields.

    `headers` may use any letter case. Raises InvalidSignature with the reason.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    header = (lowered.get(SIGNATURE_HEADER.lower()) or "").strip()
    if not header:
        raise InvalidSignature(f"missing header {SIGNATURE_HEADER}")
    try:
        candidate = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature(f"malformed header {SIGNATURE_HEADER}: not base64") from None
    if not verifiers:
        raise InvalidSignature("no confirmed FreshBooks callback verifier for this connector yet")
    try:
        fields = form_fields(body)
    except ValueError:
        raise InvalidSignature("the body is not a FreshBooks callback form") from None
    matched = False
    # Every verifier is compared (no early exit), each in constant time.
    for verifier in verifiers:
        matched |= hmac.compare_digest(_digest(fields, verifier), candidate)
    if not matched:
        raise InvalidSignature("signature does not match (wrong verifier or altered body)")
    return fields


def delivery_id(fields: Mapping[str, str]) -> str:
    """FreshBooks sends no delivery id: a redelivery of an event carries the same fields, so their hash
    identifies it."""
    return "fb_" + hashlib.sha256(signed_content(fields)).hexdigest()[:40]


@dataclass(frozen=True)
class CallbackVerification:
    """A `callback.verify` handshake: what the FreshBooks adapter needs to confirm the callback."""

    callback_id: str
    verifier: str = field(repr=False)
    account_id: str | None = None

    @classmethod
    def from_body(cls, body: bytes) -> CallbackVerification | None:
        """The handshake in `body`, or None if `body` is not one. ValueError if it is one but incomplete."""
        try:
            fields = form_fields(body)
        except ValueError:
            return None
        if fields.get("name") != VERIFY_EVENT:
            return None
        callback_id, verifier = fields.get("object_id", "").strip(), fields.get("verifier", "").strip()
        if not callback_id.isdigit() or not verifier:
            raise ValueError("callback.verify needs a numeric object_id (the callback id) and a verifier")
        # Unauthenticated input that is stored (pending): bounded, so it cannot outgrow the secret.
        if len(callback_id) > MAX_CALLBACK_ID_DIGITS or len(verifier) > MAX_VERIFIER_LENGTH:
            raise ValueError(
                f"callback.verify: the callback id has at most {MAX_CALLBACK_ID_DIGITS} digits and the "
                f"verifier at most {MAX_VERIFIER_LENGTH} characters"
            )
        return cls(callback_id=callback_id, verifier=verifier, account_id=fields.get("account_id") or None)


class CallbackVerifiers:
    """A connector's FreshBooks callback verifiers in Secrets Manager (layout: see the module docstring).

    Read on every use, not cached: callbacks are few, and a verifier confirmed a moment ago must count at
    once. Writes read, change and put the whole secret; two handshakes at the same instant could lose one
    verifier (FreshBooks can resend it: PUT the callback with `resend`).
    """

    def __init__(self, secret_name: str, client: Any | None = None):
        self.secret_name = secret_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("secretsmanager")
        return self._client

    def load(self) -> dict[str, dict[str, str]]:
        """`{"verifiers": {...}, "pending": {...}}`; both empty when the secret does not exist yet."""
        try:
            value = self.client.get_secret_value(SecretId=self.secret_name)["SecretString"]
        except self.client.exceptions.ResourceNotFoundException:
            return {"verifiers": {}, "pending": {}}
        try:
            document = json.loads(value)
        except ValueError:
            raise ConfigurationError(f"callback verifier secret '{self.secret_name}' is not JSON") from None
        if not isinstance(document, dict):
            raise ConfigurationError(f"callback verifier secret '{self.secret_name}' is not a JSON object")
        return {
            part: {str(k): str(v) for k, v in (document.get(part) or {}).items()}
            for part in ("verifiers", "pending")
        }

    def confirmed(self) -> list[str]:
        """The verifiers that authenticate events."""
        return list(self.load()["verifiers"].values())

    def add_pending(self, callback_id: str, verifier: str) -> None:
        """Keep a verifier from a handshake until FreshBooks accepted it back (`confirm`).

        Only the newest MAX_PENDING are kept: handshakes are unauthenticated, and a flood of forged ones
        must not grow the secret past its size limit.
        """
        document = self.load()
        pending = document["pending"]
        pending.pop(callback_id, None)
        pending[callback_id] = verifier
        for stale in list(pending)[:-MAX_PENDING]:
            del pending[stale]
        self._save(document)

    def add_confirmed(self, callback_id: str, verifier: str) -> None:
        """Record a verifier FreshBooks has accepted back for `callback_id`."""
        document = self.load()
        document["pending"].pop(callback_id, None)
        document["verifiers"][callback_id] = verifier
        self._save(document)

    def confirm(self, callback_id: str) -> bool:
        """Promote the pending verifier of `callback_id` once FreshBooks accepted it; False if none."""
        document = self.load()
        verifier = document["pending"].pop(callback_id, None)
        if verifier is None:
            return False
        document["verifiers"][callback_id] = verifier
        self._save(document)
        return True

    def _save(self, document: dict[str, dict[str, str]]) -> None:
        value = json.dumps(document)  # insertion order: the oldest pending verifier goes first
        try:
            self.client.put_secret_value(SecretId=self.secret_name, SecretString=value)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_secret(Name=self.secret_name, SecretString=value)


def _digest(fields: Mapping[str, str], verifier: str) -> bytes:
    return hmac.new(verifier.encode("utf-8"), signed_content(fields), hashlib.sha256).digest()


class FreshBooksCallbacks:
    """The `WEBHOOK_SOURCE` of a FreshBooks target: verified callbacks, the handshake, and `payment.create`
    turned into "this invoice is settled" once FreshBooks says nothing is outstanding on it."""

    system = PARTNER
    content_type = FORM_CONTENT_TYPE

    def __init__(
        self, config: FreshBooksTargetConfig, context: PartnerContext, target: FreshBooksTarget | None = None
    ):
        if not config.callback_verifier_secret:
            raise ConfigurationError("this FreshBooks target has no callback_verifier_secret")
        self.config = config
        self.context = context
        self.verifiers = CallbackVerifiers(config.callback_verifier_secret, context.secrets_client)
        self._target = target

    @property
    def target(self) -> FreshBooksTarget:
        if self._target is None:
            from .target import FreshBooksTarget

            self._target = FreshBooksTarget.from_config(
                self.context.connector_id,
                self.config,
                self.context.leases,
                secrets_client=self.context.secrets_client,
            )
        return self._target

    def close(self) -> None:
        if self._target is not None:
            self._target.close()

    def recognises(self, headers: Mapping[str, str]) -> bool:
        return SIGNATURE_HEADER.lower() in headers

    def handshake(self, headers: Mapping[str, str], body: bytes) -> HandshakeAnswer | None:
        """A `callback.verify`: keep its verifier pending, confirm it with FreshBooks, then make it count.

        The handshake body holds a secret (the verifier): it is not archived and never logged. Our side's
        problems (no OAuth connection, refused credentials) raise ConnectorError, the verifier staying
        pending; FreshBooks unreachable → 503 (it retries); FreshBooks refusing the verifier → 401.
        """
        try:
            verification = CallbackVerification.from_body(body)
        except ValueError as exc:
            raise MalformedDelivery(str(exc)) from None
        if verification is None:
            return None
        callback_id = verification.callback_id
        self.verifiers.add_pending(callback_id, verification.verifier)
        try:
            self.target.client.verify_callback(callback_id, verification.verifier)
        except TransientError as exc:
            logger.warning(f"freshbooks: callback {callback_id} not confirmed yet: {exc.reason}")
            return HandshakeAnswer(
                503,
                {"status": "error", "reason": "could not confirm the callback with FreshBooks; retry later"},
            )
        except PermanentError as exc:
            logger.warning(
                f"freshbooks: FreshBooks refused the verifier of callback {callback_id}: {exc.reason}"
            )
            return HandshakeAnswer(
                401, {"status": "rejected", "reason": "FreshBooks did not confirm this verifier"}
            )
        self.verifiers.add_confirmed(callback_id, verification.verifier)
        logger.info(f"freshbooks: callback {callback_id} confirmed")
        return HandshakeAnswer(200, {"status": "verified", "callback_id": callback_id})

    def verify(self, headers: Mapping[str, str], body: bytes, now: Any) -> WebhookDelivery:
        fields = verify(headers, body, self.verifiers.confirmed())
        event_type = fields.get("name", "").strip()
        if not event_type:
            raise MalformedDelivery("not a FreshBooks callback: no 'name'")
        delivery = delivery_id(fields)
        object_id = fields.get("object_id", "").strip()
        routed = event_type in ROUTED_EVENTS
        if routed and not object_id:
            raise MalformedDelivery(f"FreshBooks {event_type} without object_id")
        # FreshBooks sends no version; the delivery id is unique per notification.
        work = WorkRef(source_id=object_id, version=delivery) if routed else None
        return WebhookDelivery(
            delivery_id=delivery,
            event_type=event_type,
            work=work,
            payload=dict(fields),
            content_type=FORM_CONTENT_TYPE,
            extension="form",
        )

    def decode(self, event_type: str, payload: dict[str, Any], received_at: Any) -> Work:
        """`payment.create` → its invoice is settled once FreshBooks has nothing outstanding on it (a part
        payment, or a payment on no invoice, needs nothing)."""
        if event_type != PAYMENT_CREATED:
            return NothingToDo(f"FreshBooks {event_type} needs nothing delivered")
        payment_id = str(payload.get("object_id", "")).strip()
        if not payment_id:
            raise MappingError(f"FreshBooks {event_type} without object_id", partner=PARTNER, raw=payload)
        payment = self.target.client.get_payment(payment_id)
        invoice_id = payment_invoice_id_of(payment)
        if invoice_id is None:
            return NothingToDo(f"FreshBooks payment {payment_id} pays no invoice")
        invoice = self.target.client.get_invoice(invoice_id)
        if not invoice_is_settled(invoice):
            outstanding = invoice_outstanding_of(invoice)
            owed = "an unknown amount" if outstanding is None else f"{outstanding}"
            return NothingToDo(
                f"FreshBooks invoice {invoice_number_of(invoice)} still has {owed} outstanding after "
                f"payment {payment_id}"
            )
        return DocumentSettled(
            target_document_id=invoice_id, paid_at=received_at, reference=f"freshbooks-payment-{payment_id}"
        )
