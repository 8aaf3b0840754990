"""systemd's unit files and timers in a simulated Ubuntu 24.04 guest (systemd 255).

- **Unit files** are looked up in ``/etc/systemd/system``, then ``/usr/lib/systemd/system``
  (``UNIT_DIRS``); a file there makes the unit known to ``systemctl``. Lines are ``Key=Value``
  under ``[Section]`` headers; ``#`` and ``;`` start comments.
- **Timers** (``systemd.timer(5)``): a timer's settings are read when it is first loaded (its
  first start), at boot and at ``daemon-reload``; a start or restart after the file changed
  without a reload keeps the settings loaded before and warns that the file changed on disk,
  as systemctl does. ``Unit=`` defaults to the service
  of the timer's name. The service runs at every ``OnCalendar=`` elapse: the first matching
  second strictly after the later of the last trigger and the timer's start.
- ``Persistent=true``: the last trigger is kept on disk (systemd's
  ``/var/lib/systemd/timers/stamp-NAME.timer``, touched at the timer's first start, whose time
  counts as the last trigger until it first triggers); when the timer starts and the elapse
  after the last trigger has already passed, the service runs at once, once however many were
  missed.
  Without it, elapses while the timer was not running are lost.
- **Calendar specifications** (``systemd.time(7)``): modelled in the fully written form
  ``[WEEKDAYS] YEAR-MONTH-DAY HOUR:MINUTE:SECOND [UTC]``, each field ``*`` or a comma list of
  numbers and ``A..B`` ranges, weekdays as names (``Mon``, ``Monday``) and ranges that do not
  wrap (systemd refuses ``Sat..Mon``, where PVE reads Saturday to Monday). The
  shorthands, ``/`` repetitions and ``~`` are valid for systemd but not modelled: the timer
  refuses to load (stricter than systemd, never kinder). The guests run in UTC.
- A ``Type=oneshot`` service runs ``ExecStart=`` with the guest's shell; a non-zero exit leaves
  the unit ``failed`` (``systemctl is-failed``) until it next runs successfully.
"""

from __future__ import annotations

import calendar
import posixpath
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
STAMP_DIR = "/var/lib/systemd/timers"
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_LONG = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
#: what a timer's state keeps of its unit files (``load_timer``)
SETTINGS = ("calendar", "service", "exec", "persistent")
SEARCH_DAYS = 5 * 366  # an elapse further away than this counts as none


class UnitError(ValueError):
    """A unit file systemd would not load (the text is what systemctl or the journal says)."""


def unit_path(files: dict[str, Any], unit: str) -> str | None:
    """Where ``unit``'s file is (``files`` is the guest's path -> file map)."""
    for folder in UNIT_DIRS:
        path = f"{folder}/{unit}"
        if path in files:
            return path
    return None


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values in order]}}``."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise UnitError(f"Assignment outside of section or missing '=': {line}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


