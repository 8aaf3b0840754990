"""Proxmox VE calendar events (the ``schedule`` of a backup job), checked before PVE sees them.

The grammar is PVE's (pve-common ``PVE::CalendarEvent`` hands the text to proxmox-time's
``CalendarEvent``; pve-docs ``calendar-events.adoc``)::

    [WEEKDAYS] [[YEARS-]MONTHS-DAYS] [[HOURS:]MINUTES[:SECONDS]] [UTC]

- weekdays: ``mon``..``sun`` or the full names, any case, as a comma list of days and ranges
  (``mon..fri``; a range may wrap: ``sat..mon``);
- every other field: ``*``, ``*/STEP``, or a comma list of ``N``, ``A..B``, ``N/STEP`` and
  ``A..B/STEP``; hours 0-23, minutes and seconds 0-59, days 1-31, months 1-12, years up to 2199;
- a lone number is a *minute* (``*/10`` is every ten minutes; ``mon..fri 22`` is minute 22 of
  every hour, not 22:00), a missing hour is every hour, missing seconds are 0;
- no time at all means 00:00:00; the keywords ``minutely`` .. ``semiannually`` stand for the
  events in PVE's table.

PVE computes the next run in the node's local time (``UTC`` as a suffix makes it UTC) as the
first matching second strictly after the last one. ``next_run`` here gives that second for a given
timezone, walking days and then the times of the day, so a schedule that never runs again (a
date in the past, 30 February) is found before it is applied. PVE's own search can step past a
match when a ``/STEP`` value runs over the field's end (``*/7:00`` at 22:00 next fires at 07:00,
not 00:00); the next run PVE reports for a job is the one to show, this is for checking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["CalendarError", "CalendarEvent", "parse_calendar_event"]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONG = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ALL = frozenset(range(7))

# (fields as PVE's table writes them): weekdays, years, months, days, hours, minutes, seconds
_KEYWORDS: dict[str, tuple[str, str]] = {
    "minutely": ("", "*:*:00"),
    "hourly": ("", "*:00:00"),
    "daily": ("", "00:00:00"),
    "weekly": ("mon", "00:00:00"),
    "monthly": ("*-01", "00:00:00"),
    "yearly": ("01-01", "00:00:00"),
    "annually": ("01-01", "00:00:00"),
    "quarterly": ("01,04,07,10-01", "00:00:00"),
    "semiannually": ("01,07-01", "00:00:00"),
    "semi-annually": ("01,07-01", "00:00:00"),
}


class CalendarError(ValueError):
    """A schedule PVE would refuse (or one that never runs), with the reason in words."""


@dataclass(frozen=True)
class _Field:
    """One field's values, expanded: ``None`` is every value (``*``)."""

    name: str
    low: int
    high: int  # inclusive
    values: frozenset[int] | None

    def matches(self, value: int) -> bool:
        return self.values is None or value in self.values

    def ordered(self) -> list[int]:
        return (
            sorted(self.values) if self.values is not None else list(range(self.low, self.high + 1))
        )


