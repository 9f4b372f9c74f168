"""Reading partner JSON safely: the small rules every adapter's mappers share.

A `PayloadProblem` names the field and what is wrong with it; the adapter turns it into a MappingError
worded for its record ("invoice 1042 has no customer", "shop order 7: total 'x' is not a number") with
`mapping_error`, which also turns anything else one record's mapping raised (a bound of the money model,
a value of the wrong type, an amount that cannot be computed) into that record's MappingError: one
poison record fails alone, never the run it is in.

Bounds on what a partner sends (money bounds: see `models/money.py`):
- record ids and versions (`id_value`): at most MAX_ID_LENGTH (200) characters, no control characters,
  valid Unicode — they become DynamoDB keys (2048 bytes at most), S3 keys and log fields;
- JSON bodies (`load_json`, `json_problem`): UTF-8, nested at most MAX_NESTING (32) levels, strings
  without lone surrogates, numbers finite (no NaN, Infinity or 1e400) and integers of at most
  MAX_INTEGER_DIGITS (32) digits;
- reasons (`readable`): at most MAX_REASON_LENGTH characters, so a hostile value quoted in a reason cannot
  outgrow a run-log item or a comment.

Also the JSON a connector keeps of a partner (its credentials secret: `secret_credentials`) and a listed
page of records as the poll takes it (`source_page`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel, ValidationError

from ..errors import ConfigurationError, MappingError
from ..logs import logger
from ..models import to_decimal

if TYPE_CHECKING:
    from ..http import Page
    from .polled_values import SourcePage, SourceRef

PLAUSIBLE_YEARS = range(1990, 2101)
MAX_ID_LENGTH = 200
MAX_NESTING = 32
MAX_INTEGER_DIGITS = 32
MAX_REASON_LENGTH = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class PayloadProblem(Exception):
    """A mapping problem; `reason(label)` words it for one record."""

    def __init__(self, text: str, *, missing: bool = False):
        super().__init__(text)
        self.text = text
        self.missing = missing

    def reason(self, label: str) -> str:
        return f"{label} has no {self.text}" if self.missing else f"{label}: {self.text}"


def money_field(record: dict[str, Any], field: str) -> Decimal:
    """A required money amount (Decimal, never via float arithmetic)."""
    if record.get(field) is None:
        raise PayloadProblem(field, missing=True)
    return decimal_value(record[field], field)


def decimal_value(value: object, what: str) -> Decimal:
    """A number within the money model's bounds; PayloadProblem saying which bound it breaks."""
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise PayloadProblem(f"{what} {exc}") from None


def currency_code(value: object, field: str, default: str | None = None) -> str:
    """An ISO 4217 code; `default` when absent (None: the field is required)."""
    if value is None or value == "":
        if default is None:
            raise PayloadProblem(field, missing=True)
        return default
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise PayloadProblem(f"{field} {value!r} is not an ISO 4217 code")
    return value.strip().upper()


def text_value(value: object) -> str | None:
    """Stripped text, or None for empty values and for structures that are not text."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    return text or None


def validation_reason(exc: ValidationError) -> str:
    """A pydantic validation error as one readable sentence per problem."""
    reasons = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "string_unicode":
            message = "text is not valid Unicode (a lone surrogate)"
        where = ".".join(str(part) for part in error["loc"])
        reasons.append(f"{where}: {message}" if where else message)
    return "; ".join(reasons)


# -- ids, labels and reasons ----------------------------------------------------------------------------


def id_problem(text: str) -> str | None:
    """Why `text` cannot be a record id or version (it becomes a key), or None when it can."""
    if len(text) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if _CONTROL.search(text):
        return "contains a control character"
    if _SURROGATE.search(text):
        return "is not valid Unicode (a lone surrogate)"
    return None


def id_value(value: object, what: str) -> str:
    """A record id or version (text or a number, see `id_problem`). PayloadProblem when it is missing,
    is a structure, or breaks a bound."""
    text = text_value(value)
    if text is None:
        raise PayloadProblem(what, missing=True)
    problem = id_problem(text)
    if problem is not None:
        raise PayloadProblem(f"{what} {shown(text)} {problem}")
    return text


def shown(value: object, limit: int = 60) -> str:
    """How a reason quotes a partner value: its repr, cut to about `limit` characters."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit] + "..."
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int over 4300 digits, a structure nested too deeply
        return f"<a {type(value).__name__} too large to show>"
    return text if len(text) <= limit + 5 else text[:limit] + "..."


def label_text(value: object) -> str:
    """A record's id or number as a label names it ("invoice 1042"): text cut short, lone surrogates
    and control characters escaped; a structure is named by its type."""
    text = text_value(value)
    if text is None:
        return f"<{type(value).__name__}>"
    return readable(text if len(text) <= 60 else text[:60] + "...")


def readable(reason: str, limit: int = MAX_REASON_LENGTH) -> str:
    """A reason fit to store, log and answer with: lone surrogates and control characters escaped, at
    most `limit` characters."""
    if not reason.isascii():
        reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    reason = _CONTROL.sub(lambda match: repr(match.group())[1:-1], reason)
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


