"""What the simulated world has: the releases it knows and what each accepts (one place).

Written from upstream facts, never from the tool's own tables (the tool pins what it renders in
``homelab.core.render.versions``; a test checks every pin is here, so a pin upstream does not
have fails there and in the simulated lab, as it would on a real one). Sources are the
project's notes on upstream (``k8s-bootstrap/FACTS.md``, ``UPGRADES.md``, ``schemas/SOURCE.md``):

- pkgs.k8s.io has one apt repository per minor; it carries kubelet/kubeadm/kubectl
  ``1.M.0-1.1`` to ``1.M.P-1.1``, cri-tools ``1.M.0-1.1`` and kubernetes-cni. P is the last
  patch tagged (kubernetes/kubelet tags, 2026-08 snapshot): 1.28.15, 1.29.15, 1.30.14,
  1.31.14, 1.32.13, 1.33.13, 1.34.10, 1.35.7, 1.36.3; 1.37.0 (released 2026-08-26, after the
  snapshot; its later patches are not in our sources).
- kubeadm's config APIs: v1beta3 only up to 1.30; v1beta4 from 1.31 (k/k#125029), both until
  1.36; v1beta3 removed in 1.37 (k/k#136016). An API the binary does not have fails decoding
  with ``no kind "InitConfiguration" is registered for version "kubeadm.k8s.io/v1beta4" in
  scheme "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"``.
- kubeadm's images per minor (``constants.go``: ``PauseVersion``, ``CoreDNSVersion``,
  ``SupportedEtcdVersion``): pause 3.9 / CoreDNS v1.11.1 for 1.28-1.30; pause 3.10 and CoreDNS
  v1.11.3 for 1.31/1.32 (read at kubernetes/kubernetes @3301161c, 1.31: etcd 3.5.15-0, and
  @00886ac0, 1.32: etcd 3.5.16-0, later 3.5.24-0); 1.33 CoreDNS v1.12.0, etcd 3.5.21-0
  (#132865); 1.34 pause 3.10.1, CoreDNS v1.12.1, etcd 3.6.5-0 (release-1.34 map); 1.35 pause
  3.10.1, CoreDNS v1.13.1, etcd 3.6.6-0; 1.36 CoreDNS v1.14.2, etcd 3.6.9-0 (the 34/35/36 map
  bump to 3.6.9-0). 1.35/1.36 come from secondary copies of constants.go; 1.37 is assumed to
  keep 1.36's (unconfirmed: no 1.37 constants.go in our sources).
- containerd: the kubelet of 1.36 and later needs the CRI ``RuntimeConfig`` call (containerd
  2.0+; containerd RELEASES.md lists no 1.x for 1.36; kubeadm 1.35's ``ContainerRuntimeVersion``
  preflight warns about it, k/k#134906). Ubuntu 24.04's archive has containerd 1.7; Docker's
  apt repository for Ubuntu (``download.docker.com/linux/ubuntu noble stable``) has
  ``containerd.io`` 1.7 and 2.x (the exact deb revisions here are unconfirmed), whose packaged
  config.toml disables the CRI plugin.
- Calico (tigera/docs ``_system-requirements.mdx``; operator tags and file layout read from
  projectcalico/calico at each tag): v3.28.5 -> operator v1.34.13, tested on 1.27-1.30;
  v3.29.7 -> v1.36.16, 1.29-1.32; v3.30.7 -> v1.38.13, 1.31-1.35; v3.31.7 -> v1.40.15,
  1.32-1.35; v3.32.1 -> v1.42.3, 1.34-1.36. From v3.30 ``tigera-operator.yaml`` carries no
  CRDs (about 15 KB): they are in ``operator-crds.yaml`` at the same tag.
- Flux v2.9.4's release ``install.yaml`` (``kustomize build manifests/install``) deploys
  ``ghcr.io/fluxcd/`` source-controller v1.9.4, kustomize-controller v1.9.4, helm-controller
  v1.6.3, notification-controller v1.9.3, image-reflector/image-automation-controller v1.2.4
  and source-watcher v2.2.3 (fluxcd/flux2 ``manifests/bases``).
- Helm charts (research/MONITORING-PINS.md): kube-prometheus-stack 88.5.3 at
  ``https://prometheus-community.github.io/helm-charts`` and
  ``oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack``; the community Loki
  chart 18.11.0 at ``https://grafana-community.github.io/helm-charts`` (and its OCI twin);
  Alloy 1.11.1 at ``https://grafana.github.io/helm-charts``. prometheus-pve-exporter's image
  ``prompve/prometheus-pve-exporter`` is tagged with its PEP 440 version (3.10.0).
- MetalLB v0.14.9, v0.15.3, v0.16.1 (``config/manifests/metallb-native.yaml`` at each tag,
  images ``quay.io/metallb/{controller,speaker}``); kube-vip images
  ``ghcr.io/kube-vip/kube-vip`` tags v0.8.9, v0.8.10, v0.9.2, v1.0.4, v1.2.3.

Only what the simulator models is listed: a release it has no model of is one it refuses
(apt finds no such version, the manifest mirror has no such file, the kubelet cannot pull
the image), which is what a real guest does with a release that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KubernetesMinor:
    """One minor of Kubernetes as pkgs.k8s.io and its kubeadm ship it."""

    minor: str  # "1.29"
    last_patch: int  # the newest patch release on pkgs.k8s.io
    kubeadm_apis: tuple[str, ...]  # the config APIs this kubeadm reads
    pause_image: str
    coredns_image: str
    cri_tools: str
    kubernetes_cni: str
    etcd_image: str = ""
    min_containerd: tuple[int, int] = (1, 6)  # the oldest containerd its kubelet runs with
    package_revision: str = "1.1"

    def patches(self) -> list[str]:
        """Every ``1.M.P`` released, oldest first."""
        return [f"{self.minor}.{p}" for p in range(self.last_patch + 1)]

    def package_versions(self) -> list[str]:
        """The deb versions of kubelet/kubeadm/kubectl in this minor's repository."""
        return [f"{v}-{self.package_revision}" for v in self.patches()]


