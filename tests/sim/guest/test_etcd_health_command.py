"""``etcdctl endpoint health [--cluster]`` inside the simulated etcd container, with etcdctl's
texts (ctlv3 ep_command.go): healthy endpoints on stdout, unhealthy ones on stderr after the
command timeout, then ``Error: unhealthy cluster`` and exit 1."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from homelab_sim.guest.crictl import ETCD_ID, Crictl
from homelab_sim.guest.shell import BufferSink, Streams
from homelab_sim.guest.system import GuestSystem
from homelab_sim.kube.cluster import CATCH_UP_ENV, ETCD_CATCH_UP, etcd_catch_up

PKI = "/etc/kubernetes/pki/etcd"
ETCDCTL = [
    "etcdctl",
    "--endpoints=https://127.0.0.1:2379",
    f"--cacert={PKI}/ca.crt",
    f"--cert={PKI}/server.crt",
    f"--key={PKI}/server.key",
]
M1, M2, M3 = (f"https://10.0.20.1{i}:2379" for i in (1, 2, 3))


def _health(
    members: list[tuple[str, bool, bool]] | None, *args: str
) -> tuple[int, str, str, float]:
    system = GuestSystem.stock()
    system.installed["cri-tools"] = "1.29.0"
    system.active.add("kubelet")
    system.write("/etc/kubernetes/manifests/etcd.yaml", b"pod")
    for name in ("ca.crt", "server.crt", "server.key"):
        system.write(f"{PKI}/{name}", b"x")
    crictl = Crictl(system, lambda: None, health=lambda: members)
    out, err = BufferSink(), BufferSink()
    run: Generator[float, None, Any] = crictl(
        ["exec", ETCD_ID, *ETCDCTL, "endpoint", "health", *args], Streams(out, err), b""
    )
    took = 0.0
    try:
        while True:
            took += next(run)
    except StopIteration as done:
        return int(done.value), out.value(), err.value(), took


def test_every_member_healthy_with_cluster() -> None:
    status, out, err, took = _health(
        [(M1, True, True), (M2, True, False), (M3, True, False)], "--cluster"
    )
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"{url} is healthy: successfully committed proposal: took = 9.8ms" for url in (M1, M2, M3)
    ]
    assert took < 5.0


def test_a_member_behind_makes_the_cluster_unhealthy_after_the_timeout() -> None:
    status, out, err, took = _health(
        [(M1, False, False), (M2, True, True), (M3, True, False)], "--cluster"
    )
    assert status == 1
    assert out.splitlines() == [
        f"{url} is healthy: successfully committed proposal: took = 9.8ms" for url in (M2, M3)
    ]
    assert err == (
        f"{M1} is unhealthy: failed to commit proposal: context deadline exceeded\n"
        "Error: unhealthy cluster\n"
    )
    assert took >= 5.0


def test_without_cluster_only_this_node_is_asked() -> None:
    status, out, _, _ = _health([(M1, False, False), (M2, True, True)])
    assert (status, out) == (
        0,
        "https://127.0.0.1:2379 is healthy: successfully committed proposal: took = 9.8ms\n",
    )
    status, _, err, _ = _health([(M1, True, False), (M2, False, True)])
    assert status == 1 and err.startswith("https://127.0.0.1:2379 is unhealthy")


def test_a_node_serving_no_etcd_times_out() -> None:
    status, out, err, _ = _health(None, "--cluster")
    assert (status, out, err) == (1, "", "Error: context deadline exceeded\n")


def test_the_catch_up_time_is_the_default_or_the_environment_s(monkeypatch: Any) -> None:
    monkeypatch.delenv(CATCH_UP_ENV, raising=False)
    assert etcd_catch_up() == ETCD_CATCH_UP
    monkeypatch.setenv(CATCH_UP_ENV, "120")
    assert etcd_catch_up() == 120.0
    monkeypatch.setenv(CATCH_UP_ENV, "soon")
    assert etcd_catch_up() == ETCD_CATCH_UP
