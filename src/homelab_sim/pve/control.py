"""The simulator's own control API under ``/api2/json/_sim/`` (not PVE; same authentication).

    GET    /_sim/requests   the request log (method, path, status, virtual time, errors)
    DELETE /_sim/requests   clear it
    GET    /_sim/faults     the active fault profile (with how often each rule fired)
    PUT    /_sim/faults     replace it (JSON body: a profile, see faults.py)
    GET    /_sim/clock      {"now": virtual epoch seconds, "time_scale": x}
    POST   /_sim/clock      {"advance": seconds}: move the virtual clock forward
    GET    /_sim/state      the whole simulated cluster as JSON
    GET    /_sim/guests     per VM: cloud-init and kubeadm phases, last error, the last
                            ``lines`` (default 40) lines of its cloud-init output
    GET    /_sim/kube       the simulated Kubernetes APIs: {"10.0.20.10:6443": "https://127..."}
    PUT    /_sim/network    {"node", "interfaces": [{"iface", "type", "cidr"?, "gateway"?,
                            "bridge_ports"?, "bridge_vlan_aware"?, "mtu"?, ...}]}: a node's
                            /etc/network/interfaces (state.NetIface), as applied
    POST   /_sim/lxc        {"vmid", "node", "name", "tags"?, "status"?}: an LXC guest (it
                            takes its VMID and shows in /cluster/resources; no CT API)
    PUT    /_sim/pbs        {"server", "port"?, "fingerprint", "datastores": {name: bytes} (or
                            "datastore" and "datastore_bytes"?), "token_id", "token_secret",
                            "reachable"?}: a Proxmox Backup Server
    GET    /_sim/scheduler  {"running": bool}: whether pvescheduler runs (backup jobs)
    PUT    /_sim/scheduler  {"running": false|true}: stop it (the host down for maintenance,
                            ``systemctl stop pvescheduler``: no scheduled job runs) or start
                            it; its first pass after a start, at that virtual time, skips the
                            runs missed meanwhile, except that a job with ``repeat-missed``
                            runs once (pve-manager ``PVE/Jobs.pm``, see backup_jobs.py). Kept
                            in the saved state; starting a running one does nothing
    POST   /_sim/corrupt    {"volid"}: damage a backup archive (its restore fails)
    POST   /_sim/pbs-verify {"storage"}: a PBS verify job over that storage's backups
    GET    /_sim/manifests/{component}/{version}/{file}
                            an addon's install manifest (YAML, not enveloped; 404 if unknown)

Reads need Sys.Audit on ``/``, writes Sys.Modify on ``/``. As on PVE's own API, a write
authenticated with a ticket (cookie) needs its ``CSRFPreventionToken`` header; API tokens
need none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from homelab_sim.errors import SimError
from homelab_sim.pve.auth import Authenticator, AuthFailure, Identity
from homelab_sim.pve.backup_jobs import set_scheduler
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError, param_fail
from homelab_sim.pve.faults import parse_profile
from homelab_sim.pve.pbs import put_pbs
from homelab_sim.pve.state import Container, NetIface

if TYPE_CHECKING:
    from homelab_sim.pve.simulator import PveSimulator

Control = Callable[["PveSimulator", Ctx, dict[str, Any]], Any]


def get_requests(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return [entry.as_dict() for entry in sim.log.entries()]


def clear_requests(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    sim.log.clear()
    return None


def get_faults(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return sim.faults.profile.model_dump()


def put_faults(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    try:
        profile = parse_profile(p, source="the request body")
    except SimError as exc:
        raise param_fail({"profile": exc.message}) from exc
    sim.faults.set_profile(profile)
    return None


def get_clock(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return {"now": sim.clock.now(), "time_scale": sim.clock.time_scale}


def post_clock(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    try:
        seconds = float(p.get("advance", 0))
    except (TypeError, ValueError):
        raise param_fail({"advance": "a number of seconds is required"}) from None
    if seconds < 0:
        raise param_fail({"advance": "the clock only moves forward"})
    sim.clock.advance(seconds)
    return {"now": sim.clock.now(), "time_scale": sim.clock.time_scale}


def get_state(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return sim.state.model_dump(mode="json")


def get_guests(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    try:
        lines = int(p.get("lines", 40))
    except (TypeError, ValueError):
        raise param_fail({"lines": "an integer number of log lines is required"}) from None
    return sim.guest.report(list(sim.state.vms.values()), log_lines=max(0, lines))


def post_lxc(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    try:
        vmid = int(p.get("vmid", ""))
    except (TypeError, ValueError):
        raise param_fail({"vmid": "an integer VMID is required"}) from None
    node, name = str(p.get("node", "")), str(p.get("name") or f"CT{vmid}")
    if sim.state.node(node) is None:
        raise param_fail({"node": f"no such cluster node '{node}'"})
    if not 100 <= vmid <= 999_999_999:
        raise param_fail({"vmid": f"invalid VMID {vmid}"})
    existing = sim.state.vms.get(vmid) or sim.state.containers.get(vmid)
    if existing is not None:
        kind = "VM" if vmid in sim.state.vms else "CT"
        raise param_fail({"vmid": f"{kind} {vmid} already exists on node '{existing.node}'"})
    status = str(p.get("status", "stopped"))
    if status not in ("stopped", "running"):
        raise param_fail({"status": "'stopped' or 'running'"})
    sim.state.containers[vmid] = Container(
        vmid=vmid, node=node, name=name, status=status, tags=str(p.get("tags", ""))
    )
    ctx.changed = True
    return None


def put_network(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    node = sim.state.node(str(p.get("node", "")))
    if node is None:
        raise param_fail({"node": f"no such cluster node '{p.get('node', '')}'"})
    raw = p.get("interfaces")
    if not isinstance(raw, list):
        raise param_fail({"interfaces": "a list of interfaces is required"})
    try:
        found = [NetIface.model_validate(entry) for entry in raw]
    except ValidationError as exc:
        raise param_fail({"interfaces": str(exc)}) from None
    if len({entry.iface for entry in found}) != len(found):
        raise param_fail({"interfaces": "an interface is listed twice"})
    node.interfaces = found
    ctx.changed = True
    return None


_SWITCH = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}


def get_scheduler(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return {"running": sim.state.scheduler.running}


def put_scheduler(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    """Stop (``running`` false) or start pvescheduler (see backup_jobs.py)."""
    value = p.get("running")
    running = (
        _SWITCH.get(str(value).strip().lower()) if isinstance(value, (bool, int, str)) else None
    )
    if running is None:
        raise param_fail({"running": "true or false is required"})
    set_scheduler(ctx, running)
    return {"running": sim.state.scheduler.running}


def post_corrupt(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    """Damage a backup archive (``volid``): restoring it fails from now on."""
    volid = str(p.get("volid") or "")
    for volume in sim.state.volumes.values():
        if volume.volid == volid and volume.content == "backup":
            volume.meta["corrupt"] = True
            ctx.changed = True
            return {"volid": volid}
    raise param_fail({"volid": f"no backup volume '{volid}'"})


def post_pbs_verify(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    """A PBS verify job over the backups of pbs storage ``storage``: each gets PBS's
    verification state (``failed`` for a damaged one), as PVE's content listing shows it."""
    storage = sim.state.storage(str(p.get("storage") or ""))
    if storage is None or storage.type != "pbs":
        raise param_fail({"storage": "not a pbs storage"})
    checked = 0
    for volume in sim.state.volumes.values():
        if volume.storage == storage.storage and volume.content == "backup":
            state = "failed" if volume.meta.get("corrupt") else "ok"
            volume.meta["verification"] = {"state": state, "upid": f"UPID:pbs:verify:{checked}"}
            checked += 1
    ctx.changed = True
    return {"verified": checked}