@dataclass(frozen=True)
class CalicoRelease:
    version: str  # the Calico tag, e.g. "v3.28.5"
    operator: str  # the tigera operator image tag its tigera-operator.yaml deploys
    kubernetes: tuple[str, ...]  # the minors Calico tests this release on
    separate_crds: bool = False  # True from v3.30: the CRDs are in operator-crds.yaml


_V1BETA3 = ("kubeadm.k8s.io/v1beta3",)
_BOTH = ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")
_V1BETA4 = ("kubeadm.k8s.io/v1beta4",)


def _minor(
    minor: str,
    last_patch: int,
    apis: tuple[str, ...],
    images: tuple[str, str, str],
    tools: tuple[str, str],
    min_containerd: tuple[int, int] = (1, 6),
) -> KubernetesMinor:
    """One row: ``images`` are the (pause, CoreDNS, etcd) tags, ``tools`` the cri-tools and
    kubernetes-cni versions of the minor's repository (kubernetes-cni: unconfirmed)."""
    pause, coredns, etcd = images
    return KubernetesMinor(
        minor=minor,
        last_patch=last_patch,
        kubeadm_apis=apis,
        pause_image=f"registry.k8s.io/pause:{pause}",
        coredns_image=f"registry.k8s.io/coredns/coredns:{coredns}",
        cri_tools=tools[0],
        kubernetes_cni=tools[1],
        etcd_image=f"registry.k8s.io/etcd:{etcd}",
        min_containerd=min_containerd,
    )


KUBERNETES: dict[str, KubernetesMinor] = {
    m.minor: m
    for m in (
        _minor("1.28", 15, _V1BETA3, ("3.9", "v1.10.1", "3.5.9-0"), ("1.28.0", "1.3.0")),
        _minor("1.29", 15, _V1BETA3, ("3.9", "v1.11.1", "3.5.12-0"), ("1.29.0", "1.3.0")),
        _minor("1.30", 14, _V1BETA3, ("3.9", "v1.11.1", "3.5.15-0"), ("1.30.0", "1.4.0")),
        _minor("1.31", 14, _BOTH, ("3.10", "v1.11.3", "3.5.24-0"), ("1.31.0", "1.5.1")),
        _minor("1.32", 13, _BOTH, ("3.10", "v1.11.3", "3.5.24-0"), ("1.32.0", "1.6.0")),
        _minor("1.33", 13, _BOTH, ("3.10", "v1.12.0", "3.5.24-0"), ("1.33.0", "1.6.0")),
        _minor("1.34", 10, _BOTH, ("3.10.1", "v1.12.1", "3.6.5-0"), ("1.34.0", "1.7.1")),
        _minor("1.35", 7, _BOTH, ("3.10.1", "v1.13.1", "3.6.6-0"), ("1.35.0", "1.7.1")),
        _minor("1.36", 3, _BOTH, ("3.10.1", "v1.14.2", "3.6.9-0"), ("1.36.0", "1.7.1"), (2, 0)),
        _minor("1.37", 0, _V1BETA4, ("3.10.1", "v1.14.2", "3.6.9-0"), ("1.37.0", "1.7.1"), (2, 0)),
    )
}

