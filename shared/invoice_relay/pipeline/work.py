"""A unit of delivery work: what travels on the SQS delivery queue (one message = one WorkItem).

Webhook intake and polls of sources paired with an API target produce them; DeliverFunction consumes
them. Nothing received is ever lost: a webhook's body exactly as received travels in its WorkItem
(`raw`) and DeliverFunction archives the bodies of a batch in one S3 object before it delivers any of
them (then `raw_key` says where); a body too large to travel in a queue message is archived by the
intake before the item is enqueued (`raw_key` set, `raw` empty).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..identifiers import ConnectorId

# The event a poll enqueues for a document of a polled source that is ready for an API target.
DOCUMENT_READY = "document.ready"


class RawBody(BaseModel):
    """A webhook body exactly as received (UTF-8 text), on its way to the batch archive."""

    model_config = ConfigDict(extra="forbid")

    text: str
    content_type: str


class WorkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: ConnectorId
    source_system: str = Field(description="the system that sent it (a partner system name)")
    event_type: str = Field(
        description="the sender's event name (e.g. 'order.created', 'payment.create'), or 'document.ready'"
        " for a polled document"
    )
    source_id: str = Field(min_length=1, description="the record's id in the sender (order, customer, ...)")
    version: str = Field(min_length=1, description="changes when the record changes (updated_at, ...)")
    delivery_id: str | None = Field(default=None, description="the webhook's delivery id, if any")
    raw_key: str | None = Field(default=None, description="S3 key of the archived raw body")
    raw: RawBody | None = Field(default=None, description="the raw body, until DeliverFunction archives it")
    payload: dict[str, Any] = Field(default_factory=dict, description="the event's data, parsed")
    received_at: str = Field(description="ISO timestamp when Invoice Relay received it")
    attempt: int = Field(default=0, ge=0, description="times it was released after waiting or being held")

    def archived(self, key: str) -> WorkItem:
        """This item once its raw body is in the archive object `key` (what a held or released copy keeps)."""
        return self.model_copy(update={"raw": None, "raw_key": key})

    @property
    def work_key(self) -> str:
        """Identifies the work across redeliveries (held work is keyed by it)."""
        return f"{self.source_system}#{self.event_type}#{self.source_id}#{self.version}"


def identify_message(body: str) -> tuple[str | None, str]:
    """The connector and work key of a queue message body, readable or not: a body that is not a work item
    is keyed by its digest (the same wherever it is read: DeliverFunction on its last attempt, the DLQ
    sweep). The connector is None when the body names no well-formed connector id."""
    import hashlib
    import json

    from pydantic import ValidationError

    from ..identifiers import is_connector_id

    try:
        item = WorkItem.model_validate_json(body)
    except ValidationError:
        try:
            named = json.loads(body).get("connector_id")
        except (ValueError, AttributeError):
            named = None
        connector_id = named if is_connector_id(named) else None
        return connector_id, "malformed#" + hashlib.sha256(body.encode()).hexdigest()[:16]
    return item.connector_id, item.work_key
