"""Classification of real Proxmox error replies, in the >= 5.2 (message in body) and older
(text only in the reason phrase) formats."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.engine.proxmox import errors as e
from homelab.errors import LabError, ProxmoxError

LOCK_TIMEOUT = "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
NOT_FOUND = "Configuration file 'nodes/pve1/qemu-server/105.conf' does not exist"

CASES: list[tuple[int, str, dict[str, Any] | None, type[e.ApiError]]] = [
    (
        400,
        "Parameter verification failed.",
        {
            "data": None,
            "errors": {"memory": "type check ('integer') failed - got 'abc'"},
            "message": "Parameter verification failed.\n",
        },
        e.ParameterError,
    ),
    (400, "Only root may use this option.", {"data": None}, e.RefusedError),
    (401, "Authentication failed!", None, e.AuthenticationError),
    (401, "No ticket", None, e.AuthenticationError),
    (
        403,
        "Permission check failed (/vms/100, VM.Audit)",
        {"data": None, "message": "Permission check failed (/vms/100, VM.Audit)\n"},
        e.PermissionDenied,
    ),
    (500, NOT_FOUND, {"data": None, "message": NOT_FOUND + "\n"}, e.NotFoundError),
    (
        400,
        "Parameter verification failed.",
        {"data": None, "errors": {"upid": "no such task"}},
        e.NotFoundError,
    ),
    (
        500,
        "hostname lookup 'pve9' failed - failed to get address info for: pve9",
        {"data": None},
        e.NotFoundError,
    ),
    (
        501,
        "Method 'GET /nodes/pve1/foo' not implemented",
        {"data": None, "message": "Method 'GET /nodes/pve1/foo' not implemented"},
        e.NotFoundError,
    ),
    (500, "unable to create VM 201: config file already exists", {"data": None}, e.ConflictError),
    (
        400,
        "Parameter verification failed.",
        {"data": None, "errors": {"vmid": "VM 105 already exists"}},
        e.ConflictError,
    ),
    (500, "checksum mismatch (file change by other user?)", {"data": None}, e.ConflictError),
    (
        500,
        "VM is locked (clone)",
        {"data": None, "message": "VM is locked (clone)\n"},
        e.LockedError,
    ),
    (500, LOCK_TIMEOUT, {"data": None, "message": LOCK_TIMEOUT + "\n"}, e.LockTimeoutError),
    (500, "unable to create VM 105 - " + LOCK_TIMEOUT, {"data": None}, e.LockTimeoutError),
    (500, "QEMU guest agent is not running", {"data": None}, e.AgentUnavailable),
    (500, "VM 201 is running - destroy failed", {"data": None}, e.RefusedError),
    (500, "parameter 'storage' not allowed for linked clones", {"data": None}, e.RefusedError),
    (500, "got unexpected error from storage daemon", {"data": None}, e.ServerError),
    (596, "Connection timed out", None, e.ServerError),
    (595, "Connection refused", None, e.ServerError),
]


@pytest.mark.parametrize(("status", "reason", "body", "expected"), CASES)
def test_each_reply_gets_its_class(
    status: int, reason: str, body: dict[str, Any] | None, expected: type[e.ApiError]
) -> None:
    error = e.classify_response(status, reason, body, request="GET /x")
    assert type(error) is expected
    assert isinstance(error, ProxmoxError) and isinstance(error, LabError)
    assert error.status == status
    assert "GET /x" in error.message


@pytest.mark.parametrize(("status", "reason", "body", "expected"), CASES)
def test_older_servers_reason_phrase_alone_classifies_the_same(
    status: int, reason: str, body: dict[str, Any] | None, expected: type[e.ApiError]
) -> None:
    """Before pve-http-server 5.2 bodies had no ``message``: the reason phrase must suffice."""
    old_body = {"data": None}
    if body and "errors" in body:
        old_body["errors"] = body["errors"]
    error = e.classify_response(status, reason, old_body)
    assert type(error) is expected
    assert reason.rstrip(".") in error.message


@pytest.mark.parametrize(
    ("cls", "transient"),
    [
        (e.ParameterError, False),
        (e.AuthenticationError, False),
        (e.PermissionDenied, False),
        (e.NotFoundError, False),
        (e.ConflictError, False),
        (e.RefusedError, False),
        (e.AgentUnavailable, False),
        (e.LockedError, True),
        (e.LockTimeoutError, True),
        (e.ServerError, True),
    ],
)
def test_transience_is_declared_per_class(cls: type[e.ApiError], transient: bool) -> None:
    assert cls.transient is transient


def test_parameter_errors_name_each_parameter() -> None:
    body = {
        "data": None,
        "errors": {
            "vmid": "invalid format - value does not look like a valid VM ID",
            "name": "value does not match the regex pattern",
        },
        "message": "Parameter verification failed.\n",
    }
    error = e.classify_response(400, "Parameter verification failed.", body)
    assert isinstance(error, e.ParameterError)
    assert error.errors["vmid"].startswith("invalid format")
    assert "vmid: invalid format" in error.message and "name: value does not" in error.message


def test_auth_and_permission_errors_hint_what_to_do() -> None:
    auth = e.classify_response(401, "Authentication failed!", None)
    denied = e.classify_response(403, "Permission check failed (/vms/100, VM.Audit)", None)
    assert auth.hint is not None and "PROXMOX_VE_API_TOKEN" in auth.hint
    assert denied.hint is not None and "privilege" in denied.hint


def test_long_bodies_are_trimmed_to_one_line() -> None:
    body = {"data": None, "message": "boom\n" + "x" * 5000}
    error = e.classify_response(500, "boom", body)
    assert len(error.message) < 700
    assert "\n" not in error.message


@pytest.mark.parametrize(
    ("exitstatus", "cls", "transient"),
    [
        ("clone failed: " + LOCK_TIMEOUT, e.TaskLockTimeout, True),
        ("VM is locked (backup)", e.TaskLocked, True),
        ("clone failed: storage 'fast' does not exist", e.TaskFailed, False),
        ("unexpected status", e.TaskFailed, False),
        (
            "clone failed: close (rename) atomic file '/etc/pve/nodes/pve2/qemu-server/201.conf'"
            " failed: File exists",
            e.TaskConflict,
            False,
        ),
    ],
)
def test_task_failures_are_classified_by_exitstatus(
    exitstatus: str, cls: type[e.TaskFailed], transient: bool
) -> None:
    upid = "UPID:pve1:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam!homelab:"
    error = e.classify_task_failure(upid, exitstatus, ("line 1", "TASK ERROR: " + exitstatus))
    assert type(error) is cls
    assert error.transient is transient
    assert error.upid == upid and error.exitstatus == exitstatus
    assert "TASK ERROR" in error.message


def test_task_lock_timeout_is_also_a_lock_timeout_error() -> None:
    error = e.classify_task_failure("UPID:x", LOCK_TIMEOUT, ())
    assert isinstance(error, e.LockTimeoutError) and isinstance(error, e.TaskFailed)
    assert error.before_effect


def test_task_conflict_is_also_a_conflict_error() -> None:
    error = e.classify_task_failure(
        "UPID:x", "unable to create VM 201: config file already exists", ()
    )
    assert isinstance(error, e.ConflictError) and isinstance(error, e.TaskFailed)
    assert not error.transient


#: What a real PVE 8/9 answers (HTTP 500, the die text of qemu-server ``API2/Qemu.pm``,
#: pve-storage and pve-cluster) when it refuses a request homelab sends, before acting.
REAL_REFUSALS = [
    "can't clone to non-shared storage 'local-lvm'",
    "can't clone VM to node 'pve2' (VM uses local storage)",
    "no such cluster node 'pve9'",
    "storage 'ceph' is not available on node 'pve2'",
    "storage 'nfs' is disabled",
    "storage 'fast' does not exist",
    "Full clone feature is not supported for 'local:9000/base-9000-disk-0.raw' (scsi0)",
    "Linked clone feature is not supported for 'local-lvm:vm-9000-disk-0' (scsi0)",
    "Linked clone feature is not supported for a snapshot of 'local-lvm:vm-9000-disk-0' (scsi0)",
    "cannot clone TPM state while VM is running",
    "snapshot 'base' does not exist",
    "pool 'lab' does not exist",
    "parameter 'format' not allowed for linked clones",
    "scsi1 - cloud-init drive is already attached at 'ide2'",
    "MAX 4 vcpus allowed per VM on this node",
    "shrinking disks is not supported",
    "you can't resize a cdrom",
    "VM 201 is running - destroy failed",
    "you can't convert a VM to template if VM is running",
]


@pytest.mark.parametrize("text", REAL_REFUSALS)
def test_real_refusals_are_permanent(text: str) -> None:
    """Each is answered before Proxmox changes anything and will not go away when asked again:
    retrying it (then reporting "clone did not happen") hides the real reason."""
    error = e.classify_response(500, text, {"data": None, "message": text + "\n"})
    assert isinstance(error, e.RefusedError), (text, type(error))
    assert not error.transient
    assert text in str(error)


def test_a_taken_vmid_is_a_conflict_not_a_refusal() -> None:
    text = "unable to create VM 201: config file already exists"
    error = e.classify_response(500, text, {"data": None, "message": text + "\n"})
    assert isinstance(error, e.ConflictError)
    assert not error.transient
