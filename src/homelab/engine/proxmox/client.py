"""PveClient: the typed Proxmox VE calls homelab makes. It *has* a PveSession (as an httpx
Client has a transport): the session sends requests and retries them; the client builds every
API path and reads every reply through the pure core's parsers (``homelab.core.pve_reply``).

Calls that start a task return its UPID (checked to be one), so the engine can wait with its own
``TaskWaits`` and concurrency; ``run_task`` starts a task and waits for it, starting it again
when it failed in a way that proves it did nothing (a lock). ``upload_iso`` and
``delete_volume`` wait themselves. ``session`` is the low-level escape hatch: no code outside
this package builds an API path (the simulator's private ``/_sim/*`` endpoints excepted).

Example::

    with PveClient(resolve_settings(spec.proxmox)) as pve:
        upid = pve.clone("pve1", 9000, 201, name="k8s-master-1", full=True)
        pve.wait_task(upid, TaskWaits(timeout=900))
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from ipaddress import IPv4Interface
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from homelab.core.observed import ObservedVm, VmConfig
from homelab.core.pve_inventory import (
    Bridge,
    StorageFacts,
    parse_bridges,
    parse_storage_configs,
    parse_version,
)
from homelab.core.pve_reply import (
    BackupJob,
    ClusterResources,
    ExecStatus,
    FileRead,
    InvalidUpid,
    StorageItem,
    StorageStatus,
    TagAccess,
    TaskStatus,
    Upid,
    VmStatus,
    config_values,
    parse_backup_jobs,
    parse_cluster_resources,
    parse_config,
    parse_exec_pid,
    parse_exec_status,
    parse_file_read,
    parse_interfaces,
    parse_node_time,
    parse_not_backed_up,
    parse_resources,
    parse_storage_items,
    parse_storage_status,
    parse_tag_access,
    parse_task_log,
    parse_task_status,
    parse_upid,
    parse_vm_status,
    reply_list,
)
from homelab.core.secret import Secret
from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import (
    AgentUnavailable,
    NotFoundError,
    ProxmoxError,
    RefusedError,
    ServerError,
)
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.session import PveSession, RequestHook
from homelab.engine.proxmox.tasks import TaskResult, TaskWaits, wait_for_task
from homelab.engine.proxmox.wire import Repeated, path_segment

__all__ = ["PveClient", "RequestHook", "TaskWaits"]

NOT_RUNNING_RE = re.compile(r"VM \d+ (is )?not running")


class PveClient:
    """The Proxmox VE API as typed calls (see the module docstring).

    ``sleep``/``monotonic`` are the clock task waits run on (virtual against the simulator);
    ``waits`` are the task waits used when a call is given none.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_request: RequestHook | None = None,
        waits: TaskWaits | None = None,
    ) -> None:
        self.session = PveSession(settings, transport=transport, retry=retry, on_request=on_request)
        self.waits = waits if waits is not None else TaskWaits()
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def settings(self) -> ConnectionSettings:
        return self.session.settings

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(endpoint={self.settings.endpoint!r}, token_id={self.settings.token_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- cluster -----------------------------------------------------------------------------

    def cluster_vms(self) -> tuple[ObservedVm, ...]:
        """Every QEMU guest of the cluster, templates included (``/cluster/resources``)."""
        return parse_resources(self.session.get("/cluster/resources", type="vm"))

    def cluster_resources(self) -> ClusterResources:
        """The QEMU guests, the online nodes' CPUs, memory and storages (with their ``shared``
        flag) and every guest VMID: one unfiltered ``GET /cluster/resources``."""
        return parse_cluster_resources(self.session.get("/cluster/resources"))

    def guest_vmids(self) -> frozenset[int]:
        """The VMID of every guest, LXC containers included: the VMIDs nothing new may take."""
        return self.cluster_resources().guest_vmids

    def tag_access(self) -> TagAccess:
        """The datacenter's tag rules for the token's user (``/cluster/options``); see
        ``homelab.core.tag_access.tag_access_problem``."""
        return parse_tag_access(self.session.get("/cluster/options"))

    # -- VMs ---------------------------------------------------------------------------------

    def clone(
        self,
        node: str,
        vmid: int,
        newid: int,
        *,
        name: str,
        full: bool,
        storage: str | None = None,
        target: str | None = None,
        description: str | None = None,
        idempotent: bool = False,
    ) -> str:
        """Clone ``vmid`` to ``newid``; returns the UPID (the task's id is the *source* vmid).

        A clone is not repeated on errors that leave its effect unknown (5xx, read timeout)
        unless ``idempotent`` says the caller can cope (it re-observes before going on).
        """
        data = self.session.post(
            f"{_vm(node, vmid)}/clone",
            idempotent=idempotent,
            newid=newid,
            name=name,
            full=full,
            storage=storage,
            target=target,
            description=description,
        )
        return parse_upid(data).raw

    def vm_config(self, node: str, vmid: int) -> tuple[dict[str, str], VmConfig]:
        """The VM's config as text values (what the config writer compares), and parsed."""
        data = self.session.get(f"{_vm(node, vmid)}/config")
        return config_values(data), parse_config(data)

    def update_config(
        self,
        node: str,
        vmid: int,
        *,
        digest: str | None = None,
        delete: Iterable[str] = (),
        **changes: Any,
    ) -> None:
        """Synchronous PUT /config. ``sshkeys`` is given in plain text (encoded here)."""
        self.session.put(f"{_vm(node, vmid)}/config", **_config_params(digest, delete, changes))

    def resize(self, node: str, vmid: int, disk: str, size: str) -> str | None:
        """Grow ``disk`` to ``size`` (``+10G`` grows by, ``42G`` grows to); UPID on PVE >= 8.

        A relative size is not repeated after an error that leaves its effect unknown.
        """
        params = {"disk": disk, "size": size}
        idempotent = not size.startswith("+")
        data = self.session.request(
            "PUT", f"{_vm(node, vmid)}/resize", params, idempotent=idempotent
        )
        return None if data["data"] is None else parse_upid(data["data"]).raw

    def vm_status(self, node: str, vmid: int) -> VmStatus:
        return parse_vm_status(self.session.get(f"{_vm(node, vmid)}/status/current"), vmid)

    def start(self, node: str, vmid: int, *, timeout: int | None = None) -> str:
        return parse_upid(self.session.post(f"{_vm(node, vmid)}/status/start", timeout=timeout)).raw

    def shutdown(
        self, node: str, vmid: int, *, timeout: int | None = None, force_stop: bool = False
    ) -> str:
        """ACPI/agent shutdown; ``force_stop`` kills the VM when ``timeout`` runs out."""
        data = self.session.post(
            f"{_vm(node, vmid)}/status/shutdown",
            idempotent=True,
            timeout=timeout,
            forceStop=force_stop or None,
        )
        return parse_upid(data).raw

    def stop(self, node: str, vmid: int, *, timeout: int | None = None) -> str:
        data = self.session.post(f"{_vm(node, vmid)}/status/stop", idempotent=True, timeout=timeout)
        return parse_upid(data).raw

    def destroy(self, node: str, vmid: int) -> str:
        """Destroy the VM, purging it from jobs and its unreferenced disks; the qmdestroy UPID."""
        params = {"purge": True, "destroy-unreferenced-disks": True}
        return parse_upid(self.session.request("DELETE", _vm(node, vmid), params)["data"]).raw

    def agent_ping(self, node: str, vmid: int) -> bool:
        """True if the guest agent answers; False while the guest (or its agent) is not up.

        "Not yet" is each 500 qemu-server gives while an agent starts: ``QEMU guest agent is
        not running``, ``VM <vmid> qmp command 'guest-ping' failed - got timeout`` (both
        AgentUnavailable) and ``VM <vmid> is not running``."""
        try:
            self.session.request("POST", f"{_vm(node, vmid)}/agent/ping", idempotent=True)
        except AgentUnavailable:
            return False
        except RefusedError as exc:
            if NOT_RUNNING_RE.search(exc.message):
                return False
            raise
        return True

    def agent_exec(self, node: str, vmid: int, argv: list[str], stdin: str | None = None) -> int:
        """Start ``argv`` in the guest (``guest-exec``); its pid for ``agent_exec_status``. Not
        retried: a command that may have started is never started twice."""
        params: dict[str, Any] = {"command": Repeated(argv), "input-data": stdin}
        data = self.session.request("POST", f"{_vm(node, vmid)}/agent/exec", params)["data"]
        return parse_exec_pid(data)

    def agent_exec_status(self, node: str, vmid: int, pid: int) -> ExecStatus:
        data = self.session.get(f"{_vm(node, vmid)}/agent/exec-status", pid=pid)
        return parse_exec_status(data)

    def agent_file_read(self, node: str, vmid: int, path: str) -> FileRead:
        return parse_file_read(self.session.get(f"{_vm(node, vmid)}/agent/file-read", file=path))

    def agent_file_write(self, node: str, vmid: int, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` in the guest (sent base64-encoded, ``encode=0``)."""
        content = base64.b64encode(data).decode("ascii")
        self.session.post(
            f"{_vm(node, vmid)}/agent/file-write", file=path, content=content, encode=False
        )

    def agent_interfaces(self, node: str, vmid: int) -> dict[str, tuple[IPv4Interface, ...]]:
        """Global IPv4 addresses per guest interface, as the guest agent reports them."""
        return parse_interfaces(self.session.get(f"{_vm(node, vmid)}/agent/network-get-interfaces"))

    # -- storage -----------------------------------------------------------------------------

    def storage_content(
        self, node: str, storage: str, content: str | None = None
    ) -> tuple[StorageItem, ...]:
        return parse_storage_items(
            self.session.get(f"{_storage(node, storage)}/content", content=content)
        )

    def storage_status(self, node: str, storage: str) -> StorageStatus:
        data = self.session.get(f"{_storage(node, storage)}/status")
        return parse_storage_status(data, storage)

    def upload_iso(
        self, node: str, storage: str, filename: str, data: bytes, waits: TaskWaits | None = None
    ) -> str:
        """Upload an ISO image (multipart, content=iso), wait for its imgcopy task, return the
        volume id (``local:iso/<filename>``). An existing file of that name is replaced.

        The SHA-256 goes along (``checksum`` + ``checksum-algorithm``), so PVE's imgcopy task
        refuses bytes that did not arrive intact. pve-http-server's multipart parser reads the
        form fields in one order only (``content``, ``checksum-algorithm``, ``checksum``) before
        the file part: any other order loses them, so the order here is PVE's."""
        if not filename.lower().endswith((".iso", ".img")) or "/" in filename:
            raise RefusedError(
                400, "wrong file extension", f"ISO file name {filename!r} must end in .iso or .img"
            )
        path = f"{_storage(node, storage)}/upload"
        files = {"filename": (filename, data, "application/octet-stream")}
        fields = {
            "content": "iso",
            "checksum-algorithm": "sha256",
            "checksum": hashlib.sha256(data).hexdigest(),
        }

        def dispatch() -> str | None:
            reply = self.session.request("POST", path, fields, idempotent=True, files=files)
            return None if reply["data"] is None else parse_upid(reply["data"]).raw

        self.run_task(dispatch, what=f"upload of {filename}", waits=waits)
        return f"{storage}:iso/{filename}"

    def delete_volume(
        self, node: str, storage: str, volid: str, waits: TaskWaits | None = None
    ) -> bool:
        """Delete a volume and wait until it is gone; False if it did not exist.

        The task is followed when Proxmox returns a well-formed UPID; otherwise (a synchronous
        delete, or a UPID with the volume id, colon included, in it) the storage listing is
        watched until the volume disappears.
        """
        waits = waits or self.waits
        path = f"{_storage(node, storage)}/content/{path_segment(volid)}"
        try:
            done = self.run_task(lambda: self._delete(path), what=f"delete of {volid}", waits=waits)
        except NotFoundError:
            return False
        except InvalidUpid:
            done = None
        deadline = self._monotonic() + waits.timeout
        while done is None and any(i.volid == volid for i in self.storage_content(node, storage)):
            if self._monotonic() > deadline:
                raise ProxmoxError(f"volume {volid} on {node} is still there after its delete")
            self._sleep(waits.poll)
        return True

    def _delete(self, path: str) -> str | None:
        try:
            data = self.session.delete(path)
        except (RefusedError, ServerError) as exc:
            if "does not exist" in exc.message:
                raise NotFoundError(404, "not found", exc.message) from exc
            raise
        return None if data is None else str(data)

    # -- tasks -------------------------------------------------------------------------------

    def wait_task(self, upid: str | Upid, waits: TaskWaits | None = None) -> TaskResult:
        """Wait for a task to stop; TaskFailed (with its log tail) unless it ended OK/WARNINGS."""
        return wait_for_task(
            upid if isinstance(upid, Upid) else parse_upid(upid),
            fetch_status=self._task_status,
            fetch_log_tail=self._task_log_tail,
            waits=waits or self.waits,
            sleep=self._sleep,
            monotonic=self._monotonic,
        )

    def run_task(
        self,
        dispatch: Callable[[], str | None],
        *,
        what: str,
        waits: TaskWaits | None = None,
    ) -> TaskResult | None:
        """Start a task with ``dispatch`` and wait for it. ``dispatch`` returning None means done
        synchronously. The task is started again (per the session's RetryPolicy) after an error
        that is transient and proves nothing was done (``before_effect``): a task that failed on
        a lock, a dispatch still locked out after its own retries, or NotDone (an ambiguous
        request looked up and found not done). Anything else is raised."""

        def attempt() -> TaskResult | None:
            upid = dispatch()
            return None if upid is None else self.wait_task(upid, waits)

        return self.session.retry.call(attempt, idempotent=False, what=what)

    def active_tasks(self, node: str, vmid: int) -> int:
        """How many tasks on ``node`` still run for ``vmid`` (the token's own are always
        listed: an interrupted run of the same token shows here)."""
        reply = self.session.request(
            "GET", f"/nodes/{node}/tasks", {"source": "active", "vmid": vmid}
        )
        return len(reply_list(reply, f"/nodes/{node}/tasks"))

    def _task_status(self, upid: Upid) -> TaskStatus:
        return parse_task_status(self.session.get(f"{_task(upid)}/status"))

    def _task_log_tail(self, upid: Upid, lines: int) -> tuple[str, ...]:
        """The last ``lines`` lines of a task's log (two small requests, never the whole log)."""
        path = f"{_task(upid)}/log"
        total = parse_task_log(self.session.request("GET", path, {"start": 0, "limit": 1})).total
        page = {"start": max(0, total - lines), "limit": lines}
        return parse_task_log(self.session.request("GET", path, page)).lines

    # -- what doctor reads -------------------------------------------------------------------

    def version(self) -> str:
        """The Proxmox VE version (``8.2.4``): the first authenticated call of a check."""
        return parse_version(self.session.get("/version"))

    def backup_jobs(self) -> tuple[BackupJob, ...]:
        """The datacenter's scheduled backup jobs (``/cluster/backup``; Sys.Audit on /)."""
        return parse_backup_jobs(self.session.get("/cluster/backup"))

    def create_backup_job(self, job_id: str, settings: Mapping[str, str]) -> None:
        """``POST /cluster/backup`` (Sys.Modify on /)."""
        self.session.request("POST", "/cluster/backup", {"id": job_id, **settings})

    def update_backup_job(
        self, job_id: str, settings: Mapping[str, str], delete: Iterable[str] = ()
    ) -> None:
        """``PUT /cluster/backup/{id}``: set ``settings``, remove the keys in ``delete``."""
        gone = ",".join(delete)
        extra = {"delete": gone} if gone else {}
        self.session.put(f"/cluster/backup/{path_segment(job_id)}", **settings, **extra)

    def restore(
        self,
        node: str,
        vmid: int,
        archive: str,
        storage: str,
        *,
        force: bool = False,
        unique: bool = False,
    ) -> str:
        """``POST /nodes/{node}/qemu`` with ``archive``: restore a backup into VMID ``vmid``
        (over an existing VM with ``force``; new MACs with ``unique``); its UPID."""
        params = {"vmid": str(int(vmid)), "archive": archive, "storage": storage}
        if force:
            params["force"] = "1"
        if unique:
            params["unique"] = "1"
        return parse_upid(
            self.session.request("POST", f"/nodes/{path_segment(node)}/qemu", params)["data"]
        ).raw

    def node_time(self, node: str) -> int:
        """The node's clock, Unix time (``/nodes/{node}/time``; Sys.Audit on the node)."""
        return parse_node_time(self.session.get(f"/nodes/{path_segment(node)}/time"))

    def create_pbs_storage(
        self, storage: str, settings: Mapping[str, str], secret: Secret
    ) -> Secret | None:
        """``POST /storage`` (Datastore.Allocate on /storage): a PBS storage whose password is
        ``secret`` (the PBS token's; PVE keeps it apart and never lists it). With
        ``encryption-key=autogen`` PVE answers the key it made, once: returned as a Secret."""
        params = {"storage": storage, **settings, "password": secret.reveal()}
        reply = self.session.request("POST", "/storage", params).get("data")
        config = reply.get("config") if isinstance(reply, dict) else None
        key = config.get("encryption-key") if isinstance(config, dict) else None
        return Secret(str(key)) if key else None

    def not_backed_up(self) -> tuple[StorageItem, ...]:
        """The guests no backup job covers (``/cluster/backup-info/not-backed-up``): each as
        an item with its ``vmid`` (and its name as ``volid``)."""
        return parse_not_backed_up(self.session.get("/cluster/backup-info/not-backed-up"))

    def vzdump(self, node: str, vmids: Iterable[int], storage: str) -> str:
        """Start vzdump of ``vmids`` on ``node`` to ``storage`` (snapshot mode, zstd); its UPID."""
        return parse_upid(
            self.session.post(
                f"/nodes/{path_segment(node)}/vzdump",
                vmid=",".join(str(int(v)) for v in vmids),
                storage=storage,
                mode="snapshot",
                compress="zstd",
            )
        ).raw

    def task_log(self, upid: str, lines: int = 500) -> tuple[str, ...]:
        """The last ``lines`` lines of a task's log."""
        return self._task_log_tail(parse_upid(upid), lines)

    def delete_backup_job(self, job_id: str) -> None:
        """``DELETE /cluster/backup/{id}`` (a job already gone counts as deleted)."""
        self.session.delete(f"/cluster/backup/{path_segment(job_id)}", idempotent=True)

    def node_bridges(self, node: str) -> tuple[Bridge, ...]:
        """``node``'s bridges the token may see (SDN.Audit or SDN.Use on each; any user may ask)."""
        path = f"/nodes/{path_segment(node)}/network"
        return parse_bridges(self.session.get(path, type="any_bridge"))

    def storage_configs(self) -> dict[str, StorageFacts]:
        """The datacenter's storages visible to the token (``/storage``), by id."""
        return parse_storage_configs(self.session.get("/storage"))


def _vm(node: str, vmid: int) -> str:
    return f"/nodes/{path_segment(node)}/qemu/{int(vmid)}"


def _storage(node: str, storage: str) -> str:
    return f"/nodes/{path_segment(node)}/storage/{path_segment(storage)}"


def _task(upid: Upid) -> str:
    return f"/nodes/{path_segment(upid.node)}/tasks/{quote(upid.raw, safe=':@!')}"


def _config_params(
    digest: str | None, delete: Iterable[str], changes: Mapping[str, Any]
) -> dict[str, Any]:
    params: dict[str, Any] = dict(changes)
    if isinstance(params.get("sshkeys"), str):
        # PVE wants sshkeys URL-encoded (then form-encoded again on the wire).
        params["sshkeys"] = quote(params["sshkeys"], safe="")
    removed = list(delete)
    if removed:
        params["delete"] = removed
    params["digest"] = digest
    return params
