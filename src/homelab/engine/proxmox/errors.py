"""The Proxmox VE error tree and the classifier that turns an API reply into one of its classes.

    ProxmoxError (homelab.errors)        talking to Proxmox VE failed
    ├── ApiError                        the API answered with an error status
    │   ├── ParameterError              400: the request is wrong (``errors`` maps param -> text)
    │   ├── AuthenticationError         401: token unknown, expired, or secret wrong
    │   ├── PermissionDenied            403: the token lacks a privilege
    │   │   └── TagAccessDenied         ... to write a tag (datacenter user-tag-access rules)
    │   ├── NotFoundError               VM config / task / node / endpoint does not exist
    │   ├── ConflictError               "already exists", digest mismatch: a real conflict
    │   │   └── ConfigModified          "detected modified configuration": re-read, write again
    │   ├── RefusedError                500 refusal that asking again will not change
    │   ├── AgentUnavailable            the guest agent does not answer (yet): callers poll
    │   ├── LockedError        (T)      "VM is locked (clone)"
    │   ├── LockTimeoutError   (T)      "can't lock file '...' - got timeout"
    │   └── ServerError        (T)      other 5xx, and pveproxy's 595-599 pseudo statuses
    ├── TransportError         (T)      connection refused/reset, timeouts
    ├── TlsError                        the certificate is not trusted
    │   └── FingerprintMismatch         the certificate is not the pinned one
    ├── NotDone            (T)          a request whose outcome was unknown proved not done
    ├── TaskFailed                      a task stopped with an error exitstatus (carries log tail)
    │   ├── TaskConflict                ... because the VMID is taken (e.g. on another node)
    │   ├── TaskLocked         (T)      ... because the VM was locked
    │   └── TaskLockTimeout    (T)      ... because a lock could not be taken in time
    └── TaskTimeout                     a task still runs after the caller's timeout

(T) marks classes whose ``transient`` attribute is true: asking again later may succeed.
``before_effect`` marks errors that prove the server did nothing (it refused before acting), so
even a request that is unsafe to repeat (a clone) may be sent again.

Proxmox says "not found" with 500 and most runtime failures with 500 plus a text, so classes are
chosen from the status *and* the text. The text is read from the HTTP reason phrase first (older
pve-http-server put it only there), then from the JSON body's ``message`` and ``errors``.
Texts are trimmed; no secret is ever part of a message (the token travels only in a header).
A reply that arrives but cannot be read is not a ProxmoxError: the pure core's parser raises
``homelab.core.pve_reply.MalformedReply`` (and ``InvalidUpid`` for a task id that is not one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from homelab.core.tag_access import TAG_ACCESS_HINT
from homelab.errors import ProxmoxError

__all__ = [
    "AgentUnavailable",
    "ApiError",
    "AuthenticationError",
    "ConfigModified",
    "ConflictError",
    "FingerprintMismatch",
    "LockTimeoutError",
    "LockedError",
    "NotDone",
    "NotFoundError",
    "ParameterError",
    "PermissionDenied",
    "ProxmoxError",
    "RefusedError",
    "ServerError",
    "TagAccessDenied",
    "TaskConflict",
    "TaskFailed",
    "TaskLockTimeout",
    "TaskLocked",
    "TaskTimeout",
    "TlsError",
    "TransportError",
    "classify_response",
    "classify_task_failure",
    "trim",
]

MAX_TEXT = 300

LOCK_TIMEOUT_RE = re.compile(r"can't lock file '[^']*' - got timeout")
LOCKED_RE = re.compile(r"\b(VM|CT) is locked \([^)]*\)")
NOT_FOUND_RE = re.compile(
    r"Configuration file '[^']*' does not exist|no such task|hostname lookup '[^']*' failed"
    r"|no such uri|Method '[^']*' not implemented|No such job"
)
# PVE::Tools::assert_if_modified, when a write's ``digest`` is not the config's any more
MODIFIED_RE = re.compile(r"detected modified configuration")
CONFLICT_RE = re.compile(r"already exists|checksum mismatch|File exists")
REFUSED_RE = re.compile(
    r"is running - destroy failed|can't start a vm if it's a template|shrinking disks"
    r"|not allowed for linked clones|(Full|Linked|full) clone feature is not supported"
    r"|can't clone VM to node|can't clone to non-shared storage|no such cluster node"
    r"|is not available on node|storage '[^']*' is disabled|cannot clone TPM state"
    r"|snapshot '[^']*' does not exist|pool '[^']*' does not exist"
    r"|cloud-init drive is already attached|MAX \d+ vcpus allowed per VM"
    r"|No QEMU guest agent configured|upload content type"
    r"|can't upload to storage type|you can't convert a VM to template|is a template"
    r"|used in HA resources|base volume '[^']*' is still in use|no options specified"
    r"|you can't resize a cdrom|disk '[^']*' does not exist|Only root may use this option"
    r"|storage '[^']*' does not (exist|support)|not enough space|VM \d+ (is )?not running"
    # qemu-guest-agent's own error, relayed by qemu-server: asking again gives the same
    r"|Agent error: |command or input-data \(or both\) required"
)
# pve-guest-common assert_tag_permissions: "Permission check failed (/, Sys.Modify for
# modifying tag 'lab-x')"
TAG_DENIED_RE = re.compile(r"Sys\.Modify for modifying tag")
#: qemu-server's answers while qemu-guest-agent starts (``Agent.pm``): no reply to the
#: availability ping, or the QMP call to the agent timed out (5 s).
AGENT_RE = re.compile(
    r"QEMU guest agent is not running|qmp command 'guest-[\w-]+' failed - got timeout"
)


def trim(text: str, limit: int = MAX_TEXT) -> str:
    """One tidy line of at most ``limit`` characters (PVE texts end in newlines)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class ApiError(ProxmoxError):
    """The Proxmox VE API answered ``status`` with an error.

    ``reason`` is the HTTP reason phrase, ``detail`` the body's ``message`` (or the reason when
    the body has none), ``errors`` the per-parameter texts; ``message`` (from LabError) is the
    whole one-line text shown to the user.
    """

    transient = False
    before_effect = False

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        errors: Mapping[str, str] | None = None,
        *,
        request: str = "",
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.reason = trim(reason)
        self.detail = trim(message)
        self.errors = {str(k): trim(str(v)) for k, v in (errors or {}).items()}
        self.request = request
        super().__init__(self._compose(), hint=hint)

    def _compose(self) -> str:
        text = self.detail or self.reason or "no error text"
        if self.errors:
            params = "; ".join(f"{key}: {value}" for key, value in sorted(self.errors.items()))
            text = f"{text.rstrip('.')}: {params}" if text else params
        where = f"{self.request}: " if self.request else ""
        return trim(f"Proxmox API {where}{self.status} {text}", 2 * MAX_TEXT)


