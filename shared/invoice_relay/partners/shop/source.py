"""The shop as a connector's source: webhook deliveries (`WEBHOOK_SOURCE`), its catalog (`CATALOG_SOURCE`)
and marking orders paid when the target reports their invoice settled (`PAID_STATUS`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ...errors import ConfigurationError, MappingError, PermanentError
from ...models import Customer, Document, Payment
from ...webhooks import InvalidSignature, MalformedDelivery, standard
from ..capabilities import (
    CatalogChange,
    CustomerChanged,
    HandshakeAnswer,
    NewDocument,
    PaymentReceived,
    WebhookDelivery,
    Work,
)
from ..context import PartnerContext
from ..payload import (
    PayloadProblem,
    id_problem,
    label_text,
    load_json,
    mapping_error,
    readable,
    text_value,
)
from .client import PARTNER, ShopClient
from .config import ShopSourceConfig
from .mapping import (
    customer_to_customer,
    event_ref,
    order_customer,
    order_to_document,
    payment_order_id,
    payment_to_payment,
    product_to_product,
)


class ShopCredentials(BaseModel):
    """The shop's API key (Secrets Manager: `{"api_key": "..."}`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    api_key: SecretStr = Field(min_length=1)


class ShopSource:
    """One store: its client, and its webhook secrets read from Secrets Manager when a delivery comes."""

    system = PARTNER

    def __init__(
        self,
        client: ShopClient | Callable[[], ShopClient],
        *,
        webhook_secrets: Callable[[bool], list[str]] | None = None,
    ):
        # The API client is made on first use: webhook intake verifies with the webhook secrets only, so it
        # must not need (or read) the API key.
        self._client = client if isinstance(client, ShopClient) else None
        self._make_client = None if isinstance(client, ShopClient) else client
        self._webhook_secrets = webhook_secrets

    @property
    def client(self) -> ShopClient:
        if self._client is None:
            assert self._make_client is not None
            self._client = self._make_client()
        return self._client

    @classmethod
    def from_config(
        cls,
        config: ShopSourceConfig,
        context: PartnerContext | Mapping[str, Any],
        *,
        session: requests.Session | None = None,
    ) -> ShopSource:
        """A source for a connector's configuration: its API key (`{"api_key"}` from the connector's secret,
        read on first use; or the credentials given as a mapping, checked at once) and its webhook secrets.
        ConfigurationError when the key is missing (never showing its value)."""

        def client(credentials: Mapping[str, Any] | None) -> ShopClient:
            try:
                creds = ShopCredentials.model_validate(credentials or {})
            except ValidationError:
                raise ConfigurationError("shop credentials are incomplete or invalid: api_key") from None
            return ShopClient(config.base_url, creds.api_key, session=session)

        if not isinstance(context, PartnerContext):
            return cls(client(context))

        def secrets(fresh: bool) -> list[str]:
            return webhook_secrets(
                context.credentials(config.webhook_secret, fresh=fresh), config.webhook_secret
            )

        return cls(lambda: client(context.credentials(config.credentials_secret)), webhook_secrets=secrets)

    def __enter__(self) -> ShopSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- fresh copies ---------------------------------------------------------------------------------------

    def fetch_order(self, order_id: str | int) -> tuple[Document, dict[str, Any]]:
        """The order, fresh from the shop, and its Document. MappingError carries the payload."""
        raw = self.client.order(order_id)
        return order_to_document(raw), raw

    def fetch_customer(self, customer_id: str | int) -> tuple[Customer, dict[str, Any]]:
        """The customer, fresh from the shop, and its canonical Customer."""
        raw = self.client.customer(customer_id)
        return customer_to_customer(raw), raw

    def fetch_payment(self, payment_id: str | int) -> tuple[Payment, dict[str, Any]]:
        """The payment and its canonical Payment, numbered with its order's number (fetched too)."""
        payment = self.client.payment(payment_id)
        order = self.client.order(payment_order_id(payment))
        return payment_to_payment(payment, order), payment

    # -- webhooks (Standard Webhooks) ----------------------------------------------------------------------

    def recognises(self, headers: Mapping[str, str]) -> bool:
        return any(name in headers for name in standard.HEADERS)

    def handshake(self, headers: Mapping[str, str], body: bytes) -> HandshakeAnswer | None:
        return None  # Standard Webhooks has no setup request

    def verify(self, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> WebhookDelivery:
        """Check the Standard Webhooks signature (again with freshly read secrets when it fails: they may
        have been rotated since they were cached), then parse the event within the bounds of
        `payload.load_json` (UTF-8, nesting, valid Unicode, finite numbers) and `payload.id_problem` (the
        event type, the record's id, version and number). An authentic body that is not a readable event
        → MalformedDelivery with the reason; the body is not looked at before the signature matched."""
        if self._webhook_secrets is None:
            raise ConfigurationError("the shop source has no webhook secrets")
        secrets = self._webhook_secrets(False)
        try:
            delivery_id = standard.verify(headers, body, secrets, now=now)
        except InvalidSignature:
            fresh = self._webhook_secrets(True)
            if fresh == secrets:
                raise
            delivery_id = standard.verify(headers, body, fresh, now=now)
        event_type, data = _event(body)
        try:
            ref = event_ref(event_type, data)
        except MappingError as exc:
            raise MalformedDelivery(exc.reason) from None
        except PermanentError:
            ref = None  # an event type nobody acts on: archived, not queued
        return WebhookDelivery(delivery_id=delivery_id, event_type=event_type, work=ref, payload=data)

    def decode(self, event_type: str, payload: dict[str, Any], received_at: dt.datetime) -> Work:
        """`order.created` → a new invoice, `customer.updated` → a customer change, `payment.captured` →
        a payment for the order's invoice. A payload that cannot be decoded, whatever is wrong with it, is
        a MappingError naming the record and the field (never anything else: the delivery records it as
        the item's failure instead of retrying what can never succeed)."""
        try:
            return self._decode(event_type, payload)
        except PermanentError:
            raise
        except Exception as exc:  # the mappers raise MappingError only; this is the net under them
            raise mapping_error(f"shop {event_type} event", exc, partner=PARTNER, raw=payload) from exc

    def _decode(self, event_type: str, payload: dict[str, Any]) -> Work:
        if event_type == "order.created":
            document = order_to_document(payload)
            return NewDocument(document, order_customer(payload), marker=f"shop order {document.number}")
        if event_type == "customer.updated":
            return CustomerChanged(customer_to_customer(payload))
        if event_type == "payment.captured":
            return PaymentReceived(payment_to_payment(payload, None), payment_order_id(payload))
        raise PermanentError(
            f"shop event type {readable(event_type, 200)!r} is not supported", partner=PARTNER
        )

    # -- paid status and catalog ---------------------------------------------------------------------------

    def mark_paid(self, source_id: str, *, paid_at: dt.datetime, reference: str) -> None:
        self.client.mark_order_paid(source_id, paid_at=paid_at, reference=reference)

    def products(self, updated_since: dt.datetime | None) -> Iterator[CatalogChange]:
        """The catalogue from `updated_since` on (inclusive), oldest change first; a product that cannot
        be mapped comes with its `problem` instead, so it does not stop the others."""
        for raw in self.client.products(updated_since=updated_since):
            record = raw if isinstance(raw, dict) else {}
            key = text_value(record.get("sku")) or text_value(record.get("id")) or "?"
            if id_problem(key) is not None:  # it names the product in the run log (a key there): cut short
                key = label_text(key)
            updated = _updated_at(record.get("updatedAt"))
            try:
                yield CatalogChange(key=key, updated_at=updated, product=product_to_product(raw))
            except MappingError as exc:
                yield CatalogChange(key=key, updated_at=updated, problem=exc.reason)


def webhook_secrets(value: Mapping[str, Any], secret_name: str) -> list[str]:
    """The `whsec_` secrets of a webhook secret `{"secrets": [...]}` (several during a rotation)."""
    secrets = value.get("secrets")
    if not isinstance(secrets, list) or not secrets or not all(isinstance(s, str) for s in secrets):
        raise ConfigurationError(f'webhook secret \'{secret_name}\' must be {{"secrets": ["whsec_..."]}}')
    return secrets


def _event(body: bytes) -> tuple[str, dict[str, Any]]:
    """The `type` and `data` of a Standard Webhooks event body. MalformedDelivery saying what is wrong."""
    try:
        envelope = load_json(body)
    except PayloadProblem as problem:
        raise MalformedDelivery(problem.text) from None
    if not isinstance(envelope, dict):
        raise MalformedDelivery("body is not a JSON object")
    event_type, data = envelope.get("type"), envelope.get("data")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedDelivery("not a Standard Webhooks event: 'type' must be a non-empty string")
    problem = id_problem(event_type)
    if problem is not None:
        raise MalformedDelivery(f"not a Standard Webhooks event: 'type' {problem}")
    if not isinstance(data, dict):
        raise MalformedDelivery("not a Standard Webhooks event: 'data' must be an object")
    return event_type, data


def _updated_at(value: object) -> dt.datetime | None:
    """A product's updatedAt as an aware datetime; None when it is missing, malformed or has no zone (it
    then does not move the catalog cursor, which is compared with aware datetimes)."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
