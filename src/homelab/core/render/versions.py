"""What runs on a node for each supported Kubernetes minor: images, packages, addon versions.

One table, one row per minor in ``SUPPORTED_K8S_MINORS``. Sources: kubeadm's image list (the
pause image), Calico's tested-versions matrix (v3.28 is tested on 1.27-1.30, so one Calico
covers 1.29 and the first upgrade step), MetalLB and kube-vip releases; the monitoring stack's
Flux release and chart versions (Flux v2.9.4, kube-prometheus-stack 88.5.3, the community Loki
chart 18.11.0, Alloy 1.11.1, prometheus-pve-exporter 3.10.0; research/MONITORING-PINS.md).
containerd comes from the Ubuntu 24.04 archive (the 1.7 series); Docker's ``containerd.io``
ships a config with CRI disabled and is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.spec.models import SUPPORTED_K8S_MINORS
from homelab.errors import SpecError


@dataclass(frozen=True)
class ComponentVersions:
    """The versions rendered for one Kubernetes minor."""

    minor: str
    kubeadm_api: str
    pause_image: str
    containerd_package: str
    containerd_series: str
    package_revision: str
    calico: str
    tigera_operator: str
    metallb: str
    kube_vip: str
    flux: str
    kube_prometheus_stack: str
    loki_chart: str
    alloy_chart: str
    pve_exporter: str

    @property
    def apt_repo(self) -> str:
        """The pkgs.k8s.io apt repository of this minor (one repository per minor)."""
        return f"https://pkgs.k8s.io/core:/stable:/v{self.minor}/deb/"

    @property
    def apt_key_url(self) -> str:
        return f"{self.apt_repo}Release.key"

    def package_version(self, k8s_version: str) -> str:
        """The exact deb version of kubelet/kubeadm/kubectl, e.g. ``1.29.15-1.1``."""
        return f"{k8s_version}-{self.package_revision}"

    @property
    def tigera_operator_manifest(self) -> str:
        return (
            "https://raw.githubusercontent.com/projectcalico/calico/"
            f"{self.calico}/manifests/tigera-operator.yaml"
        )

    @property
    def metallb_manifest(self) -> str:
        return (
            "https://raw.githubusercontent.com/metallb/metallb/"
            f"{self.metallb}/config/manifests/metallb-native.yaml"
        )

    @property
    def flux_manifest(self) -> str:
        """Flux's release ``install.yaml`` (``kustomize build manifests/install``)."""
        return f"https://github.com/fluxcd/flux2/releases/download/{self.flux}/install.yaml"

    @property
    def pve_exporter_image(self) -> str:
        return f"prompve/prometheus-pve-exporter:{self.pve_exporter}"

    @property
    def kube_vip_image(self) -> str:
        return f"ghcr.io/kube-vip/kube-vip:{self.kube_vip}"


_COMMON = {
    "kubeadm_api": "kubeadm.k8s.io/v1beta3",
    "pause_image": "registry.k8s.io/pause:3.9",
    "containerd_package": "containerd",
    "containerd_series": "1.7",
    "package_revision": "1.1",
    "calico": "v3.28.5",
    "tigera_operator": "v1.34.13",
    "metallb": "v0.14.9",
    "kube_vip": "v0.8.9",
    # monitoring (monitoring.enabled): Flux's install.yaml, then charts through helm-controller
    "flux": "v2.9.4",
    "kube_prometheus_stack": "88.5.3",
    "loki_chart": "18.11.0",  # grafana-community/helm-charts (the OSS chart since 2026-03)
    "alloy_chart": "1.11.1",
    "pve_exporter": "3.10.0",  # image tags are PEP 440 versions, no "v"
}

VERSIONS: dict[str, ComponentVersions] = {
    "1.29": ComponentVersions(minor="1.29", **_COMMON),
    "1.30": ComponentVersions(minor="1.30", **_COMMON),
}
assert tuple(VERSIONS) == SUPPORTED_K8S_MINORS, "one row per supported minor"


def versions_for(minor: str) -> ComponentVersions:
    """The row for ``minor``; an unsupported minor is a spec error the user can fix."""
    try:
        return VERSIONS[minor]
    except KeyError:
        supported = ", ".join(VERSIONS)
        raise SpecError(
            f"kubernetes.version {minor}.x is not supported", hint=f"use one of {supported}"
        ) from None
