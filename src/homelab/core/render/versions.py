"""What runs on a node for each supported Kubernetes minor: images, packages, addon versions.

One table, one row per minor in ``SUPPORTED_K8S_MINORS`` (1.29 through 1.37). Sources
(``k8s-bootstrap/UPGRADES.md`` unless said otherwise; what that file marks unconfirmed was
checked where named):

- kubeadm config API: ``kubeadm.k8s.io/v1beta3`` up to 1.30, ``v1beta4`` from 1.31 (k/k#125029;
  v1beta3 is removed in 1.37, k/k#136016), so every minor from 1.31 renders v1beta4.
- pause (kubeadm's ``PauseVersion``): 3.9 for 1.29/1.30; 3.10 for 1.31-1.33 (checked in
  ``cmd/kubeadm/app/constants/constants.go`` of kubernetes/kubernetes @3301161c, the 1.31
  tree, and @00886ac0, 1.32); 3.10.1 from 1.34 (kubespray, kubeadm 1.35 copies).
- containerd: the Ubuntu 24.04 archive ships the 1.7 series (1.7.24 in noble-updates here).
  containerd's RELEASES.md asks 1.7.28+ or 2.x for 1.34 and 1.35 and 2.x only from 1.36 (no
  1.x), and kubeadm 1.35 warns that a runtime without the CRI ``RuntimeConfig`` call (2.0+)
  will not run the 1.36 kubelet. So from 1.34 nodes install ``containerd.io`` 2.x from Docker's
  apt repository for Ubuntu (``download.docker.com/linux/ubuntu noble stable``), written with
  containerd 2's config (``version = 3``); Docker's packaged config disables the CRI plugin,
  which is why the rendered config is written first and kept (``--force-confold``).
- Calico (tigera/docs ``_system-requirements.mdx`` per release; operator tags read from
  ``manifests/tigera-operator.yaml`` of projectcalico/calico at each tag): v3.28.5 (operator
  v1.34.13) tests 1.27-1.30; v3.29.7 (v1.36.16) 1.29-1.32; v3.30.7 (v1.38.13) 1.31-1.35;
  v3.31.7 (v1.40.15) 1.32-1.35; v3.32.1 (v1.42.3) 1.34-1.36. No release tests 1.37 yet (3.32's
  page: "newer versions may also work"), so 1.37 keeps 3.32.1. One Calico minor per step of
  the upgrade chain. From v3.30 ``tigera-operator.yaml`` no longer carries the CRDs: they are
  in ``operator-crds.yaml`` at the same tag, applied first (``operator_crds_manifest``).
- MetalLB (no k8s matrix upstream): v0.14.9 to 1.30, v0.15.3 to 1.35, v0.16.1 from 1.36
  (0.16.0 fixed CRD validation that 1.36.0 rejects, metallb#3035). kube-vip: v0.8.9 to 1.30,
  v0.9.2 (client-go 0.32) to 1.33, v1.0.4 (0.35) for 1.34/1.35, v1.2.3 (0.36) from 1.36.
- the monitoring stack's Flux release and chart versions (Flux v2.9.4, kube-prometheus-stack
  88.5.3, the community Loki chart 18.11.0, Alloy 1.11.1, prometheus-pve-exporter 3.10.0;
  research/MONITORING-PINS.md), the same for every minor.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.spec.models import SUPPORTED_K8S_MINORS
from homelab.errors import SpecError

#: Docker's apt repository for Ubuntu, the source of ``containerd.io`` 2.x on Ubuntu 24.04.
DOCKER_APT_REPO = "https://download.docker.com/linux/ubuntu"
DOCKER_APT_SUITE = "noble"
DOCKER_APT_KEY_URL = f"{DOCKER_APT_REPO}/gpg"


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
    def containerd_from_docker(self) -> bool:
        """Whether containerd comes from Docker's apt repository (``containerd.io`` 2.x)
        rather than the Ubuntu archive (``containerd`` 1.7)."""
        return self.containerd_package == "containerd.io"

    @property
    def tigera_operator_manifest(self) -> str:
        return (
            "https://raw.githubusercontent.com/projectcalico/calico/"
            f"{self.calico}/manifests/tigera-operator.yaml"
        )

    @property
    def operator_crds_manifest(self) -> str | None:
        """Calico >= 3.30's separate CRD manifest (applied before the operator), else None."""
        major, minor = (int(x) for x in self.calico.lstrip("v").split(".")[:2])
        if (major, minor) < (3, 30):
            return None
        return (
            "https://raw.githubusercontent.com/projectcalico/calico/"
            f"{self.calico}/manifests/operator-crds.yaml"
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
    "package_revision": "1.1",
    # monitoring (monitoring.enabled): Flux's install.yaml, then charts through helm-controller
    "flux": "v2.9.4",
    "kube_prometheus_stack": "88.5.3",
    "loki_chart": "18.11.0",  # grafana-community/helm-charts (the OSS chart since 2026-03)
    "alloy_chart": "1.11.1",
    "pve_exporter": "3.10.0",  # image tags are PEP 440 versions, no "v"
}
_V1BETA3, _V1BETA4 = "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"
_UBUNTU_CONTAINERD = ("containerd", "1.7")
_DOCKER_CONTAINERD = ("containerd.io", "2")
_CALICO = {  # Calico tag -> the tigera operator its tigera-operator.yaml deploys
    "v3.28.5": "v1.34.13",
    "v3.29.7": "v1.36.16",
    "v3.30.7": "v1.38.13",
    "v3.31.7": "v1.40.15",
    "v3.32.1": "v1.42.3",
}
#: minor -> (config API, pause tag, containerd source, Calico, MetalLB, kube-vip)
_ROWS: dict[str, tuple[str, str, tuple[str, str], str, str, str]] = {
    "1.29": (_V1BETA3, "3.9", _UBUNTU_CONTAINERD, "v3.28.5", "v0.14.9", "v0.8.9"),
    "1.30": (_V1BETA3, "3.9", _UBUNTU_CONTAINERD, "v3.28.5", "v0.14.9", "v0.8.9"),
    "1.31": (_V1BETA4, "3.10", _UBUNTU_CONTAINERD, "v3.29.7", "v0.15.3", "v0.9.2"),
    "1.32": (_V1BETA4, "3.10", _UBUNTU_CONTAINERD, "v3.30.7", "v0.15.3", "v0.9.2"),
    "1.33": (_V1BETA4, "3.10", _UBUNTU_CONTAINERD, "v3.30.7", "v0.15.3", "v0.9.2"),
    "1.34": (_V1BETA4, "3.10.1", _DOCKER_CONTAINERD, "v3.31.7", "v0.15.3", "v1.0.4"),
    "1.35": (_V1BETA4, "3.10.1", _DOCKER_CONTAINERD, "v3.31.7", "v0.15.3", "v1.0.4"),
    "1.36": (_V1BETA4, "3.10.1", _DOCKER_CONTAINERD, "v3.32.1", "v0.16.1", "v1.2.3"),
    "1.37": (_V1BETA4, "3.10.1", _DOCKER_CONTAINERD, "v3.32.1", "v0.16.1", "v1.2.3"),
}


def _row(minor: str) -> ComponentVersions:
    api, pause, (package, series), calico, metallb, kube_vip = _ROWS[minor]
    return ComponentVersions(
        minor=minor,
        kubeadm_api=api,
        pause_image=f"registry.k8s.io/pause:{pause}",
        containerd_package=package,
        containerd_series=series,
        calico=calico,
        tigera_operator=_CALICO[calico],
        metallb=metallb,
        kube_vip=kube_vip,
        **_COMMON,
    )


VERSIONS: dict[str, ComponentVersions] = {minor: _row(minor) for minor in _ROWS}
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