def put_pbs_server(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    """Add a simulated Proxmox Backup Server (see pve/pbs.py)."""
    try:
        return put_pbs(ctx, p)
    except ValidationError as exc:
        raise ApiError(400, f"bad PBS server: {exc.errors()[0]['msg']}") from exc


def get_kube(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return sim.kube_endpoints()


@dataclass(frozen=True)
class RawBody:
    """A control answer sent as is (not in the JSON envelope)."""

    data: bytes
    content_type: str


def get_manifest(sim: PveSimulator, ctx: Ctx, path: str) -> RawBody:
    parts = path.split("/")[3:]
    if len(parts) != 3 or not all(parts):
        raise ApiError(404, "expected /_sim/manifests/{component}/{version}/{file}")
    data = sim.manifest(*parts)
    if data is None:
        raise ApiError(404, f"no manifest {'/'.join(parts)} in the simulator's mirror")
    return RawBody(data, "application/yaml")


ROUTES: dict[tuple[str, str], tuple[str, Control]] = {
    ("GET", "/_sim/requests"): ("Sys.Audit", get_requests),
    ("DELETE", "/_sim/requests"): ("Sys.Modify", clear_requests),
    ("GET", "/_sim/faults"): ("Sys.Audit", get_faults),
    ("PUT", "/_sim/faults"): ("Sys.Modify", put_faults),
    ("GET", "/_sim/clock"): ("Sys.Audit", get_clock),
    ("POST", "/_sim/clock"): ("Sys.Modify", post_clock),
    ("GET", "/_sim/state"): ("Sys.Audit", get_state),
    ("GET", "/_sim/guests"): ("Sys.Audit", get_guests),
    ("GET", "/_sim/kube"): ("Sys.Audit", get_kube),
    ("POST", "/_sim/lxc"): ("Sys.Modify", post_lxc),
    ("PUT", "/_sim/network"): ("Sys.Modify", put_network),
    ("PUT", "/_sim/pbs"): ("Sys.Modify", put_pbs_server),
    ("GET", "/_sim/scheduler"): ("Sys.Audit", get_scheduler),
    ("PUT", "/_sim/scheduler"): ("Sys.Modify", put_scheduler),
    ("POST", "/_sim/corrupt"): ("Sys.Modify", post_corrupt),
    ("POST", "/_sim/pbs-verify"): ("Sys.Modify", post_pbs_verify),
}
MANIFESTS = "/_sim/manifests/"


def check_csrf(
    auth: Authenticator, ident: Identity, method: str, headers: Mapping[str, str]
) -> None:
    """pveproxy's rule for writes with a ticket: the CSRFPreventionToken must match (401)."""
    if ident.via != "ticket" or method == "GET":
        return
    if not auth.verify_csrf(headers.get("csrfpreventiontoken", ""), ident.userid):
        raise AuthFailure("Permission denied - invalid csrf token")


def dispatch(sim: PveSimulator, ctx: Ctx, method: str, path: str, p: dict[str, Any]) -> Any:
    if method == "GET" and path.startswith(MANIFESTS):
        if not ctx.can("/", "Sys.Audit"):
            raise ApiError(403, "Permission check failed (/, Sys.Audit)")
        return get_manifest(sim, ctx, path)
    route = ROUTES.get((method, path))
    if route is None:
        raise ApiError(501, f"Method '{method} {path}' not implemented")
    priv, handler = route
    if not ctx.can("/", priv):
        raise ApiError(403, f"Permission check failed (/, {priv})")
    return handler(sim, ctx, p)
