"""PveClient: the only code that speaks to the Proxmox VE API.

Low level, ``get/post/put/delete(path, **params)`` return the envelope's ``data`` after
retrying transient errors per the RetryPolicy (GET and PUT are idempotent; a POST or DELETE is
repeated only on errors that prove Proxmox did nothing, unless the caller passes
``idempotent=True``). ``wait_task`` follows a UPID to its end. The typed calls above them are
what the engine uses: each returns a small frozen dataclass or a UPID.

Nothing from httpx escapes: every request runs inside ``map_httpx_errors``. The API token is
in ``settings`` as a Secret and goes out only in the Authorization header.

Example::

    with PveClient(resolve_settings(spec.proxmox)) as pve:
        upid = pve.clone("pve1", 9000, 201, name="k8s-master-1", full=True)
        pve.wait_task(upid, timeout=900)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from ipaddress import IPv4Interface
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import (
    AgentUnavailable,
    ConflictError,
    RefusedError,
    ServerError,
    TaskFailed,
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
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.session import (
    build_http_client,
    decode_envelope,
    encode_params,
    map_httpx_errors,
    path_segment,
)
from homelab.engine.proxmox.tasks import TaskResult, Upid, wait_for_task

__all__ = ["PveClient", "RequestHook"]

log = logging.getLogger(__name__)

#: Called with (method, path) before every HTTP request, retries and task polls included.
RequestHook = Callable[[str, str], None]
IDEMPOTENT_METHODS = frozenset({"GET", "PUT"})
NOT_RUNNING_RE = re.compile(r"VM \d+ (is )?not running")


class PveClient:
    """A keep-alive client of one Proxmox VE API endpoint (see the module docstring)."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_request: RequestHook | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry if retry is not None else RetryPolicy()
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic
        self._hooks: list[RequestHook] = [on_request] if on_request else []
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:
        return (
            f"PveClient(endpoint={self.settings.endpoint!r}, token_id={self.settings.token_id!r})"
        )

    def __enter__(self) -> PveClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def add_request_hook(self, hook: RequestHook) -> None:
        """Call ``hook(method, path)`` before every HTTP request (benchmarks count them)."""
        self._hooks.append(hook)

    # -- low level ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        """Send one API request (with retries) and return the whole envelope."""
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        what = f"{method} {path}"
        return self.retry.call(
            lambda: self._send(method, path, encode_params(params or {}), files),
            idempotent=safe,
            what=what,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params)["data"]

    def post(self, path: str, *, idempotent: bool = False, **params: Any) -> Any:
        return self.request("POST", path, params, idempotent=idempotent)["data"]

    def put(self, path: str, **params: Any) -> Any:
        return self.request("PUT", path, params)["data"]

    def delete(self, path: str, *, idempotent: bool = False, **params: Any) -> Any:
        return self.request("DELETE", path, params, idempotent=idempotent)["data"]

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> dict[str, Any]:
        what = f"{method} {path}"
        for hook in self._hooks:
            hook(method, path)
        started = self._monotonic()
        with map_httpx_errors(self.settings, request=what):
            http = self._client()
            if method in ("GET", "DELETE"):
                response = http.request(method, path, params=params)
            else:
                response = http.request(method, path, data=params, files=files)
        log.debug("%s -> %d (%.3f s)", what, response.status_code, self._monotonic() - started)
        return decode_envelope(response, request=what)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = build_http_client(self.settings, self._transport)
        return self._http

    # -- tasks -------------------------------------------------------------------------------

    def wait_task(self, upid: str | Upid, timeout: float = 600.0, poll: float = 1.0) -> TaskResult:
        """Wait for a task to stop; TaskFailed (with its log tail) unless it ended OK/WARNINGS."""
        parsed = upid if isinstance(upid, Upid) else Upid.parse(upid)
        return wait_for_task(
            parsed,
            fetch_status=self.task_status,
            fetch_log_tail=self.task_log_tail,
            timeout=timeout,
            poll=poll,
            sleep=self._sleep,
            monotonic=self._monotonic,
        )

    def task_status(self, upid: Upid) -> dict[str, Any]:
        data = self.get(f"/nodes/{upid.node}/tasks/{_upid_segment(upid)}/status")
        return data if isinstance(data, dict) else {}

    def task_log_tail(self, upid: Upid, lines: int = 20) -> tuple[str, ...]:
        """The last ``lines`` lines of a task's log (two small requests, never the whole log)."""
        path = f"/nodes/{upid.node}/tasks/{_upid_segment(upid)}/log"
        total = as_int(self.request("GET", path, {"start": 0, "limit": 1}).get("total")) or 0
        data = self.get(path, start=max(0, total - lines), limit=lines)
        rows = data if isinstance(data, list) else []
        return tuple(str(row.get("t", "")) for row in rows if isinstance(row, dict))

    def run_task(
        self, dispatch: Callable[[], str | None], *, timeout: float = 600.0, what: str = "task"
    ) -> TaskResult | None:
        """Start a task with ``dispatch`` and wait for it, starting it again when it failed on a
        lock (which proves it did nothing). ``dispatch`` returning None means done synchronously.
        """

        def attempt() -> TaskResult | None:
            upid = dispatch()
            return None if upid is None else self.wait_task(upid, timeout)

        return self.retry.call(
            attempt, idempotent=False, what=what, retry_if=lambda e: isinstance(e, TaskFailed)
        )

    # -- cluster and nodes -------------------------------------------------------------------

    def version(self) -> PveVersion:
        return PveVersion.parse(self.get("/version") or {})

    def cluster_resources(self, type: str | None = "vm") -> tuple[ClusterResource, ...]:
        """``/cluster/resources``; ``type`` is the filter (``vm``, ``storage``, ``node``)."""
        data = self.get("/cluster/resources", type=type)
        return tuple(ClusterResource.parse(item) for item in data or [] if isinstance(item, dict))

    def nodes(self) -> tuple[NodeInfo, ...]:
        return tuple(NodeInfo.parse(item) for item in self.get("/nodes") or [])

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


def _upid_segment(upid: Upid) -> str:
    return quote(upid.raw, safe=":@!")


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
