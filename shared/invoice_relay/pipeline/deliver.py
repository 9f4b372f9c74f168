"""Delivery to a connector's document target: one WorkItem → one effect, routed by capability.

What an item asks for:
- `document.ready` (a poll of a polled source): fetch the document from the source, deliver it to the
  target, write the outcome back to the source;
- any other event: the webhook source that sent it `decode`s it into canonical work — a new document, a
  changed customer, a payment for a document, a target document settled (→ the source marks it paid) —
  and the work goes to the capability that does it.

Exactly once, layer by layer:
- the delivery queue redelivers (at-least-once); Powertools idempotency (keyed on connector + sender +
  event + record id + version, see deliver_function) turns a repeated message into a no-op;
- before every create the cross references are checked, and the target is searched for the marker the
  create writes, so a crash after the create but before the cross reference was stored finds the
  existing record instead of creating a second one;
- a document's problem (`PermanentError`: validation, unknown SKU) finishes the item with the reason in
  the run log and, where the source has a status, a write-back; a transient problem raises, so SQS retries;
- a connector's problem (`ConnectorError`: refused credentials, missing OAuth connection, a paused
  connector) fails no document and writes nothing back: the item is *held* (see held.py) and `WorkHeld`
  is raised, so the message leaves the queue without an idempotency record; it is released when the
  connector works again;
- the document target is reused from one item to the next within a container (`Delivery.target`: its
  HTTP session, tokens and SKU map, at most `secret_cache_seconds`, replaced after a connector problem or a
  catalog change), and so is a polled source (its session, token and lookups): nothing above depends on
  it — every create is still preceded by its cross-reference and marker checks, and a 401 still re-reads
  the token secret (never an old refresh token: a refresh reads the secret again under the lease, see
  http/oauth.py);
- an event that depends on another one not yet delivered (a payment before its order) *waits*: it is parked
  in the state table (`WorkWaiting`, no attempt limit that could lose money) and released onto the queue
  when the record it waits for is delivered. A resend of an event that already reached a final state is
  answered by its idempotency record (the key has no delivery id: a resend under a new webhook id is the
  same work).
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..connector import ConnectorConfig
from ..errors import ConnectorError, MappingError, PermanentError, TransientError
from ..models import Customer, Party
from ..partners.capabilities import (
    DOCUMENT_TARGET,
    PAID_STATUS,
    POLLED_SOURCE,
    WEBHOOK_SOURCE,
    CustomerChanged,
    Delivered,
    DocumentSettled,
    NewDocument,
    NothingToDo,
    Outcome,
    PaymentReceived,
    SourceRef,
    Work,
)
from ..storage.runs import RunLog
from ..storage.state import DocumentRecord, DocumentState, StageResult
from ..storage.table import iso, utc_now
from .catalog import catalog_generation
from .held import release_waiting
from .services import Services
from .work import DOCUMENT_READY, WorkItem


class DependencyNotDelivered(Exception):
    """The event refers to a record that has not been delivered yet (e.g. a payment before its order).
    `namespace`/`key` name the cross reference whose arrival releases it."""

    def __init__(self, reason: str, *, namespace: str, key: str):
        super().__init__(reason)
        self.reason = reason
        self.namespace = namespace
        self.key = key

    @property
    def dependency(self) -> str:
        return f"{self.namespace}#{self.key}"


class ConnectorPaused(ConnectorError):
    """The connector is paused: its work is held until it is started again."""


class WorkHeld(Exception):
    """The item was held for its connector (see the module docstring); `reason` says why."""

    def __init__(self, reason: str, held: int):
        super().__init__(reason)
        self.reason = reason
        self.held = held


class WorkWaiting(Exception):
    """The item waits for a record not delivered yet (see the module docstring); `reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DeliveryResult:
    status: str  # delivered | already_delivered | failed | waiting | ignored
    detail: str
    target_id: str | None = None
    target_number: str | None = None

    @classmethod
    def created(cls, target_system: str, delivered: Delivered) -> DeliveryResult:
        """A document created (or found created) at the target."""
        return cls("delivered", f"{target_system} {delivered.number}", delivered.target_id, delivered.number)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "target_id": self.target_id,
            "target_number": self.target_number,
        }


def deliver(item: WorkItem, services: Services, run: RunLog, config: ConnectorConfig) -> DeliveryResult:
    """Deliver one WorkItem of the connector `config`; `run` is the connector's delivery run of the batch
    (deliver_function), which records the item's outcome. Raises TransientError to have it retried,
    WorkHeld when it was held for its connector and WorkWaiting when it waits for another record;
    everything else finishes it."""
    try:
        if not config.active:
            raise ConnectorPaused(f"connector '{config.connector_id}' is paused")
        result = Delivery(item, services, config, run).run()
    except DependencyNotDelivered as exc:
        _wait(item, services, run, exc)
        raise WorkWaiting(exc.reason) from None
    except PermanentError as exc:
        result = DeliveryResult("failed", exc.reason)
        run.event(
            "error", f"{item.event_type} {item.source_id} failed: {exc.reason}", source_id=item.source_id
        )
    except ConnectorError as exc:
        services.held.hold(item.connector_id, item.work_key, item.model_dump_json(), exc.reason)
        held = services.held.count(item.connector_id)
        run.event(
            "warn",
            f"{item.event_type} {item.source_id} held until the connector works again ({held} item(s) "
            f"held): connector problem, nothing written back: {exc.reason}",
            source_id=item.source_id,
        )
        raise WorkHeld(exc.reason, held) from exc
    except TransientError as exc:
        run.line("warn", f"{item.event_type} {item.source_id} will be retried: {exc.reason}")
        raise
    except Exception as exc:
        run.event(
            "error",
            f"{item.event_type} {item.source_id}: internal error: {type(exc).__name__}: {exc}",
            source_id=item.source_id,
        )
        raise
    if result.status == "ignored":  # say why nothing was delivered (a part payment, a foreign document)
        run.event(
            "info",
            f"{item.event_type} {item.source_id}: nothing to deliver: {result.detail}",
            source_id=item.source_id,
        )
    return result


class Delivery:
    """One WorkItem on its way to its connector's target."""

    def __init__(self, item: WorkItem, services: Services, config: ConnectorConfig, run: RunLog):
        self.item = item
        self.services = services
        self.config = config
        self.run_log = run

    @property
    def cid(self) -> str:
        return self.config.connector_id

    def log(self, level: str, message: str, **details: Any) -> None:
        """A warning about the item (a note of the target, a failure) is kept in the run log's table; the
        happy path is a log line: the cross reference the delivery stored is the record of it."""
        record = self.run_log.line if level == "info" else self.run_log.event
        record(level, message, source_id=self.item.source_id, **details)

    def target(self, *, documents: bool = False) -> AbstractContextManager[Any]:
        """The connector's document target for the block, reused by the container's next items (its HTTP
        session, its tokens, its SKU map: see services.PartnerPool). Before `documents` are delivered the
        catalog's generation is read, so a target that knew the catalog before a sync changed it is not
        used again (pipeline/catalog.py)."""
        generation = catalog_generation(self.services, self.config) if documents else None
        return self.services.reused(self.config, DOCUMENT_TARGET, generation=generation)

    def notes(self, delivered: Delivered, number: str | None = None) -> None:
        for note in delivered.notes:
            self.log("warn", note, number=number)

    def run(self) -> DeliveryResult:
        if self.item.event_type == DOCUMENT_READY:
            return self.polled_document()
        work = self.decode()
        if isinstance(work, NewDocument):
            return self.new_document(work)
        if isinstance(work, CustomerChanged):
            return self.customer_changed(work)
        if isinstance(work, PaymentReceived):
            return self.payment_received(work)
        if isinstance(work, DocumentSettled):
            return self.document_settled(work)
        return DeliveryResult("ignored", work.reason)

    def decode(self) -> Work:
        """The canonical work of a webhook event, decoded by the webhook source that sent it."""
        senders = self.services.partners.open_all(
            self.config, WEBHOOK_SOURCE, self.services.context(self.cid)
        )
        sender = next((s for _, s in senders if s.system == self.item.source_system), None)
        try:
            if sender is None:
                return NothingToDo(f"no delivery for {self.item.source_system} {self.item.event_type}")
            received = dt.datetime.fromisoformat(self.item.received_at.replace("Z", "+00:00"))
            return sender.decode(self.item.event_type, self.item.payload, received)
        finally:
            for _, opened in senders:
                opened.close()

    # -- documents from webhooks ------------------------------------------------------------------------

    def document_link_key(self) -> str:
        return f"{self.item.source_system}-document"

    def release_waiting_for_this(self) -> None:
        """This document is delivered: what waited for it (its payments) goes on."""
        release_waiting(self.services, self.cid, f"{self.document_link_key()}#{self.item.source_id}")

    def new_document(self, work: NewDocument) -> DeliveryResult:
        linked = self.services.xrefs.get(self.cid, self.document_link_key(), self.item.source_id)
        if linked:
            self.release_waiting_for_this()  # a run that died right after delivering may not have
            return DeliveryResult(
                "already_delivered",
                f"already delivered as {linked['number']}",
                linked["target_id"],
                linked["number"],
            )
        with self.target(documents=True) as target:
            delivered = target.deliver_document(work.document, customer=work.customer, marker=work.marker)
        document = work.document
        link = {
            "target_id": delivered.target_id,
            "number": delivered.number or "",
            "source_number": document.number,
            "run_id": self.run_log.run_id,
            "delivered_at": iso(utc_now()),
        }
        self.services.xrefs.put(self.cid, self.document_link_key(), self.item.source_id, link)
        self.services.xrefs.put(
            self.cid,
            f"{self.config.target.system}-document",
            delivered.target_id,
            {"source_id": self.item.source_id},
        )
        self.release_waiting_for_this()
        self.notes(delivered, document.number)
        self.log(
            "info",
            f"{self.item.source_system} {document.kind.value.replace('_', ' ')} {document.number} → "
            f"{self.config.target.system} {delivered.number} ({document.totals.total} {document.currency}, "
            f"customer {work.customer.email or work.customer.name})",
            number=document.number,
        )
        return DeliveryResult.created(self.config.target.system, delivered)

    def customer_changed(self, work: CustomerChanged) -> DeliveryResult:
        customer = work.customer
        key = customer_key(customer)
        namespace = f"{self.item.source_system}-customer"
        linked = self.services.xrefs.get(self.cid, namespace, key)
        with self.target() as target:
            target_id = target.update_customer(customer, linked["target_id"] if linked else None)
        self.services.xrefs.put(self.cid, namespace, key, {"target_id": target_id})
        self.log(
            "info",
            f"customer {customer.email or customer.name} → {self.config.target.system} {target_id} updated",
        )
        return DeliveryResult("delivered", f"customer {target_id} updated", target_id)

    def payment_received(self, work: PaymentReceived) -> DeliveryResult:
        payment = work.payment
        linked = self.services.xrefs.get(self.cid, self.document_link_key(), work.document_source_id)
        if not linked:
            raise DependencyNotDelivered(
                f"payment {self.item.source_id} arrived before document {work.document_source_id}",
                namespace=self.document_link_key(),
                key=work.document_source_id,
            )
        with self.target() as target:
            delivered = target.record_payment(linked["target_id"], payment)
        self.log(
            "info",
            f"payment {payment.transaction_id} of {payment.amount} {payment.currency} recorded on "
            f"{self.config.target.system} {linked['number']}",
            number=linked.get("source_number"),
        )
        return DeliveryResult(
            "delivered", f"payment {delivered.target_id}", delivered.target_id, linked["number"]
        )

    def document_settled(self, work: DocumentSettled) -> DeliveryResult:
        """The target reports one of its documents paid: mark the source document it came from paid."""
        linked = self.services.xrefs.get(
            self.cid, f"{self.config.target.system}-document", work.target_document_id
        )
        if not linked:
            return DeliveryResult(
                "ignored",
                f"{self.config.target.system} document {work.target_document_id} did not come from the "
                "source",
            )
        source = self.services.open(self.config, PAID_STATUS)
        try:
            source.mark_paid(linked["source_id"], paid_at=work.paid_at, reference=work.reference)
        finally:
            source.close()
        self.log(
            "info",
            f"{self.config.source.system} {linked['source_id']} marked paid ({self.config.target.system} "
            f"document {work.target_document_id} settled by {work.reference})",
        )
        return DeliveryResult("delivered", f"{linked['source_id']} marked paid", linked["source_id"])

    # -- documents of a polled source -------------------------------------------------------------------

    def polled_document(self) -> DeliveryResult:
        ref = SourceRef(
            id=self.item.source_id, version=self.item.version, number=self.item.payload.get("number")
        )
        record = self.services.documents.get(self.cid, ref.id) or self._record_queued(ref)
        if record and record.state is DocumentState.DONE and record.version == ref.version:
            return DeliveryResult(
                "already_delivered", "already delivered", record.target_id, record.target_number
            )
        # The source is reused by the container's next items like the target (its HTTP session, its token,
        # what it looked up — a customer, the VAT rates), at most `secret_cache_seconds`.
        with self.services.reused(self.config, POLLED_SOURCE) as source:
            if record and record.version == ref.version and record.target_id:
                return self._finish_delivered(source, ref, record)
            with self.target(documents=True) as target:
                return self._polled_document(source, target, ref, record)

    def _record_queued(self, ref: SourceRef) -> DocumentRecord | None:
        """The state a poll writes right after queueing a document, written here when it is missing: that
        poll died in between (or is writing it right now — then its write finds ours and counts the
        document as known). Without it a document that the delivery takes off the source's listing (marked
        exported, processed) would be delivered and never recorded: the next poll no longer lists it."""
        record = DocumentRecord(
            self.cid, ref.id, ref.version, DocumentState.QUEUED, number=ref.number, run_id=self.run_log.run_id
        )
        if self.services.documents.stage(record, replacing=None) is StageResult.NEW:
            return record
        return self.services.documents.get(self.cid, ref.id)

    def _finish_delivered(self, source: Any, ref: SourceRef, record: Any) -> DeliveryResult:
        """The target took this version (its cross reference is on the record) but the delivery died before
        the write-back was settled: write back what the source does not show yet and settle, without
        fetching it again — the source may no longer list it as ready *because* the write-back went
        through (a document marked exported, an invoice marked processed)."""
        outcome = Outcome.success(record.target_id, record.target_number, self.config.target.system)
        source.acknowledge(ref, outcome, check_first=True)
        self._settle(
            ref,
            DocumentState.DONE,
            record=record,
            target_id=record.target_id,
            target_number=record.target_number,
        )
        delivered_as = f"{self.config.target.system} {record.target_number or record.target_id}"
        self.log(
            "info",
            f"document {record.number or ref.id} was delivered before a crash ({delivered_as}); its "
            f"acknowledgement to {source.system} finished now",
            number=record.number,
        )
        return DeliveryResult(
            "already_delivered", "delivered earlier; acknowledged now", record.target_id, record.target_number
        )

    def _acknowledge(
        self, source: Any, ref: SourceRef, outcome: Outcome, record: DocumentRecord | None
    ) -> None:
        """Write back; a write-back that may have gone through (its answer lost) is remembered, so the retry
        checks the source first instead of writing again. `record` is the document's state as this delivery
        read it (its writes are conditional on state and version, so a newer version is never touched)."""
        attempted = bool(record and record.version == ref.version and record.write_back_attempted)
        try:
            source.acknowledge(ref, outcome, check_first=attempted)
        except TransientError:
            if record is not None and record.version == ref.version and not attempted:
                self.services.documents.transition(record, record.state, write_back_attempted=True)
            raise

    def _polled_document(
        self, source: Any, target: Any, ref: SourceRef, record: DocumentRecord | None
    ) -> DeliveryResult:
        label = f"document {ref.number or ref.id}"  # its kind is known once it is fetched
        try:
            document, raw = source.fetch(ref)
            self.services.bucket.put_raw(self.cid, source.system, ref.id, ref.version, raw)
            if source.current_ref(raw) is None:
                return DeliveryResult("ignored", "no longer ready at the source")
            self._after_its_invoice(document)
            delivered = target.deliver_document(
                document,
                customer=customer_from_party(document.buyer),
                marker=f"{source.system}-{ref.id}-{ref.version}",
            )
        except PermanentError as exc:
            if isinstance(exc, MappingError) and exc.raw:
                self.services.bucket.put_raw(self.cid, source.system, ref.id, ref.version, exc.raw)
            self._acknowledge(source, ref, Outcome.failure(exc.reason), record)
            self._settle(ref, DocumentState.FAILED, record=record, reason=exc.reason)
            self.log("warn", f"{label} failed: {exc.reason} (told {source.system})", number=ref.number)
            return DeliveryResult("failed", exc.reason)
        self.notes(delivered, document.number)
        # The cross reference first: a delivery that dies before the write-back is settled is finished
        # from it (`_finish_delivered`), not delivered again.
        self._remember_target(ref, delivered, record)
        self._acknowledge(
            source,
            ref,
            Outcome.success(delivered.target_id, delivered.number, self.config.target.system),
            record,
        )
        self._settle(
            ref,
            DocumentState.DONE,
            record=record,
            target_id=delivered.target_id,
            target_number=delivered.number,
        )
        kind = document.kind.value.replace("_", " ")
        self.log(
            "info",
            f"{kind} {document.number} → {self.config.target.system} {delivered.number}, acknowledged to "
            f"{source.system}",
            number=document.number,
        )
        return DeliveryResult.created(self.config.target.system, delivered)

    def _after_its_invoice(self, document: Any) -> None:
        """A credit note goes after the invoice it credits when this connector is still delivering that
        invoice (queued, or retried after a passing problem): the target would refuse a credit note whose
        invoice it does not have yet. TransientError: the queue retries it later (and files it as a dead
        letter with this reason if the invoice never settles)."""
        if not document.credited_invoice:
            return
        for invoice in self.services.documents.numbered(document.credited_invoice, self.cid):
            if invoice.state is DocumentState.QUEUED:
                raise TransientError(
                    f"credit note {document.number} waits for invoice {document.credited_invoice}, which is "
                    f"still being delivered to {self.config.target.system}"
                )

    def _remember_target(self, ref: SourceRef, delivered: Delivered, record: DocumentRecord | None) -> None:
        if record is not None and record.version == ref.version and record.state is DocumentState.QUEUED:
            self.services.documents.transition(
                record, DocumentState.QUEUED, target_id=delivered.target_id, target_number=delivered.number
            )

    def _settle(
        self, ref: SourceRef, state: DocumentState, *, record: DocumentRecord | None, **fields: Any
    ) -> None:
        if record is not None and record.version == ref.version and record.state is DocumentState.QUEUED:
            self.services.documents.transition(record, state, **fields)


def customer_key(customer: Customer) -> str:
    return (customer.email or customer.name).strip().lower()


def customer_from_party(party: Party | None) -> Customer:
    if party is None:
        raise PermanentError("the document has no buyer")
    return Customer.model_validate(party.model_dump())


def _wait(item: WorkItem, services: Services, run: RunLog, exc: DependencyNotDelivered) -> None:
    """Park the item until its dependency is delivered. Checked once more after parking: if the dependency
    was delivered in between (its release ran before this item was parked), release at once."""
    services.held.wait(item.connector_id, exc.dependency, item.work_key, item.model_dump_json(), exc.reason)
    run.event("info", f"{exc.reason}: waiting until it is delivered", source_id=item.source_id)
    if services.xrefs.get(item.connector_id, exc.namespace, exc.key):
        release_waiting(services, item.connector_id, exc.dependency)