class ParameterError(ApiError):
    """400: Proxmox rejected the request's parameters; asking again will not help."""


class AuthenticationError(ApiError):
    """401: the API token was not accepted (nothing was done)."""

    before_effect = True


class PermissionDenied(ApiError):
    """403: the token is valid but lacks a privilege on a path. PVE checks before it acts, so
    nothing was done: callers never look whether a refused request happened after all."""

    before_effect = True


class TagAccessDenied(PermissionDenied):
    """403 on a tag write: the datacenter's ``user-tag-access``/``registered-tags`` keep the
    token's user (no ``Sys.Modify`` on ``/``) from setting or removing that tag."""


class NotFoundError(ApiError):
    """The addressed VM, task, node, job or endpoint does not exist."""


class ConflictError(ApiError):
    """The request conflicts with what exists (VMID taken, config changed by someone else)."""


class ConfigModified(ConflictError):
    """The config changed since the digest the write carried was read (PVE checked it before
    writing anything): read the config again and write what is still missing."""

    before_effect = True


class RefusedError(ApiError):
    """Proxmox understood the request and refused it for a reason that will not go away."""


class AgentUnavailable(ApiError):
    """The QEMU guest agent does not answer (the guest is still booting). Not retried here:
    callers poll with their own, separate timeout."""


class LockedError(ApiError):
    """The VM's config lock is set (``VM is locked (clone)``): another operation is running."""

    transient = True
    before_effect = True


class LockTimeoutError(ApiError):
    """A node-local lock could not be taken in time (parallel operations on one VM/storage)."""

    transient = True
    before_effect = True


class ServerError(ApiError):
    """A 5xx (or pveproxy's 595-599) that may go away when asked again."""

    transient = True


