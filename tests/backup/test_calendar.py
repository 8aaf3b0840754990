"""PVE's calendar events: the tool's checker and the simulator's scheduler, against PVE's
documented examples, proxmox-time's own test vectors, and each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homelab.core.backup.calendar import CalendarError, parse_calendar_event
from homelab_sim.pve.calendar import EventError, next_event, parse_event

THURSDAY = datetime(1970, 1, 1, tzinfo=UTC)  # proxmox-time's tests start on this Thursday
JUL_31_2020 = datetime(2020, 7, 31, tzinfo=UTC)  # a Friday
DEC_31_2020 = datetime(2020, 12, 31, tzinfo=UTC)  # a Thursday
MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def tool_next(text: str, after: datetime) -> datetime | None:
    return parse_calendar_event(text).next_run(after)


def sim_next(text: str, after: datetime) -> datetime | None:
    found = next_event(parse_event(text), int(after.timestamp()))
    return None if found is None else datetime.fromtimestamp(found, UTC)


BOTH = pytest.mark.parametrize("next_run", [tool_next, sim_next], ids=["tool", "simulator"])

# proxmox-time calendar_event.rs, test_compute_next_event
VECTORS = [
    ("*:0", THURSDAY, THURSDAY + HOUR),
    ("*:*", THURSDAY, THURSDAY + MIN),
    ("*:*:*", THURSDAY, THURSDAY + timedelta(seconds=1)),
    ("*:3:5", THURSDAY, THURSDAY + 3 * MIN + timedelta(seconds=5)),
    ("mon *:*", THURSDAY, THURSDAY + 4 * DAY),
    ("mon 2:*", THURSDAY, THURSDAY + 4 * DAY + 2 * HOUR),
    ("mon 2:50", THURSDAY, THURSDAY + 4 * DAY + 2 * HOUR + 50 * MIN),
    ("tue", THURSDAY, THURSDAY + 5 * DAY),
    ("thu", THURSDAY, THURSDAY + 7 * DAY),
    ("fri", THURSDAY, THURSDAY + DAY),
    ("sun", THURSDAY, THURSDAY + 3 * DAY),
    ("5,10:4,8", THURSDAY, THURSDAY + 5 * HOUR + 4 * MIN),
    ("10,5:8,4", THURSDAY, THURSDAY + 5 * HOUR + 4 * MIN),
    ("6,4..10:23,5/5", THURSDAY, THURSDAY + 4 * HOUR + 5 * MIN),
    ("4..10,6:5/5,23", THURSDAY, THURSDAY + 4 * HOUR + 5 * MIN),
    ("sat", JUL_31_2020, JUL_31_2020 + DAY),
    ("mon", JUL_31_2020, JUL_31_2020 + 3 * DAY),
    ("fri", JUL_31_2020, JUL_31_2020 + 7 * DAY),
    ("fri", DEC_31_2020, DEC_31_2020 + DAY),
    ("wed", DEC_31_2020, DEC_31_2020 + 6 * DAY),
    ("daily", THURSDAY, THURSDAY + DAY),
    ("weekly", THURSDAY, THURSDAY + 4 * DAY),
    ("monthly", JUL_31_2020, JUL_31_2020 + DAY),
    ("quarterly", JUL_31_2020, datetime(2020, 10, 1, tzinfo=UTC)),
    ("yearly", JUL_31_2020, datetime(2021, 1, 1, tzinfo=UTC)),
    ("semiannually", JUL_31_2020, datetime(2021, 1, 1, tzinfo=UTC)),
]


@BOTH
@pytest.mark.parametrize(("text", "after", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_proxmox_time_vectors(next_run, text: str, after: datetime, expected: datetime) -> None:  # type: ignore[no-untyped-def]
    assert next_run(text, after) == expected


def runs(next_run, text: str, after: datetime, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    out: list[str] = []
    t = after
    for _ in range(count):
        found = next_run(text, t)
        assert found is not None
        out.append(found.strftime("%a %Y-%m-%d %H:%M"))
        t = found
    return out


MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # pve-docs' schedule examples, from a Monday 00:00


@BOTH
def test_pve_docs_schedule_examples(next_run) -> None:  # type: ignore[no-untyped-def]
    start = MONDAY - timedelta(seconds=1)
    # "mon..fri: every working day at 0:00"
    assert runs(next_run, "mon..fri", start, 6)[-2:] == [
        "Fri 2024-01-05 00:00",
        "Mon 2024-01-08 00:00",
    ]
    assert runs(next_run, "sat,sun", start, 2) == ["Sat 2024-01-06 00:00", "Sun 2024-01-07 00:00"]
    assert runs(next_run, "12:05", start, 2) == ["Mon 2024-01-01 12:05", "Tue 2024-01-02 12:05"]
    assert runs(next_run, "*/5", start, 3) == runs(next_run, "0/5", start, 3)
    assert runs(next_run, "*/5", start, 3) == [
        "Mon 2024-01-01 00:00",
        "Mon 2024-01-01 00:05",
        "Mon 2024-01-01 00:10",
    ]
    # "Monday, Tuesday, Wednesday 30, 40 and 50 minutes after every full hour"
    assert runs(next_run, "mon..wed 30/10", start, 4)[-1] == "Mon 2024-01-01 01:30"
    # "every working day every 15 minutes between 8 AM and 6 PM and between 10 PM and 11 PM"
    got = runs(next_run, "mon..fri 8..17,22:0/15", start, 45)
    assert got[0] == "Mon 2024-01-01 08:00" and got[39] == "Mon 2024-01-01 17:45"
    assert got[40:42] == ["Mon 2024-01-01 22:00", "Mon 2024-01-01 22:15"]
    assert got[44] == "Tue 2024-01-02 08:00"
    # "Friday at 12:05, 12:25, 12:45, 13:05, 13:25 and 13:45"
    assert [r[-5:] for r in runs(next_run, "fri 12..13:5/20", start, 7)] == [
        "12:05", "12:25", "12:45", "13:05", "13:25", "13:45", "12:05",
    ]  # fmt: skip
    assert runs(next_run, "12/2:5", start, 7) == runs(next_run, "12,14,16,18,20,22:5", start, 7)
    assert runs(next_run, "*", start, 2) == ["Mon 2024-01-01 00:00", "Mon 2024-01-01 00:01"]
    assert runs(next_run, "*-05", start, 2) == ["Fri 2024-01-05 00:00", "Mon 2024-02-05 00:00"]
    # "first Saturday each month at 15:00"
    assert runs(next_run, "Sat *-1..7 15:00", start, 3) == [
        "Sat 2024-01-06 15:00",
        "Sat 2024-02-03 15:00",
        "Sat 2024-03-02 15:00",
    ]
    assert next_run("2015-10-21", datetime(2015, 1, 1, tzinfo=UTC)) == datetime(
        2015, 10, 21, tzinfo=UTC
    )
    assert next_run("2015-10-21", start) is None  # in the past: never again
    assert next_run("*-02-30", start) is None
    assert runs(next_run, "*-02-29 12:00", start, 2) == [
        "Thu 2024-02-29 12:00",
        "Tue 2028-02-29 12:00",
    ]
    # a weekday range wraps over the week's end; the long names count too
    assert [r[:6] for r in runs(next_run, "sat..mon", start, 5)] == [
        "Mon 20", "Sat 20", "Sun 20", "Mon 20", "Sat 20",
    ]  # fmt: skip
    assert runs(next_run, "Sunday 23:59:30", start, 1) == ["Sun 2024-01-07 23:59"]
    assert runs(next_run, "daily UTC", start, 1) == ["Mon 2024-01-01 00:00"]


def test_a_lone_number_is_a_minute_in_both() -> None:
    after = MONDAY
    assert tool_next("mon..fri 22", after) == sim_next("mon..fri 22", after) == MONDAY + 22 * MIN


BAD = [
    ("61", "minute 61 is out of range 0-59"),
    ("*/0", "the step in '*/0' must be 1-59"),
    ("25:00", "hour 25 is out of range 0-23"),  # PVE would take it as minute 25, second 0
    ("someday", "'someday' is not a weekday"),
    ("", "the schedule is empty"),
    ("   ", "the schedule is empty"),
    ("UTC", "expected a weekday, a date or a time"),
    ("10..5", "the minute range '10..5' runs backwards"),
    ("12:00 13:00", "unexpected '13:00' after the time"),
    ("*-13-01", "month 13 is out of range 1-12"),
    ("*-01-32", "day 32 is out of range 1-31"),
    ("1:2:3:4", "is not a time"),
    ("1-2-3-4", "is not a date"),
    ("5/x", "'5/x' is not a minute"),
    ("0/60", "the step in '0/60' is larger than 59"),
    ("1,", "an empty minute in '1,'"),
    ("daily 12:00", "'daily' is not a weekday"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_the_tool_refuses_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=None) as caught:
        parse_calendar_event(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text", ["61", "*/0", "someday", "", "UTC", "10..5", "12:00 13:00", "*-13-01", "1:2:3:4"]
)
def test_the_simulator_refuses_what_pve_refuses(text: str) -> None:
    with pytest.raises(EventError, match="unable to parse calendar event"):
        parse_event(text)


def test_the_simulator_takes_an_hour_above_23_as_pve_does() -> None:
    # proxmox-time's hour parser fails, so "25:00" is read as minute 25, second 0
    assert sim_next("25:00", MONDAY) == MONDAY + 25 * MIN


# -- the two implementations agree on every schedule the tool accepts --------------------------


def _item(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    step = st.integers(0, high)
    single = number.map(str)
    rng = st.tuples(number, number).map(lambda p: f"{min(p)}..{max(p)}")
    rep = st.tuples(number, step).map(lambda p: f"{p[0]}/{p[1]}")
    rng_rep = st.tuples(number, number, step).map(lambda p: f"{min(p[:2])}..{max(p[:2])}/{p[2]}")
    return st.one_of(single, rng, rep, rng_rep)


def _comp(low: int, high: int) -> st.SearchStrategy[str]:
    listed = st.lists(_item(low, high), min_size=1, max_size=3).map(",".join)
    star_step = st.integers(1, high).map(lambda s: f"*/{s}")
    return st.one_of(st.just("*"), star_step, listed)


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
weekdays = st.lists(
    st.one_of(
        st.sampled_from(DAYS),
        st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)).map(lambda p: f"{p[0]}..{p[1]}"),
    ),
    min_size=1,
    max_size=2,
).map(",".join)
dates = st.one_of(
    st.tuples(_comp(1, 12), _comp(1, 31)).map("-".join),
    st.tuples(st.sampled_from(["*", "2024..2026", "2025"]), _comp(1, 12), _comp(1, 31)).map(
        "-".join
    ),
)
times = st.one_of(
    _comp(0, 59),
    st.tuples(_comp(0, 23), _comp(0, 59)).map(":".join),
    st.tuples(_comp(0, 23), _comp(0, 59), _comp(0, 59)).map(":".join),
)
events = (
    st.tuples(
        st.one_of(st.none(), weekdays), st.one_of(st.none(), dates), st.one_of(st.none(), times)
    )
    .filter(lambda parts: any(parts))
    .map(lambda parts: " ".join(p for p in parts if p))
)
moments = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=400, deadline=None)
@given(events, moments)
def test_tool_and_simulator_agree(text: str, after: datetime) -> None:
    event = parse_calendar_event(text)
    ours = event.next_run(after)
    theirs = sim_next(text, after)
    if theirs is None:
        return  # proxmox-time gives up after 1000 steps; the tool looks on up to year 2199
    # PVE fires only when the event matches; the tool finds the first such second. PVE may step
    # past one when a /STEP runs over a field's end, so only without steps must they be equal.
    assert event.matches(theirs), text
    assert ours is not None and after < ours <= theirs, text
    if "/" not in text:
        assert ours == theirs, text


def test_pve_steps_past_a_match_when_a_step_runs_over() -> None:
    late = datetime(2024, 1, 1, 22, 0, tzinfo=UTC)
    assert sim_next("*/7:00", late) == datetime(2024, 1, 2, 7, 0, tzinfo=UTC)  # not 00:00
    assert tool_next("*/7:00", late) == datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