#: Every etcd image kubeadm pinned in some patch of the minors above (the .0 and later pins:
#: UPGRADES.md §4, constants.go): an upgraded cluster may run any of them.
ETCD_TAGS: tuple[str, ...] = (
    "3.5.9-0",
    "3.5.10-0",
    "3.5.12-0",
    "3.5.15-0",
    "3.5.16-0",
    "3.5.21-0",
    "3.5.24-0",
    "3.6.4-0",
    "3.6.5-0",
    "3.6.6-0",
    "3.6.9-0",
)

CALICO: dict[str, CalicoRelease] = {
    r.version: r
    for r in (
        CalicoRelease("v3.28.5", "v1.34.13", ("1.27", "1.28", "1.29", "1.30")),
        CalicoRelease("v3.29.7", "v1.36.16", ("1.29", "1.30", "1.31", "1.32")),
        CalicoRelease("v3.30.7", "v1.38.13", ("1.31", "1.32", "1.33", "1.34", "1.35"), True),
        CalicoRelease("v3.31.7", "v1.40.15", ("1.32", "1.33", "1.34", "1.35"), True),
        CalicoRelease("v3.32.1", "v1.42.3", ("1.34", "1.35", "1.36"), True),
    )
}

METALLB: tuple[str, ...] = ("v0.14.9", "v0.15.3", "v0.16.1")

KUBE_VIP: tuple[str, ...] = ("v0.8.9", "v0.8.10", "v0.9.2", "v1.0.4", "v1.2.3")

#: Flux release -> (controller, image tag) of every controller its install.yaml deploys.
FLUX: dict[str, tuple[tuple[str, str], ...]] = {
    "v2.9.4": (
        ("source-controller", "v1.9.4"),
        ("kustomize-controller", "v1.9.4"),
        ("helm-controller", "v1.6.3"),
        ("notification-controller", "v1.9.3"),
        ("image-reflector-controller", "v1.2.4"),
        ("image-automation-controller", "v1.2.4"),
        ("source-watcher", "v2.2.3"),
    )
}

#: Helm chart repositories (HTTP index) -> chart -> the versions it serves.
HELM_REPOSITORIES: dict[str, dict[str, tuple[str, ...]]] = {
    "https://prometheus-community.github.io/helm-charts": {"kube-prometheus-stack": ("88.5.3",)},
    # the loki-18.* tags of grafana-community/helm-charts from 18.10.0 on
    "https://grafana-community.github.io/helm-charts": {"loki": ("18.10.0", "18.10.1", "18.11.0")},
    "https://grafana.github.io/helm-charts": {"alloy": ("1.11.1",)},
}

#: OCI chart repositories -> the tags (chart versions) they hold.
OCI_CHARTS: dict[str, tuple[str, ...]] = {
    "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack": ("88.5.3",),
    "oci://ghcr.io/grafana-community/helm-charts/loki": ("18.11.0",),
}

PVE_EXPORTER: tuple[str, ...] = ("3.10.0",)


def chart_versions(repository: str, chart: str) -> tuple[str, ...] | None:
    """The versions of ``chart`` in an HTTP chart repository (None: no such repository)."""
    charts = HELM_REPOSITORIES.get(repository.rstrip("/"))
    if charts is None:
        return None
    return charts.get(chart, ())