@dataclass(frozen=True)
class CalendarEvent:
    """A parsed schedule; ``text`` is what was written (PVE stores it as is)."""

    text: str
    weekdays: frozenset[int]  # 0 = Monday
    year: _Field
    month: _Field
    day: _Field
    hour: _Field
    minute: _Field
    second: _Field
    utc: bool

    def matches(self, moment: datetime) -> bool:
        """Whether the event fires at ``moment`` (to the second, read in its own timezone)."""
        return (
            self.year.matches(moment.year)
            and self.month.matches(moment.month)
            and self.day.matches(moment.day)
            and moment.weekday() in self.weekdays
            and self.hour.matches(moment.hour)
            and self.minute.matches(moment.minute)
            and self.second.matches(moment.second)
        )

    def next_run(self, after: datetime, tz: tzinfo = UTC) -> datetime | None:
        """The first second strictly after ``after`` that the event matches, in ``tz`` (UTC when
        the event says so); None if it never matches again (searching ~400 years ahead)."""
        zone = UTC if self.utc else tz
        start = after.astimezone(zone).replace(microsecond=0) + timedelta(seconds=1)
        day = start.date()
        first = True
        for _ in range(400 * 366):
            if day.year > 2199 or (
                self.year.values is not None and day.year > max(self.year.values)
            ):
                return None
            if not self.year.matches(day.year):
                day = day.replace(year=day.year + 1, month=1, day=1)
                first = False
                continue
            if not self.month.matches(day.month):
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                first = False
                continue
            if self.day.matches(day.day) and day.weekday() in self.weekdays:
                floor = (start.hour, start.minute, start.second) if first else (0, 0, 0)
                moment = self._time_of_day(floor)
                if moment is not None:
                    hour, minute, second = moment
                    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
            day += timedelta(days=1)
            first = False
        return None

    def _time_of_day(self, floor: tuple[int, int, int]) -> tuple[int, int, int] | None:
        for hour in self.hour.ordered():
            if hour < floor[0]:
                continue
            for minute in self.minute.ordered():
                if (hour, minute) < floor[:2]:
                    continue
                for second in self.second.ordered():
                    if (hour, minute, second) >= floor:
                        return hour, minute, second
        return None


def parse_calendar_event(text: str) -> CalendarEvent:
    """Parse ``text`` by PVE's rules; :class:`CalendarError` says what is wrong and where."""
    rest = text.strip()
    if not rest:
        raise CalendarError("the schedule is empty")
    utc = rest.endswith("UTC")
    if utc:
        rest = rest[: -len("UTC")].rstrip(" ")
    weekdays: frozenset[int] = _ALL
    date_text: str | None = None
    time_text: str | None = None
    keyword = _KEYWORDS.get(rest)
    if keyword is not None:
        days_or_date, time_text = keyword
        if days_or_date == "mon":
            weekdays = frozenset({0})
        elif days_or_date:
            date_text = days_or_date
    else:
        weekdays, date_text, time_text = _split(text, rest)
    year, month, day = _date(text, date_text)
    hour, minute, second = _time(text, time_text)
    return CalendarEvent(text, weekdays, year, month, day, hour, minute, second, utc)


def _split(text: str, rest: str) -> tuple[frozenset[int], str | None, str | None]:
    weekdays: frozenset[int] = _ALL
    has_days = False
    match = re.match(r"[A-Za-z][A-Za-z.,]*", rest)
    if match:
        weekdays = _weekdays(text, match.group(0))
        has_days = True
        rest = rest[match.end() :].lstrip(" ")
    date_text = time_text = None
    parts = rest.split(" ") if rest else []
    parts = [p for p in parts if p]
    if parts and "-" in parts[0]:
        date_text = parts.pop(0)
    if parts:
        time_text = parts.pop(0)
    if parts:
        raise CalendarError(f"schedule {text!r}: unexpected {' '.join(parts)!r} after the time")
    if not (has_days or date_text or time_text):
        raise CalendarError(f"schedule {text!r}: expected a weekday, a date or a time")
    return weekdays, date_text, time_text


def _weekday(text: str, name: str) -> int:
    low = name.lower()
    if low in _WEEKDAYS:
        return _WEEKDAYS.index(low)
    if low in _LONG:
        return _LONG.index(low)
    raise CalendarError(
        f"schedule {text!r}: {name!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
    )


def _weekdays(text: str, written: str) -> frozenset[int]:
    days: set[int] = set()
    for item in written.split(","):
        first, dots, last = item.partition("..")
        start = _weekday(text, first)
        if not dots:
            days.add(start)
            continue
        end = _weekday(text, last)
        span = (end - start) % 7  # sat..mon wraps over the week's end
        days.update((start + k) % 7 for k in range(span + 1))
    return frozenset(days)


