"""The retry and wait scripts, run for real by dash against fake kubeadm/curl/sleep commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from homelab.core.render import bootstrap

FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "$LOG"
[ "$1" = reset ] && exit 0
n=$(cat "$STATE/$(basename "$0")" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$STATE/$(basename "$0")"
case "$(basename "$0")" in
  sleep) exit 0 ;;
esac
[ "$n" -ge "$SUCCEED_ON" ]
"""


def run(script_entry: list[str], tmp_path: Path, succeed_on: int) -> tuple[int, list[str]]:
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell is not None
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name in ("kubeadm", "curl", "sleep"):
        (bin_dir / name).write_text(FAKE)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LOG": str(tmp_path / "log"),
        "STATE": str(state),
        "SUCCEED_ON": str(succeed_on),
    }
    assert script_entry[:2] == ["sh", "-c"]
    result = subprocess.run([shell, "-c", script_entry[2]], env=env, capture_output=True)
    log = (tmp_path / "log").read_text().splitlines() if (tmp_path / "log").exists() else []
    return result.returncode, log


def test_worker_join_is_reset_and_retried_until_it_succeeds(tmp_path: Path) -> None:
    code, log = run(bootstrap.worker_bootstrap(["kubeadm", "join", "--config", "x"]), tmp_path, 3)
    calls = [line for line in log if line.startswith("kubeadm")]
    assert code == 0
    assert calls == [
        "kubeadm join --config x",
        "kubeadm reset -f",
        "kubeadm join --config x",
        "kubeadm reset -f",
        "kubeadm join --config x",
    ]


def test_worker_join_gives_up_with_an_error(tmp_path: Path) -> None:
    code, log = run(bootstrap.worker_bootstrap(["kubeadm", "join"]), tmp_path, 99)
    assert code == 1
    assert log.count("kubeadm join") == bootstrap.WORKER_TRIES


@pytest.mark.parametrize(("succeed_on", "expected"), [(4, 0), (10_000, 1)])
def test_wait_for_api_polls_then_passes_or_times_out(
    tmp_path: Path, succeed_on: int, expected: int
) -> None:
    url = "https://10.0.20.9:6443/healthz"
    entry = bootstrap.wait_for_api(url, "/ca.crt", what="the API", tries=6)
    code, log = run(entry, tmp_path, succeed_on)
    curls = [line for line in log if line.startswith("curl")]
    assert code == expected
    assert len(curls) == (4 if expected == 0 else 6)
    assert "--cacert /ca.crt https://10.0.20.9:6443/healthz" in curls[0]


FAKE_KUBEADM = """#!/bin/sh
echo "kubeadm $*" >> "$LOG"
if [ "$1" = reset ]; then rm -rf "$PKI" "$MANIFESTS"; exit 0; fi
n=$(cat "$STATE/kubeadm" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$STATE/kubeadm"
[ -f "$PKI/ca.key" ] || { echo "no pki" >> "$LOG"; exit 3; }
echo "vip=$(cat "$MANIFESTS/kube-vip.yaml" 2>/dev/null)" >> "$LOG"
[ "$n" -ge "$SUCCEED_ON" ]
"""


