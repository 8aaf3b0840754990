"""PVE API errors as the simulator raises them inside handlers, and the exact texts PVE uses.

An ApiError never leaves the simulator: ``PveSimulator.handle`` turns it into an HTTP response
(status, reason phrase = first line of the message, JSON body). These are not LabErrors: they are
the *other side* of the wire, what a real Proxmox VE would answer.
"""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """An error response: status, message (reason phrase) and, for 400s, the per-parameter map."""

    def __init__(self, status: int, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors) if errors else None


class ConnectionReset(Exception):
    """A fault: the connection is dropped without any response."""


PARAM_FAILED = "Parameter verification failed."


def fail(message: str) -> ApiError:
    """A plain ``die "text\\n"`` in a PVE handler: HTTP 500 with the text as reason."""
    return ApiError(500, message)


def param_fail(errors: Mapping[str, str]) -> ApiError:
    """A ``raise_param_exc``: HTTP 400 ``Parameter verification failed.`` with an errors map."""
    return ApiError(400, PARAM_FAILED, errors)


def lock_timeout_text(vmid: int) -> str:
    return f"can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout"


def locked_text(reason: str) -> str:
    return f"VM is locked ({reason})"


def missing_vm_text(node: str, vmid: int) -> str:
    return f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"
