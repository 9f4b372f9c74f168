"""Rendering canonical documents into one import file, following an `ImportTemplate`.

Each document is rendered on its own first (all its rows, or its XML element); a document that cannot be
written in the template's format is left out entirely, with its reason, and the others still go out.

Output safety, whatever the data:
- csv/delimited: a text cell starting with = + - @ tab or CR is prefixed with `'` so a spreadsheet does
  not run it as a formula (numeric columns are exempt: their leading minus is a real negative number);
  csv quotes delimiters, quotes and line breaks (RFC 4180); a `delimited` file has no quoting, so a
  delimiter or line break inside a value fails the document instead of breaking the row.
- fixed_width: a value never overflows its width silently (error, or `overflow: truncate` when the
  template says so) and never carries a line break.
- text formats: a character the template's encoding cannot hold fails the document (or becomes the
  codec's replacement character with `on_unencodable: replace`).
- xml: ElementTree escapes markup; characters XML 1.0 forbids are stripped (noted in the warnings),
  replaced or refused per `xml.illegal_characters`; characters the encoding lacks become character
  references.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..errors import ConfigurationError, RenderError
from ..models import Document, DocumentKind, Line, minor_units
from .template import Column, ImportTemplate, NumberFormat, Record, RunInfo, coerce_map, resolve_source

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CHARSETS = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "windows-1252", "cp1250": "windows-1250",
    "iso8859-1": "ISO-8859-1", "iso8859-15": "ISO-8859-15", "ascii": "US-ASCII", "cp850": "IBM850",
    "cp437": "IBM437", "utf-16": "UTF-16", "mac-roman": "macintosh",
}  # fmt: skip
_CONTENT_TYPES = {
    "csv": "text/csv",
    "delimited": "text/plain",
    "fixed_width": "text/plain",
    "xml": "application/xml",
}


@dataclass(frozen=True)
class RenderFailure:
    """A document left out of the file, and why (a sentence a bookkeeper can act on)."""

    document_number: str
    reason: str


@dataclass
class ImportFile:
    """One rendered import file. `rendered` lists the document numbers in it, in file order."""

    file_name: str
    content: bytes
    content_type: str
    rendered: list[str]
    failures: list[RenderFailure]
    warnings: list[str] = field(default_factory=list)


def render_import_file(
    template: ImportTemplate,
    documents: Iterable[Document],
    *,
    connector_id: str,
    run_id: str,
    run_date: dt.date,
    field_maps: dict[str, Any] | None = None,
) -> ImportFile:
    """Render `documents` into one import file per `template`.

    `field_maps` ({column name: {from: to}}) replaces the template's `map` of those columns (or gives a
    column one), so a connector's configuration can map e.g. service codes to GL accounts. A column name
    the template does not have raises ConfigurationError: the whole file would be wrong.

    Documents that cannot be rendered are listed in `failures` and left out entirely; an empty batch
    gives a valid file (only the header row for csv, an empty root element for xml).
    """
    run = RunInfo(connector_id=connector_id, id=run_id, date=run_date)
    layout = _layout(template, _Values(template, _checked_field_maps(template, field_maps), run))
    parts: list[Any] = []
    rendered: list[str] = []
    failures: list[RenderFailure] = []
    warnings: list[str] = []
    for document in documents:
        notes: list[str] = []
        try:
            part = layout.document(document, notes)
        except RenderError as exc:
            failures.append(RenderFailure(document.number, exc.reason))
            continue
        parts.append(part)
        rendered.append(document.number)
        warnings.extend(f"{document.number}: {note}" for note in notes)
    return ImportFile(
        file_name=import_file_name(template, connector_id=connector_id, run_id=run_id, run_date=run_date),
        content=layout.file(parts),
        content_type=f"{_CONTENT_TYPES[template.format]}; charset={charset(template.encoding)}",
        rendered=rendered,
        failures=failures,
        warnings=warnings,
    )


def render_document(
    template: ImportTemplate,
    document: Document,
    *,
    run: RunInfo | None = None,
    field_maps: dict[str, Any] | None = None,
) -> str:
    """One document's part of an import file as text (its rows, or its XML), e.g. for a preview.

    Raises RenderError when the document cannot be written in this format.
    """
    run = run or RunInfo(connector_id="preview", id="preview", date=dt.date.today())
    layout = _layout(template, _Values(template, _checked_field_maps(template, field_maps), run))
    part = layout.document(document, [])
    if isinstance(part, str):
        return part
    return "".join(ET.tostring(element, encoding="unicode") for element in part)


def import_file_name(template: ImportTemplate, *, connector_id: str, run_id: str, run_date: dt.date) -> str:
    """The template's `file_name` pattern filled in; ids are reduced to characters safe in a file name."""

    def safe(value: str) -> str:
        return _FILE_NAME_UNSAFE.sub("_", value).strip("._") or "_"

    return template.effective_file_name.format(
        template=template.name, connector=safe(connector_id), run_id=safe(run_id), run_date=run_date
    )