def mapping_error(label: str, exc: Exception, *, partner: str, raw: object = None) -> MappingError:
    """The MappingError of one record whose mapping raised `exc`, with one readable reason naming it.

    A PayloadProblem or ValidationError says which field; a bound of the money model (ValueError) says
    which; anything else — a value of a type the mapper did not expect (TypeError, AttributeError, ...), a
    value that cannot be computed with (ArithmeticError), a record nested too deeply (RecursionError) — is
    still this record's problem, never the run's, and is logged with its traceback for the developers.
    """
    if isinstance(exc, MappingError):
        return exc
    if isinstance(exc, PayloadProblem):
        reason = exc.reason(label)
    elif isinstance(exc, ValidationError):
        reason = f"{label}: {validation_reason(exc)}"
    elif isinstance(exc, RecursionError):
        reason = f"{label}: the record is nested too deeply to read"
    elif isinstance(exc, ValueError):
        reason = f"{label}: {exc}"
    elif isinstance(exc, ArithmeticError):
        reason = f"{label}: a value cannot be computed ({type(exc).__name__}: it is out of range)"
    else:
        logger.warning(f"{partner}: unexpected data in {readable(label)}", exc_info=exc)
        reason = f"{label}: unexpected data ({type(exc).__name__}: {exc})"
    return MappingError(readable(reason), partner=partner, raw=raw if isinstance(raw, dict) else None)


def map_record[T](label: str, build: Callable[[], T], *, partner: str, raw: object) -> T:
    """`build()` for one record; whatever it raises becomes that record's MappingError (see
    `mapping_error`). MemoryError still propagates."""
    try:
        return build()
    except MemoryError:
        raise
    except Exception as exc:
        raise mapping_error(label, exc, partner=partner, raw=raw) from exc


# -- credentials secrets ---------------------------------------------------------------------------------


def secret_credentials[M: BaseModel](
    model: type[M], secret: Mapping[str, Any], *, partner: str, expected: str
) -> M:
    """A connector's credentials secret read as `model`. ConfigurationError naming the fields that are
    missing or invalid, never their values, and what was `expected` ("client_id and client_secret")."""
    try:
        return model.model_validate(dict(secret))
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
        raise ConfigurationError(
            f"{partner} credentials are incomplete or invalid: {fields} (expected {expected})",
            partner=partner,
        ) from None


# -- listings ---------------------------------------------------------------------------------------------


def source_page(page: Page, ref_of: Callable[[Any, int], SourceRef | None]) -> SourcePage:
    """A listed page as the poll takes it: the ref of each record (`ref_of(record, page number)`; None
    passes the record over, having logged why) and the record under its ref's id, all records kept raw."""
    from .polled_values import SourcePage

    refs, records = [], {}
    for record in page.records:
        ref = ref_of(record, page.number)
        if ref is not None:
            refs.append(ref)
            records[ref.id] = record
    return SourcePage(
        page=page.number,
        total_pages=page.total_pages or 0,
        refs=refs,
        raw=page.records,
        records=records,
    )


# -- JSON bodies --------------------------------------------------------------------------------------------


def load_json(body: bytes) -> Any:
    """Parse a partner's JSON body within the bounds (see the module docstring). PayloadProblem whose
    `text` says what is wrong: "body is not valid JSON: ...", "body is nested deeper than 32 levels", ..."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadProblem("body is not valid JSON: it is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite)
    except PayloadProblem:
        raise
    except RecursionError:
        raise PayloadProblem(f"body is nested deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:
        raise PayloadProblem(f"body is not valid JSON: {readable(str(exc), 200)}") from None
    problem = json_problem(value)
    if problem is not None:
        raise PayloadProblem(f"body {problem}")
    return value


def json_problem(value: object, max_depth: int = MAX_NESTING) -> str | None:
    """Why a parsed JSON value breaks the bounds ("is nested deeper than 32 levels", "has text that is not
    valid Unicode (a lone surrogate) at data.name", ...), or None. Walks without recursion."""
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                return f"is nested deeper than {max_depth} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return f"has a key that is not valid Unicode (a lone surrogate) at {_where(path)}"
                stack.append((child, depth + 1, _child_path(path, key)))
        elif isinstance(item, str):
            if _SURROGATE.search(item):
                return f"has text that is not valid Unicode (a lone surrogate) at {_where(path)}"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"has a number that is not finite at {_where(path)}"
        elif isinstance(item, int) and abs(item) >= 10**MAX_INTEGER_DIGITS:
            return f"has an integer of more than {MAX_INTEGER_DIGITS} digits at {_where(path)}"
    return None


def _child_path(path: str, key: object) -> str:
    step = f"[{key}]" if isinstance(key, int) else f".{key}" if path else str(key)
    return path + step if len(path) < 200 else path


def _where(path: str) -> str:
    return readable(path, 120) if path else "the top level"


def _refuse_constant(name: str) -> NoReturn:
    raise PayloadProblem(f"body is not valid JSON: {name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise PayloadProblem(f"body has an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise PayloadProblem(f"body has a number that is out of range: {shown(text, 40)}")
    return number
