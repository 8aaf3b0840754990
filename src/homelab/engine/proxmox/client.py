"""PveClient: the typed Proxmox VE calls the engine uses, on top of PveSession.

Each call returns a small frozen dataclass, text, or a task's UPID (checked to be one). Calls
that start a task return its UPID so the engine can wait with its own timeout and concurrency;
``update_config_async``, ``upload_iso`` and ``delete_volume`` wait themselves. Request
plumbing, retries and task waits are in session.py; httpx is confined to wire.py.

Example::

    with PveClient(resolve_settings(spec.proxmox)) as pve:
        upid = pve.clone("pve1", 9000, 201, name="k8s-master-1", full=True)
        pve.wait_task(upid, timeout=900)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Interface
from typing import Any
from urllib.parse import quote

from homelab.engine.proxmox.errors import (
    AgentUnavailable,
    ConflictError,
    RefusedError,
    ServerError,
)
from homelab.engine.proxmox.resources import (
    ClusterResource,
    NodeInfo,
    NodeStatus,
    PveVersion,
    StorageItem,
    StorageStatus,
    VmStatus,
    as_int,
    parse_config,
    parse_interfaces,
)
from homelab.engine.proxmox.session import PveSession, RequestHook
from homelab.engine.proxmox.tasks import TaskResult, Upid
from homelab.engine.proxmox.wire import path_segment

__all__ = ["PveClient", "RequestHook"]

NOT_RUNNING_RE = re.compile(r"VM \d+ (is )?not running")


class PveClient(PveSession):
    """The Proxmox VE API as typed calls (see the module docstring)."""

    # -- cluster and nodes -------------------------------------------------------------------

    def version(self) -> PveVersion:
        return PveVersion.parse(self.get("/version") or {})

    def cluster_resources(self, type: str | None = "vm") -> tuple[ClusterResource, ...]:
        """``/cluster/resources``; ``type`` is the filter (``vm``, ``storage``, ``node``)."""
        data = self.get("/cluster/resources", type=type)
        return tuple(ClusterResource.parse(item) for item in data or [] if isinstance(item, dict))

    def nodes(self) -> tuple[NodeInfo, ...]:
        data = self.get("/nodes")
        return tuple(NodeInfo.parse(item) for item in data or [] if isinstance(item, dict))

    def node_status(self, node: str) -> NodeStatus:
        return NodeStatus.parse(self.get(f"/nodes/{path_segment(node)}/status") or {}, node)

    def next_id(self, vmid: int | None = None) -> int:
        """The lowest free VMID (nothing is reserved: creating it may still conflict)."""
        raw = self.get("/cluster/nextid", vmid=vmid)
        value = as_int(raw)
        if value is None:
            raise ServerError(
                200,
                "OK",
                f"/cluster/nextid returned {raw!r}, not a VMID",
                request="GET /cluster/nextid",
            )
        return value

    def vmid_free(self, vmid: int) -> bool:
        """True if no guest in the cluster uses ``vmid`` right now."""
        try:
            return self.next_id(vmid) == vmid
        except ConflictError:
            return False

    def permissions(self, path: str | None = None) -> dict[str, dict[str, bool]]:
        """The token's effective privileges: ``{path: {privilege: propagates}}``."""
        data = self.request("GET", "/access/permissions", {"path": path})["data"] or {}
        return {
            str(p): {str(k): bool(as_int(v)) for k, v in privs.items()}
            for p, privs in data.items()
            if isinstance(privs, dict)
        }

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
        pool: str | None = None,
        idempotent: bool = False,
    ) -> str:
        """Clone ``vmid`` to ``newid``; returns the UPID (the task's id is the *source* vmid).

        A clone is not repeated on errors that leave its effect unknown (5xx, read timeout)
        unless ``idempotent`` says the caller can cope (it re-observes before going on).
        """
        return _task_id(
            self.post(
                f"{_vm(node, vmid)}/clone",
                idempotent=idempotent,
                newid=newid,
                name=name,
                full=full,
                storage=storage,
                target=target,
                description=description,
                pool=pool,
            )
        )

    def vm_config(
        self, node: str, vmid: int, *, current: bool = False
    ) -> tuple[dict[str, str], str]:
        """The VM's config as text values, and its digest (for ``update_config(digest=...)``)."""
        return parse_config(self.get(f"{_vm(node, vmid)}/config", current=current or None) or {})

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
        self.put(f"{_vm(node, vmid)}/config", **_config_params(digest, delete, changes))

    def update_config_async(
        self,
        node: str,
        vmid: int,
        *,
        digest: str | None = None,
        delete: Iterable[str] = (),
        timeout: float = 300.0,
        **changes: Any,
    ) -> TaskResult | None:
        """POST /config and wait for its qmconfig task (for disk allocation and hotplug)."""
        params = _config_params(digest, delete, changes)
        return self.run_task(
            lambda: self.post(f"{_vm(node, vmid)}/config", idempotent=True, **params),
            timeout=timeout,
            what=f"update config of VM {vmid}",
        )

    def resize(self, node: str, vmid: int, disk: str, size: str) -> str | None:
        """Grow ``disk`` to ``size`` (``+10G`` grows by, ``42G`` grows to); UPID on PVE >= 8.

        A relative size is not repeated after an error that leaves its effect unknown.
        """
        params = {"disk": disk, "size": size}
        idempotent = not size.startswith("+")
        data = self.request("PUT", f"{_vm(node, vmid)}/resize", params, idempotent=idempotent)[
            "data"
        ]
        return None if data is None else str(data)

    def vm_status(self, node: str, vmid: int) -> VmStatus:
        return VmStatus.parse(self.get(f"{_vm(node, vmid)}/status/current") or {}, vmid)

    def start(self, node: str, vmid: int, *, timeout: int | None = None) -> str:
        return _task_id(self.post(f"{_vm(node, vmid)}/status/start", timeout=timeout))

    def shutdown(
        self, node: str, vmid: int, *, timeout: int | None = None, force_stop: bool = False
    ) -> str:
        """ACPI/agent shutdown; ``force_stop`` kills the VM when ``timeout`` runs out."""
        return _task_id(
            self.post(
                f"{_vm(node, vmid)}/status/shutdown",
                idempotent=True,
                timeout=timeout,
                forceStop=force_stop or None,
            )
        )

    def stop(self, node: str, vmid: int, *, timeout: int | None = None) -> str:
        return _task_id(
            self.post(f"{_vm(node, vmid)}/status/stop", idempotent=True, timeout=timeout)
        )

    def reboot(self, node: str, vmid: int, *, timeout: int | None = None) -> str:
        return _task_id(self.post(f"{_vm(node, vmid)}/status/reboot", timeout=timeout))

    def destroy(
        self, node: str, vmid: int, *, purge: bool = True, destroy_unreferenced_disks: bool = True
    ) -> str:
        """Destroy the VM and its disks; returns the qmdestroy UPID."""
        params = {"purge": purge, "destroy-unreferenced-disks": destroy_unreferenced_disks}
        return _task_id(self.request("DELETE", _vm(node, vmid), params)["data"])

    def agent_ping(self, node: str, vmid: int) -> bool:
        """True if the guest agent answers; False while the guest (or its agent) is not up."""
        try:
            self.request("POST", f"{_vm(node, vmid)}/agent/ping", idempotent=True)
        except AgentUnavailable:
            return False
        except RefusedError as exc:
            if NOT_RUNNING_RE.search(exc.message):
                return False
            raise
        return True

    def agent_interfaces(self, node: str, vmid: int) -> dict[str, tuple[IPv4Interface, ...]]:
        """Global IPv4 addresses per guest interface, as the guest agent reports them."""
        return parse_interfaces(self.get(f"{_vm(node, vmid)}/agent/network-get-interfaces"))

    # -- storage -----------------------------------------------------------------------------

    def storage_content(
        self, node: str, storage: str, content: str | None = None
    ) -> tuple[StorageItem, ...]:
        data = self.get(f"{_storage(node, storage)}/content", content=content)
        return tuple(StorageItem.parse(item) for item in data or [] if isinstance(item, dict))

    def storage_status(self, node: str, storage: str) -> StorageStatus:
        return StorageStatus.parse(self.get(f"{_storage(node, storage)}/status") or {}, storage)

    def upload_iso(
        self, node: str, storage: str, filename: str, data: bytes, *, timeout: float = 300.0
    ) -> str:
        """Upload an ISO image (multipart, content=iso), wait for its imgcopy task, return the
        volume id (``local:iso/<filename>``). An existing file of that name is replaced."""
        if not filename.lower().endswith((".iso", ".img")) or "/" in filename:
            raise RefusedError(
                400, "wrong file extension", f"ISO file name {filename!r} must end in .iso or .img"
            )
        path = f"{_storage(node, storage)}/upload"
        files = {"filename": (filename, data, "application/octet-stream")}

        def dispatch() -> str | None:
            reply = self.request("POST", path, {"content": "iso"}, idempotent=True, files=files)
            return None if reply["data"] is None else str(reply["data"])

        self.run_task(dispatch, timeout=timeout, what=f"upload of {filename}")
        return f"{storage}:iso/{filename}"

    def delete_volume(self, node: str, storage: str, volid: str, *, timeout: float = 120.0) -> None:
        """Delete a volume and wait for its imgdel task."""
        path = f"{_storage(node, storage)}/content/{path_segment(volid)}"
        self.run_task(
            lambda: self.delete(path, idempotent=False), timeout=timeout, what=f"delete {volid}"
        )


def _task_id(data: Any) -> str:
    """The UPID a task-starting call returned, checked (a clear error beats a later one)."""
    return Upid.parse(str(data)).raw


def _vm(node: str, vmid: int) -> str:
    return f"/nodes/{path_segment(node)}/qemu/{int(vmid)}"


def _storage(node: str, storage: str) -> str:
    return f"/nodes/{path_segment(node)}/storage/{path_segment(storage)}"


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
