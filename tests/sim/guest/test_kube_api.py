"""A cluster the guests built answers over HTTPS like kubeadm's API server would."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from homelab.engine.pki import mint_admin_kubeconfig
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import boot, rendered, run_for
from tests.sim.kube.support import client_files
from tests.sim.support import Api


def test_the_booted_lab_is_served_with_the_tools_ca(
    sim: PveSimulator, api: Api, tmp_path: Path
) -> None:
    lab = rendered("home-lab")
    for name in sorted(lab.spec.vms):
        boot(api, lab, name)
    run_for(sim, api, 900)
    url = api.ok("GET", "/_sim/kube")["10.0.20.10:6443"]
    config = tmp_path / "admin.conf"
    config.write_text(
        mint_admin_kubeconfig(
            lab.secrets, cluster="home-lab", server=url, tls_server_name="10.0.20.10"
        )
    )
    ca, crt, key = client_files(config, tmp_path)
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(crt, key)
    with httpx.Client(verify=context) as http:
        response = http.get(f"{url}/api/v1/nodes", extensions={"sni_hostname": "10.0.20.10"})
        assert response.status_code == 200
        nodes = {n["metadata"]["name"]: n for n in response.json()["items"]}
        token = http.get(
            f"{url}/api/v1/namespaces/kube-system/secrets/bootstrap-token-{lab.secrets.bootstrap_token_id}",
            extensions={"sni_hostname": "10.0.20.10"},
        )
    assert sorted(nodes) == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    addresses = {n["status"]["addresses"][0]["address"] for n in nodes.values()}
    assert addresses == {"10.0.20.10", "10.0.20.21", "10.0.20.22"}
    assert token.status_code == 200  # kubeadm init's bootstrap-token phase wrote it
    assert token.json()["type"] == "bootstrap.kubernetes.io/token"
