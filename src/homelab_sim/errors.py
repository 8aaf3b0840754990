"""The simulator's own error: it imports nothing from the tool it simulates for.

``SimError`` means the simulator itself cannot do what it was asked (its state directory is
unwritable, a fault profile is invalid, a listening socket cannot be bound). Errors of the
simulated systems are not exceptions here: they are the HTTP replies a real Proxmox VE or
Kubernetes API would send. The tool translates ``SimError`` into its own error tree where it
starts the simulator.
"""

from __future__ import annotations


class SimError(Exception):
    """The simulator failed; ``message`` says why in one line, ``hint`` what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message