def charset(encoding: str) -> str:
    """The IANA name of a Python codec (for Content-Type and the XML declaration)."""
    name = codecs.lookup(encoding).name
    return _CHARSETS.get(name, name.upper())


def _checked_field_maps(
    template: ImportTemplate, field_maps: dict[str, Any] | None
) -> dict[str, dict[str, str]]:
    if not field_maps:
        return {}
    unknown = sorted(set(field_maps) - template.column_names())
    if unknown:
        raise ConfigurationError(
            f"field_maps name column(s) {unknown} that import template {template.name!r} does not have "
            f"(its columns: {', '.join(sorted(template.column_names()))})"
        )
    checked = {}
    for name, table in field_maps.items():
        try:
            checked[name] = coerce_map(table)
        except ValueError as exc:
            raise ConfigurationError(f"field_maps[{name!r}]: {exc}") from exc
    return checked


def _fail(column: Column, message: str) -> RenderError:
    return RenderError(f"column {column.name}: {message}")


# --- values: source → map → type → text ----------------------------------------------------------------


class _Values:
    """Turns a column of a record into its text for one document (and line), format-independent."""

    def __init__(self, template: ImportTemplate, field_maps: dict[str, dict[str, str]], run: RunInfo):
        self.template = template
        self.field_maps = field_maps
        self.run = run
        self._number_formats: dict[int, NumberFormat] = {}  # by id(column): resolved once per file

    def rows(self, document: Document) -> list[tuple[Record, Line | None]]:
        """(record, line) pairs in file order: header then its lines, or the lines, or the document."""
        records = self.template.records
        rows: list[tuple[Record, Line | None]] = []
        if records.header is not None:
            rows.append((records.header, None))
        if records.detail is not None:
            rows.extend((records.detail, line) for line in document.lines)
        if records.document is not None:
            rows.append((records.document, None))
        return rows

    def cells(self, record: Record, document: Document, line: Line | None) -> list[tuple[Column, str | None]]:
        """Every column of the record as text (None when empty); errors name the line they came from."""
        try:
            return [(column, self.cell(column, document, line)) for column in record.columns]
        except RenderError as exc:
            if line is None:
                raise
            raise RenderError(f"line {line.position}: {exc.reason}") from exc

    def cell(self, column: Column, document: Document, line: Line | None) -> str | None:
        if column.source is None:
            raw = column.value
        else:
            raw = resolve_source(column.source, {"document": document, "line": line, "run": self.run})
        if _is_empty(raw) and column.default is not None:
            raw = column.default
        raw = self._mapped(column, raw)
        if _is_empty(raw):
            if column.required:
                raise _fail(column, f"required value missing ({column.source or 'empty constant'})")
            return None
        return self._formatted(column, raw, document)

    def _mapped(self, column: Column, raw: Any) -> Any:
        table = self.field_maps.get(column.name, column.map)
        if table is None or _is_empty(raw):
            return raw
        key = _map_key(raw)
        if key in table:
            return table[key]
        policy, default = column.unmapped_policy()
        if policy == "keep":
            return raw
        if policy == "default":
            return default
        raise _fail(column, f"no mapping for {key!r} (from {column.source or 'value'})")

    def _formatted(self, column: Column, raw: Any, document: Document) -> str:
        if column.type == "date":
            if not isinstance(raw, dt.date):
                raise _fail(column, f"{raw!r} is not a date")
            return raw.strftime(self.template.date_format_for(column))
        if column.numeric:
            number = _as_decimal(column, raw)
            if column.sign == "negate_for_credit_note" and document.kind == DocumentKind.CREDIT_NOTE:
                number = -number
            return _format_number(column, number, self._number_format(column), document.currency)
        return _transformed(column, _as_text(raw))

    def _number_format(self, column: Column) -> NumberFormat:
        key = id(column)
        if key not in self._number_formats:
            self._number_formats[key] = self.template.number_format(column)
        return self._number_formats[key]


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _as_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value.value) if isinstance(value, DocumentKind) else str(value)


