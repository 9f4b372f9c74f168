"""Find each booking entry's invoice PDF in the S3 drop zone the customer syncs into.

The drop zone (`documents/<connector>/`, sub-folders allowed) is listed once per run into an index keyed by
the *normalised file name* (NFC, casefolded): customers' sync tools and operating systems disagree on case
and unicode forms, and a file in a sub-folder is still the same invoice. Each entry is then looked up by
the file name its connector's rule expects, so matching costs one listing plus a dictionary lookup per
entry. The rule is configuration (`MatchRule`):

- `by_invoice_number`: `<prefix><invoice number>.pdf`, e.g. `1042.pdf` or, with prefix `INV-`,
  `INV-1042.pdf`;
- `by_entry_reference`: `<prefix><entry reference>.pdf`;
- `by_pattern`: a file-name pattern with placeholders `{invoice_number}`, `{entry_reference}`,
  `{customer_number}` and `{document_date:%Y%m%d}` (any strftime format), and the wildcards `*` (any
  run of characters) and `?` (one character) for the parts of a name that are not known, e.g.
  `{customer_number}_{invoice_number}.pdf` or `INV{invoice_number}_{document_date:%Y%m%d}_*.pdf`.

Comparisons ignore case. When several files fit one entry (the same name in two sub-folders, or a
wildcard pattern), the most recently modified wins: it is what the customer synced last.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

PDF_EXTENSION = ".pdf"
PLACEHOLDERS = ("invoice_number", "entry_reference", "customer_number", "document_date")
_WILDCARDS = re.compile(r"[*?]")
# Stand-in values for checking a pattern once, when the configuration is loaded.
_SAMPLE_VALUES: dict[str, Any] = {
    "invoice_number": "1042",
    "entry_reference": "BE-7",
    "customer_number": "C-19",
    "document_date": dt.date(2026, 1, 31),
}


class BookingEntry(Protocol):
    """What matching needs of a booking entry (the Clearnox adapter's model has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def entry_reference(self) -> str | None: ...
    @property
    def invoice_number(self) -> str | None: ...
    @property
    def document_date(self) -> dt.date | None: ...
    @property
    def customer_number(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class DropZoneObject:
    """One object of the drop zone, as listed (the ETag pins the version that was matched)."""

    key: str
    size: int
    etag: str
    last_modified: dt.datetime

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def normalised_file_name(name: str) -> str:
    """The form file names are compared in: NFC, casefolded, surrounding blanks removed."""
    return unicodedata.normalize("NFC", name).strip().casefold()


def index_drop_zone(s3: Any, bucket: str, prefix: str) -> dict[str, DropZoneObject]:
    """Every object under `prefix` (all pages of `list_objects_v2`), keyed by `normalised_file_name`.

    Folder markers (keys ending in `/`) are left out. Of two objects with the same normalised name the
    more recently modified one is kept.
    """
    index: dict[str, DropZoneObject] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for listed in page.get("Contents", []):
            if listed["Key"].endswith("/"):
                continue
            found = DropZoneObject(
                key=listed["Key"],
                size=listed["Size"],
                etag=listed["ETag"],
                last_modified=listed["LastModified"],
            )
            name = normalised_file_name(found.file_name)
            if name not in index or _newer(found, index[name]):
                index[name] = found
    return index


class MatchRule(BaseModel):
    """How a booking entry's PDF is named in the drop zone (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Literal["by_invoice_number", "by_entry_reference", "by_pattern"] = "by_invoice_number"
    prefix: str = Field(default="", description="by_invoice_number / by_entry_reference: e.g. 'INV-'")
    pattern: str | None = Field(
        default=None, description="by_pattern: e.g. '{customer_number}_{invoice_number}.pdf'"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if any(separator in self.prefix for separator in "/\\"):
            raise ValueError("prefix is part of a file name: it cannot contain '/' or '\\'")
        if self.rule != "by_pattern":
            return self
        if not self.pattern:
            raise ValueError("rule by_pattern needs a pattern, e.g. '{customer_number}_{invoice_number}.pdf'")
        if any(separator in self.pattern for separator in "/\\"):
            raise ValueError("pattern is matched against the file name: it cannot contain '/' or '\\'")
        fields = [field for _, field, _, _ in _parsed(self.pattern) if field is not None]
        if not fields:
            raise ValueError(f"pattern {self.pattern!r} has no placeholder ({', '.join(PLACEHOLDERS)})")
        try:
            _render(self.pattern, _SAMPLE_VALUES)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"pattern {self.pattern!r}: {exc}") from None
        return self

    def expected_name(self, entry: BookingEntry) -> str | None:
        """The normalised file name (with `*`/`?` wildcards for by_pattern) this entry's PDF must have;
        None when the entry lacks a value the rule needs."""
        if self.rule == "by_pattern":
            values = {name: getattr(entry, name, None) for name in PLACEHOLDERS}
            needed = {field for _, field, _, _ in _parsed(self.pattern or "") if field}
            if any(_blank(values[name]) for name in needed):
                return None
            try:
                return normalised_file_name(_render(self.pattern or "", values, escape_wildcards=True))
            except (ValueError, TypeError):  # e.g. a strftime format applied to a non-date value
                return None
        value = entry.invoice_number if self.rule == "by_invoice_number" else entry.entry_reference
        if _blank(value):
            return None
        return normalised_file_name(f"{self.prefix}{str(value).strip()}{PDF_EXTENSION}")


def match_entries[E: BookingEntry](
    entries: Iterable[E], index: Mapping[str, DropZoneObject], rule: MatchRule
) -> tuple[list[tuple[E, DropZoneObject]], list[E]]:
    """Pair each entry with its PDF: `(matched, missing)`, both in the entries' order.

    Several entries may share one PDF (e.g. two booking entries for one invoice): each gets it.
    """
    names = _SortedNames(index)
    matched: list[tuple[E, DropZoneObject]] = []
    missing: list[E] = []
    for entry in entries:
        expected = rule.expected_name(entry)
        found = names.find(expected) if expected is not None else None
        if found is None:
            missing.append(entry)
        else:
            matched.append((entry, found))
    return matched, missing


class _SortedNames:
    """Exact lookups in the index; wildcard lookups scan only the names sharing the literal prefix."""

    def __init__(self, index: Mapping[str, DropZoneObject]):
        self._index = index
        self._sorted: list[str] | None = None  # built on the first wildcard lookup

    def find(self, expected: str) -> DropZoneObject | None:
        # Wildcards were escaped as \* and \? inside placeholder values (see _render).
        if not _has_wildcard(expected):
            return self._index.get(expected.replace("\\*", "*").replace("\\?", "?"))
        if self._sorted is None:
            self._sorted = sorted(self._index)
        literal_prefix, matcher = _wildcard_matcher(expected)
        best: DropZoneObject | None = None
        for name in self._sorted[bisect.bisect_left(self._sorted, literal_prefix) :]:
            if not name.startswith(literal_prefix):
                break
            if matcher.fullmatch(name) and (best is None or _newer(self._index[name], best)):
                best = self._index[name]
        return best


def _parsed(pattern: str) -> list[tuple[str, str | None, str | None, str | None]]:
    parsed = list(string.Formatter().parse(pattern))
    for _, field, _, conversion in parsed:
        if field is not None and field not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{field}}}; use {', '.join(PLACEHOLDERS)}")
        if conversion is not None:
            raise ValueError(f"placeholder {{{field}!{conversion}}}: conversions are not supported")
    return parsed


def _render(pattern: str, values: Mapping[str, Any], *, escape_wildcards: bool = False) -> str:
    """The pattern with its placeholders filled in. With `escape_wildcards`, a `*` or `?` inside a value
    is escaped so only the pattern's own wildcards act as wildcards."""
    rendered = []
    for literal, field, spec, _ in _parsed(pattern):
        rendered.append(literal)
        if field is not None:
            value = values[field]
            text = format(value if isinstance(value, dt.date) else str(value).strip(), spec or "")
            rendered.append(_WILDCARDS.sub(r"\\\g<0>", text) if escape_wildcards else text)
    return "".join(rendered)


def _has_wildcard(expected: str) -> bool:
    return re.search(r"(?<!\\)[*?]", expected) is not None


def _wildcard_matcher(expected: str) -> tuple[str, re.Pattern[str]]:
    """(the literal text before the first wildcard, a regex for the whole name)."""
    regex: list[str] = []
    literal_prefix: str | None = None
    literal: list[str] = []
    for token in re.findall(r"\\[*?]|[*?]|[^*?\\]+|\\", expected):
        if token in ("*", "?"):
            if literal_prefix is None:
                literal_prefix = "".join(literal)
            regex.append(".*" if token == "*" else ".")  # noqa: S105 (a wildcard, not a password)
        else:
            text = token[1:] if token in ("\\*", "\\?") else token
            literal.append(text)
            regex.append(re.escape(text))
    return literal_prefix or "", re.compile("".join(regex), re.DOTALL)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _newer(candidate: DropZoneObject, current: DropZoneObject) -> bool:
    return (candidate.last_modified, candidate.key) > (current.last_modified, current.key)
