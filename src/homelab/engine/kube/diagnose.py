"""Why a node is not in the cluster: the last cloud-init / kubeadm phase it reached.

A guest's ``GuestPhase`` comes from the lab's Site (``homelab.engine.site``): the simulator
reports every guest; for a real lab the guest agent's ``exec`` is not open to an API token
without VM.Monitor-class rights, so there is none and the diagnosis names the node, says what
Proxmox reports of its VM (power state, whether its guest agent answers), and points at the logs
on the node itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.engine.kube.health import NodeHealth

__all__ = ["GuestPhase", "explain_node", "failed_guests", "meaning_of"]

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