def _date(text: str, written: str | None) -> tuple[_Field, _Field, _Field]:
    if written is None:
        return _every("year", 0, 2199), _every("month", 1, 12), _every("day", 1, 31)
    pieces = written.split("-")
    if len(pieces) == 3:
        year = _field(text, "year", pieces[0], 0, 2199, star_start=0)
    elif len(pieces) == 2:
        year = _every("year", 0, 2199)
    else:
        raise CalendarError(
            f"schedule {text!r}: {written!r} is not a date (MONTH-DAY or YEAR-MONTH-DAY)"
        )
    month = _field(text, "month", pieces[-2], 1, 12, star_start=1)
    day = _field(text, "day", pieces[-1], 1, 31, star_start=1)
    return year, month, day


def _time(text: str, written: str | None) -> tuple[_Field, _Field, _Field]:
    if written is None:
        return _one("hour", 0, 23), _one("minute", 0, 59), _one("second", 0, 59)
    pieces = written.split(":")
    if len(pieces) > 3:
        raise CalendarError(
            f"schedule {text!r}: {written!r} is not a time ([HOURS:]MINUTES[:SECONDS])"
        )
    if len(pieces) == 1:
        hour = _every("hour", 0, 23)
        minute = _field(text, "minute", pieces[0], 0, 59, star_start=0)
        second = _one("second", 0, 59)
    else:
        hour = _field(text, "hour", pieces[0], 0, 23, star_start=0)
        minute = _field(text, "minute", pieces[1], 0, 59, star_start=0)
        second = (
            _field(text, "second", pieces[2], 0, 59, star_start=0)
            if len(pieces) == 3
            else _one("second", 0, 59)
        )
    return hour, minute, second


def _every(name: str, low: int, high: int) -> _Field:
    return _Field(name, low, high, None)


def _one(name: str, low: int, high: int) -> _Field:
    return _Field(name, low, high, frozenset({0}))


_ITEM = re.compile(r"^(\d+)(?:\.\.(\d+))?(?:/(\d+))?$")


def _field(text: str, name: str, written: str, low: int, high: int, *, star_start: int) -> _Field:
    if written == "*":
        return _every(name, low, high)
    if written.startswith("*/"):
        digits = written[2:]
        if not digits.isdigit() or not 1 <= int(digits) <= high:
            raise CalendarError(f"schedule {text!r}: the step in {written!r} must be 1-{high}")
        step = int(digits)
        return _Field(name, low, high, frozenset(range(star_start, high + 1, step)))
    if not written:
        raise CalendarError(f"schedule {text!r}: the {name} is missing")
    values: set[int] = set()
    for item in written.split(","):
        if not item:
            raise CalendarError(f"schedule {text!r}: an empty {name} in {written!r}")
        match = _ITEM.match(item)
        if match is None:
            raise CalendarError(
                f"schedule {text!r}: {item!r} is not a {name} (N, A..B, N/STEP, A..B/STEP or *)"
            )
        start = _number(text, name, match.group(1), low, high)
        end = _number(text, name, match.group(2), low, high) if match.group(2) else None
        if end is not None and start > end:
            raise CalendarError(f"schedule {text!r}: the {name} range {item!r} runs backwards")
        every: int | None = int(match.group(3)) if match.group(3) is not None else None
        if every is not None and every > high:
            raise CalendarError(f"schedule {text!r}: the step in {item!r} is larger than {high}")
        if every:  # N/STEP: N and every STEP after it (up to B in A..B/STEP)
            values.update(range(start, (end if end is not None else high) + 1, every))
        elif end is not None and every is None:
            values.update(range(start, end + 1))
        else:  # N, or N/0 (which PVE reads as N alone)
            values.add(start)
    return _Field(name, low, high, frozenset(values))


def _number(text: str, name: str, digits: str, low: int, high: int) -> int:
    if not digits.isdigit():
        raise CalendarError(f"schedule {text!r}: {digits!r} is not a number")
    value = int(digits)
    if not low <= value <= high:
        raise CalendarError(f"schedule {text!r}: {name} {value} is out of range {low}-{high}")
    return value
