"""Rendering a whole lab: the one entry point, ``render_lab(spec, secrets) -> Artifacts``."""

from __future__ import annotations

import hashlib

from homelab.core.cluster import ClusterSecrets
from homelab.core.render import addons, cloudinit, network, yamldoc
from homelab.core.render.artifacts import Artifacts, NodeSeed
from homelab.core.render.versions import ComponentVersions, versions_for
from homelab.core.spec.models import LabSpec
from homelab.errors import ClusterSecretsError, SpecError


def render_lab(spec: LabSpec, secrets: ClusterSecrets) -> Artifacts:
    """Every VM's seed and the addon files. Pure and deterministic."""
    if secrets.lab != spec.name:
        raise ClusterSecretsError(
            f"the cluster secrets belong to lab {secrets.lab!r}, not {spec.name!r}",
            hint="was the lab renamed? its secrets are kept under its old name",
        )
    if not spec.control_planes:
        raise SpecError("the lab has no control-plane VM", hint="set role: control-plane on one")
    if len(spec.control_planes) > 1 and spec.kubernetes.control_plane_endpoint is None:
        raise SpecError(
            "several control planes need kubernetes.control_plane_endpoint",
            hint="pick a free address in the control planes' subnet for kube-vip to hold",
        )
    versions = versions_for(spec.kubernetes.minor)
    cache = yamldoc.PieceCache()
    seeds = {vm: _render_seed(spec, secrets, vm, versions, cache) for vm in spec.vms}
    macs = {vm: network.vm_mac(spec.name, vm) for vm in spec.vms}
    return Artifacts(seeds=seeds, cluster=_render_cluster(spec, versions), macs=macs)


def _render_seed(
    spec: LabSpec,
    secrets: ClusterSecrets,
    vm_name: str,
    versions: ComponentVersions,
    cache: yamldoc.PieceCache,
) -> NodeSeed:
    doc = cloudinit.user_data(spec, secrets, vm_name, versions)
    user_data = cloudinit.dump_user_data(doc, cache)
    network_config = yamldoc.dump(network.network_config(spec, vm_name)).encode("utf-8")
    content = hashlib.sha256(user_data + b"\0" + network_config).hexdigest()[:16]
    meta = {"instance-id": f"{vm_name}-{content}", "local-hostname": vm_name}
    meta_data = yamldoc.dump(meta).encode("utf-8")
    clean_doc = cloudinit.clean_user_data(doc, spec, versions)
    clean = NodeSeed(
        user_data=cloudinit.dump_user_data(clean_doc, cache),
        meta_data=meta_data,
        network_config=network_config,
    )
    return NodeSeed(
        user_data=user_data, meta_data=meta_data, network_config=network_config, clean=clean
    )


def _render_cluster(spec: LabSpec, versions: ComponentVersions) -> dict[str, bytes]:
    files = {
        addons.INDEX_FILE: yamldoc.dump(addons.addon_index(spec, versions)),
        addons.CALICO_FILE: yamldoc.dump_all(addons.calico_resources(spec)),
    }
    metallb = addons.metallb_resources(spec)
    if metallb:
        files[addons.METALLB_FILE] = yamldoc.dump_all(metallb)
    if spec.monitoring is not None and spec.monitoring.enabled:
        from homelab.core.monitoring import stack  # only with monitoring

        files[stack.MONITORING_FILE] = yamldoc.dump_all(stack.stack_resources(spec, versions))
    return {name: text.encode("utf-8") for name, text in sorted(files.items())}
