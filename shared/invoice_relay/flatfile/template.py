"""The import-template schema: a flat-file layout described as data (YAML), validated when it is loaded.

A template names its format (csv | delimited | fixed_width | xml), encoding, line ending, date and number
formats, file name pattern and its records. Records are one of three layouts:

- `detail` only: one row per invoice line (detail columns may also read document fields),
- `header` + `detail`: one header row per invoice, then one detail row per line,
- `document` only: one row per invoice.

Each column reads a `source` (a dotted path into the render context, checked against the canonical
models here, at load time) or holds a constant `value`. Everything that can be wrong with a template is
reported when it is loaded, so a bad template never reaches a run: a fixed-width column without a
width, a header row in a multi-record layout, a typo in a source path, truncation of an amount, ...

Source roots: `document` (the canonical `Document`), `line` (one of its `Line`s, detail records only)
and `run` (`run.id`, `run.date`, `run.connector_id`). On top of the model fields there are
`document.line_count`, `document.source_ref` (the first external ref: adapters record the source's ref
first) and `<...>.ref.<system>.<id|number|url>` on anything with external refs
(e.g. `document.ref.servicetrade.id`).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import string
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigurationError
from ..models import Document, ExternalRef, Line

Format = Literal["csv", "delimited", "fixed_width", "xml"]
ColumnType = Literal["text", "date", "decimal", "integer"]
Transform = Literal["upper", "lower", "strip", "single_line"]
NUMERIC_TYPES = frozenset({"decimal", "integer"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LINE_ENDINGS = {"CRLF": "\r\n", "LF": "\n", "CR": "\r", "\r\n": "\r\n", "\n": "\n", "\r": "\r"}
_FILE_NAME_FIELDS = frozenset({"template", "connector", "run_id", "run_date"})
_DEFAULT_EXTENSION = {"csv": "csv", "delimited": "txt", "fixed_width": "txt", "xml": "xml"}


class TemplateError(ConfigurationError):
    """An import template cannot be loaded: bad YAML, or a layout that could not produce a valid file."""


class RunInfo(BaseModel):
    """The `run` source root: which connector run is writing the file."""

    connector_id: str
    id: str
    date: dt.date


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- source paths ----------------------------------------------------------------------------------------

SOURCE_ROOTS: dict[str, type[BaseModel]] = {"document": Document, "line": Line, "run": RunInfo}
# Derived values offered next to the model fields, per model: name -> (type, getter).
VIRTUAL_FIELDS: dict[type[BaseModel], dict[str, tuple[type, Callable[[Any], Any]]]] = {
    Document: {
        "line_count": (int, lambda document: len(document.lines)),
        "source_ref": (ExternalRef, lambda document: next(iter(document.external_refs), None)),
    },
}


def resolve_source(path: str, roots: dict[str, Any]) -> Any:
    """The value at a (validated) source path, or None when any step on the way is empty."""
    parts = path.split(".")
    value = roots.get(parts[0])
    index = 1
    while index < len(parts) and value is not None:
        part = parts[index]
        virtual = VIRTUAL_FIELDS.get(type(value), {})
        if part == "ref" and hasattr(value, "external_refs"):
            system = parts[index + 1]
            value = next((ref for ref in value.external_refs if ref.system == system), None)
            index += 2
            continue
        value = virtual[part][1](value) if part in virtual else getattr(value, part)
        index += 1
    return value


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` → X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _leaf_kind(annotation: Any) -> ColumnType | None:
    if not isinstance(annotation, type):
        return None
    if issubclass(annotation, dt.date):
        return "date"
    if issubclass(annotation, Decimal):
        return "decimal"
    if issubclass(annotation, bool):
        return None
    if issubclass(annotation, int):
        return "integer"
    if issubclass(annotation, str):
        return "text"
    return None


def _field_type(model: type[BaseModel], name: str, path: str) -> type | Any:
    virtual = VIRTUAL_FIELDS.get(model, {})
    if name in virtual:
        return virtual[name][0]
    field = model.model_fields.get(name)
    if field is None:
        known = ", ".join(sorted([*model.model_fields, *virtual]))
        raise ValueError(f"unknown field {name!r} in source {path!r} ({model.__name__} has: {known})")
    return _unwrap(field.annotation)


@lru_cache(maxsize=512)
def source_kind(path: str) -> ColumnType:
    """The value type a source path yields; raises ValueError naming what is wrong with the path."""
    parts = path.split(".")
    model = SOURCE_ROOTS.get(parts[0])
    if model is None or len(parts) < 2 or not all(parts):
        roots = ", ".join(SOURCE_ROOTS)
        raise ValueError(f"unknown source {path!r}: a source is <root>.<field>... with root one of {roots}")
    current: Any = model
    index = 1
    while index < len(parts):
        part = parts[index]
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            raise ValueError(f"source {path!r}: {'.'.join(parts[:index])!r} is a value, it has no {part!r}")
        if part == "ref" and "external_refs" in current.model_fields:
            if index + 1 >= len(parts):
                raise ValueError(
                    f"source {path!r}: write ref.<system>.<field>, e.g. document.ref.servicetrade.id"
                )
            current, index = ExternalRef, index + 2
            continue
        current = _field_type(current, part, path)
        if typing.get_origin(current) is list:
            raise ValueError(f"source {path!r}: {part!r} is a list and cannot fill one column")
        index += 1
    if isinstance(current, type) and issubclass(current, BaseModel):
        fields = ", ".join(current.model_fields)
        raise ValueError(f"source {path!r} is a record, not a value: name one of its fields ({fields})")
    kind = _leaf_kind(current)
    if kind is None:
        raise ValueError(f"source {path!r} has a type that cannot be written to a file")
    return kind


# --- formats ---------------------------------------------------------------------------------------------

Places = Annotated[int, Field(ge=0, le=10)] | Literal["currency", "auto"]


class NumberFormat(_Spec):
    """How decimal and integer columns are written.

    `places`: a number of decimal places, `currency` (the document currency's minor unit: 2, or 0 for
    JPY, 3 for BHD, ...) or `auto` (the value's own digits, trailing zeros dropped: 2, 1.5, 8.25).
    `rounding` says what happens to a value with more digits than `places`: `error` (default: money is
    never changed silently), `half_up` (round, the project's rounding rule) or `extend` (write the extra
    digits: a unit price of 12.345 stays 12.345 with places 2).
    `implied`: no separator, the value scaled to an integer (legacy fixed width: 12.34 → 1234).
    `negative`: `-` (leading, also spelled `leading`), `trailing` (12.34-) or `parentheses` ((12.34)).
    """

    separator: Literal[".", ","] = "."
    places: Places = 2
    thousands: str | None = Field(default=None, min_length=1, max_length=1)
    implied: bool = False
    negative: Literal["-", "trailing", "parentheses"] = "-"
    rounding: Literal["error", "half_up", "extend"] = "error"

    @field_validator("negative", mode="before")
    @classmethod
    def _leading_is_minus(cls, value: object) -> object:
        return "-" if value == "leading" else value

    @model_validator(mode="after")
    def _consistent(self) -> NumberFormat:
        if self.thousands is not None and (self.thousands == self.separator or self.thousands.isdigit()):
            raise ValueError(f"thousands separator {self.thousands!r} clashes with the decimal separator")
        if self.implied and not isinstance(self.places, int):
            raise ValueError("implied decimals need a fixed number of places (places: 2, not currency/auto)")
        if self.implied and self.rounding == "extend":
            raise ValueError(
                "implied decimals cannot be extended (the reader scales by a fixed number of places)"
            )
        if self.implied and self.thousands is not None:
            raise ValueError("implied decimals cannot have a thousands separator")
        return self


class ColumnFormat(_Spec):
    """Per-column overrides of the template's `date_format` and `decimal` settings."""

    date_format: str | None = None
    separator: Literal[".", ","] | None = None
    places: Places | None = None
    thousands: str | None = Field(default=None, min_length=1, max_length=1)
    implied: bool | None = None
    negative: Literal["-", "leading", "trailing", "parentheses"] | None = None
    rounding: Literal["error", "half_up", "extend"] | None = None

    def number_overrides(self) -> dict[str, Any]:
        fields = ("separator", "places", "thousands", "implied", "negative", "rounding")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


def _scalar_text(value: object, what: str) -> str:
    """A YAML scalar as text; booleans are refused because YAML turns unquoted yes/no/on/off into them."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what} {value!r} must be text (quote it in YAML)")
    if isinstance(value, str | int | Decimal):
        return str(value)
    if isinstance(value, float):
        return str(Decimal(str(value)))
    raise ValueError(f"{what} {value!r} must be a single value, not {type(value).__name__}")


def coerce_map(table: object) -> dict[str, str]:
    """A `{from: to}` value map with text keys and values (shared by templates and connector field maps)."""
    if not isinstance(table, dict):
        raise ValueError(f"a map must be a {{from: to}} table, not {type(table).__name__}")
    return {_scalar_text(k, "map key"): _scalar_text(v, "map value") for k, v in table.items()}


class Column(_Spec):
    """One field of a record. Exactly one of `source` and `value`."""

    name: str = Field(min_length=1)
    source: str | None = None
    value: str | int | Decimal | dt.date | None = None
    type: ColumnType
    required: bool = False
    default: str | int | Decimal | dt.date | None = Field(default=None, description="used when empty")
    map: dict[str, str] | None = None
    unmapped: str | None = Field(default=None, description="error | keep | default:<value>")
    width: int | None = Field(default=None, ge=1)
    align: Literal["left", "right"] | None = None
    pad: str | None = Field(default=None, min_length=1, max_length=1)
    overflow: Literal["error", "truncate"] = "error"
    max_length: int | None = Field(default=None, ge=1)
    format: ColumnFormat | None = None
    transform: list[Transform] = Field(default_factory=list)
    sign: Literal["as_is", "negate_for_credit_note"] = "as_is"
    attribute: bool = Field(default=False, description="xml: an attribute instead of an element")

    @model_validator(mode="before")
    @classmethod
    def _source_or_value(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        label = f"column {data.get('name')!r}"
        has_source, has_value = data.get("source") is not None, "value" in data
        if has_source == has_value:
            raise ValueError(f"{label}: give either `source` (a path such as document.number) or `value`")
        if has_value and data["value"] is None:
            data["value"] = ""  # `value:` left empty in YAML: an empty constant (a filler)
        if isinstance(data.get("value"), float):
            data["value"] = Decimal(str(data["value"]))
        if data.get("type") is None:
            data["type"] = cls._inferred_type(data)
        if isinstance(data.get("transform"), str):
            data["transform"] = [data["transform"]]
        return data

    @staticmethod
    def _inferred_type(data: dict[str, Any]) -> str | None:
        if data.get("map") is not None:
            return "text"
        if data.get("source") is not None:
            try:
                return source_kind(str(data["source"]))
            except ValueError:
                return "text"  # the `source` validator reports the path
        value = data["value"]
        if isinstance(value, dt.date):
            return "date"
        if isinstance(value, Decimal | float):
            return "decimal"
        if isinstance(value, int) and not isinstance(value, bool):
            return "integer"
        return "text"

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str | None) -> str | None:
        if value is not None:
            source_kind(value)
        return value

    @field_validator("value", "default", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a value a file can hold (quote it in YAML if you mean text)")
        return Decimal(str(value)) if isinstance(value, float) else value

    @field_validator("map", mode="before")
    @classmethod
    def _map_as_text(cls, value: object) -> object:
        return None if value is None else coerce_map(value)

    @field_validator("unmapped")
    @classmethod
    def _unmapped_policy(cls, value: str | None) -> str | None:
        if value is not None and value not in ("error", "keep") and not value.startswith("default:"):
            raise ValueError(f"unmapped must be error, keep or default:<value>, not {value!r}")
        return value

    @property
    def root(self) -> str | None:
        return self.source.split(".", 1)[0] if self.source else None

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def unmapped_policy(self) -> tuple[str, str | None]:
        """('error' | 'keep' | 'default', default value). Without `unmapped`, a map is strict."""
        policy = self.unmapped or "error"
        if policy.startswith("default:"):
            return "default", policy.removeprefix("default:")
        return policy, None


class Record(_Spec):
    columns: list[Column] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _columns_shorthand(cls, data: Any) -> Any:
        return {"columns": data} if isinstance(data, list) else data


class Records(_Spec):
    header: Record | None = None
    detail: Record | None = None
    document: Record | None = None

    @model_validator(mode="after")
    def _one_layout(self) -> Records:
        layout = tuple(kind for kind in ("header", "detail", "document") if getattr(self, kind) is not None)
        if layout not in (("detail",), ("header", "detail"), ("document",)):
            raise ValueError(
                f"records {list(layout)} is not a layout: use `detail` (one row per line), `header` + "
                "`detail` (a header row per invoice, then its lines) or `document` (one row per invoice)"
            )
        return self

    def items(self) -> list[tuple[str, Record]]:
        """(record kind, record) in file order."""
        return [(kind, rec) for kind in ("header", "detail", "document") if (rec := getattr(self, kind))]


class XmlLayout(_Spec):
    """Element names of an XML import file: root → document_element → [lines_container →] line_element.

    Characters XML 1.0 does not allow (control characters other than tab/CR/LF) cannot be written at
    all: `illegal_characters: strip` (default) removes them and says so in the file's warnings,
    `replace` writes U+FFFD instead, `error` fails the document.
    """

    root: str
    document_element: str | None = None
    lines_container: str | None = None
    line_element: str | None = None
    declaration: bool = True
    indent: str | None = Field(default="  ", pattern=r"^[ \t]*$")
    illegal_characters: Literal["strip", "replace", "error"] = "strip"

    @field_validator("root", "document_element", "lines_container", "line_element")
    @classmethod
    def _xml_name(cls, value: str | None) -> str | None:
        if value is not None and not _XML_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid XML element name")
        return value


class ImportTemplate(_Spec):
    """One import-file layout. See the module docstring and the shipped templates in import_templates/."""

    name: str = Field(pattern=_NAME.pattern)
    description: str = ""
    format: Format
    encoding: str = "utf-8"
    on_unencodable: Literal["error", "replace"] = "error"
    line_ending: str = "\r\n"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    quote_char: str | None = Field(default=None, min_length=1, max_length=1)
    header_row: bool = False
    date_format: str = "%Y-%m-%d"
    decimal: NumberFormat = NumberFormat()
    file_name: str | None = None
    record_length: int | None = Field(default=None, ge=1, description="fixed_width: every record's width")
    xml: XmlLayout | None = None
    records: Records

    @field_validator("line_ending", mode="before")
    @classmethod
    def _line_ending(cls, value: object) -> object:
        if not isinstance(value, str) or value not in _LINE_ENDINGS:
            raise ValueError(f"line_ending must be CRLF, LF or CR (or the characters), not {value!r}")
        return _LINE_ENDINGS[value]

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("date_format")
    @classmethod
    def _strftime(cls, value: str) -> str:
        _check_date_format(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ImportTemplate:
        problems = [
            *_format_problems(self),
            *_file_name_problems(self),
            *(
                problem
                for kind, record in self.records.items()
                for problem in _record_problems(self, kind, record)
            ),
        ]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # --- resolved settings, used by the renderers ---

    @property
    def effective_quote_char(self) -> str | None:
        return (self.quote_char or '"') if self.format == "csv" else self.quote_char

    @property
    def effective_delimiter(self) -> str | None:
        return (self.delimiter or ",") if self.format == "csv" else self.delimiter

    @property
    def effective_file_name(self) -> str:
        return (
            self.file_name or f"{{template}}_{{run_date:%Y%m%d}}_{{run_id}}.{_DEFAULT_EXTENSION[self.format]}"
        )

    def number_format(self, column: Column) -> NumberFormat:
        """The template's decimal settings with the column's overrides."""
        overrides = column.format.number_overrides() if column.format else {}
        if not overrides:
            return self.decimal
        return NumberFormat.model_validate({**self.decimal.model_dump(), **overrides})

    def date_format_for(self, column: Column) -> str:
        return (column.format.date_format if column.format else None) or self.date_format

    def column_names(self) -> set[str]:
        return {column.name for _, record in self.records.items() for column in record.columns}


def _check_date_format(value: str) -> None:
    try:
        sample = dt.date(2024, 12, 31).strftime(value)
    except ValueError as exc:
        raise ValueError(f"date_format {value!r} is not a valid strftime pattern: {exc}") from None
    if sample == value or any(ch in sample for ch in "\r\n"):
        raise ValueError(f"date_format {value!r} does not format a date (e.g. %Y-%m-%d)")


def _format_problems(t: ImportTemplate) -> list[str]:
    problems: list[str] = []
    text_format = t.format in ("csv", "delimited")
    if t.format == "xml":
        problems.extend(_xml_problems(t))
        if "line_ending" in t.model_fields_set:
            problems.append("line_ending does not apply to xml (line breaks inside XML text are data)")
    elif t.xml is not None:
        problems.append(f"the `xml:` section only applies to format xml, not {t.format}")
    if not text_format:
        if t.delimiter is not None or t.quote_char is not None:
            problems.append(f"delimiter/quote_char only apply to csv and delimited, not {t.format}")
        if t.header_row:
            problems.append(
                f"header_row (column names as the first line) only applies to csv/delimited, not {t.format}"
            )
    if t.format == "delimited" and t.delimiter is None:
        problems.append("format delimited needs a `delimiter` (e.g. ';' or '|')")
    if t.format == "csv" and "quote_char" in t.model_fields_set and t.quote_char is None:
        problems.append("csv always quotes where needed; use format: delimited for a file without quoting")
    if text_format:
        problems.extend(_delimiter_problems(t))
    if t.header_row and len(t.records.items()) > 1:
        problems.append("header_row needs a single record type (column names of which record would it show?)")
    if t.record_length is not None and t.format != "fixed_width":
        problems.append("record_length only applies to fixed_width")
    problems.extend(_encoding_problems(t))
    return problems


def _xml_problems(t: ImportTemplate) -> list[str]:
    if t.xml is None:
        return ["format xml needs an `xml:` section (root, document_element, line_element, ...)"]
    problems = []
    kinds = {kind for kind, _ in t.records.items()}
    if kinds & {"header", "document"} and t.xml.document_element is None:
        problems.append("xml.document_element is needed for header/document records")
    if "detail" in kinds and t.xml.line_element is None:
        problems.append("xml.line_element is needed for detail records")
    if t.xml.lines_container is not None and kinds != {"header", "detail"}:
        problems.append("xml.lines_container only applies to header + detail records")
    return problems


def _delimiter_problems(t: ImportTemplate) -> list[str]:
    delimiter, quote = t.effective_delimiter, t.effective_quote_char
    problems = []
    if delimiter in ("\r", "\n") or (quote is not None and quote in ("\r", "\n")):
        problems.append("delimiter and quote_char cannot be line breaks")
    if quote is not None and quote == delimiter:
        problems.append(f"delimiter and quote_char are both {delimiter!r}")
    if t.format == "delimited" and quote is None:
        problems.extend(
            f"{kind} record, column {column.name}: its number separator is the delimiter {delimiter!r} in a "
            "file without quoting, so every amount would break the row"
            for kind, record in t.records.items()
            for column in record.columns
            if column.numeric and delimiter in _number_separators(t, column)
        )
    return problems


def _number_separators(t: ImportTemplate, column: Column) -> tuple[str | None, ...]:
    try:
        number = t.number_format(column)
    except ValidationError:
        return ()  # an inconsistent format is reported with the column's other problems
    return number.separator, number.thousands


def _encoding_problems(t: ImportTemplate) -> list[str]:
    problems = []
    for _, record in t.records.items():
        for column in record.columns:
            for what, text in (("name", column.name), ("pad", column.pad or "")):
                try:
                    text.encode(t.encoding)
                except (UnicodeEncodeError, LookupError):
                    problems.append(f"column {column.name}: its {what} cannot be written in {t.encoding}")
    return problems


def _file_name_problems(t: ImportTemplate) -> list[str]:
    pattern = t.effective_file_name
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None}
    except ValueError as exc:
        return [f"file_name {pattern!r}: {exc}"]
    unknown = fields - _FILE_NAME_FIELDS
    if unknown:
        known = ", ".join("{" + f + "}" for f in sorted(_FILE_NAME_FIELDS))
        return [f"file_name {pattern!r}: unknown placeholder(s) {sorted(unknown)} (known: {known})"]
    try:
        sample = pattern.format(template=t.name, connector="c", run_id="r", run_date=dt.date(2024, 12, 31))
    except (ValueError, IndexError, KeyError) as exc:
        return [f"file_name {pattern!r}: {exc}"]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._ -]*", sample):
        return [f"file_name {pattern!r} gives {sample!r}: use letters, digits, '.', '_', '-' (no folders)"]
    return []


_RECORD_ROOTS = {"header": {"document", "run"}, "document": {"document", "run"}, "detail": set(SOURCE_ROOTS)}


def _record_problems(t: ImportTemplate, kind: str, record: Record) -> list[str]:
    problems = []
    names = [column.name for column in record.columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates and t.header_row:
        problems.append(f"{kind} record: duplicate column names {duplicates} in the header row")
    for column in record.columns:
        label = f"{kind} record, column {column.name}"
        if column.root is not None and column.root not in _RECORD_ROOTS[kind]:
            problems.append(f"{label}: source {column.source} is not available in a {kind} record (no line)")
        problems.extend(f"{label}: {p}" for p in _column_problems(t, column))
    if t.format == "fixed_width" and t.record_length is not None:
        width = sum(column.width or 0 for column in record.columns)
        if width != t.record_length:
            problems.append(
                f"{kind} record: column widths add up to {width}, record_length is {t.record_length}"
            )
    return problems


def _column_problems(t: ImportTemplate, column: Column) -> list[str]:
    problems = _layout_problems(t, column)
    if column.sign != "as_is" and not column.numeric:
        problems.append("sign only applies to decimal/integer columns")
    if column.transform and column.type != "text":
        problems.append("transform only applies to text columns")
    if column.overflow == "truncate" and column.type != "text":
        problems.append(f"overflow: truncate would corrupt a {column.type} value; only text can be truncated")
    if column.format is not None:
        if column.format.date_format is not None:
            if column.type != "date":
                problems.append("format.date_format only applies to date columns")
            else:
                try:
                    _check_date_format(column.format.date_format)
                except ValueError as exc:
                    problems.append(str(exc))
        if column.format.number_overrides() and not column.numeric:
            problems.append("number formats (places, separator, ...) only apply to decimal/integer columns")
    if column.numeric:
        try:
            number = t.number_format(column)
        except ValidationError as exc:
            return [*problems, *(e["msg"].removeprefix("Value error, ") for e in exc.errors())]
        if number.negative == "parentheses" and column.pad == "0":
            problems.append("negative: parentheses cannot be zero-padded")
    return problems


def _layout_problems(t: ImportTemplate, column: Column) -> list[str]:
    problems = []
    if t.format == "fixed_width":
        if column.width is None:
            problems.append("fixed_width columns need a width")
        if column.max_length is not None:
            problems.append("max_length does not apply to fixed_width (width is the limit)")
    elif column.width is not None or column.align is not None or column.pad is not None:
        problems.append(
            f"width/align/pad only apply to fixed_width (use max_length to limit a {t.format} value)"
        )
    if column.attribute and t.format != "xml":
        problems.append("attribute only applies to xml")
    if t.format == "xml" and not all(_XML_NAME.match(part) for part in column.name.split("/")):
        problems.append("is not a valid XML name (use letters, digits, _ . -; '/' nests elements)")
    if (
        t.format == "delimited"
        and t.effective_quote_char is None
        and t.header_row
        and t.delimiter in column.name
    ):
        problems.append(f"its name contains the delimiter {t.delimiter!r}")
    return problems
