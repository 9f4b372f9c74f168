"""What webhook deliveries carry and the work they become (`capabilities.WEBHOOK_SOURCE`), and what a
document target answers (`capabilities.DOCUMENT_TARGET`). Named through `capabilities`, which loads this
module the first time one of them is used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: a function that maps no document never builds the canonical models
    from ..models import Customer, Document, Payment


@dataclass(frozen=True)
class Delivered:
    """A record created (or found already created) at the target. `notes` are things a bookkeeper must
    see (e.g. the target's total differs from the source's by a cent); they go into the run log."""

    target_id: str
    number: str | None = None
    notes: tuple[str, ...] = ()


# -- work decoded from events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkRef:
    """The record a webhook event is about: what keys its delivery (id + version) and names it."""

    source_id: str
    version: str
    number: str | None = None


@dataclass(frozen=True)
class NewDocument:
    """A document to create at the target (an order became an invoice). `marker` is a readable, unique
    reference written on the target record, so a repeat finds it instead of creating a second one."""

    document: Document
    customer: Customer
    marker: str


@dataclass(frozen=True)
class CustomerChanged:
    customer: Customer


@dataclass(frozen=True)
class PaymentReceived:
    """A payment for a document of the same source (`document_source_id`), which must be delivered first."""

    payment: Payment
    document_source_id: str


@dataclass(frozen=True)
class DocumentSettled:
    """The target reports one of its documents fully paid: the source document it came from is marked paid.
    `reference` names what paid it (e.g. the target's payment)."""

    target_document_id: str
    paid_at: dt.datetime
    reference: str


@dataclass(frozen=True)
class NothingToDo:
    """An event that needs no delivery (e.g. a part payment); `reason` goes into the run log."""

    reason: str


Work = NewDocument | CustomerChanged | PaymentReceived | DocumentSettled | NothingToDo


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified, parsed webhook delivery. `work` is None for an event type nobody acts on (archived only).

    `delivery_id` identifies the delivery (a redelivery carries the same one); `payload` is what the
    delivery pipeline gets back in `decode`; `content_type`/`extension` describe the archived body.
    """

    delivery_id: str
    event_type: str
    work: WorkRef | None
    payload: dict[str, Any]
    content_type: str = "application/json"
    extension: str = "json"


@dataclass(frozen=True)
class DeliveryReceipt:
    """A target's word that the recipient has seen a document delivered to it (a trade network's READ):
    the target's id and number of the document, what happened (`status`, e.g. "read") and when."""

    target_id: str
    number: str | None
    status: str
    at: dt.datetime


@dataclass(frozen=True)
class HandshakeAnswer:
    """The answer to a sender's unsigned setup request (a subscription's verification)."""

    status_code: int
    body: dict[str, Any]
