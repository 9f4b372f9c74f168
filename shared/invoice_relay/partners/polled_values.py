"""What a polled source exchanges with the poll, the export and the write-back: record refs, listing pages
and outcomes (see `capabilities.POLLED_SOURCE`). Named through `capabilities`, which loads this module
the first time one of them is used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceRef:
    """A pointer to one record in a source: its id and a version that changes when the record changes."""

    id: str
    version: str
    number: str | None = None


@dataclass(frozen=True)
class SourcePage:
    """One page of a polled listing. `next_page` is None on the last page.

    `position` is for sources that list what *changed since a point* (an incremental listing) instead of
    what is in a "ready" status: where the listing goes on after this page, in the source's own terms
    (JSON-able, e.g. a modified-at watermark). The poll saves it with the page's checkpoint — also after
    the last page, so the next run starts where this one ended — and hands it back to `poll`. None: the
    listing is resumed by page number and starts over at page 1 once complete (a status filter).
    """

    page: int
    total_pages: int
    refs: list[SourceRef]
    raw: list[dict[str, Any]] = field(default_factory=list, repr=False)
    # ref id → the record as the listing gave it (a source whose listing carries whole records)
    records: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    position: dict[str, Any] | None = None

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page < self.total_pages else None


@dataclass(frozen=True)
class Outcome:
    """What happened to a document at the target; written back to the source by `acknowledge`.

    `target_id` is the target's own id of the record (written back as an external id where the source
    keeps them), `target_number` the number the target gave it.
    """

    delivered: bool
    target_id: str | None = None
    target_number: str | None = None
    target_system: str | None = None
    reason: str | None = None

    @classmethod
    def success(
        cls, target_id: str | None = None, target_number: str | None = None, target_system: str | None = None
    ) -> Outcome:
        return cls(
            delivered=True, target_id=target_id, target_number=target_number, target_system=target_system
        )

    @classmethod
    def failure(cls, reason: str) -> Outcome:
        return cls(delivered=False, reason=reason)
