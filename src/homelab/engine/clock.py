"""Clock: the seconds the lab lives in, injectable so waits can run on virtual time.

Against the simulator the tool runs on its compressed virtual clock, so timeouts and poll
intervals mean the same thing they mean against a real Proxmox, only faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Clock"]


@dataclass(frozen=True)
class Clock:
    """``sleep(s)`` and ``monotonic()`` in the seconds Proxmox lives in (virtual on the sim)."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    @classmethod
    def scaled(cls, time_scale: float) -> Clock:
        """A clock running ``time_scale`` times faster than the wall clock."""
        return cls(
            sleep=lambda seconds: time.sleep(seconds / time_scale),
            monotonic=lambda: time.monotonic() * time_scale,
        )

    def wait_for(
        self, problem: Callable[[], str | None], timeout: float, poll: float
    ) -> str | None:
        """Ask ``problem()`` every ``poll`` seconds until it says None (done: None is returned)
        or ``timeout`` has passed (its last answer is returned, for the caller's error)."""
        deadline = self.monotonic() + timeout
        while True:
            last = problem()
            if last is None or self.monotonic() >= deadline:
                return last
            self.sleep(poll)
