"""The virtual clock of the simulator.

``now()`` = base + real elapsed seconds * time_scale + manual advances. Every latency in the
simulator is expressed in virtual seconds, so ``--time-scale 60`` makes a one-minute full clone
take one real second, and tests can jump forward with ``advance()`` without sleeping.
"""

from __future__ import annotations

import time


class VirtualClock:
    """Virtual epoch seconds (float), monotonic, compressed by ``time_scale``."""

    def __init__(self, *, base: float | None = None, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self._base = time.time() if base is None else base
        self._t0 = time.monotonic()
        self._scale = time_scale
        self._advanced = 0.0

    @property
    def time_scale(self) -> float:
        return self._scale

    def now(self) -> float:
        return self._base + (time.monotonic() - self._t0) * self._scale + self._advanced

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` virtual seconds; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._advanced += seconds
        return self.now()

    def real_seconds(self, virtual: float) -> float:
        """How many real seconds ``virtual`` seconds take at this scale (inf if frozen)."""
        return virtual / self._scale if self._scale else float("inf")
