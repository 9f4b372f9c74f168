"""A local EventBridge Scheduler: fires the schedules kept in the embedded AWS into the functions.

    scheduler = LocalScheduler(aws.client("scheduler"), directory, dispatch).start()  # a thread: every second
    scheduler.fire_due(now)  # or drive the clock yourself (tests)
    scheduler.stop()

Every second it lists the schedules of every group (`list_schedules`, and `get_schedule` for one that is new
or changed), computes each ENABLED schedule's next fire time (`next_fire`) and fires the due ones: the
target function (its ARN mapped to the template's logical id by `FunctionDirectory`) gets the target's
`Input` as its event, through `dispatch` — the platform's Lambda async queue, as Scheduler invokes Lambda
asynchronously, so a scheduled run never overlaps another invocation. What the API changes takes effect on
the next tick: an updated schedule is recomputed, a disabled one does not fire, a deleted one is forgotten.
A one-time `at()` schedule fires once (and is deleted when its ActionAfterCompletion is DELETE).
Missed fire times (a clock moved forward, a busy machine) fire once, not once each, as the latest of them.

Schedule expressions, as EventBridge Scheduler reads them:

- `rate(N minute|minutes|hour|hours|day|days)`: every N units of elapsed time (a day is 24 hours, also across
  a DST change), from the StartDate, or from when the schedule was created or last changed (it "starts
  invoking immediately").
- `cron(minutes hours day-of-month month day-of-week year)`, evaluated in ScheduleExpressionTimezone (IANA,
  default UTC) by `croniter` after translation (`translate_cron`): `?` → `*`; day-of-week 1-7 = SUN-SAT (or
  the names) → cron's 0-6; `L` (last day of the month; in day-of-week: Saturday), `nL` (the last weekday n
  of the month), `n#k` (the k-th weekday n), `nW` (the weekday nearest day n) and the year field (1970-2099)
  are supported. Across DST, as Scheduler: a time the clock skips does not fire; a time the clock passes
  twice fires once (the first time).
- `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall time in the timezone (a time skipped by DST is taken with
  the offset before the change, an hour later on the clock).
- StartDate / EndDate bound the recurring schedules (fires are at or after the start, before the end).

Refused with `UnsupportedScheduleExpression` (the schedule is logged once and never fires): `LW` (the last
weekday of the month: croniter has no such day), more than one `#` term in day-of-week (EventBridge refuses
it too), `/` in day-of-week, years after 2099 (croniter's range), and anything not in EventBridge's syntax.
FlexibleTimeWindow is ignored (every schedule fires at its time), and so is the target's RetryPolicy: the
local Lambda service accepts every invocation, so there is nothing for Scheduler to retry. A target that is
not a function of the template, or an Input that is not JSON, goes to the target's DeadLetterConfig queue.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from local.runtime.background import BackgroundLoop
from local.runtime.lambda_service import FunctionDirectory

UTC = dt.UTC
POLL_INTERVAL = 1.0  # seconds between two looks at the schedules
# Candidate times skipped at most while looking for a fire time: a DST gap or repeated hour is at most
# 60 candidates of a per-minute expression, so this bound only stops a runaway.
_MAX_SKIPPED_CANDIDATES = 10_000

Dispatch = Callable[[str, Any, str], Any]  # (logical id, event, source) → anything


class UnsupportedScheduleExpression(ValueError):
    """A schedule expression (or timezone) the local scheduler cannot evaluate; the message says why."""


# -- expressions ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """`rate(...)`: every `interval` of elapsed time."""

    interval: dt.timedelta


@dataclass(frozen=True)
class Cron:
    """`cron(...)`: as written, and translated for croniter."""

    eventbridge: str  # the six fields as written
    croniter_expression: str  # translate_cron(eventbridge)


@dataclass(frozen=True)
class At:
    """`at(...)`: once."""

    wall_time: dt.datetime  # naive, in the schedule's timezone


Expression = Rate | Cron | At

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_expression(expression: str) -> Expression:
    """`rate(...)`, `cron(...)` or `at(...)` as EventBridge Scheduler writes them; raises
    UnsupportedScheduleExpression saying what is wrong."""
    text = expression.strip()
    if match := _RATE.match(text):
        value = int(match[1])
        if value < 1:
            raise UnsupportedScheduleExpression(f"{expression}: a rate must be at least 1")
        return Rate(dt.timedelta(seconds=value * _UNITS[match[2].rstrip("s")]))
    if match := _CRON.match(text):
        return Cron(match[1].strip(), translate_cron(match[1]))
    if match := _AT.match(text):
        return At(dt.datetime.fromisoformat(match[1]))
    raise UnsupportedScheduleExpression(
        f"{expression!r} is not a schedule expression: rate(5 minutes), cron(0 18 * * ? *) or "
        "at(2026-12-02T10:00:00)"
    )


_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NUMBERS = {name: number for number, name in enumerate(_DAY_NAMES, start=1)}  # EventBridge: SUN = 1
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_CRONITER_LAST_YEAR = 2099  # croniter's year range is 1970-2099 (EventBridge's goes to 2199)


def translate_cron(fields_text: str) -> str:
    """An EventBridge cron's six fields → a croniter expression (`minute hour day month weekday second
    year`), e.g. `0/15 8-17 ? * MON-FRI *` → `0/15 8-17 * * 1-5 0 *`. Raises
    UnsupportedScheduleExpression for what EventBridge refuses and for what croniter cannot do."""
    fields = fields_text.split()
    if len(fields) != 6:
        raise UnsupportedScheduleExpression(
            f"cron({fields_text}) has {len(fields)} fields; EventBridge's cron has 6: minutes hours "
            "day-of-month month day-of-week year"
        )
    minutes, hours, day_of_month, month, day_of_week, year = (f.upper() for f in fields)
    if (day_of_month == "?") == (day_of_week == "?"):
        raise UnsupportedScheduleExpression(
            f"cron({fields_text}): exactly one of day-of-month and day-of-week must be '?'"
        )
    translated = " ".join(
        (
            _numeric_field(minutes, "minutes", 0, 59),
            _numeric_field(hours, "hours", 0, 23),
            "*" if day_of_month == "?" else _day_of_month_field(day_of_month),
            _numeric_field(month, "month", 1, 12, names=_MONTH_NUMBERS),
            # Exactly one field is '?': the other alone decides the day, so `*` for '?' is exact.
            "*" if day_of_week == "?" else _day_of_week_field(day_of_week),
            "0",
            _numeric_field(year, "year", 1970, _CRONITER_LAST_YEAR),
        )
    )
    try:
        croniter(translated, dt.datetime(2000, 1, 1), day_or=False)
    except CroniterError as exc:
        raise UnsupportedScheduleExpression(f"cron({fields_text}): {exc}") from None
    return translated


_TERM = re.compile(r"^(?P<range>\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)(?:/(?P<step>\d+))?$")


def _numeric_field(
    text: str, label: str, low: int, high: int, *, names: Mapping[str, int] | None = None
) -> str:
    """A field of values, ranges, `*` and `/` steps (names allowed where given), range-checked."""
    terms = []
    for term in text.split(","):
        match = _TERM.match(term)
        if match is None:
            raise UnsupportedScheduleExpression(f"cron {label} field {text!r}: {term!r} is not supported")
        bounds = match["range"]
        if bounds != "*":
            values = [_value(v, label, low, high, names) for v in bounds.split("-")]
            if len(values) == 2 and values[0] > values[1]:
                raise UnsupportedScheduleExpression(f"cron {label} field {text!r}: {term} runs backwards")
            bounds = "-".join(str(v) for v in values)
        if match["step"] is not None and int(match["step"]) < 1:
            raise UnsupportedScheduleExpression(f"cron {label} field {text!r}: a step must be at least 1")
        terms.append(bounds + (f"/{match['step']}" if match["step"] else ""))
    return ",".join(terms)


def _value(text: str, label: str, low: int, high: int, names: Mapping[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise UnsupportedScheduleExpression(f"cron {label} field: {text!r} is not a value")
    value = int(text)
    if not low <= value <= high:
        limit = (
            f"; years after {_CRONITER_LAST_YEAR} are beyond the local scheduler (croniter)"
            if label == "year" and value > high
            else ""
        )
        raise UnsupportedScheduleExpression(f"cron {label} field: {value} is not in {low}-{high}{limit}")
    return value


def _day_of_month_field(text: str) -> str:
    if text == "LW":
        raise UnsupportedScheduleExpression(
            "cron day-of-month 'LW' (the last weekday of the month) is not supported by the local scheduler"
        )
    if text == "L" or re.fullmatch(r"\d{1,2}W", text):
        if text != "L":
            _value(text[:-1], "day-of-month", 1, 31, None)
        return text
    if "L" in text or "W" in text:
        raise UnsupportedScheduleExpression(
            f"cron day-of-month {text!r}: L and W stand alone (L, 15W), not in lists or ranges"
        )
    return _numeric_field(text, "day-of-month", 1, 31)


def _day_of_week_field(text: str) -> str:
    """EventBridge numbers the days 1-7 from Sunday; cron (croniter) 0-6."""

    def day(value: str) -> int:
        return _value(value, "day-of-week", 1, 7, _DAY_NUMBERS) - 1

    if "/" in text:
        raise UnsupportedScheduleExpression(f"cron day-of-week {text!r}: EventBridge takes no '/' there")
    if "#" in text:
        match = re.fullmatch(r"([0-9A-Z]+)#([1-5])", text)
        if match is None:
            raise UnsupportedScheduleExpression(
                f"cron day-of-week {text!r}: '#' takes one day and its week of the month (2#1), alone in "
                "the field"
            )
        return f"{day(match[1])}#{match[2]}"
    if text == "L":
        return "6"  # the last day of the week: Saturday
    if match := re.fullmatch(r"([0-9A-Z]+?)L", text):
        return f"L{day(match[1])}"  # croniter writes "the last <day> of the month" as L<day>
    terms = []
    for term in text.split(","):
        if term == "*":
            terms.append("*")
            continue
        bounds = term.split("-")
        if len(bounds) > 2:
            raise UnsupportedScheduleExpression(f"cron day-of-week {text!r}: {term!r} is not supported")
        values = [day(value) for value in bounds]
        if len(values) == 2 and values[0] > values[1]:
            raise UnsupportedScheduleExpression(f"cron day-of-week {text!r}: {term} runs backwards")
        terms.append("-".join(str(v) for v in values))
    return ",".join(terms)


def zone(name: str | None) -> ZoneInfo:
    """The schedule's timezone (IANA name, UTC when unset)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise UnsupportedScheduleExpression(f"{name!r} is not an IANA timezone") from None


# -- fire times ----------------------------------------------------------------------------------------
def next_fire(schedule: Mapping[str, Any], after: dt.datetime) -> dt.datetime | None:
    """The schedule's first fire time strictly after `after` (UTC), or None when it fires no more.

    `schedule` is a `get_schedule` answer (ScheduleExpression, ScheduleExpressionTimezone, StartDate,
    EndDate, CreationDate, LastModificationDate); naive datetimes are UTC. State is not looked at.
    """
    expression = parse_expression(schedule["ScheduleExpression"])
    timezone = zone(schedule.get("ScheduleExpressionTimezone"))
    after = _utc(after)
    if isinstance(expression, At):
        # fold=0: a wall time skipped by DST keeps the offset before the change.
        instant = expression.wall_time.replace(tzinfo=timezone).astimezone(UTC)
        return instant if instant > after else None
    start, end = _utc(schedule.get("StartDate")), _utc(schedule.get("EndDate"))
    if isinstance(expression, Rate):
        anchor = start or _utc(schedule.get("LastModificationDate") or schedule.get("CreationDate")) or after
        if after < anchor:
            candidate = anchor
        else:
            periods = math.floor((after - anchor) / expression.interval) + 1
            candidate = anchor + periods * expression.interval
    else:
        lower = after if start is None or start <= after else start - dt.timedelta(microseconds=1)
        found = _next_cron(expression.croniter_expression, timezone, lower)
        if found is None:
            return None
        candidate = found
    return None if end is not None and candidate >= end else candidate


def _latest_due(schedule: Mapping[str, Any], due: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The last fire time at or before `now`, from `due` (one that is)."""
    for _ in range(_MAX_SKIPPED_CANDIDATES):
        following = next_fire(schedule, due)
        if following is None or following > now:
            return due
        due = following
    return due


def _next_cron(expression: str, timezone: ZoneInfo, after: dt.datetime) -> dt.datetime | None:
    """The first wall-clock match after `after`, as Scheduler maps wall times to instants: croniter walks
    the naive wall clock (no DST of its own), a wall time that does not exist is skipped, and one that
    exists twice is taken the first time only (fold=0; the second pass is before `after` by then)."""
    wall_after = after.astimezone(timezone).replace(tzinfo=None)
    times = croniter(expression, wall_after, ret_type=dt.datetime, day_or=False)
    for _ in range(_MAX_SKIPPED_CANDIDATES):
        try:
            wall = times.get_next()
        except CroniterBadDateError:  # no match left (a year list that has passed, 31 February)
            return None
        instant = wall.replace(tzinfo=timezone)
        if instant.astimezone(UTC).astimezone(timezone).replace(tzinfo=None) != wall:
            continue  # skipped by the clock (spring forward)
        instant = instant.astimezone(UTC)
        if instant > after:
            return instant
    return None


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- schedule groups -----------------------------------------------------------------------------------
# -- the scheduler -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Firing:
    """One fire of a schedule: when it was due, what it invoked (`logical_id` None: not a function of the
    template — dead-lettered) and with which event."""

    group: str
    name: str
    scheduled_time: dt.datetime
    target_arn: str
    logical_id: str | None
    event: Any
    execution_id: str


@dataclass
class _Tracked:
    signature: str
    next_at: dt.datetime | None


class LocalScheduler(BackgroundLoop):
    """Fires the schedules of the embedded AWS (all groups) into the functions; see the module docstring."""

    thread_name = "local-scheduler"
    stop_timeout = 5.0

    def __init__(
        self,
        client: Any,
        directory: FunctionDirectory,
        dispatch: Dispatch,
        *,
        sqs_client: Any | None = None,
        poll_interval: float = POLL_INTERVAL,
        log_firings: bool = True,
    ):
        """`client`: a boto3 `scheduler` client of the embedded AWS; `dispatch(logical_id, event, source)`
        runs a fired schedule's target (the Lambda service's async queue); `sqs_client` sends what cannot
        be delivered to the target's DeadLetterConfig queue."""
        super().__init__()
        self.client = client
        self.directory = directory
        self.dispatch = dispatch
        self.sqs_client = sqs_client
        self.poll_interval = poll_interval
        self.log_firings = log_firings
        self.refused: dict[tuple[str, str], str] = {}  # (group, name) → why it never fires
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        # When each schedule last fired (kept while it is disabled or changed, dropped when deleted).
        self._last_fired: dict[tuple[str, str], dt.datetime] = {}
        # get_schedule answers by (group, name), kept while LastModificationDate is the same.
        self._details: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # fire_due runs on the thread and in tests: one at a time
        self._last_error = ""

    # -- lifecycle -----------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.fire_due()
            except Exception as exc:  # the embedded AWS stopping, ...: said once, tried again next tick
                message = f"{type(exc).__name__}: {exc}"
                if message != self._last_error:
                    self._last_error = message
                    print(f"scheduler: {message}", file=sys.stderr)
                    traceback.print_exc(file=sys.stderr)

    # -- schedules -----------------------------------------------------------------------------------
    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule of every group, as `get_schedule` describes it."""
        with self._lock:
            return list(self._read_schedules().values())

    def fire_due(self, now: dt.datetime | None = None) -> list[Firing]:
        """Fire every ENABLED schedule due at `now` (default: the clock); returns what fired."""
        now = _utc(now) or dt.datetime.now(UTC)
        fired = []
        with self._lock:
            schedules = self._read_schedules()
            for key in set(self._tracked) - set(schedules):
                del self._tracked[key]  # deleted: forgotten
            for key in set(self._last_fired) - set(schedules):
                del self._last_fired[key]
            for key in set(self.refused) - set(schedules):
                del self.refused[key]
            for key, schedule in schedules.items():
                if schedule.get("State") != "ENABLED":
                    # Disabled: it does not fire, and when enabled again it counts from then.
                    self._tracked.pop(key, None)
                    continue
                tracked = self._track(key, schedule, now)
                if tracked is None or tracked.next_at is None or tracked.next_at > now:
                    continue
                # Fire times missed (a clock moved forward, a schedule enabled again) fire once, as the
                # latest of them.
                scheduled_time = _latest_due(schedule, tracked.next_at, now)
                fired.append(self._fire(key, schedule, scheduled_time))
                self._last_fired[key] = scheduled_time
                tracked.next_at = next_fire(schedule, now)
                if tracked.next_at is None and schedule.get("ActionAfterCompletion") == "DELETE":
                    self._delete(key)
        return fired

    def _track(self, key: tuple[str, str], schedule: Mapping[str, Any], now: dt.datetime) -> _Tracked | None:
        """The schedule's tracked next fire time; computed afresh when it is new or has changed."""
        signature = json.dumps({k: schedule.get(k) for k in _SIGNATURE_KEYS}, sort_keys=True, default=str)
        tracked = self._tracked.get(key)
        if tracked is not None and tracked.signature == signature:
            return tracked
        # Fire times count from when the schedule was (re)defined: a rate schedule starts at once, a cron
        # time that passed between the change and this tick still fires — but never one it fired already
        # (which matters when `now` is a test's clock, ahead of the modification dates).
        modified = _utc(schedule.get("LastModificationDate") or schedule.get("CreationDate")) or now
        since = min(modified, now) - dt.timedelta(microseconds=1)
        if (last_fired := self._last_fired.get(key)) is not None:
            since = max(since, last_fired)
        try:
            next_at = next_fire(schedule, since)
        except UnsupportedScheduleExpression as exc:
            if self.refused.get(key) != str(exc):
                self.refused[key] = str(exc)
                self._log(f"scheduler: {key[0]}/{key[1]} never fires: {exc}")
            self._tracked.pop(key, None)
            return None
        self.refused.pop(key, None)
        tracked = self._tracked[key] = _Tracked(signature, next_at)
        return tracked

    def _fire(self, key: tuple[str, str], schedule: Mapping[str, Any], scheduled_time: dt.datetime) -> Firing:
        group, name = key
        target = schedule.get("Target") or {}
        target_arn = target.get("Arn", "")
        execution_id = str(uuid.uuid4())
        text = _with_context_attributes(target.get("Input"), schedule, scheduled_time, execution_id)
        logical_id = self.directory.logical_id(target_arn)
        event: Any = None
        problem = None
        if logical_id is None:
            problem = f"the target {target_arn} is not a function of template.yaml"
        else:
            try:
                # No Input: the function gets an empty object, as Lambda gives for no payload.
                event = json.loads(text) if text and text.strip() else {}
            except ValueError:
                problem = "the target's Input is not JSON, which a Lambda function cannot take"
        when = scheduled_time.isoformat().replace("+00:00", "Z")
        if problem is not None:
            queue = self._dead_letter(schedule, text or "", problem, execution_id)
            where = f"sent to {queue.rsplit('/', 1)[-1]}" if queue else "dropped (no DeadLetterConfig)"
            self._log(f"scheduler: {group}/{name} due {when} not delivered: {problem}; {where}")
            return Firing(group, name, scheduled_time, target_arn, None, None, execution_id)
        assert logical_id is not None
        self._log(f"scheduler: {group}/{name} due {when} → {logical_id} {text or '{}'}")
        self.dispatch(logical_id, event, f"schedule {group}/{name}")
        return Firing(group, name, scheduled_time, target_arn, logical_id, event, execution_id)

    def _dead_letter(
        self, schedule: Mapping[str, Any], body: str, problem: str, execution_id: str
    ) -> str | None:
        """Send an undeliverable invocation to the target's DeadLetterConfig queue, with Scheduler's
        attributes; returns the queue URL (None: no queue, or no SQS client)."""
        target = schedule.get("Target") or {}
        queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn or self.sqs_client is None:
            return None
        try:
            queue_url = self.sqs_client.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        except self.sqs_client.exceptions.QueueDoesNotExist:
            return None
        attributes = {
            "ERROR_CODE": "InvalidTarget",
            "ERROR_MESSAGE": problem,
            "EXECUTION_ID": execution_id,
            "SCHEDULE_ARN": schedule.get("Arn", ""),
            "TARGET_ARN": target.get("Arn", ""),
            "RETRY_ATTEMPTS": "0",
        }
        self.sqs_client.send_message(
            QueueUrl=queue_url,
            MessageBody=body or "{}",
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value or "-"}
                for name, value in attributes.items()
            },
        )
        return queue_url

    def _delete(self, key: tuple[str, str]) -> None:
        group, name = key
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_schedule(GroupName=group, Name=name)
        self._tracked.pop(key, None)
        self._details.pop(key, None)
        self._last_fired.pop(key, None)
        self._log(f"scheduler: {group}/{name} completed and deleted (ActionAfterCompletion DELETE)")

    def _read_schedules(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every schedule, in full: `list_schedules` gives summaries, `get_schedule` the rest, asked again
        only when LastModificationDate changes."""
        summaries = []
        for page in self.client.get_paginator("list_schedules").paginate():
            summaries.extend(page.get("Schedules", []))
        found = {}
        for summary in summaries:
            key = (summary.get("GroupName") or "default", summary["Name"])
            modified = summary.get("LastModificationDate")
            cached = self._details.get(key)
            if cached is None or cached[0] != modified:
                try:
                    answer = self.client.get_schedule(GroupName=key[0], Name=key[1])
                except self.client.exceptions.ResourceNotFoundException:
                    continue  # deleted between the list and the get
                answer.pop("ResponseMetadata", None)
                cached = self._details[key] = (modified, answer)
            found[key] = cached[1]
        for key in set(self._details) - set(found):
            del self._details[key]
        return found

    def _log(self, line: str) -> None:
        if self.log_firings:
            print(line, file=sys.stderr)


# What makes a schedule "changed" for the scheduler (LastModificationDate alone would do with AWS; the
# fields too, for an update within the clock's resolution).
_SIGNATURE_KEYS = (
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "State",
    "LastModificationDate",
    "CreationDate",
)


def _with_context_attributes(
    text: str | None, schedule: Mapping[str, Any], scheduled_time: dt.datetime, execution_id: str
) -> str | None:
    """Scheduler fills these keywords in a target's Input before it invokes the target."""
    if not text:
        return text
    values = {
        "<aws.scheduler.schedule-arn>": schedule.get("Arn", ""),
        "<aws.scheduler.scheduled-time>": scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": "1",
    }
    for keyword, value in values.items():
        text = text.replace(keyword, value)
    return text
