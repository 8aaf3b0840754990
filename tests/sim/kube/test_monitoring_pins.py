"""The monitoring stack's pins are releases the simulated world has (``homelab_sim.catalogue``):
Flux's install.yaml at the pinned version, each pinned chart version in the repository the
tool renders as its source, the exporter's image. Asked of the simulator's refusing parts
(the manifest mirror, the chart repositories, the kubelet's pull), not of a copied table."""

from __future__ import annotations

import pytest
import yaml

from homelab.core.monitoring import stack
from homelab.core.render.versions import VERSIONS, ComponentVersions
from homelab.engine.kube.manifests import mirror_coordinates
from homelab_sim import catalogue
from homelab_sim.kube import manifest
from homelab_sim.kube.store import YAML_LOADER

PINS = list(VERSIONS.values())


@pytest.mark.parametrize("pins", PINS, ids=lambda p: p.minor)
def test_the_mirror_serves_the_pinned_flux_install_yaml(pins: ComponentVersions) -> None:
    entry = {"component": "flux", "version": pins.flux, "manifest": pins.flux_manifest}
    data = manifest(*mirror_coordinates(entry))
    assert data is not None, f"no Flux {pins.flux} install.yaml in the simulated world"
    images = [
        c["image"]
        for d in yaml.load_all(data, Loader=YAML_LOADER)
        if d and d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert images and all(catalogue.pullable(i) for i in images)


@pytest.mark.parametrize("pins", PINS, ids=lambda p: p.minor)
def test_every_pinned_chart_is_in_the_repository_the_tool_renders(pins: ComponentVersions) -> None:
    assert pins.kube_prometheus_stack in catalogue.OCI_CHARTS[stack.KPS_OCI]
    assert pins.loki_chart in (catalogue.chart_versions(stack.GRAFANA_COMMUNITY, "loki") or ())
    assert pins.alloy_chart in (catalogue.chart_versions(stack.GRAFANA_CHARTS, "alloy") or ())


@pytest.mark.parametrize("pins", PINS, ids=lambda p: p.minor)
def test_the_pinned_exporter_image_exists(pins: ComponentVersions) -> None:
    repository = pins.pve_exporter_image.rpartition(":")[0]
    assert repository in catalogue.REGISTRY
    assert catalogue.pullable(pins.pve_exporter_image)
    assert not catalogue.pullable(f"{repository}:v{pins.pve_exporter}"), "tags carry no v"
