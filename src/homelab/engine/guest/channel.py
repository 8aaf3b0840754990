"""Running commands and reading files in a guest through the QEMU guest agent over the Proxmox
API (``agent/exec``, ``agent/exec-status``, ``agent/file-read``, ``agent/file-write``).

``GuestChannel.run`` starts a command and polls its status with a growing interval (on the
connection's clock) until it exits or its timeout ends (``GuestTimeout``: the command may still
run in the guest). "The agent does not answer yet" (``AgentUnavailable``: not running, a
``got timeout``) is waited out within the same timeout. The privileges are PVE's: VM.Monitor on
PVE 8; on PVE 9 VM.GuestAgent.Unrestricted for exec, .FileRead / .FileWrite for files; a 403
names the missing one (``PermissionDenied``).

A channel given a ``log`` reports each command it ran (its exit code and output, or its
timeout) and each file it wrote (path and size, never the content) as a ``GuestCommand``:
``engine.guest.record`` keeps them, secrets masked, in the lab's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from homelab.engine.clock import Clock
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import AgentUnavailable
from homelab.errors import LabError

__all__ = ["CommandSink", "ExecResult", "GuestChannel", "GuestCommand", "GuestTimeout"]

T = TypeVar("T")


class GuestTimeout(LabError):
    """A guest command did not finish (or the agent did not answer) within its timeout."""


@dataclass(frozen=True)
class ExecResult:
    """What a command did: its exit code and output (``truncated`` if the agent cut it)."""

    exitcode: int
    stdout: str
    stderr: str
    truncated: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exitcode == 0


@dataclass(frozen=True)
class GuestCommand:
    """What the channel did in a guest: a command (``argv``, and its ``result`` or ``error``)
    or a file written (``wrote``: the path, ``size`` its bytes)."""

    node: str
    vmid: int
    argv: tuple[str, ...] = ()
    result: ExecResult | None = None
    error: str = ""
    wrote: str = ""
    size: int = 0


CommandSink = Callable[[GuestCommand], None]


@dataclass
class GuestChannel:
    """Commands and files of one lab's guests (``node``/``vmid`` name the guest)."""

    client: PveClient
    clock: Clock
    poll: float = 0.5
    poll_cap: float = 5.0
    log: CommandSink | None = None

    def run(
        self,
        node: str,
        vmid: int,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float = 300.0,
    ) -> ExecResult:
        """Run ``argv`` in the guest and wait for it (see the module docstring)."""
        try:
            result = self._run(node, vmid, argv, stdin, timeout)
        except LabError as exc:
            self._log(GuestCommand(node, vmid, tuple(argv), error=exc.message))
            raise
        self._log(GuestCommand(node, vmid, tuple(argv), result))
        return result

    def start(self, node: str, vmid: int, argv: list[str]) -> int:
        """Start ``argv`` and do not wait for it (a ``reboot``: the agent goes down with the
        guest); its pid. Logged as started, with no exit code."""
        pid = self.client.agent_exec(node, vmid, argv)
        self._log(
            GuestCommand(node, vmid, tuple(argv), error=f"started (pid {pid}), not waited for")
        )
        return pid

    def _run(
        self, node: str, vmid: int, argv: list[str], stdin: str | None, timeout: float
    ) -> ExecResult:
        started = self.clock.monotonic()
        deadline = started + timeout
        what = " ".join(argv)[:80]
        pid = self._until(
            deadline, lambda: self.client.agent_exec(node, vmid, argv, stdin), what, timeout
        )
        interval = self.poll
        while True:
            status = self._until(
                deadline, lambda: self.client.agent_exec_status(node, vmid, pid), what, timeout
            )
            if status.exited:
                return ExecResult(
                    exitcode=status.exitcode if status.exitcode is not None else -1,
                    stdout=status.out,
                    stderr=status.err,
                    truncated=status.truncated,
                    seconds=self.clock.monotonic() - started,
                )
            left = deadline - self.clock.monotonic()
            if left <= 0:
                raise GuestTimeout(
                    f"`{what}` in VM {vmid} still runs after {timeout:.0f} s",
                    hint="it may still finish in the guest; give it a longer --timeout",
                )
            self.clock.sleep(min(interval, left))
            interval = min(self.poll_cap, interval * 1.5)

    def read_file(self, node: str, vmid: int, path: str, *, timeout: float = 60.0) -> bytes:
        """The bytes of ``path`` in the guest (LabError if the agent had to cut it)."""
        deadline = self.clock.monotonic() + timeout
        read = self._until(
            deadline, lambda: self.client.agent_file_read(node, vmid, path), path, timeout
        )
        if read.truncated:
            raise LabError(f"{path} in VM {vmid} is larger than the guest agent reads at once")
        return read.content

    def write_file(
        self, node: str, vmid: int, path: str, data: bytes, *, timeout: float = 60.0
    ) -> None:
        deadline = self.clock.monotonic() + timeout
        self._until(
            deadline, lambda: self.client.agent_file_write(node, vmid, path, data), path, timeout
        )
        self._log(GuestCommand(node, vmid, wrote=path, size=len(data)))

    def _log(self, command: GuestCommand) -> None:
        if self.log is not None:
            self.log(command)

    def _until(self, deadline: float, call: Callable[[], T], what: str, timeout: float) -> T:
        """``call()``, waiting out "the agent does not answer yet" until ``deadline``."""
        while True:
            try:
                return call()
            except AgentUnavailable as exc:
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    raise GuestTimeout(
                        f"the guest agent did not answer for `{what}` in {timeout:.0f} s: "
                        f"{exc.message}"
                    ) from exc
                self.clock.sleep(min(2.0, left))
