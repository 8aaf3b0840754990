"""What homelab did in the guests, kept in the lab's history (the state store's audit log).

Every command the guest channel runs for a lab (an upgrade's kubeadm and apt steps, a patch
run, an etcd member removal, a disk grown, keys pushed, ``homelab guest exec``) is appended as
a ``guest-exec`` event: the VM, the command, its exit code, how long it took and the last
``TAIL`` characters of its output (or why it did not finish); a file written is a
``guest-write`` event with its path and size, never its content. The lab's secrets (its keys,
the bootstrap token) and anything shaped like one are masked (``core.secret.redact``) before
anything is kept. ``homelab guest log`` reads them back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from homelab.core.secret import Secret, redact
from homelab.engine.guest.channel import GuestCommand
from homelab.engine.state import History, HistoryEvent
from homelab.errors import LabError

__all__ = ["EXEC_EVENT", "TAIL", "WRITE_EVENT", "CommandLog", "GuestRecord", "guest_records"]

EXEC_EVENT = "guest-exec"
WRITE_EVENT = "guest-write"
TAIL = 2000  # characters of each stream kept


class CommandLog:
    """A ``GuestChannel.log`` that appends to ``history``; ``names`` gives the lab's VMs by
    VMID (asked again when a VMID is new: a VM created since)."""

    def __init__(
        self,
        history: History,
        secrets: Iterable[Secret],
        names: Callable[[], Mapping[int, str]],
    ) -> None:
        self._history = history
        self._secrets = tuple(secrets)
        self._names = names
        self._known: Mapping[int, str] | None = None
        self._guard = threading.Lock()

    def __call__(self, command: GuestCommand) -> None:
        data: dict[str, Any] = {
            "vm": self._name(command.vmid),
            "node": command.node,
            "vmid": command.vmid,
        }
        if command.wrote:
            self._history.append(
                WRITE_EVENT, {**data, "path": self._mask(command.wrote), "size": command.size}
            )
            return
        data["argv"] = [self._mask(arg) for arg in command.argv]
        if command.result is None:
            data.update(exitcode=None, error=self._mask(command.error))
        else:
            result = command.result
            data.update(
                exitcode=result.exitcode,
                seconds=round(result.seconds, 3),
                stdout=self._mask(result.stdout[-TAIL:]),
                stderr=self._mask(result.stderr[-TAIL:]),
                truncated=result.truncated or max(len(result.stdout), len(result.stderr)) > TAIL,
            )
        self._history.append(EXEC_EVENT, data)

    def _mask(self, text: str) -> str:
        return redact(text, self._secrets)

    def _name(self, vmid: int) -> str | None:
        with self._guard:
            if self._known is None or vmid not in self._known:
                try:
                    self._known = dict(self._names())
                except LabError:  # a name is a nicety: the record is kept without it
                    self._known = self._known or {}
            return self._known.get(vmid)


@dataclass(frozen=True)
class GuestRecord:
    """One recorded command or write, as ``homelab guest log`` shows it."""

    at: str
    event: str
    data: dict[str, Any]

    @property
    def vm(self) -> str:
        return str(self.data.get("vm") or f"vmid {self.data.get('vmid')}")

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "event": self.event, **self.data}


def guest_records(
    events: Iterable[HistoryEvent], *, vm: str | None = None, last: int = 50
) -> list[GuestRecord]:
    """The newest ``last`` guest records of ``events`` (newest first in, oldest first out),
    only ``vm``'s if given."""
    found = [
        GuestRecord(e.at, e.event, e.data)
        for e in events
        if e.event in (EXEC_EVENT, WRITE_EVENT) and (vm is None or e.data.get("vm") == vm)
    ]
    return list(reversed(found[:last]))