# ---------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Calendar:
    weekdays: frozenset[int]
    years: frozenset[int] | None
    months: frozenset[int] | None
    days: frozenset[int] | None
    hours: list[int]
    minutes: list[int]
    seconds: list[int]

    def next_elapse(self, after: float) -> float | None:
        """The first matching second strictly after ``after`` (UTC), or None."""
        start = datetime.fromtimestamp(int(after), UTC) + timedelta(seconds=1)
        day = start.date()
        for offset in range(SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if not self._day_matches(current):
                continue
            floor = (start.hour, start.minute, start.second) if offset == 0 else (0, 0, 0)
            for hour in self.hours:
                for minute in self.minutes:
                    for second in self.seconds:
                        if (hour, minute, second) >= floor:
                            moment = datetime(
                                current.year, current.month, current.day, hour, minute, second,
                                tzinfo=UTC,
                            )  # fmt: skip
                            return moment.timestamp()
        return None

    def _day_matches(self, day: date) -> bool:
        return (
            (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
            and day.weekday() in self.weekdays
        )


def parse_calendar(text: str) -> Calendar:
    """The written-out form (see the module docstring); UnitError names what is not modelled."""
    words = text.split()
    if words and words[-1] == "UTC":
        words = words[:-1]
    weekdays = frozenset(range(7))
    if words and re.fullmatch(r"[A-Za-z.,]+", words[0]):
        weekdays = _weekdays(words.pop(0), text)
    if len(words) != 2 or words[0].count("-") != 2 or words[1].count(":") != 2:
        raise UnitError(
            f"Failed to parse calendar specification, ignoring: {text} (the simulated systemd "
            "reads only the written-out form WEEKDAYS YEAR-MONTH-DAY HOUR:MINUTE:SECOND)"
        )
    year, month, day = words[0].split("-")
    hour, minute, second = words[1].split(":")
    return Calendar(
        weekdays=weekdays,
        years=_values(year, 1970, 2199, text),
        months=_values(month, 1, 12, text),
        days=_values(day, 1, 31, text),
        hours=_all(_values(hour, 0, 23, text), 0, 23),
        minutes=_all(_values(minute, 0, 59, text), 0, 59),
        seconds=_all(_values(second, 0, 59, text), 0, 59),
    )


def _all(values: frozenset[int] | None, low: int, high: int) -> list[int]:
    return sorted(values) if values is not None else list(range(low, high + 1))


def _values(field: str, low: int, high: int, text: str) -> frozenset[int] | None:
    if field == "*":
        return None
    out: set[int] = set()
    for item in field.split(","):
        match = re.fullmatch(r"(\d+)(?:\.\.(\d+))?", item)
        if match is None:
            raise UnitError(f"Failed to parse calendar specification, ignoring: {text}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if not low <= first <= last <= high:
            raise UnitError(f"Failed to parse calendar specification, ignoring: {text}")
        out.update(range(first, last + 1))
    return frozenset(out)


def _weekdays(word: str, text: str) -> frozenset[int]:
    out: set[int] = set()
    for item in word.split(","):
        first, sep, last = item.partition("..")
        try:
            a = _day(first)
            b = _day(last) if sep else a
        except KeyError:
            raise UnitError(f"Failed to parse calendar specification, ignoring: {text}") from None
        if a > b:  # systemd does not wrap a weekday range ("Sat..Mon": Invalid argument)
            raise UnitError(f"Failed to parse calendar specification, ignoring: {text}")
        out.update(range(a, b + 1))
    return frozenset(out)


def _day(name: str) -> int:
    key = name.lower()
    return _DAYS[key] if key in _DAYS else _LONG[key]


# ---------------------------------------------------------------------- timers


def load_timer(files: dict[str, Any], read: Any, unit: str) -> dict[str, Any]:
    """A timer's settings from its file (``read(path) -> str | None``); UnitError if bad."""
    path = unit_path(files, unit)
    text = read(path) if path is not None else None
    if text is None:
        raise UnitError(f"Unit {unit} not found.")
    timer = parse_unit(text).get("Timer", {})
    calendars = timer.get("OnCalendar", [])
    if not calendars or not calendars[-1]:
        raise UnitError(f"{unit} lacks value setting (OnCalendar= is the one modelled). Refusing.")
    parse_calendar(calendars[-1])  # refuses what it cannot read
    service = (timer.get("Unit") or [unit.removesuffix(".timer") + ".service"])[-1]
    service_path = unit_path(files, service)
    service_text = read(service_path) if service_path is not None else None
    if service_text is None:
        raise UnitError(f"Unit {service} not found.")
    exec_start = parse_unit(service_text).get("Service", {}).get("ExecStart", [])
    if not exec_start:
        raise UnitError(f"{service} has no ExecStart= setting. Refusing.")
    persistent = (timer.get("Persistent") or ["no"])[-1].lower() in {"yes", "true", "1", "on"}
    return {
        "calendar": calendars[-1],
        "service": service,
        "exec": shlex.split(exec_start[-1].lstrip("-@:+!")),
        "persistent": persistent,
    }


def start_timer(state: dict[str, Any], settings: dict[str, Any], now: float) -> None:
    """The timer (re)starts at ``now`` with ``settings``; ``state`` keeps its last trigger."""
    last = state.get("last") if settings["persistent"] else None
    if settings["persistent"] and last is None:
        # timer.c: a persistent timer that never ran touches its stamp file at its first start,
        # and a later start reads the stamp's time as the last trigger
        last = state.get("stamp")
        state.setdefault("stamp", now)
    catch_up = False
    if last is not None:
        missed = parse_calendar(settings["calendar"]).next_elapse(float(last))
        catch_up = missed is not None and missed <= now
    state.update(settings)
    state.update({"since": now, "catch_up": catch_up})


def next_due(state: dict[str, Any], until: float) -> float | None:
    """When an active timer next triggers, if that is no later than ``until``."""
    since = float(state["since"])
    if state.get("catch_up"):
        return since
    base = max(since, float(state.get("last") or since))
    at = parse_calendar(str(state["calendar"])).next_elapse(base)
    return at if at is not None and at <= until else None


def triggered(state: dict[str, Any], at: float) -> None:
    state["last"] = at
    state["catch_up"] = False


def stamp_path(unit: str) -> str:
    return posixpath.join(STAMP_DIR, f"stamp-{unit}")


def month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]
