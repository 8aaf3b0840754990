"""The error tree of homelab. Every error a user can act on derives from LabError.

    LabError                      exit code 1, shown as one red line (plus a hint)
    ├── SpecError                 the spec file cannot be loaded or is invalid
    ├── StateError                the state store (.homelab/ or PostgreSQL) failed
    │   ├── StateLockedError      another apply holds the lab's lock
    │   └── SecretKeyError        secrets cannot be decrypted with the key at hand
    ├── ProxmoxError              talking to Proxmox VE failed (subtree in engine/proxmox)
    ├── MalformedReply            a Proxmox reply homelab cannot read (core/pve_reply)
    │   └── InvalidUpid           a task-starting call returned no task id
    ├── KubeError                 talking to the cluster's Kubernetes API failed
    └── SimulatorError            the built-in simulator could not start or answer

Third-party exceptions (httpx, psycopg, sqlite3, pycdlib...) are converted at the module that
uses the library (``raise ... from exc``) and never reach the CLI. This module is imported by
every layer, so it imports nothing from homelab.
"""

from __future__ import annotations


class LabError(Exception):
    """An error the user can act on. ``hint`` says what to do about it, if anything."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class SpecError(LabError):
    """The spec file is missing, unreadable, or not a valid lab."""


class StateError(LabError):
    """The state store failed: unreadable, corrupt, or unreachable."""


class StateLockedError(StateError):
    """Another process holds the lab's lock."""


class SecretKeyError(StateError):
    """Secrets in the state store cannot be decrypted with the key at hand."""


class ProxmoxError(LabError):
    """Talking to the Proxmox VE API failed.

    ``transient``: asking again later may succeed. ``before_effect``: the error proves Proxmox
    did nothing, so even a request that is unsafe to repeat may be sent again. Each class of
    the subtree (engine/proxmox/errors.py) says which it is.
    """

    transient: bool = False
    before_effect: bool = False


class KubeError(LabError):
    """Talking to the cluster's Kubernetes API failed."""


class SimulatorError(LabError):
    """The built-in simulator failed."""
