"""Paginators for partner listings, each with a page limit and a loop guard.

A listing that never ends — a partner that keeps answering "next page" or hands back the same cursor — is
a bug (ours or theirs), not data: it raises `PermanentError` instead of running the Lambda out of time.
(singer-sdk's `BaseAPIPaginator.advance()` raises on a repeated token in the same way.)

- `PageNumberPaginator`: pages numbered from 1 with a total page count in each answer (ServiceTrade,
  FreshBooks, Clearnox); can resume at a saved page.
- `CursorPaginator`: keyset paging with an opaque cursor (the shop's `nextCursor`).

Both take a `fetch` callable that reads one page and returns a `Page`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import PermanentError

DEFAULT_MAX_PAGES = 10_000


@dataclass(frozen=True)
class Page:
    """One page of a listing: its records, and where the listing goes on (`total_pages` for numbered
    listings, `next_cursor` for keyset ones; None/0 when the partner says there is nothing more)."""

    records: list[Any]
    number: int = 1
    total_pages: int | None = None
    next_cursor: str | None = None
    raw: Any = field(default=None, repr=False)

    @property
    def next_number(self) -> int | None:
        """The next page's number, or None on the last page."""
        if self.total_pages is None or self.number >= self.total_pages:
            return None
        return self.number + 1


class PageNumberPaginator:
    """Numbered pages from `start` to the last page (`Page.total_pages`; an empty listing may say 0)."""

    def __init__(self, *, partner: str, what: str, max_pages: int = DEFAULT_MAX_PAGES):
        self.partner = partner
        self.what = what
        self.max_pages = max_pages

    def pages(self, fetch: Callable[[int], Page], start: int = 1) -> Iterator[Page]:
        number = start
        for _ in range(self.max_pages):
            page = fetch(number)
            if page.number != number:
                raise PermanentError(
                    f"{self.partner} answered page {page.number} when asked for page {number} of {self.what}"
                    " (loop detected)",
                    partner=self.partner,
                )
            yield page
            if page.next_number is None or not page.records:
                return
            number = page.next_number
        raise PermanentError(
            f"{self.partner} listed more than {self.max_pages} pages of {self.what}", partner=self.partner
        )


class CursorPaginator:
    """Keyset pages: the first without a cursor, each next one with the previous page's `next_cursor`,
    until a page has none. A cursor handed back twice is a loop."""

    def __init__(self, *, partner: str, what: str, max_pages: int = DEFAULT_MAX_PAGES):
        self.partner = partner
        self.what = what
        self.max_pages = max_pages

    def pages(self, fetch: Callable[[str | None], Page]) -> Iterator[Page]:
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(self.max_pages):
            page = fetch(cursor)
            yield page
            cursor = page.next_cursor
            if not cursor:
                return
            if cursor in seen:
                raise PermanentError(
                    f"{self.partner} handed back cursor {cursor[:40]!r} twice while listing {self.what} "
                    "(loop detected)",
                    partner=self.partner,
                )
            seen.add(cursor)
        raise PermanentError(
            f"{self.partner} listed more than {self.max_pages} pages of {self.what}", partner=self.partner
        )
