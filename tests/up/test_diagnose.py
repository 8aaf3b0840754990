"""Naming a node that did not come up: its last cloud-init / kubeadm phase and the cause."""

from __future__ import annotations

from typing import Any

from homelab.engine.kube.diagnose import explain_node, failed_guests
from homelab.engine.kube.health import NodeHealth
from homelab.simulated.guests import guest_phases

REFUSED = (
    "error execution phase preflight: couldn't validate the identity of the API Server: "
    'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"'
)
GUESTS: dict[str, dict[str, Any]] = {
    "w1": {
        "cloud_init": {"status": "error", "stage": "final", "module": "scripts_user"},
        "kubeadm": {"phase": "preflight", "error": REFUSED},
        "last_error": REFUSED,
        "log": ["[kubeadm] preflight", REFUSED],
    },
    "w2": {
        "cloud_init": {"status": "running", "stage": "final", "module": "scripts_user"},
        "kubeadm": {"phase": "preflight/discovery", "error": None},
        "last_error": None,
        "log": [],
    },
}


def absent(name: str) -> NodeHealth:
    return NodeHealth(name, "worker", "10.0.20.21", "", False, False)


def test_only_a_guest_whose_cloud_init_finished_in_error_has_failed() -> None:
    phases = guest_phases(GUESTS)
    assert [g.vm for g in failed_guests(phases, ["w1", "w2", "w3"])] == ["w1"]
    assert phases["w2"].kubeadm == "preflight/discovery"
    assert phases["w1"].cloud_init == "error (final/scripts_user)"


def test_the_explanation_names_node_phase_meaning_cause_and_logs() -> None:
    phase = guest_phases(GUESTS)["w1"]
    assert explain_node(absent("w1"), phase, user="ubuntu") == (
        "node w1 (10.0.20.21) did not join the cluster; last phase: cloud-init error "
        "(final/scripts_user), kubeadm preflight; cause: the bootstrap token in its join "
        f"configuration is unknown or expired ({REFUSED}); look at "
        "/var/log/cloud-init-output.log on it (ssh ubuntu@10.0.20.21)"
    )


def test_without_guest_reports_the_node_and_the_logs_are_named() -> None:
    node = NodeHealth("w2", "worker", "10.0.20.22", "v1.29.15", False, True, "NotReady")
    assert explain_node(node, None, user="admin") == (
        "node w2 (10.0.20.22) registered but NotReady; look at /var/log/cloud-init-output.log "
        "on it (ssh admin@10.0.20.22)"
    )


def test_a_real_lab_names_the_vm_state_proxmox_reports() -> None:
    line = explain_node(
        absent("w1"), None, user="ubuntu", vm_state="VM running, guest agent answers"
    )
    assert line.startswith(
        "node w1 (10.0.20.21) did not join the cluster (VM running, guest agent answers); look at"
    )


def test_a_list_shaped_report_is_read_too() -> None:
    phases = guest_phases([{"name": "w1", **GUESTS["w1"]}, "noise"])
    assert list(phases) == ["w1"] and phases["w1"].failed
