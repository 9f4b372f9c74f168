"""The contracts between the pipeline and partner adapters.

A *source* lists documents that are ready (`poll`), fetches one (`fetch`) and writes the outcome back
(`acknowledge`). A *target* delivers a document and returns its own id/number. Adapters map partner
JSON to canonical models inside their own module; the pipeline only sees these types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..models import Document


@dataclass(frozen=True)
class SourceRef:
    """A pointer to one record in a source: its id and a version that changes when the record changes."""

    id: str
    version: str
    number: str | None = None


@dataclass(frozen=True)
class SourcePage:
    """One page of a paged listing. `next_page` is None on the last page."""

    page: int
    total_pages: int
    refs: list[SourceRef]
    raw: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page < self.total_pages else None


@dataclass(frozen=True)
class Outcome:
    """What happened to a document at the target; written back to the source by `acknowledge`."""

    delivered: bool
    target_id: str | None = None
    target_number: str | None = None
    reason: str | None = None

    @classmethod
    def success(cls, target_id: str | None = None, target_number: str | None = None) -> Outcome:
        return cls(delivered=True, target_id=target_id, target_number=target_number)

    @classmethod
    def failure(cls, reason: str) -> Outcome:
        return cls(delivered=False, reason=reason)


class Source(Protocol):
    system: str

    def poll(self, start_page: int = 1) -> Iterator[SourcePage]:
        """Pages of records ready for the target, from `start_page` to the last page."""
        ...

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        """The canonical document and the raw partner payload it was mapped from.

        Raises MappingError (with the raw payload available on the exception's `raw` attribute when
        possible) when the record cannot be mapped.
        """
        ...

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        """The ref of a fetched payload as it is now, or None if it is no longer ready (e.g. its status
        changed since it was listed): protects against staging a document another run just finished."""
        ...

    def acknowledge(self, ref: SourceRef, outcome: Outcome) -> None:
        """Write the outcome back to the source (status, target number, or failure reason)."""
        ...

    def close(self) -> None:
        """End the session with the partner (logout)."""
        ...