def _map_key(value: Any) -> str:
    """Map keys are text; a number is looked up in its plain form (8.250 → '8.25', 19.00 → '19')."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return _as_text(value)


def _transformed(column: Column, text: str) -> str:
    for step in column.transform:
        if step == "upper":
            text = text.upper()
        elif step == "lower":
            text = text.lower()
        elif step == "strip":
            text = text.strip()
        else:  # single_line: line breaks (and the blanks around them) become one space
            text = _LINE_BREAKS.sub(" ", text).strip()
    return text


def _as_decimal(column: Column, raw: Any) -> Decimal:
    if isinstance(raw, bool | dt.date):
        raise _fail(column, f"{raw!r} is not a number")
    try:
        number = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except InvalidOperation:
        raise _fail(column, f"{raw!r} is not a number") from None
    if not number.is_finite():
        raise _fail(column, f"{raw!r} is not a number")
    return number


def _format_number(column: Column, number: Decimal, fmt: NumberFormat, currency: str) -> str:
    if column.type == "integer":
        if number != number.to_integral_value():
            raise _fail(column, f"{number} is not a whole number")
        return _signed(str(abs(int(number))), number < 0, fmt)
    places = _places(fmt, number, currency)
    try:
        rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise _fail(column, f"{number} is too large to write") from None
    if rounded != number and fmt.rounding == "extend":
        rounded = number.quantize(Decimal(1).scaleb(-_own_places(number)))
    elif rounded != number and fmt.rounding == "error":
        raise _fail(
            column,
            f"{number} has more than {places} decimal places"
            " (format.rounding: half_up rounds, extend keeps them)",
        )
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    if fmt.implied:
        body = (whole + fraction).lstrip("0") or "0"
    else:
        if fmt.thousands:
            whole = f"{int(whole):,}".replace(",", fmt.thousands)
        body = f"{whole}{fmt.separator}{fraction}" if fraction else whole
    return _signed(body, rounded < 0, fmt)


def _places(fmt: NumberFormat, number: Decimal, currency: str) -> int:
    if isinstance(fmt.places, int):
        return fmt.places
    return minor_units(currency) if fmt.places == "currency" else _own_places(number)


def _own_places(number: Decimal) -> int:
    """Decimal places the value needs: 2 → 0, 1.50 → 1, 12.345 → 3."""
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _signed(body: str, negative: bool, fmt: NumberFormat) -> str:
    if not negative:
        return body
    if fmt.negative == "trailing":
        return f"{body}-"
    if fmt.negative == "parentheses":
        return f"({body})"
    return f"-{body}"


# --- layouts ---------------------------------------------------------------------------------------------


def _layout(template: ImportTemplate, values: _Values) -> _Layout:
    layouts: dict[str, type[_Layout]] = {
        "csv": _CsvLayout,
        "delimited": _DelimitedLayout,
        "fixed_width": _FixedWidthLayout,
        "xml": _XmlLayout,
    }
    return layouts[template.format](template, values)


class _Layout:
    def __init__(self, template: ImportTemplate, values: _Values):
        self.template = template
        self.values = values

    def document(self, document: Document, notes: list[str]) -> Any:
        raise NotImplementedError

    def file(self, parts: list[Any]) -> bytes:
        raise NotImplementedError

    def _fit_length(self, column: Column, text: str, limit: int | None, notes: list[str]) -> str:
        if limit is None or len(text) <= limit:
            return text
        if column.overflow == "truncate":
            notes.append(f"column {column.name}: {text!r} truncated to {limit} characters")
            return text[:limit]
        raise _fail(column, f"value {text!r} is {len(text)} characters, longer than its {limit}")


class _LineLayout(_Layout):
    """Text formats: one line per record, encoded per the template."""

    def document(self, document: Document, notes: list[str]) -> str:
        lines = []
        for record, line in self.values.rows(document):
            cells = self.values.cells(record, document, line)
            try:
                lines.append(self.row(cells, notes) + self.template.line_ending)
            except RenderError as exc:
                raise RenderError(f"line {line.position}: {exc.reason}" if line else exc.reason) from exc
        return "".join(lines)

    def file(self, parts: list[Any]) -> bytes:
        return (self.header() + "".join(parts)).encode(self.template.encoding)

    def header(self) -> str:
        return ""

    def row(self, cells: list[tuple[Column, str | None]], notes: list[str]) -> str:
        raise NotImplementedError

    def _encodable(self, column: Column, text: str, notes: list[str]) -> str:
        encoding = self.template.encoding
        try:
            text.encode(encoding)
        except UnicodeEncodeError as exc:
            char = text[exc.start]
            if self.template.on_unencodable == "replace":
                notes.append(
                    f"column {column.name}: characters {encoding} cannot hold were replaced in {text!r}"
                )
                return text.encode(encoding, "replace").decode(encoding)
            raise _fail(
                column, f"character {char!r} (U+{ord(char):04X}) in {text!r} cannot be written in {encoding}"
            ) from None
        return text

    def _single_line(self, column: Column, text: str) -> str:
        if "\r" in text or "\n" in text:
            raise _fail(column, f"value {text!r} contains a line break, which would break the record "
                                "(use transform: single_line)")  # fmt: skip
        return text


def _neutralised(column: Column, text: str) -> str:
    """Spreadsheets run a cell starting with = + - @ tab or CR as a formula: prefix those with `'`."""
    if not column.numeric and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


class _CsvLayout(_LineLayout):
    def header(self) -> str:
        if not self.template.header_row:
            return ""
        ((_, record),) = self.template.records.items()
        return self._write([column.name for column in record.columns]) + self.template.line_ending

    def row(self, cells: list[tuple[Column, str | None]], notes: list[str]) -> str:
        texts = []
        for column, text in cells:
            text = self._encodable(column, _neutralised(column, text or ""), notes)
            texts.append(self._fit_length(column, text, column.max_length, notes))
        return self._write(texts)

    def _write(self, texts: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(
            buffer,
            delimiter=self.template.effective_delimiter or ",",
            quotechar=self.template.effective_quote_char or '"',
            quoting=csv.QUOTE_MINIMAL,
            lineterminator="",
        ).writerow(texts)
        return buffer.getvalue()


class _DelimitedLayout(_LineLayout):
    """Legacy delimited text: no escaping at all, or text columns always enclosed in `quote_char`."""

    def header(self) -> str:
        if not self.template.header_row:
            return ""
        ((_, record),) = self.template.records.items()
        return self._join([column.name for column in record.columns]) + self.template.line_ending

    def row(self, cells: list[tuple[Column, str | None]], notes: list[str]) -> str:
        return self._join([self._cell(column, text, notes) for column, text in cells])

    def _cell(self, column: Column, text: str | None, notes: list[str]) -> str:
        text = self._encodable(column, _neutralised(column, text or ""), notes)
        text = self._single_line(column, self._fit_length(column, text, column.max_length, notes))
        quote, delimiter = self.template.quote_char, self.template.delimiter or ""
        if quote is None:
            if delimiter in text:
                raise _fail(column, f"value {text!r} contains the delimiter {delimiter!r}, which this "
                                    "format cannot quote")  # fmt: skip
            return text
        if column.type != "text":
            return text
        if quote in text:
            raise _fail(
                column,
                f"value {text!r} contains the quote character {quote!r}, which this format cannot escape",
            )
        return f"{quote}{text}{quote}"

    def _join(self, texts: list[str]) -> str:
        return (self.template.delimiter or "").join(texts)


class _FixedWidthLayout(_LineLayout):
    def row(self, cells: list[tuple[Column, str | None]], notes: list[str]) -> str:
        return "".join(self._cell(column, text, notes) for column, text in cells)

    def _cell(self, column: Column, text: str | None, notes: list[str]) -> str:
        width = column.width or 0
        if text is None:
            return " " * width  # an empty value stays blank, also in zero-padded columns (0 would be a value)
        text = self._single_line(column, self._encodable(column, text, notes))
        if len(text) > width:
            if column.overflow != "truncate":
                raise _fail(column, f"value {text!r} is {len(text)} characters, wider than its width {width}")
            notes.append(f"column {column.name}: {text!r} truncated to {width} characters")
            text = text[:width]
        pad = column.pad or " "
        if (column.align or ("right" if column.numeric else "left")) == "left":
            return text.ljust(width, pad)
        if pad == "0" and text.startswith("-"):
            return "-" + text[1:].rjust(width - 1, pad)  # -000123, not 000-123
        return text.rjust(width, pad)


class _XmlLayout(_Layout):
    """root → document_element (header columns) → [lines_container →] line_element (detail columns)."""

    def document(self, document: Document, notes: list[str]) -> list[ET.Element]:
        xml = self.template.xml
        assert xml is not None
        records = self.template.records
        if records.detail is not None and records.header is None:
            return [
                self._element(xml.line_element, records.detail, document, line, notes)
                for line in document.lines
            ]
        element = self._element(
            xml.document_element, records.header or records.document, document, None, notes
        )
        if records.detail is not None:
            container = ET.SubElement(element, xml.lines_container) if xml.lines_container else element
            for line in document.lines:
                container.append(self._element(xml.line_element, records.detail, document, line, notes))
        return [element]

    def file(self, parts: list[Any]) -> bytes:
        xml = self.template.xml
        assert xml is not None
        root = ET.Element(xml.root)
        for elements in parts:
            root.extend(elements)
        if xml.indent is not None:
            ET.indent(root, space=xml.indent)
        text = ET.tostring(root, encoding="unicode") + "\n"
        if xml.declaration:
            text = f'<?xml version="1.0" encoding="{charset(self.template.encoding)}"?>\n{text}'
        # Element names are ASCII (validated): whatever the encoding lacks is text → a character reference.
        return text.encode(self.template.encoding, "xmlcharrefreplace")

    def _element(
        self, tag: str | None, record: Record | None, document: Document, line: Line | None, notes: list[str]
    ) -> ET.Element:
        assert tag is not None and record is not None
        element = ET.Element(tag)
        parents: dict[str, ET.Element] = {"": element}
        for column, text in self.values.cells(record, document, line):
            if text is None:
                continue
            try:
                text = self._fit_length(column, self._legal(column, text, notes), column.max_length, notes)
            except RenderError as exc:
                raise RenderError(f"line {line.position}: {exc.reason}" if line else exc.reason) from exc
            *path, leaf = column.name.split("/")
            parent = self._parent(parents, path)
            if column.attribute:
                parent.set(leaf, text)
            else:
                ET.SubElement(parent, leaf).text = text
        return element

    @staticmethod
    def _parent(parents: dict[str, ET.Element], path: list[str]) -> ET.Element:
        """The element at `path` (e.g. Buyer/Address) under the record's element, created on first use."""
        key = ""
        for part in path:
            parent, key = parents[key], f"{key}/{part}"
            if key not in parents:
                parents[key] = ET.SubElement(parent, part)
        return parents[key]

    def _legal(self, column: Column, text: str, notes: list[str]) -> str:
        illegal = _XML_ILLEGAL.findall(text)
        if not illegal:
            return text
        policy = self.template.xml.illegal_characters if self.template.xml else "strip"
        codes = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in illegal}))
        if policy == "error":
            raise _fail(column, f"value {text!r} contains characters XML 1.0 does not allow ({codes})")
        replacement = "\ufffd" if policy == "replace" else ""
        verb = "replaced" if policy == "replace" else "removed"
        notes.append(
            f"column {column.name}: {verb} {len(illegal)} character(s) XML 1.0 does not allow ({codes})"
        )
        return _XML_ILLEGAL.sub(replacement, text)
