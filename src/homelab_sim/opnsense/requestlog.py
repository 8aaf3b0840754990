"""What the simulated OPNsense was asked: every request, and the applies per module.

``entries`` lists each request (method, path, status, whether it was dropped, whether it came
from the tool's client); ``paths`` counts requests per ``METHOD path``; ``applies`` counts the
apply/reconfigure calls that took effect, per ``module/controller`` (``firewall/filter``,
``firewall/alias``, ``interfaces/vlan_settings``, ``interfaces/assignment``,
``unbound/service``, ``dnsmasq/service``, ``kea/service``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int  # 0 when the connection was dropped
    dropped: bool
    from_client: bool
    time: float


@dataclass
class RequestLog:
    entries: list[LoggedRequest] = field(default_factory=list)
    paths: Counter[str] = field(default_factory=Counter)
    applies: Counter[str] = field(default_factory=Counter)

    def record(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)
        self.paths[f"{entry.method} {entry.path}"] += 1

    def count(self, *, method: str | None = None, writes_only: bool = False) -> int:
        """Requests seen (by method; ``writes_only``: POSTs)."""
        wanted = "POST" if writes_only else method
        return sum(1 for e in self.entries if wanted is None or e.method == wanted)

    def clear(self) -> None:
        self.entries.clear()
        self.paths.clear()
        self.applies.clear()