#: Docker's apt repository for Ubuntu 24.04: package -> versions, oldest first.
DOCKER_REPO = "https://download.docker.com/linux/ubuntu"
DOCKER_KEY_ID = "8D81803C0EBFCD88"
DOCKER_NOBLE: dict[str, tuple[str, ...]] = {
    "containerd.io": ("1.7.28-1~ubuntu.24.04~noble", "2.2.1-1~ubuntu.24.04~noble"),
}

# Ubuntu 24.04 (noble) archive: package -> the version apt installs
UBUNTU_ARCHIVE: dict[str, str] = {
    "apt-transport-https": "2.7.14build2",
    "ca-certificates": "20240203",
    "conntrack": "1:1.4.8-1ubuntu1",
    "containerd": "1.7.24-0ubuntu1~24.04.2",
    "curl": "8.5.0-2ubuntu10.6",
    "ebtables": "2.0.11-6build1",
    "ethtool": "1:6.7-1build1",
    "gnupg": "2.4.4-2ubuntu17.2",
    "gpg": "2.4.4-2ubuntu17.2",
    "ipvsadm": "1:1.31-1build3",
    "jq": "1.7.1-3build1",
    "nfs-common": "1:2.6.4-3ubuntu5.1",
    "open-iscsi": "2.1.9-3ubuntu5.4",
    "qemu-guest-agent": "1:8.2.2+ds-0ubuntu1.7",
    "socat": "1.8.0.0-4build3",
}


def calico_for_operator(operator: str) -> CalicoRelease | None:
    """The Calico release whose manifest deploys this tigera operator tag, if any."""
    return next((r for r in CALICO.values() if r.operator == operator), None)


def kubernetes_minor(version: str) -> KubernetesMinor | None:
    """The minor of ``1.M.P`` or ``v1.M.P``, if the simulated world has it."""
    return KUBERNETES.get(".".join(version.lstrip("v").split(".")[:2]))


def containerd_version(package_version: str) -> tuple[int, int]:
    """(major, minor) of a containerd deb version (``1.7.24-0ubuntu1~24.04.2``,
    ``2.2.1-1~ubuntu.24.04~noble``); (0, 0) if unreadable."""
    parts = package_version.split(":", 1)[-1].split(".")
    try:
        return int(parts[0]), int(parts[1].split("-")[0])
    except (IndexError, ValueError):
        return (0, 0)


def kubeadm_apis(kubeadm_version: str) -> tuple[str, ...]:
    """The config APIs of the kubeadm ``1.M.P`` (none if the minor is unknown)."""
    known = kubernetes_minor(kubeadm_version)
    return known.kubeadm_apis if known else ()


def _registry() -> dict[str, frozenset[str]]:
    k8s = [p for m in KUBERNETES.values() for p in m.patches()]
    images: dict[str, set[str]] = {
        "ghcr.io/kube-vip/kube-vip": set(KUBE_VIP),
        "quay.io/tigera/operator": {r.operator for r in CALICO.values()},
        "quay.io/metallb/controller": set(METALLB),
        "quay.io/metallb/speaker": set(METALLB),
        "prompve/prometheus-pve-exporter": set(PVE_EXPORTER),
    }
    images["registry.k8s.io/etcd"] = set(ETCD_TAGS)
    for controllers in FLUX.values():
        for controller, tag in controllers:
            images.setdefault(f"ghcr.io/fluxcd/{controller}", set()).add(tag)
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        images[f"registry.k8s.io/{component}"] = {f"v{p}" for p in k8s}
    for m in KUBERNETES.values():
        for image in (m.pause_image, m.coredns_image, m.etcd_image):
            repository, _, tag = image.rpartition(":")
            images.setdefault(repository, set()).add(tag)
    return {repository: frozenset(tags) for repository, tags in images.items()}


REGISTRY = _registry()


def pullable(image: str) -> bool:
    """Whether a container runtime can pull ``image``: False for a tag the world does not have
    in a repository listed here; True for repositories the simulator does not model (the
    workloads a test applies)."""
    repository, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:  # no tag: the runtime pulls ":latest"
        repository, tag = image, "latest"
    tags = REGISTRY.get(repository)
    return tags is None or tag in tags


def pull_error(image: str) -> str:
    """containerd's error for an image whose tag the registry does not have."""
    return (
        f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
        f"{image}: not found"
    )