class TransportError(ProxmoxError):
    """The connection failed or timed out. ``sent`` says whether the request may have arrived."""

    transient = True

    def __init__(self, message: str, *, sent: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sent = sent
        self.before_effect = not sent


class TlsError(ProxmoxError):
    """The server's certificate is not trusted; nothing was sent."""

    transient = False
    before_effect = True


class FingerprintMismatch(TlsError):
    """The server's certificate is not the one pinned by its SHA-256 fingerprint."""

    def __init__(self, expected: str, actual: str, *, host: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"TLS: the certificate of {host} has SHA-256 fingerprint {actual}, "
            f"but {expected} is pinned; refusing to connect",
            hint="if the Proxmox certificate was renewed on purpose, update proxmox.fingerprint "
            "or PROXMOX_VE_FINGERPRINT; otherwise something is intercepting the connection",
        )


class NotDone(ProxmoxError):
    """A request whose outcome was unknown (lost reply, 5xx) turned out, when looked up, not to
    have happened: it may be sent again."""

    transient = True
    before_effect = True


class TaskFailed(ProxmoxError):
    """A Proxmox task stopped with an error exitstatus; ``log_tail`` holds its last log lines."""

    transient = False
    before_effect = False

    def __init__(self, upid: str, exitstatus: str, log_tail: tuple[str, ...] = ()) -> None:
        self.upid = upid
        self.exitstatus = trim(exitstatus)
        self.log_tail = tuple(trim(line, 200) for line in log_tail)
        text = f"Proxmox task {upid} failed: {self.exitstatus}"
        if self.log_tail:
            text += "\n  last log lines:\n" + "\n".join(f"    {line}" for line in self.log_tail)
        # Not super(): in TaskLocked/TaskLockTimeout the next class in the MRO is an ApiError.
        ProxmoxError.__init__(self, text)

    def _as_api_error(self) -> None:
        """Fill the ApiError attributes of the lock subclasses from the exitstatus."""
        self.status = 500
        self.reason = self.detail = self.request = self.exitstatus
        self.errors: dict[str, str] = {}


class TaskLocked(TaskFailed, LockedError):
    """A task failed because the VM was locked by another operation."""

    transient = True
    before_effect = True

    def __init__(self, upid: str, exitstatus: str, log_tail: tuple[str, ...] = ()) -> None:
        TaskFailed.__init__(self, upid, exitstatus, log_tail)
        self._as_api_error()


class TaskConflict(TaskFailed, ConflictError):
    """A task failed because what it creates already exists (a VMID taken on another node)."""

    transient = False
    before_effect = True

    def __init__(self, upid: str, exitstatus: str, log_tail: tuple[str, ...] = ()) -> None:
        TaskFailed.__init__(self, upid, exitstatus, log_tail)
        self._as_api_error()


class TaskLockTimeout(TaskFailed, LockTimeoutError):
    """A task failed because it could not take a lock in time."""

    transient = True
    before_effect = True

    def __init__(self, upid: str, exitstatus: str, log_tail: tuple[str, ...] = ()) -> None:
        TaskFailed.__init__(self, upid, exitstatus, log_tail)
        self._as_api_error()


class TaskTimeout(ProxmoxError):
    """A task was still running when the caller's timeout ran out (it goes on in Proxmox)."""

    transient = False
    before_effect = False

    def __init__(self, upid: str, timeout: float) -> None:
        self.upid = upid
        self.timeout = timeout
        super().__init__(
            f"Proxmox task {upid} still running after {timeout:g} s",
            hint="the task goes on in Proxmox; watch it in the web UI (node > Tasks) and rerun",
        )


def classify_task_failure(upid: str, exitstatus: str, log_tail: tuple[str, ...]) -> TaskFailed:
    """The TaskFailed subclass for a task's error ``exitstatus``."""
    if LOCK_TIMEOUT_RE.search(exitstatus):
        return TaskLockTimeout(upid, exitstatus, log_tail)
    if LOCKED_RE.search(exitstatus):
        return TaskLocked(upid, exitstatus, log_tail)
    if CONFLICT_RE.search(exitstatus):
        return TaskConflict(upid, exitstatus, log_tail)
    return TaskFailed(upid, exitstatus, log_tail)


def classify_response(status: int, reason: str, body: Any, *, request: str = "") -> ApiError:
    """The ApiError for an error reply: ``reason`` is the HTTP reason phrase, ``body`` the JSON."""
    message = ""
    errors: dict[str, str] = {}
    if isinstance(body, Mapping):
        message = str(body.get("message") or "")
        raw_errors = body.get("errors")
        if isinstance(raw_errors, Mapping):
            errors = {str(k): str(v) for k, v in raw_errors.items()}
    text = " ".join([reason, message, *errors.values()])
    cls, hint = _pick_class(status, text, bool(errors))
    return cls(status, reason, message or reason, errors, request=request, hint=hint)


def _pick_class(status: int, text: str, has_errors: bool) -> tuple[type[ApiError], str | None]:
    if status == 401:
        return AuthenticationError, (
            "check PROXMOX_VE_API_TOKEN (user@realm!tokenid=secret): the token must exist, "
            "be enabled and not expired, and the secret must be the one shown at creation"
        )
    if status == 403 and TAG_DENIED_RE.search(text):
        return TagAccessDenied, TAG_ACCESS_HINT
    if status == 403:
        return PermissionDenied, (
            "give the token's user (and the token, with privilege separation) the role "
            "privileges homelab needs; `homelab doctor` lists them"
        )
    for pattern, cls in (
        (LOCK_TIMEOUT_RE, LockTimeoutError),
        (LOCKED_RE, LockedError),
        (AGENT_RE, AgentUnavailable),
        (MODIFIED_RE, ConfigModified),
        (NOT_FOUND_RE, NotFoundError),
        (CONFLICT_RE, ConflictError),
        (REFUSED_RE, RefusedError),
    ):
        if pattern.search(text):
            return cls, None
    if 400 <= status < 500:
        return (ParameterError if has_errors or status == 400 else ApiError), None
    if status >= 500:
        return ServerError, None
    return ApiError, None
