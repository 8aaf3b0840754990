"""When and how long to wait before asking Proxmox again.

Only errors whose ``transient`` attribute is true are retried (each ProxmoxError class says
whether it is: lock timeouts, locked VMs, 5xx, connection failures are), with exponential
backoff capped at ``cap`` and jitter so parallel workers spread out. Whether a request may be
*repeated* is the caller's call:

* idempotent requests (GET, PUT of config values, stop, ...) are retried on any transient error;
* requests that create something (clone, create) are not idempotent: a 5xx or a read timeout
  leaves it unknown whether Proxmox acted, so they are retried only on errors that prove it did
  not (``before_effect``: a lock timeout, a locked VM, a connection that never opened). The
  engine re-observes for everything else.

``sleep`` and ``random`` are injectable so tests are instant and deterministic.
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from homelab.errors import ProxmoxError

__all__ = ["RetryPolicy", "should_retry"]

T = TypeVar("T")
log = logging.getLogger(__name__)


def should_retry(error: ProxmoxError, *, idempotent: bool) -> bool:
    """True if asking again may succeed and repeating the request is safe."""
    return error.transient and (idempotent or error.before_effect)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the n-th wait is ``min(cap, base * 2**(n-1))`` minus jitter.

    ``jitter`` is the fraction of each wait that is random (0 = fixed waits, 1 = "full jitter").
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    jitter: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid retry policy {self!r}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        nominal = min(self.cap, self.base * 2 ** (retry - 1))
        return float(nominal * (1 - self.jitter * self.random()))

    def call(
        self,
        operation: Callable[[], T],
        *,
        idempotent: bool,
        what: str,
    ) -> T:
        """Run ``operation``, retrying per this policy; ``what`` names it in log records."""
        for attempt in range(1, self.attempts + 1):
            try:
                return operation()
            except ProxmoxError as error:
                if not should_retry(error, idempotent=idempotent) or attempt == self.attempts:
                    raise
                wait = self.delay(attempt)
                log.warning(
                    "%s failed (%s: %s); retry %d/%d in %.1f s",
                    what,
                    type(error).__name__,
                    error.message.splitlines()[0],
                    attempt,
                    self.attempts - 1,
                    wait,
                )
                self.sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")
