"""Delivery to API targets (flow 3 and polled sources paired with an API target): one WorkItem → one effect.

Exactly once, layer by layer:
- the delivery queue redelivers (at-least-once); Powertools idempotency (keyed on connector + source
  system + event + source id + version, see deliver_function) turns a repeated message into a no-op;
- before every create the cross references are checked, and the target is searched for the marker the
  create writes, so a crash after the create but before the cross reference was stored finds the
  existing record instead of creating a second one;
- permanent errors (validation, unknown SKU) finish the item with the reason in the run log and, where
  the source supports it, a write-back; transient ones raise, so SQS retries with backoff;
- an event that depends on another one not yet delivered (a payment before its order) is put back on the
  queue with a growing delay, a bounded number of times, instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..connector import ConnectorConfig, FreshBooksTargetConfig
from ..connectors.base import Outcome, SourceRef
from ..errors import ConfigurationError, MappingError, PermanentError, TransientError
from ..storage.runs import RunLog
from ..storage.state import DocumentState
from .queue import enqueue
from .services import Services
from .work import WorkItem

MAX_WAIT_ATTEMPTS = 8


class DependencyNotDelivered(TransientError):
    """The event refers to a record that has not been delivered yet (e.g. a payment before its order)."""


@dataclass(frozen=True)
class DeliveryResult:
    status: str  # delivered | already_delivered | failed | waiting | ignored
    detail: str
    target_id: str | None = None
    target_number: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "target_id": self.target_id,
            "target_number": self.target_number,
        }


Handler = Callable[["Delivery"], DeliveryResult]


class Delivery:
    """One WorkItem on its way to its connector's target."""

    def __init__(self, item: WorkItem, services: Services, config: ConnectorConfig, run: RunLog):
        self.item = item
        self.services = services
        self.config = config
        self.run = run
        self._target: Any = None

    @property
    def cid(self) -> str:
        return self.config.connector_id

    @property
    def target(self) -> Any:
        if self._target is None:
            self._target = self.services.target_for(self.config)
        return self._target

    @property
    def target_config(self) -> FreshBooksTargetConfig:
        if not isinstance(self.config.target, FreshBooksTargetConfig):
            raise ConfigurationError(
                f"connector '{self.cid}' has no API target (target: {self.config.target.system})"
            )
        return self.config.target

    def log(self, level: str, message: str, **details: Any) -> None:
        self.run.event(level, message, source_id=self.item.source_id, **details)

    # -- shop → FreshBooks ------------------------------------------------------------------------------
    def order_created(self) -> DeliveryResult:
        from ..connectors import shop

        order = self.item.payload
        linked = self.services.xrefs.get(self.cid, "shop-order", self.item.source_id)
        if linked:
            return DeliveryResult(
                "already_delivered",
                f"order already invoiced as {linked['number']}",
                linked["invoice_id"],
                linked["number"],
            )
        document = shop.order_to_document(order)
        customer = shop.order_customer(order)
        # deliver_invoice finds or creates the client itself, after every SKU was found: an order that
        # fails on an unknown SKU leaves nothing behind in FreshBooks.
        invoice_id, number = self.target.deliver_invoice(
            document,
            customer=customer,
            marker=f"shop order {document.number}",
            create_unknown_items=self.target_config.create_unknown_items,
        )
        link = {"invoice_id": invoice_id, "number": number, "order_number": document.number}
        self.services.xrefs.put(self.cid, "shop-order", self.item.source_id, link)
        self.services.xrefs.put(self.cid, "freshbooks-invoice", invoice_id, {"order_id": self.item.source_id})
        self.log(
            "info",
            f"order {document.number} → FreshBooks invoice {number} ({document.totals.total}"
            f" {document.currency}, client {customer.email or customer.name})",
            number=document.number,
        )
        return DeliveryResult("delivered", f"invoice {number}", invoice_id, number)

    def customer_updated(self) -> DeliveryResult:
        from ..connectors import shop

        customer = shop.customer_to_customer(self.item.payload)
        linked = self.services.xrefs.get(self.cid, "shop-customer", customer_key(customer))
        client_id = linked["client_id"] if linked else self.target.ensure_client(customer)
        self.target.update_client(client_id, customer)
        self.services.xrefs.put(self.cid, "shop-customer", customer_key(customer), {"client_id": client_id})
        self.log(
            "info", f"customer {customer.email or customer.name} → FreshBooks client {client_id} updated"
        )
        return DeliveryResult("delivered", f"client {client_id} updated", client_id)

    def payment_captured(self) -> DeliveryResult:
        from ..connectors import shop

        payment = shop.payment_to_payment(self.item.payload, None)
        order_id = shop.payment_order_id(self.item.payload)
        linked = self.services.xrefs.get(self.cid, "shop-order", order_id)
        if not linked:
            raise DependencyNotDelivered(f"payment {self.item.source_id} arrived before order {order_id}")
        payment_id = self.target.record_payment(linked["invoice_id"], payment)
        self.log(
            "info",
            f"payment {payment.transaction_id} of {payment.amount} {payment.currency} recorded on"
            f" FreshBooks invoice {linked['number']}",
            number=linked.get("order_number"),
        )
        return DeliveryResult("delivered", f"payment {payment_id}", payment_id, linked["number"])

    # -- FreshBooks → shop (back the other way) -----------------------------------------------------------
    def invoice_paid(self) -> DeliveryResult:
        linked = self.services.xrefs.get(self.cid, "freshbooks-invoice", self.item.source_id)
        if not linked:
            return DeliveryResult(
                "ignored", f"FreshBooks invoice {self.item.source_id} did not come from the shop"
            )
        with self.services.source_for(self.config) as shop_adapter:
            shop_adapter.client.mark_order_paid(
                linked["order_id"],
                paid_at=self.item.received_at,
                reference=f"freshbooks-invoice-{self.item.source_id}",
            )
        self.log(
            "info", f"shop order {linked['order_id']} marked paid (FreshBooks invoice {self.item.source_id})"
        )
        return DeliveryResult("delivered", f"order {linked['order_id']} marked paid", linked["order_id"])

    # -- polled source (ServiceTrade) → FreshBooks ------------------------------------------------------
    def polled_invoice(self) -> DeliveryResult:
        source = self.services.source_for(self.config)
        ref = SourceRef(
            id=self.item.source_id, version=self.item.version, number=self.item.payload.get("number")
        )
        record = self.services.documents.get(self.cid, ref.id)
        try:
            if record and record.state is DocumentState.DONE and record.version == ref.version:
                return DeliveryResult(
                    "already_delivered", "already delivered", record.target_id, record.target_number
                )
            try:
                document, raw = source.fetch(ref)
                self.services.bucket.put_raw(self.cid, source.system, ref.id, ref.version, raw)
                current = source.current_ref(raw)
                if current is None:
                    return DeliveryResult("ignored", "no longer pending accounting")
                customer = customer_from_party(document.buyer)
                invoice_id, number = self.target.deliver_invoice(
                    document,
                    customer=customer,
                    marker=f"{source.system}-{ref.id}-{ref.version}",
                    create_unknown_items=self.target_config.create_unknown_items,
                )
            except PermanentError as exc:
                source.acknowledge(ref, Outcome.failure(exc.reason))
                self._settle(ref, DocumentState.FAILED, reason=exc.reason)
                self.log("warn", f"invoice {ref.number or ref.id} failed: {exc.reason} (written back)")
                return DeliveryResult("failed", exc.reason)
            source.acknowledge(ref, Outcome.success(invoice_id, number))
            self._settle(ref, DocumentState.DONE, target_id=invoice_id, target_number=number)
            self.log(
                "info",
                f"invoice {document.number} → FreshBooks invoice {number}, written back as processed",
                number=document.number,
            )
            return DeliveryResult("delivered", f"invoice {number}", invoice_id, number)
        finally:
            source.close()

    def _settle(self, ref: SourceRef, state: DocumentState, **fields: Any) -> None:
        record = self.services.documents.get(self.cid, ref.id)
        if record is not None and record.version == ref.version and record.state is DocumentState.QUEUED:
            self.services.documents.transition(record, state, **fields)


