"""The request log: every request the simulator answered, with status and virtual time.

Requests the schema rejected carry their ``errors`` map, so a test suite can assert that the
project's own client never sent anything a real Proxmox VE would refuse (``rejections()``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

MAX_ENTRIES = 20000


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    time: float  # virtual epoch seconds
    user: str | None = None
    errors: dict[str, str] | None = None  # set when the schema rejected a parameter
    fault: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class RequestLog:
    def __init__(self, maxlen: int = MAX_ENTRIES) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)

    def add(self, entry: LoggedRequest) -> None:
        self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        return list(self._entries)

    def rejections(self) -> list[LoggedRequest]:
        """Requests refused with ``Parameter verification failed.`` by the schema."""
        return [e for e in self._entries if e.errors is not None]

    def clear(self) -> None:
        self._entries.clear()
