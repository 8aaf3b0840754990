"""Calendar events as PVE runs them: proxmox-time's parser and its ``compute_next_event`` loop.

pve-common's ``PVE::CalendarEvent`` trims the text and hands it to proxmox-time
(``calendar_event.rs``, ``date_time_value.rs``, ``parse_helpers.rs``); its schema format
``pve-calendar-event`` answers ``invalid calendar event '<text>' - <reason>``. This module keeps
their shape on purpose (value lists of ``Single``/``Range``/``Repeated``, a broken-down time that
is normalised after each step, at most 1000 steps, ``None`` when nothing matches) so that the
simulated scheduler fires when the real one does, quirks included: ``find_next`` does not bound a
``/STEP`` by the field's end, so ``*/7:00`` at 22:00 next fires at 07:00 (28:00 normalises to
04:00, which does not match), not at 00:00. Times are the node's local time; the simulated
nodes run in UTC.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventError", "next_event", "parse_event"]


class EventError(ValueError):
    pass


@dataclass(frozen=True)
class Value:
    """``Single`` (end None, step None), ``Range`` (end), ``Repeated`` (step, end optional)."""

    start: int
    end: int | None = None
    step: int | None = None

    def contains(self, value: int) -> bool:
        if self.step is None:
            if self.end is None:
                return value == self.start
            return self.start <= value <= self.end
        if value < self.start:
            return False
        if self.step == 0:
            return value == self.start
        hit = (value - self.start) % self.step == 0
        return hit and (self.end is None or value <= self.end)

    def after(self, value: int) -> int | None:
        """The smallest member greater than ``value`` this item yields (as find_next does)."""
        if self.step is None:
            if self.end is None:
                return self.start if self.start > value else None
            if value < self.start:
                return self.start
            return value + 1 if self.start <= value + 1 <= self.end else None
        if value < self.start:
            return self.start
        if self.step == 0:
            return None
        n = self.start + ((value - self.start + self.step) // self.step) * self.step
        return n if self.end is None or n <= self.end else None


def _contains(values: list[Value], v: int) -> bool:
    return any(item.contains(v) for item in values)


def _find_next(values: list[Value], v: int) -> int | None:
    found = [n for n in (item.after(v) for item in values) if n is not None]
    return min(found) if found else None


@dataclass
class Event:
    utc: bool = False
    days: int = 0  # bit 0 = Monday .. bit 6 = Sunday; 0 = every day
    second: list[Value] = field(default_factory=list)
    minute: list[Value] = field(default_factory=list)
    hour: list[Value] = field(default_factory=list)
    day: list[Value] = field(default_factory=list)
    month: list[Value] = field(default_factory=list)
    year: list[Value] = field(default_factory=list)


_ZERO = [Value(0)]
_SPECIAL: dict[str, dict[str, Any]] = {
    "minutely": {"second": _ZERO},
    "hourly": {"minute": _ZERO, "second": _ZERO},
    "daily": {"hour": _ZERO, "minute": _ZERO, "second": _ZERO},
    "weekly": {"hour": _ZERO, "minute": _ZERO, "second": _ZERO, "days": 1},
    "monthly": {"hour": _ZERO, "minute": _ZERO, "second": _ZERO, "day": [Value(1)]},
    "yearly": {
        "hour": _ZERO,
        "minute": _ZERO,
        "second": _ZERO,
        "day": [Value(1)],
        "month": [Value(1)],
    },
    "quarterly": {
        "hour": _ZERO,
        "minute": _ZERO,
        "second": _ZERO,
        "day": [Value(1)],
        "month": [Value(1), Value(4), Value(7), Value(10)],
    },
    "semiannually": {
        "hour": _ZERO,
        "minute": _ZERO,
        "second": _ZERO,
        "day": [Value(1)],
        "month": [Value(1), Value(7)],
    },
}
_SPECIAL["annually"] = _SPECIAL["yearly"]
_SPECIAL["semi-annually"] = _SPECIAL["semiannually"]
_DAY_NAMES = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "wednesday": 2, "wed": 2, "thursday": 3,
    "thu": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip


class _Input:
    """What is left to parse, consumed from the left (the nom parsers' input)."""

    def __init__(self, text: str) -> None:
        self.rest = text

    def take(self, pattern: str) -> str | None:
        match = re.match(pattern, self.rest)
        if match is None:
            return None
        self.rest = self.rest[match.end() :]
        return match.group(0)

    def fail(self, what: str) -> EventError:
        return EventError(f"unable to parse calendar event at '{self.rest}' - {what}")


def _comp(inp: _Input, limit: int) -> int:
    digits = inp.take(r"\d+")
    if digits is None:
        raise inp.fail("expected a number")
    if int(digits) >= limit:
        raise inp.fail("time value too large")
    return int(digits)


def _comp_item(inp: _Input, limit: int) -> Value:
    value = _comp(inp, limit)
    if inp.take(r"\.\.") is not None:
        end = _comp(inp, limit)
        if value > end:
            raise inp.fail("range start is bigger than end")
        if inp.take("/") is not None:
            return Value(value, end, _comp(inp, limit))
        return Value(value, end)
    if inp.take("/") is not None:
        return Value(value, None, _comp(inp, limit))
    return Value(value)


def _comp_list(inp: _Input, start: int, limit: int) -> list[Value]:
    if inp.take(r"\*") is not None:
        saved = inp.rest
        if inp.take("/") is not None:
            repeat = _comp(inp, limit)
            if repeat > 0:
                return [Value(start, None, repeat)]
        inp.rest = saved
        return []
    items = [_comp_item(inp, limit)]
    while inp.rest.startswith(","):
        inp.take(",")
        items.append(_comp_item(inp, limit))
    return items


def _attempt(inp: _Input, parse):  # type: ignore[no-untyped-def]
    """``opt(...)``: the parser's result, or None with the input left as it was."""
    saved = inp.rest
    try:
        return parse(inp)
    except EventError:
        inp.rest = saved
        return None


def _date(inp: _Input) -> tuple[list[Value], list[Value], list[Value]]:
    def ymd(i: _Input) -> tuple[list[Value], list[Value], list[Value]]:
        year = _comp_list(i, 0, 2200)
        if i.take("-") is None:
            raise i.fail("expected '-'")
        month = _comp_list(i, 1, 13)
        if i.take("-") is None:
            raise i.fail("expected '-'")
        return year, month, _comp_list(i, 1, 32)

    def md(i: _Input) -> tuple[list[Value], list[Value], list[Value]]:
        month = _comp_list(i, 1, 13)
        if i.take("-") is None:
            raise i.fail("expected '-'")
        return [], month, _comp_list(i, 1, 32)

    found = _attempt(inp, ymd)
    if found is None:
        found = _attempt(inp, md)
    if found is None:
        raise inp.fail("invalid date spec")
    return found  # type: ignore[no-any-return]


def _time(inp: _Input) -> tuple[list[Value], list[Value], list[Value]]:
    def hour_colon(i: _Input) -> list[Value]:
        hour = _comp_list(i, 0, 24)
        if i.take(":") is None:
            raise i.fail("expected ':'")
        return hour

    hour = _attempt(inp, hour_colon)
    minute = _comp_list(inp, 0, 60)

    def colon_second(i: _Input) -> list[Value]:
        if i.take(":") is None:
            raise i.fail("expected ':'")
        return _comp_list(i, 0, 60)

    second = _attempt(inp, colon_second)
    return (hour or []), minute, (second if second is not None else [Value(0)])


def _weekday(inp: _Input) -> int:
    saved = inp.rest
    name = inp.take(r"[A-Za-z]+")
    if name is None or name.lower() not in _DAY_NAMES:
        inp.rest = name or saved  # nom reports the word it could not read
        raise inp.fail("weekday")
    return _DAY_NAMES[name.lower()]


def parse_event(text: str) -> Event:
    """Parse like ``PVE::CalendarEvent::parse_calendar_event``; EventError names the reason."""
    text = text.strip()
    if not text:
        raise EventError("unable to parse calendar event - event is empty")
    event = Event()
    if text.endswith("UTC"):
        event.utc = True
        text = text[:-3].rstrip(" ")
    inp = _Input(text)
    has_days = has_date = has_time = False
    if text[:1].isascii() and text[:1].isalpha():
        special = _SPECIAL.get(text)
        if special is not None:
            for key, value in special.items():
                setattr(event, key, value)
            return event
        while True:
            first = _weekday(inp)
            if inp.take(r"\.\.") is not None:
                last = _weekday(inp)
                span = (
                    range(first, last + 1)
                    if first <= last
                    else [*range(first, 7), *range(last + 1)]
                )
                for d in span:
                    event.days |= 1 << d
            else:
                event.days |= 1 << first
            if inp.take(",") is None:
                break
        has_days = True
        inp.take(" *")
    date = _attempt(inp, _date)
    if date is not None:
        event.year, event.month, event.day = date
        has_date = True
        inp.take(" *")
    clock = _attempt(inp, _time)
    if clock is not None:
        event.hour, event.minute, event.second = clock
        has_time = True
    else:
        event.hour, event.minute, event.second = [Value(0)], [Value(0)], [Value(0)]
    if not (has_days or has_time or has_date):
        raise inp.fail("date or time specification")
    if inp.rest:
        raise inp.fail("unexpected trailing input")
    return event


class _Tm:
    """A broken-down UTC time that normalises like ``mktime``/``timegm`` after each change."""

    def __init__(self, epoch: int) -> None:
        self._set(epoch)

    def _set(self, epoch: int) -> None:
        tm = time.gmtime(epoch)
        self.year, self.mon, self.mday = tm.tm_year, tm.tm_mon, tm.tm_mday
        self.hour, self.min, self.sec, self.wday = tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_wday

    def _normalise(self, year: int, mon: int, mday: int, hour: int, mi: int, sec: int) -> None:
        year += (mon - 1) // 12
        mon = (mon - 1) % 12 + 1
        base = calendar.timegm((year, mon, 1, 0, 0, 0, 0, 0, 0))
        self._set(base + (mday - 1) * 86400 + hour * 3600 + mi * 60 + sec)

    def epoch(self) -> int:
        return calendar.timegm((self.year, self.mon, self.mday, self.hour, self.min, self.sec))

    def add_years(self, n: int) -> None:
        self._normalise(self.year + n, 1, 1, 0, 0, 0)

    def add_months(self, n: int) -> None:
        self._normalise(self.year, self.mon + n, 1, 0, 0, 0)

    def add_days(self, n: int) -> None:
        self._normalise(self.year, self.mon, self.mday + n, 0, 0, 0)

    def set_time(self, hour: int, mi: int, sec: int) -> None:
        self._normalise(self.year, self.mon, self.mday, hour, mi, sec)

    def set_min_sec(self, mi: int, sec: int) -> None:
        self._normalise(self.year, self.mon, self.mday, self.hour, mi, sec)

    def set_sec(self, sec: int) -> None:
        self._normalise(self.year, self.mon, self.mday, self.hour, self.min, sec)


def next_event(event: Event, last: int) -> int | None:
    """``compute_next_event``: the first matching second after ``last`` (epoch, UTC)."""
    t = _Tm(last + 1)
    all_days = event.days in (0, 0x7F)
    for _ in range(1001):
        if event.year and not _contains(event.year, t.year):
            n = _find_next(event.year, t.year)
            if n is None:
                return None
            t.add_years(n - t.year)
            continue
        if event.month and not _contains(event.month, t.mon):
            n = _find_next(event.month, t.mon)
            t.add_months(n - t.mon) if n is not None else t.add_years(1)
            continue
        if event.day and not _contains(event.day, t.mday):
            n = _find_next(event.day, t.mday)
            t.add_days(n - t.mday) if n is not None else t.add_months(1)
            continue
        if not all_days and not event.days & (1 << t.wday):
            later = [d for d in range(t.wday + 1, 7) if event.days & (1 << d)]
            t.add_days((later[0] if later else 7) - t.wday)
            continue
        if event.hour and not _contains(event.hour, t.hour):
            n = _find_next(event.hour, t.hour)
            t.set_time(n, 0, 0) if n is not None else t.add_days(1)
            continue
        if event.minute and not _contains(event.minute, t.min):
            n = _find_next(event.minute, t.min)
            t.set_min_sec(n, 0) if n is not None else t.set_time(t.hour + 1, 0, 0)
            continue
        if event.second and not _contains(event.second, t.sec):
            n = _find_next(event.second, t.sec)
            t.set_sec(n) if n is not None else t.set_min_sec(t.min + 1, 0)
            continue
        return t.epoch()
    return None
