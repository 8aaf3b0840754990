"""The error tree of homelab. Every error a user can act on derives from LabError.

    LabError                          exit code 1, shown as one red line (plus a hint)
    ├── SpecError                     the spec file cannot be loaded or is invalid
    ├── ClusterSecretsError           the lab's PKI or bootstrap token is invalid or another lab's
    ├── PlanFileError                 a saved plan is not JSON, of another version, or damaged
    ├── PlanRefused                   the plan has errors, or a saved plan is stale
    ├── Aborted                       the user said no
    ├── StateError                    the state store (.homelab/ or PostgreSQL) failed
    │   ├── StateLockedError          another apply holds the lab's lock
    │   ├── SecretKeyError            secrets cannot be decrypted with the key at hand
    │   ├── ReadBackRefused           what `state recover` read back from a control plane
    │   │                             does not verify (engine/state/readback.py)
    │   └── StoreExists               `state recover` finds a store (engine/state/recover.py)
    ├── ProxmoxError                  talking to Proxmox VE failed (engine/proxmox/errors.py)
    │   ├── SettingsError             the connection settings are missing or malformed
    │   ├── ApiError                  the API answered with an error status
    │   │   ├── ParameterError        400: the request is wrong
    │   │   ├── AuthenticationError   401: the token was not accepted
    │   │   ├── PermissionDenied      403: the token lacks a privilege
    │   │   │   └── TagAccessDenied   ... to write a tag (datacenter user-tag-access rules)
    │   │   ├── NotFoundError         VM config / task / node / endpoint does not exist
    │   │   ├── ConflictError         "already exists", digest mismatch
    │   │   │   ├── ConfigModified    "detected modified configuration": re-read and retry
    │   │   │   └── TaskConflict      a task failed because the VMID is taken
    │   │   ├── RefusedError          a 500 refusal that asking again will not change
    │   │   ├── AgentUnavailable      the guest agent does not answer (yet)
    │   │   ├── LockedError      (T)  "VM is locked (clone)"
    │   │   │   └── TaskLocked   (T)  a task failed because the VM was locked
    │   │   ├── LockTimeoutError (T)  "can't lock file '...' - got timeout"
    │   │   │   └── TaskLockTimeout (T)  a task could not take a lock in time
    │   │   └── ServerError      (T)  other 5xx, and pveproxy's 595-599
    │   ├── TransportError       (T)  connection refused/reset, timeouts
    │   ├── TlsError                  the certificate is not trusted
    │   │   └── FingerprintMismatch   the certificate is not the pinned one
    │   ├── TaskFailed                a task stopped with an error (TaskConflict, TaskLocked
    │   │                             and TaskLockTimeout derive from it too)
    │   ├── TaskTimeout               a task still runs after the caller's timeout
    │   └── NotDone              (T)  an action with an unknown outcome did not happen: resend
    ├── MalformedReply                a Proxmox reply homelab cannot read (core/pve_reply.py)
    │   └── InvalidUpid               a task-starting call returned no task id
    ├── KubeError                     talking to the cluster's Kubernetes API failed
    │   ├── KubeApiError              the API server answered with an error Status
    │   │   ├── KubeUnauthorized      401: the client certificate was not accepted
    │   │   ├── KubeForbidden         403: RBAC, or an admission webhook denied the request
    │   │   ├── KubeNotFound          404: the object or its kind does not exist
    │   │   ├── KubeConflict     (T)  409: already exists, or changed meanwhile
    │   │   ├── KubeInvalid           422: the object is invalid
    │   │   └── KubeUnavailable  (T)  429 and 5xx
    │   │       └── KubeWebhookUnavailable (T)  "failed calling webhook": not serving yet
    │   ├── KubeTransportError   (T)  connection refused/reset, timeouts
    │   ├── KubeTlsError              the API server's certificate is not trusted
    │   ├── ApiTimeout                the API server was not ready in time
    │   ├── TokenNotRearmed           the join token could not be renewed: new nodes not booted
    │   ├── DrainBlocked              a node's pods could not be evicted in time (a budget)
    │   ├── DrainRefused              nodes must be drained and the API server does not answer
    │   ├── RestoreFailed             a step of `restore cluster` failed (which, and what is left)
    │   └── ClusterNotReady           nodes did not join, or system pods did not run, in time
    ├── GuestTimeout                  a command in a guest (or its agent) did not finish in time
    ├── UserDataUnreadable            cloud-init's copy of a seed is no cloud-config homelab reads
    ├── NoBackupSection               a backup command on a spec without a backup: section
    ├── NoBackup                      the VM has no backup (matching --at / --backup) to restore
    ├── PatchFailed                   `homelab patch` stopped at a node (where, and whether it
    │                                 was uncordoned; engine/patch.py)
    ├── UpgradeFailed                 a step of the rolling Kubernetes upgrade failed (which node,
    │                                 and the snapshots to go back to; engine/upgrade/rollout.py)
    ├── SnapshotFailed                an etcd snapshot could not be taken, fetched or verified
    ├── ScheduleFailed                the etcd snapshot timer could not be set on a control plane
    ├── RestoreRefused                `restore cluster` over existing control planes without --force
    ├── IdentityError                 the VMID does not hold the VM homelab expects there
    ├── JournalStuck                  a journal entry cannot be resolved (homelab journal show/drop)
    ├── VmidExhausted                 every VMID of the lab's range is in use
    ├── SeedIsoError                  the seed ISO could not be built
    ├── SimulatorError                the built-in simulator could not start or answer
    └── OpnsenseError                 talking to OPNsense failed (engine/opnsense/errors.py)
        ├── OpnsenseSettingsError     no API secret in the environment, unreadable CA bundle
        ├── OpnsenseApiError          401, 403, 404, a 500 errorMessage
        │   └── OpnsenseValidationError  an add/set came back result failed (validations)
        ├── OpnsenseTransportError (T)  no answer: refused, reset, dropped
        ├── OpnsenseTlsError          the certificate is not the pinned or a trusted one
        ├── UnsupportedFirewall       an OPNsense version (or DHCP server) homelab cannot manage
        ├── LockoutRefused            a firewall plan would close homelab's own path (no --force)
        ├── FirewallRolledBack        the post-apply probe failed: the rules went back
        └── FirewallUnreachable       the probe failed and the old configuration was not restored

(T) marks classes whose ``transient`` attribute is true: asking again later may succeed.
Private control-flow classes (a leading underscore) are not drawn. The subtrees live where the
errors are raised: engine/proxmox/errors.py, engine/kube/errors.py; tests/test_error_tree.py
checks that every LabError subclass of the tool appears here.

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
    """Talking to the cluster's Kubernetes API failed (subtree in engine/kube/errors.py).

    ``transient`` says whether asking again later may succeed (a 409, 429 or 5xx, a webhook not
    serving yet, a lost connection); callers retry only those.
    """

    transient: bool = False


class ClusterSecretsError(LabError):
    """The lab's cluster secrets (PKI, service-account keys, bootstrap token) are invalid, or
    belong to another lab. Raised by the pure core, which reads them but does no I/O."""


class SimulatorError(LabError):
    """The built-in simulator failed."""
