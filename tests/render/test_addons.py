"""Addon resources: what they must say for the cluster to come up (beyond schema validity)."""

from __future__ import annotations

import ipaddress
from typing import Any

import yaml

from homelab.core.render.artifacts import Artifacts
from homelab.core.spec.models import LabSpec

# MetalLB v0.14 (metallb.io/v1beta1) documented spec fields.
IP_ADDRESS_POOL_FIELDS = {"addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"}
L2_ADVERTISEMENT_FIELDS = {
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "interfaces",
}


def docs(artifacts: Artifacts, name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(artifacts.cluster[name]))


def test_calico_pool_is_pod_cidr_and_autodetection_is_pinned(
    rendered: dict[str, Artifacts], specs: dict[str, LabSpec]
) -> None:
    for lab, artifacts in rendered.items():
        (installation,) = [d for d in docs(artifacts, "calico.yaml") if d["kind"] == "Installation"]
        network = installation["spec"]["calicoNetwork"]
        (pool,) = network["ipPools"]
        assert pool["cidr"] == str(specs[lab].kubernetes.pod_cidr)
        assert network["nodeAddressAutodetectionV4"] == {"kubernetes": "NodeInternalIP"}
        assert installation["metadata"]["name"] == "default"


def test_metallb_pool_and_l2_advertisement(
    rendered: dict[str, Artifacts], specs: dict[str, LabSpec]
) -> None:
    for lab, artifacts in rendered.items():
        resources = docs(artifacts, "metallb.yaml")
        pools = [d for d in resources if d["kind"] == "IPAddressPool"]
        adverts = [d for d in resources if d["kind"] == "L2Advertisement"]
        assert len(pools) == 1 and len(adverts) == 1
        for doc in resources:
            assert doc["apiVersion"] == "metallb.io/v1beta1"
            assert doc["metadata"]["namespace"] == "metallb-system"
        assert set(pools[0]["spec"]) <= IP_ADDRESS_POOL_FIELDS
        assert set(adverts[0]["spec"]) <= L2_ADVERTISEMENT_FIELDS
        (addresses,) = pools[0]["spec"]["addresses"]
        first, last = (ipaddress.IPv4Address(a) for a in addresses.split("-"))
        lb = specs[lab].kubernetes.load_balancer
        assert lb is not None
        assert (first, last) == (lb.first, lb.last)
        assert adverts[0]["spec"]["ipAddressPools"] == [pools[0]["metadata"]["name"]]


def test_addon_index_lists_versions_urls_and_files(rendered: dict[str, Artifacts]) -> None:
    index = yaml.safe_load(rendered["ha-lab"].cluster["addons.yaml"])
    by_name = {a["component"]: a for a in index["addons"]}
    assert list(by_name) == ["calico", "metallb", "kube-vip"]
    calico = by_name["calico"]
    assert calico["version"] == "v3.28.5"
    assert calico["manifest"].endswith("/calico/v3.28.5/manifests/tigera-operator.yaml")
    assert calico["apply"] == "create"  # the CRD bundle is too big for client-side apply
    assert by_name["metallb"]["manifest"] == (
        "https://raw.githubusercontent.com/metallb/metallb/v0.14.9/config/manifests/metallb-native.yaml"
    )
    for addon in index["addons"]:
        for resource in addon["resources"]:
            assert resource in rendered["ha-lab"].cluster
    home = yaml.safe_load(rendered["home-lab"].cluster["addons.yaml"])
    assert [a["component"] for a in home["addons"]] == ["calico", "metallb"]  # no VIP, no kube-vip
