"""cloud-init modules on a guest without kubeadm: apt sources, write_files encodings, users."""

from __future__ import annotations

import base64
from dataclasses import replace

from homelab_sim.guest import apt
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import boot, guests, rendered, run_for
from tests.sim.support import Api

KEY = "".join(f"        {line}\n" for line in apt.ARMORED_KEY.splitlines())
MOTD = base64.b64encode(b"hello\n").decode()
USER_DATA = f"""#cloud-config
hostname: box
users: [default, {{name: ops, groups: [sudo]}}]
apt:
  sources:
    kubernetes:
      source: "deb [signed-by=$KEY_FILE] https://pkgs.k8s.io/core:/stable:/v1.30/deb/ /"
      key: |
{KEY}
package_update: true
packages: [jq, kubectl]
write_files:
- path: /etc/motd
  encoding: b64
  content: {MOTD}
  permissions: '0600'
runcmd:
- [kubectl, version, --client]
"""


def test_apt_sources_write_files_and_packages(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    seed = replace(lab.artifacts.seeds["k8s-master-1"], user_data=USER_DATA.encode())
    vmid = boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 300)
    entry = guests(api)["k8s-master-1"]
    assert entry["cloud_init"]["status"] == "done", entry["log"]
    assert "Client Version: v1.30.14" in entry["log"]
    system = sim.guest.machines[vmid].system  # type: ignore[attr-defined]
    assert system.read("/etc/motd") == b"hello\n"
    assert system.files["/etc/motd"].mode == 0o600
    assert system.installed["jq"] and system.installed["kubectl"] == "1.30.14-1.1"
    listing = system.text("/etc/apt/sources.list.d/kubernetes.list")
    assert "signed-by=/etc/apt/cloud-init.gpg.d/kubernetes.gpg" in listing
    assert system.hostname == "box" and system.users == ["ops"]
    assert entry["kubeadm"]["phase"] is None
