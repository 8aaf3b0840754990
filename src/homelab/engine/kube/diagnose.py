"""Why a node is not in the cluster: the last cloud-init / kubeadm phase it reached.

With ``--sim`` the simulator reports every guest at ``GET /_sim/guests`` (cloud-init phase,
kubeadm phase, last error, log lines); ``guest_phases`` reads that answer, whatever its exact
shape (a list of records or a mapping by VM name). For a real lab the guest agent's ``exec`` is
not open to an API token without VM.Monitor-class rights, so the diagnosis names the node, says
whether its guest agent answers, and points at the logs on the node itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homelab.engine.kube.health import NodeHealth

__all__ = ["GuestPhase", "explain_node", "failed_guests", "guest_phases"]

LOGS = "/var/log/cloud-init-output.log"


@dataclass(frozen=True)
class GuestPhase:
    """What a guest reports about its bootstrap."""

    vm: str
    cloud_init: str = ""
    kubeadm: str = ""
    error: str = ""
    log_tail: tuple[str, ...] = ()

    finished_in_error: bool = False

    @property
    def failed(self) -> bool:
        """A terminal failure: cloud-init finished in error (it does not rerun a failed join)."""
        return self.finished_in_error


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


#: kubeadm's words for the usual join refusals, and what they mean for this tool's lab.
KNOWN_CAUSES = (
    ("for token ID", "the bootstrap token in its join configuration is unknown or expired"),
    (
        "failed to verify JWS signature",
        "the bootstrap token secret in its join configuration is wrong",
    ),
    ("are pinned", "the CA hash in its join configuration is not the cluster CA's"),
)


def meaning_of(error: str) -> str:
    """A plain reading of a known kubeadm error ("" if unknown)."""
    return next((meaning for words, meaning in KNOWN_CAUSES if words in error), "")


def failed_guests(phases: dict[str, GuestPhase], nodes: list[str]) -> list[GuestPhase]:
    """The guests of ``nodes`` whose bootstrap failed for good."""
    return [phases[n] for n in nodes if n in phases and phases[n].failed]


def explain_node(
    node: NodeHealth, phase: GuestPhase | None, *, user: str, vm_state: str = ""
) -> str:
    """One line: the node, how far it got, the cause if known, where to look.

    ``vm_state`` is what Proxmox says of the VM (for a real lab, where the guest's own phases
    cannot be read), e.g. ``VM running, guest agent answers``.
    """
    state = "registered but NotReady" if node.registered else "did not join the cluster"
    if vm_state:
        state += f" ({vm_state})"
    where = f"look at {LOGS} on it (ssh {user}@{node.ip})"
    if phase is None:
        return f"node {node.name} ({node.ip}) {state}; {where}"
    reached = ", ".join(
        part
        for part in (
            f"cloud-init {phase.cloud_init}" if phase.cloud_init else "",
            f"kubeadm {phase.kubeadm}" if phase.kubeadm else "",
        )
        if part
    )
    line = f"node {node.name} ({node.ip}) {state}"
    if reached:
        line += f"; last phase: {reached}"
    if phase.error:
        meaning = meaning_of(phase.error)
        line += f"; cause: {meaning} ({phase.error})" if meaning else f"; cause: {phase.error}"
    return f"{line}; {where}"
