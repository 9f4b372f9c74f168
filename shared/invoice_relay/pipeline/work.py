"""A unit of delivery work: what travels on the SQS delivery queue (one message = one WorkItem).

Webhook intake and API-target polls produce them; DeliverFunction consumes them. The raw partner body is
archived in S3 (`raw_key`) before a WorkItem is enqueued, so nothing received is ever lost.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WorkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    source_system: str = Field(description="'shop', 'servicetrade', 'freshbooks'")
    event_type: str = Field(
        description="'order.created', 'customer.updated', 'payment.captured', 'invoice.paid' (FreshBooks"
        " back to the shop), 'invoice.ready' (a polled source document)"
    )
    source_id: str = Field(min_length=1, description="the record's id in the source (order, customer, ...)")
    version: str = Field(min_length=1, description="changes when the record changes (updated_at, ...)")
    delivery_id: str | None = Field(default=None, description="the webhook's delivery id, if any")
    raw_key: str | None = Field(default=None, description="S3 key of the archived raw body")
    payload: dict[str, Any] = Field(default_factory=dict, description="the event's data, parsed")
    received_at: str = Field(description="ISO timestamp when Invoice Relay received it")
    attempt: int = Field(default=0, ge=0, description="times it was put back to wait (out-of-order events)")
