"""``Clock.wait_for``: a bounded poll on the clock, the last problem returned at the timeout."""

from __future__ import annotations

from homelab.engine.clock import Clock


class Fake:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, monotonic=lambda: self.now)


def test_it_returns_none_once_the_problem_is_gone() -> None:
    fake = Fake()
    answers = iter(["a", "b", None])
    assert fake.clock().wait_for(lambda: next(answers), 60.0, 2.0) is None
    assert fake.slept == [2.0, 2.0]


def test_it_returns_the_last_problem_at_the_timeout() -> None:
    fake = Fake()
    count = iter(range(100))
    last = fake.clock().wait_for(lambda: f"still {next(count)}", 5.0, 2.0)
    assert last == "still 3" and fake.now == 6.0, (last, fake.now)


def test_the_deadline_itself_is_the_last_ask() -> None:
    fake = Fake()
    count = iter(range(100))
    assert fake.clock().wait_for(lambda: f"still {next(count)}", 4.0, 2.0) == "still 2"
    assert fake.now == 4.0
