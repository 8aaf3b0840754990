"""Reading the simulator's ``GET /_sim/guests``: what each guest reached of its bootstrap.

The simulator reports every guest (cloud-init phase, kubeadm phase, last error, log lines);
``guest_phases`` reads that answer, whatever its exact shape (a list of records or a mapping by
VM name), into the engine's ``GuestPhase``.
"""

from __future__ import annotations

from typing import Any

from homelab.engine.kube.diagnose import GuestPhase

__all__ = ["guest_phases"]


def guest_phases(data: Any) -> dict[str, GuestPhase]:
    """Parse ``/_sim/guests``' data: ``[{vm|name, ...}]`` or ``{vm: {...}}``."""
    records: list[tuple[str, dict[str, Any]]] = []
    if isinstance(data, dict):
        records = [(str(k), v) for k, v in data.items() if isinstance(v, dict)]
    elif isinstance(data, list):
        records = [
            (str(r.get("vm") or r.get("name") or r.get("vmid") or "?"), r)
            for r in data
            if isinstance(r, dict)
        ]
    return {name: _phase(name, record) for name, record in records}


def _phase(name: str, record: dict[str, Any]) -> GuestPhase:
    vm = str(record.get("name") or record.get("vm") or name)
    log = record.get("log") or record.get("logs") or record.get("log_lines") or []
    cloud_init = record.get("cloud_init")
    status = cloud_init.get("status") if isinstance(cloud_init, dict) else cloud_init
    return GuestPhase(
        vm=vm,
        cloud_init=_cloud_init_text(cloud_init),
        kubeadm=_text(record, "kubeadm", "kubeadm_phase"),
        error=_text(record, "last_error", "error"),
        log_tail=tuple(str(line) for line in log[-5:]) if isinstance(log, list) else (),
        finished_in_error=str(status).lower() in {"error", "failed"},
    )


def _cloud_init_text(value: object) -> str:
    """``status`` plus where it is (``running (config: runcmd)``), as cloud-init status shows."""
    if not isinstance(value, dict):
        return str(value or "")
    where = "/".join(str(value[k]) for k in ("stage", "module") if value.get(k))
    status = str(value.get("status") or "")
    return f"{status} ({where})" if where and status else status or where


def _text(record: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, dict):
            value = value.get("phase") or value.get("state") or value.get("status")
        if value:
            return str(value)
    return ""