def run_control_plane(
    tmp_path: Path, *, init: bool, succeed_on: int
) -> tuple[int, list[str], bootstrap.ControlPlanePaths]:
    paths = bootstrap.ControlPlanePaths(
        pki=str(tmp_path / "pki"),
        pki_keep=str(tmp_path / "run" / "homelab" / "pki"),
        kube_vip_staged=str(tmp_path / "staged" / "kube-vip.yaml"),
        kube_vip_init_staged=str(tmp_path / "staged" / "kube-vip-init.yaml"),
        kube_vip_manifest=str(tmp_path / "manifests" / "kube-vip.yaml"),
    )
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.key").write_text("key")
    (tmp_path / "staged").mkdir()
    (tmp_path / "staged" / "kube-vip.yaml").write_text("admin.conf")
    (tmp_path / "staged" / "kube-vip-init.yaml").write_text("super-admin.conf")
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("kubeadm", FAKE_KUBEADM), ("sleep", "#!/bin/sh\nexit 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "LOG": str(tmp_path / "log"),
        "STATE": str(state),
        "SUCCEED_ON": str(succeed_on),
        "PKI": paths.pki,
        "MANIFESTS": str(tmp_path / "manifests"),
    }
    verb = ["kubeadm", "init"] if init else ["kubeadm", "join"]
    entry = bootstrap.control_plane_bootstrap(verb, kube_vip=True, init=init, paths=paths)
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell is not None
    result = subprocess.run([shell, "-c", entry[2]], env=env, capture_output=True)
    return result.returncode, (tmp_path / "log").read_text().splitlines(), paths


def test_init_retries_with_the_pki_restored_and_super_admin_kube_vip(tmp_path: Path) -> None:
    code, log, paths = run_control_plane(tmp_path, init=True, succeed_on=2)
    assert code == 0
    assert log == [
        "kubeadm init",
        "vip=super-admin.conf",
        "kubeadm reset -f",
        "kubeadm init",  # the PKI is back after the reset wiped it
        "vip=super-admin.conf",
    ]
    assert Path(paths.kube_vip_manifest).read_text() == "admin.conf"  # switched after init
    assert Path(paths.pki, "ca.key").read_text() == "key"
    assert not Path(paths.pki_keep).exists(), "the key copy in /run is removed"


def test_control_plane_join_gets_kube_vip_only_after_joining(tmp_path: Path) -> None:
    code, log, paths = run_control_plane(tmp_path, init=False, succeed_on=1)
    assert code == 0
    assert log == ["kubeadm join", "vip="]  # join preflight wants an empty manifests dir
    assert Path(paths.kube_vip_manifest).read_text() == "admin.conf"


def test_control_plane_gives_up_without_installing_kube_vip(tmp_path: Path) -> None:
    code, log, paths = run_control_plane(tmp_path, init=False, succeed_on=99)
    assert code == 1
    assert log.count("kubeadm join") == bootstrap.CONTROL_PLANE_TRIES
    assert "no pki" not in log
    assert not Path(paths.kube_vip_manifest).exists()
    assert not Path(paths.pki_keep).exists()


@pytest.mark.parametrize("conf", ["kubelet.conf", "admin.conf"])
def test_a_node_already_in_a_cluster_is_never_joined_nor_reset(tmp_path: Path, conf: str) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    configs = (str(etc / "kubelet.conf"), str(etc / "admin.conf"))
    (etc / conf).write_text("apiVersion: v1\n")
    entry = bootstrap.worker_bootstrap(["kubeadm", "join"], cluster_configs=configs)
    code, log = run(entry, tmp_path, 1)
    assert code == 1 and log == [], "kubeadm never ran: no join, no reset"
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell is not None
    done = subprocess.run([shell, "-c", entry[2]], capture_output=True, text=True)
    assert f"homelab: {etc / conf} exists: this node already belongs to a cluster" in done.stderr
    paths = bootstrap.ControlPlanePaths(
        pki=str(tmp_path / "pki"), pki_keep=str(tmp_path / "keep" / "pki"), cluster_configs=configs
    )
    cp = bootstrap.control_plane_bootstrap(
        ["kubeadm", "init"], kube_vip=False, init=True, paths=paths
    )
    (tmp_path / "cp").mkdir()
    code, log = run(cp, tmp_path / "cp", 1)
    assert code == 1 and log == []


def test_without_a_cluster_config_the_worker_joins(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    configs = (str(etc / "kubelet.conf"), str(etc / "admin.conf"))
    entry = bootstrap.worker_bootstrap(["kubeadm", "join"], cluster_configs=configs)
    code, log = run(entry, tmp_path, 1)
    assert code == 0 and log == ["kubeadm join"]
