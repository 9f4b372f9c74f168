"""`ClearBooksSource`: the `POLLED_SOURCE` of the upload side, sales invoices and credit notes as they change.

ClearBooks has no "ready for the trade network" status to list by, so the listing is incremental: each
run lists what changed since where the last one ended (`SourcePage.position`), invoices first, then
credit notes, and the pipeline recognises a document it already has by (id, version = `modifiedAt`).

The position, saved by the poll after each page is stored:

    {"listing": "invoices" | "creditNotes" | "done",
     "invoices":    {"since": "2026-10-03T09:14:00Z", "page_at_since": 1, "after_id": 5003},
     "creditNotes": {"since": ..., "page_at_since": 1}}

Keyset paging that neither a crash nor a concurrent edit can make skip a document:
- every request asks `modifiedSince=<since>` (at or after it; sorted by `modifiedAt`, then `id`) and a
  page number counted from that watermark (`page_at_since`);
- after a page the watermark moves to its last record's `modifiedAt` and paging starts again at 1, so an
  edit (which moves a record to the end of the listing) never shifts what is still to come. Records at
  the watermark that were listed already (`id` ≤ `after_id`) are passed over; listing one twice would be
  harmless anyway;
- a full page whose records all carry the watermark's second cannot move it: the page number advances
  instead, and the page before is read again with it, so a record that an edit moved back across the
  page boundary is still seen (an edit takes records out of a same-second block, never into it);
- a crash resumes from the last saved position: at worst a page is listed again;
- a completed run saves `listing: "done"`; the next one starts from each ledger's watermark minus
  `lookback_seconds` (clock skew between ClearBooks' servers), page 1.
- `modifiedSince` is not documented: when the answer holds records older than the watermark, the API
  ignored it. That ledger is then walked whole in id order (stable under edits) and filtered here; the
  next run starts from when the walk started (minus the lookback), since anything edited after we passed
  it was edited after that. This is logged once per run.

Drafts and voided documents are not ready (`current_ref` is None for them) and are not listed; an approved
document is listed whenever it changes.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...errors import MappingError, PermanentError
from ...logs import logger
from ...models import Document
from ..attachments import keep_attachment
from ..capabilities import Outcome, SourcePage, SourceRef
from ..payload import id_problem, label_text, text_value
from .client import PARTNER, SALES, ClearBooksClient
from .mapping import (
    archivable,
    customer_tnid,
    is_ready,
    parse_ref_id,
    ref_id,
    sales_document_to_document,
    vat_rate_table,
)

if TYPE_CHECKING:
    from ..context import PartnerContext
    from .config import ClearBooksSourceConfig

LEDGERS = ("invoices", "creditNotes")
DONE = "done"
EVERYTHING = (
    "2000-01-01T00:00:00Z"  # "since the beginning" (ClearBooks sorts by modifiedAt only when asked since)
)
LISTING_LABELS = {"invoices": "sales invoice", "creditNotes": "sales credit note"}


class ClearBooksSource:
    """ClearBooks sales documents for the trade network (see the module docstring)."""

    system = PARTNER

    def __init__(
        self,
        config: ClearBooksSourceConfig,
        client: ClearBooksClient,
        context: PartnerContext,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.client = client
        self.context = context
        self.write_back_concurrency = config.write_back_concurrency
        self._clock = clock
        self._customers: dict[int, dict[str, Any]] = {}
        self._invoice_numbers: dict[int, str] = {}
        self._vat_rates: dict[str, Decimal | None] | None = None
        self._filter_ignored_said: set[str] = set()

    @classmethod
    def from_config(
        cls,
        config: ClearBooksSourceConfig,
        context: PartnerContext,
        *,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> ClearBooksSource:
        """A source for a connector (`options`: session, app and token options, see
        `ClearBooksClient.for_connector`)."""
        client = ClearBooksClient.for_connector(config, context, clock=clock, **options)
        return cls(config, client, context, clock=clock)

    def close(self) -> None:
        self.client.close()

    # -- listing ----------------------------------------------------------------------------------------

    def poll(self, start_page: int = 1, position: Mapping[str, Any] | None = None) -> Iterator[SourcePage]:
        """Pages of approved sales invoices, then credit notes, changed since `position` (None: since the
        connector's `changed_since`, or ever). Pages are numbered from `start_page`; each carries the
        position after it. At least one page is yielded, so a run that found nothing still moves on."""
        state = self._starting_state(position)
        number = max(1, start_page)
        for index in range(LEDGERS.index(state["listing"]), len(LEDGERS)):
            doc_type = LEDGERS[index]
            while True:
                listed, done = self._next_records(doc_type, state[doc_type])
                if done:
                    state["listing"] = LEDGERS[index + 1] if index + 1 < len(LEDGERS) else DONE
                last = done and state["listing"] == DONE
                yield self._page(doc_type, number, listed, last=last, position=copy.deepcopy(state))
                number += 1
                if done:
                    break

    def _starting_state(self, position: Mapping[str, Any] | None) -> dict[str, Any]:
        if position is not None and _well_formed(position):
            state = copy.deepcopy(dict(position))
            if state["listing"] != DONE:
                return state  # a run that stopped part-way: resume exactly where its last page left off
            for doc_type in LEDGERS:
                since = _instant(state[doc_type]["since"]) - dt.timedelta(
                    seconds=self.config.lookback_seconds
                )
                state[doc_type] = {"since": _iso(since), "page_at_since": 1}
            state["listing"] = LEDGERS[0]
            return state
        if position is not None:
            logger.warning(f"clearbooks: the saved listing position is not one of ours ({position!r}); "
                           "listing from the connector's starting point again")  # fmt: skip
        changed = self.config.changed_since
        since = f"{changed.isoformat()}T00:00:00Z" if changed else EVERYTHING
        return {"listing": LEDGERS[0], **{t: {"since": since, "page_at_since": 1} for t in LEDGERS}}

    def _next_records(self, doc_type: str, ledger: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """The records of the ledger's next page (those changed at or after its watermark) and whether
        the ledger is done for this run; `ledger` is updated to where the listing goes on."""
        if "walk_page" in ledger:
            return self._next_walked_records(doc_type, ledger)
        since, number, after_id = ledger["since"], ledger["page_at_since"], ledger.get("after_id")
        page = self.client.sales_documents_page(doc_type, number, modified_since=since)
        records = page.records
        if number > 1:  # within one second's block: read the page before again (see the module docstring)
            before = self.client.sales_documents_page(doc_type, number - 1, modified_since=since)
            records = before.records + records
        if any((m := _modified(r)) is not None and m < since for r in records):
            self._say_filter_ignored(doc_type, since)
            ledger.clear()
            ledger.update({"since": since, "walk_page": 1, "walk_started": _iso(self._now())})
            return self._next_walked_records(doc_type, ledger)
        listed = [r for r in records if not _listed_before(r, since, after_id)]
        seen = [m for r in records if (m := _modified(r)) is not None]
        if page.number >= (page.total_pages or 0) or not page.records:
            ledger.clear()
            ledger.update({"since": max([since, *seen]), "page_at_since": 1})
            return listed, True
        last = max([since, *seen])
        at_last = [_id(r) for r in records if _modified(r) == last]
        if last == since:  # a full page of one second: count pages within it
            ledger.update({"page_at_since": number + 1, "after_id": max([after_id or 0, *at_last])})
        else:
            ledger.clear()
            ledger.update({"since": last, "page_at_since": 1, "after_id": max(at_last)})
        return listed, False

    def _next_walked_records(
        self, doc_type: str, ledger: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], bool]:
        """The whole listing in id order, filtered here (the API ignored `modifiedSince`)."""
        since = ledger["since"]
        page = self.client.sales_documents_page(doc_type, ledger["walk_page"])
        listed = [r for r in page.records if (m := _modified(r)) is None or m >= since]
        if page.number >= (page.total_pages or 0) or not page.records:
            next_since = max(since, ledger.get("walk_started") or since)
            ledger.clear()
            ledger.update({"since": next_since, "page_at_since": 1})
            return listed, True
        ledger["walk_page"] = page.number + 1
        return listed, False

    def _say_filter_ignored(self, doc_type: str, since: str) -> None:
        if doc_type in self._filter_ignored_said:
            return
        self._filter_ignored_said.add(doc_type)
        logger.warning(
            f"clearbooks: the {LISTING_LABELS[doc_type]} listing ignored modifiedSince={since} (it answered "
            "older records): walking the whole listing and filtering it here"
        )

    def _page(
        self,
        doc_type: str,
        number: int,
        listed: list[dict[str, Any]],
        *,
        last: bool,
        position: dict[str, Any],
    ) -> SourcePage:
        refs, records = [], {}
        for record in listed:
            ref = self._listed_ref(doc_type, record)
            if ref is None or ref.id in records:
                continue
            refs.append(ref)
            records[ref.id] = archivable(record)
        return SourcePage(
            page=number,
            total_pages=number if last else number + 1,
            refs=refs,
            raw=[archivable(r) for r in listed],
            records=records,
            position=position,
        )

    def _listed_ref(self, doc_type: str, record: dict[str, Any]) -> SourceRef | None:
        unusable = id_problem(str(record.get("id"))) or id_problem(str(record.get("modifiedAt", "")))
        if record.get("id") is None or not record.get("modifiedAt") or unusable:
            # It would be a key of our state: it cannot be tracked, so it is not taken.
            logger.error(
                f"clearbooks: skipping a listed {LISTING_LABELS[doc_type]} without a usable id or modifiedAt"
            )
            return None
        if not is_ready(record):
            logger.debug(
                f"clearbooks: {LISTING_LABELS[doc_type]} {record.get('id')} is {record.get('status')}: "
                "not ready"
            )
            return None
        return _ref(doc_type, record)

    # -- documents -------------------------------------------------------------------------------------

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        """The document fresh from ClearBooks, mapped (customer, VAT rates, credited invoice, PDF kept in
        the bucket), and its payload. MappingError carries the payload."""
        doc_type, document_id = parse_ref_id(ref.id)
        payload = self.client.sales_document(doc_type, document_id)
        return self._document(doc_type, payload), archivable(payload)

    def document(self, raw: dict[str, Any]) -> Document:
        """The Document of a document as the listing gave it (the listing carries whole documents)."""
        return self._document(_doc_type(raw), raw)

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        """The ref of a fetched document as it is now; None for a draft or a voided one."""
        if not is_ready(raw) or raw.get("id") is None or not raw.get("modifiedAt"):
            return None
        return _ref(_doc_type(raw), raw)

    def acknowledge(self, ref: SourceRef, outcome: Outcome, *, check_first: bool = False) -> None:
        """Nothing is written to ClearBooks: it has no status or field for "sent to the trade network",
        and writing to a sales document would change its `modifiedAt`, listing it again as a new version.
        The pipeline records the outcome (delivered with the network's id, or failed with the reason) in
        our own state and run log, which is where it is shown."""
        if outcome.delivered:
            logger.info(
                f"clearbooks: {ref.number or ref.id} delivered "
                f"({outcome.target_system} {outcome.target_number})"
            )
        else:
            logger.info(f"clearbooks: {ref.number or ref.id} failed: {outcome.reason}")

    def _document(self, doc_type: str, payload: dict[str, Any]) -> Document:
        number = text_value(payload.get("formattedDocumentNumber")) or str(payload.get("id"))
        label = f"ClearBooks {LISTING_LABELS[doc_type]} {label_text(number)}"
        try:
            customer = self._customer(payload.get("customerId"), label)
            try:
                tnid: str | None = customer_tnid(
                    customer,
                    self.config.buyer_tnid_from,
                    custom_field=self.config.tnid_custom_field,
                    table=self.config.tnid_table,
                    document_label=label,
                )
            except MappingError:
                if is_ready(payload):
                    raise
                tnid = None  # not ready anyway: the pipeline lets it go without a reason
            credited = self._credited_invoice(payload) if doc_type == "creditNotes" else None
            attachments = [self._kept_pdf(doc_type, payload, number)] if is_ready(payload) else []
            return sales_document_to_document(
                doc_type,
                payload,
                customer=customer,
                buyer_tnid=tnid,
                vat_rates=self._sales_vat_rates(),
                credited_invoice=credited,
                attachments=[a for a in attachments if a is not None],
            )
        except MappingError as exc:
            exc.raw = archivable(payload)  # the archive takes plain JSON
            raise

    def _customer(self, customer_id: object, label: str) -> dict[str, Any]:
        if not isinstance(customer_id, int) or isinstance(customer_id, bool):
            raise MappingError(f"{label} has no customer", partner=PARTNER)
        if customer_id not in self._customers:
            self._customers[customer_id] = self.client.customer(customer_id)
        return self._customers[customer_id]

    def _credited_invoice(self, payload: Mapping[str, Any]) -> str | None:
        """The number of the invoice a credit note is linked to (`linkedInvoiceId`), read once per source."""
        linked = payload.get("linkedInvoiceId")
        if not isinstance(linked, int) or isinstance(linked, bool):
            return None
        if linked not in self._invoice_numbers:
            invoice = self.client.sales_document("invoices", linked)
            self._invoice_numbers[linked] = text_value(invoice.get("formattedDocumentNumber")) or str(linked)
        return self._invoice_numbers[linked]

    def _sales_vat_rates(self) -> dict[str, Decimal | None]:
        if self._vat_rates is None:
            self._vat_rates = vat_rate_table(self.client.vat_rates(SALES))
        return self._vat_rates

    def _kept_pdf(self, doc_type: str, payload: Mapping[str, Any], number: str) -> Any:
        """The document's PDF, kept in the bucket for the target (None when ClearBooks has none)."""
        content = self.client.sales_pdf(doc_type, int(payload["id"]))
        if content is None:
            return None
        return keep_attachment(
            self.context,
            system=PARTNER,
            source_id=ref_id(doc_type, payload["id"]),
            version=str(payload.get("modifiedAt")),
            filename=f"{number}.pdf",
            content=content,
        )

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)


def _ref(doc_type: str, record: Mapping[str, Any]) -> SourceRef:
    """A document's ref: `modifiedAt` is the version (it changes with every edit)."""
    return SourceRef(
        id=ref_id(doc_type, record["id"]),
        version=str(record["modifiedAt"]),
        number=text_value(record.get("formattedDocumentNumber")),
    )


def _doc_type(raw: Mapping[str, Any]) -> str:
    """Which ledger a payload is from: invoices carry `dateDue` (maybe null), credit notes never do."""
    return "invoices" if "dateDue" in raw else "creditNotes"


def _modified(record: Mapping[str, Any]) -> str | None:
    """`modifiedAt` in one spelling (ISO 8601 UTC to the second, compared as text); None when unreadable
    (such a record is not taken, see `_listed_ref`)."""
    try:
        return _iso(_instant(str(record.get("modifiedAt") or "")))
    except PermanentError:
        return None


def _listed_before(record: Mapping[str, Any], since: str, after_id: int | None) -> bool:
    """Listed by an earlier page: at the watermark's second with an id up to the last one listed there."""
    return after_id is not None and _modified(record) == since and _id(record) <= after_id


def _id(record: Mapping[str, Any]) -> int:
    value = record.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _instant(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise PermanentError(
            f"ClearBooks answered {text[:40]!r} where a date-time belongs", partner=PARTNER
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _well_formed(position: Mapping[str, Any]) -> bool:
    if position.get("listing") not in (*LEDGERS, DONE):
        return False
    for doc_type in LEDGERS:
        ledger = position.get(doc_type)
        if not isinstance(ledger, Mapping) or not isinstance(ledger.get("since"), str):
            return False
        try:
            _instant(ledger["since"])
        except PermanentError:
            return False
    return True