HANDLERS: dict[tuple[str, str], Handler] = {
    ("shop", "order.created"): Delivery.order_created,
    ("shop", "customer.updated"): Delivery.customer_updated,
    ("shop", "payment.captured"): Delivery.payment_captured,
    ("freshbooks", "invoice.paid"): Delivery.invoice_paid,
    ("servicetrade", "invoice.ready"): Delivery.polled_invoice,
}


def customer_key(customer: Any) -> str:
    return (customer.email or customer.name).strip().lower()


def customer_from_party(party: Any) -> Any:
    from ..models import Customer

    return Customer.model_validate(party.model_dump())


def deliver(item: WorkItem, services: Services) -> DeliveryResult:
    """Deliver one WorkItem. Raises TransientError to have it retried; everything else finishes it."""
    config = services.connectors.get(item.connector_id)
    if not config.active:
        raise TransientError(
            f"connector '{item.connector_id}' is paused; the item waits (or goes to the DLQ)"
        )
    handler = HANDLERS.get((item.source_system, item.event_type))
    run = RunLog(services.table, item.connector_id, "deliver", services.settings.run_log_ttl_days)
    run.start(
        event_type=item.event_type,
        source_system=item.source_system,
        source_id=item.source_id,
        delivery_id=item.delivery_id,
        raw_key=item.raw_key,
        attempt=item.attempt,
    )
    if handler is None:
        result = DeliveryResult("ignored", f"no delivery for {item.source_system} {item.event_type}")
        run.finish("succeeded", result.as_dict())
        return result
    try:
        result = handler(Delivery(item, services, config, run))
    except DependencyNotDelivered as exc:
        result = _wait_or_give_up(item, services, run, exc)
    except (MappingError, PermanentError) as exc:
        result = DeliveryResult("failed", exc.reason)
        run.event(
            "error", f"{item.event_type} {item.source_id} failed: {exc.reason}", source_id=item.source_id
        )
    except TransientError as exc:
        run.finish("failed", {"error": exc.reason, "retry": True})
        raise
    run.finish("failed" if result.status == "failed" else "succeeded", result.as_dict())
    return result


def _wait_or_give_up(
    item: WorkItem, services: Services, run: RunLog, exc: DependencyNotDelivered
) -> DeliveryResult:
    if item.attempt + 1 >= MAX_WAIT_ATTEMPTS:
        reason = f"{exc.reason}; gave up after {MAX_WAIT_ATTEMPTS} attempts"
        run.event("error", reason, source_id=item.source_id)
        return DeliveryResult("failed", reason)
    delay = services.settings.dependency_wait_seconds * 2**item.attempt
    waiting = item.model_copy(update={"attempt": item.attempt + 1})
    enqueue(services.settings.delivery_queue_url, waiting, delay_seconds=delay)
    run.event(
        "info",
        f"{exc.reason}: waiting {min(delay, 900)} s (attempt {waiting.attempt} of {MAX_WAIT_ATTEMPTS})",
        source_id=item.source_id,
    )
    return DeliveryResult("waiting", exc.reason)
