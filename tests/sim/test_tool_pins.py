"""Every release the tool pins is one the simulated world has (``homelab_sim.catalogue``).

The simulator's catalogue is written from upstream facts, not from the tool's table
(``homelab.core.render.versions``), so these tests are where the two meet: a pin upstream
does not have (a Kubernetes patch never released, a Calico tag whose manifest deploys another
operator, a kube-vip image that does not exist) fails here, as it would fail on a real guest.
They ask the simulator's own refusing parts (apt, the manifest mirror, the kubelet's pull)
where they can, so the check is what a guest would accept, not a copy of a table.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homelab.core.cluster import ca_cert_hash
from homelab.core.render.addons import addon_index
from homelab.core.render.versions import VERSIONS, ComponentVersions
from homelab.core.spec.models import SUPPORTED_K8S_MINORS, LabSpec
from homelab.engine.kube.manifests import mirror_coordinates
from homelab_sim import catalogue
from homelab_sim.guest import apt
from homelab_sim.guest.clusters import discovery_hash
from homelab_sim.kube import manifest

MINORS = list(VERSIONS)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(lab: str) -> LabSpec:
    data = yaml.safe_load((EXAMPLES / f"{lab}.yaml").read_text(encoding="utf-8"))
    return LabSpec.model_validate(data)


def max_release() -> catalogue.CalicoRelease:
    return max(catalogue.CALICO.values(), key=lambda r: [int(x) for x in r.version[1:].split(".")])


def _pins(minor: str) -> ComponentVersions:
    return VERSIONS[minor]


def _exists(image: str) -> bool:
    """An image of a repository the catalogue lists, with a tag that repository has."""
    repository = image.rpartition(":")[0]
    return repository in catalogue.REGISTRY and catalogue.pullable(image)


def test_the_tool_pins_one_row_per_supported_minor_and_the_catalogue_knows_each() -> None:
    assert tuple(VERSIONS) == SUPPORTED_K8S_MINORS
    unknown = [minor for minor in VERSIONS if minor not in catalogue.KUBERNETES]
    assert unknown == [], f"Kubernetes minors the simulated world does not have: {unknown}"


@pytest.mark.parametrize("minor", MINORS)
def test_pkgs_k8s_io_carries_the_pinned_packages(minor: str) -> None:
    pins, known = _pins(minor), catalogue.KUBERNETES[minor]
    packages = apt.repo_packages(pins.apt_repo)
    assert packages, f"the simulated apt has no repository {pins.apt_repo}"
    for patch in known.patches():
        version = pins.package_version(patch)
        for name in ("kubelet", "kubeadm", "kubectl"):
            assert version in packages[name], f"{name}={version} is not on pkgs.k8s.io"


@pytest.mark.parametrize("minor", MINORS)
def test_kubeadm_of_the_minor_reads_the_pinned_config_api_and_uses_the_pinned_pause(
    minor: str,
) -> None:
    pins, known = _pins(minor), catalogue.KUBERNETES[minor]
    assert pins.kubeadm_api in catalogue.kubeadm_apis(f"{minor}.0")
    assert pins.pause_image == known.pause_image
    assert _exists(pins.pause_image)


@pytest.mark.parametrize("minor", MINORS)
def test_the_pinned_containerd_series_exists_and_runs_the_minors_kubelet(minor: str) -> None:
    pins = _pins(minor)
    if pins.containerd_from_docker:
        versions = catalogue.DOCKER_NOBLE.get(pins.containerd_package, ())
        series = [v for v in versions if v.startswith(pins.containerd_series + ".")]
        version = series[-1] if series else None
    else:
        version = catalogue.UBUNTU_ARCHIVE.get(pins.containerd_package)
    assert version is not None, f"no {pins.containerd_package} {pins.containerd_series}.x"
    assert version.startswith(pins.containerd_series + ".")
    minimum = catalogue.KUBERNETES[minor].min_containerd
    assert catalogue.containerd_version(version) >= minimum, (version, minimum)


@pytest.mark.parametrize("minor", MINORS)
def test_the_pinned_calico_deploys_the_pinned_operator_and_is_tested_on_the_minor(
    minor: str,
) -> None:
    pins = _pins(minor)
    release = catalogue.CALICO.get(pins.calico)
    assert release is not None, f"Calico {pins.calico} is not a release the simulator knows"
    assert release.operator == pins.tigera_operator
    testing = [r for r in catalogue.CALICO.values() if minor in r.kubernetes]
    # a minor no Calico release tests yet (1.37) keeps the newest release
    assert minor in release.kubernetes or (not testing and release == max_release())
    assert _exists(f"quay.io/tigera/operator:{pins.tigera_operator}")


@pytest.mark.parametrize("minor", MINORS)
def test_the_mirror_has_every_manifest_the_tool_asks_for(minor: str) -> None:
    spec = load_example("ha-lab")  # every addon: Calico, MetalLB and kube-vip
    kubernetes = spec.kubernetes.model_copy(update={"version": f"{minor}.0"})
    spec = spec.model_copy(update={"kubernetes": kubernetes})
    entries = [e for e in addon_index(spec, _pins(minor))["addons"] if e["manifest"]]
    assert {e["component"] for e in entries} == {"calico", "metallb"}
    for entry in entries:
        coordinates = mirror_coordinates(entry)
        assert manifest(*coordinates) is not None, f"the mirror has no {coordinates}"


@pytest.mark.parametrize("minor", MINORS)
def test_the_pinned_kube_vip_and_metallb_images_exist(minor: str) -> None:
    pins = _pins(minor)
    assert _exists(pins.kube_vip_image), pins.kube_vip_image
    for component in ("controller", "speaker"):
        assert _exists(f"quay.io/metallb/{component}:{pins.metallb}")


@pytest.mark.parametrize("lab", ["home-lab", "ha-lab"])
def test_the_examples_ask_for_a_released_kubernetes_patch(lab: str) -> None:
    version = load_example(lab).kubernetes.version
    known = catalogue.KUBERNETES[".".join(version.split(".")[:2])]
    assert version in known.patches()


def _ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_the_simulated_kubeadm_computes_the_discovery_hash_the_tool_renders() -> None:
    pem = _ca_pem()
    assert discovery_hash(pem) == ca_cert_hash(pem)
    assert discovery_hash(pem).startswith("sha256:") and len(discovery_hash(pem)) == 71
