"""ShipServ as the polled source of a download connector (the `POLLED_SOURCE` capability): a buyer's received
invoices and credit notes, marked exported once the accounting system took them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ...errors import MappingError
from ...logs import logger
from ...models import Attachment, Document
from ..attachments import keep_attachment
from ..capabilities import Outcome, SourcePage, SourceRef
from ..payload import id_problem, label_text, source_page, text_value
from .client import PARTNER, ShipServClient
from .config import ShipServSourceConfig
from .mapping import KINDS, PDF, document_from_shipserv, document_label

if TYPE_CHECKING:
    from ..context import PartnerContext

WRITE_BACK_CONCURRENCY = 4  # mark-as-exported calls at once (no published rate limit; a 429 is waited out)


class ShipServSource:
    """The documents addressed to the connector's buyer TNID that are not yet exported (see the package
    docstring). A document is "ready" while the network shows it not exported, so the listing starts over
    at page 1 after each complete poll; the network, not a position of ours, decides what is new."""

    system = PARTNER
    write_back_concurrency = WRITE_BACK_CONCURRENCY

    def __init__(self, client: ShipServClient, context: PartnerContext):
        self.client = client
        self.context = context

    @classmethod
    def from_config(
        cls,
        config: ShipServSourceConfig,
        credentials: Mapping[str, Any],
        context: PartnerContext,
        **options: Any,
    ) -> ShipServSource:
        """A source for a connector side (`ShipServClient.for_connector`)."""
        return cls(ShipServClient.for_connector(config, credentials, **options), context)

    def poll(self, start_page: int = 1, position: Mapping[str, Any] | None = None) -> Iterator[SourcePage]:
        """Pages of the buyer's documents not yet exported (invoices and credit notes). `position` is not
        used: the network's `exported` flag decides what is ready. A listed document of another buyer TNID
        is a ConfigurationError (the connector's user acts for another company)."""
        for page in self.client.received_documents(start_page):
            yield source_page(page, self._listed_ref)

    def _listed_ref(self, summary: Any, page_number: int) -> SourceRef | None:
        """The ref of a listed document; None, logged, for one without an id or of another type."""
        if not isinstance(summary, dict) or not summary.get("id"):
            logger.error(f"shipserv: skipping a listed document without an id on page {page_number}")
            return None
        self.client.acting_party(summary, "buyerTnId", "buyer")
        if summary.get("type") not in KINDS:
            logger.warning(
                f"shipserv: passing over {label_text(summary.get('type'))} document "
                f"{label_text(summary['id'])} (not an invoice or a credit note)"
            )
            return None
        return _ref(summary)

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        """The document, fresh from the network (which now shows it Read), mapped, its files kept in the
        document bucket. MappingError carries the payload."""
        payload = self.client.document(ref.id)
        return self._document(payload), payload

    def document(self, raw: dict[str, Any]) -> Document:
        """The Document of a listed document: the listing carries summaries only (no lines), so the full
        document is read first."""
        if "lineItems" not in raw:
            if not raw.get("id"):
                raise MappingError(
                    "shipserv listed a document without an id", partner=PARTNER, raw=raw or None
                )
            raw = self.client.document(str(raw["id"]))
        return self._document(raw)

    def _document(self, payload: dict[str, Any]) -> Document:
        self.client.acting_party(payload, "buyerTnId", "buyer")
        document = document_from_shipserv(payload)  # mapped first: a document that fails keeps no files
        kept = self._keep_attachments(payload)
        return document.model_copy(update={"attachments": kept}) if kept else document

    def _keep_attachments(self, payload: dict[str, Any]) -> list[Attachment]:
        """Each attachment (the PDF and supporting documents) downloaded and kept in the document bucket,
        so the target can send it on (`attachments.keep_attachment`)."""
        listed = payload.get("attachments") or []
        if not isinstance(listed, list):
            raise MappingError(
                f"{document_label(payload)}: attachments is not a list", partner=PARTNER, raw=payload
            )
        version = _version(payload) or "unversioned"
        kept = []
        for position, attachment in enumerate(listed, start=1):
            if not isinstance(attachment, dict) or not text_value(attachment.get("id")):
                raise MappingError(
                    f"{document_label(payload)}: attachment {position} has no id",
                    partner=PARTNER,
                    raw=payload,
                )
            content, served_type = self.client.attachment(str(attachment["id"]))
            kept.append(
                keep_attachment(
                    self.context,
                    system=PARTNER,
                    source_id=str(payload["id"]),
                    version=version,
                    filename=text_value(attachment.get("name")) or f"attachment-{position}.pdf",
                    content=content,
                    content_type=text_value(attachment.get("type")) or served_type or PDF,
                )
            )
        return kept

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        """The ref of a fetched document as it is now; None once it is exported (or is not ours to take)."""
        if raw.get("exported") is True or raw.get("type") not in KINDS or not raw.get("id"):
            return None
        return _ref(raw)

    def acknowledge(self, ref: SourceRef, outcome: Outcome, *, check_first: bool = False) -> None:
        """Success → mark the document exported (the network's acknowledgement to the supplier; idempotent,
        and with `check_first` a document that already shows exported is left alone).

        Failure → nothing is written to the network: ShipServ has no failed status or private comment, and
        marking the document exported would tell the supplier it was booked and take it out of the buyer's
        "new" list. It stays not exported, visible to the buyer on the network; our own state records the
        failure and its reason (the run log shows it). Later polls still list the document but pass over
        its known version (our state says it failed), so it is not delivered again until someone fixes the
        cause (in the accounting system, or by asking the supplier for a corrected document) and retries it.
        """
        if not outcome.delivered:
            logger.info(
                f"shipserv: document {ref.number or ref.id} not marked exported (delivery failed: "
                f"{outcome.reason or 'no reason was given'})"
            )
            return
        if check_first and self.client.document(ref.id).get("exported") is True:
            logger.info(f"shipserv: document {ref.number or ref.id} already shows exported; not marked again")
            return
        self.client.mark_exported(ref.id)
        logger.info(f"shipserv: document {ref.number or ref.id} marked exported")

    def close(self) -> None:
        self.client.close()


def _version(document: Mapping[str, Any]) -> str | None:
    """A sent document cannot be changed on the network (a second send of its reference is refused), so
    the time it was submitted identifies its one version (assumption: a re-submission would carry a new
    `submittedDate`). Not its status: reading it turns Sent into Read, which is no new version."""
    return text_value(document.get("submittedDate")) or text_value(document.get("createdDate"))


def _ref(document: Mapping[str, Any]) -> SourceRef | None:
    """A document's ref (id, version = `submittedDate`, number = `referenceNumber`); None, logged, when
    its id or version cannot be a key of our state."""
    document_id, version = str(document["id"]), _version(document) or ""
    unusable = id_problem(document_id) or id_problem(version) or (None if version else "has no submittedDate")
    if unusable:
        logger.error(
            f"shipserv: skipping listed document {label_text(document_id)}: its id or version {unusable}"
        )
        return None
    return SourceRef(id=document_id, version=version, number=text_value(document.get("referenceNumber")))
