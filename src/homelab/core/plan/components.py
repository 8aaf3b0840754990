"""The cluster's components in the plan: what `up` would install or move, from the rendering.

`up` installs the addons of the rendered index (``cluster/addons.yaml``: Calico, MetalLB, Flux)
with their lab-specific resources, and, with monitoring, Flux's HelmReleases (one chart version
and one set of values each, ``cluster/monitoring.yaml``). The plan compares each component
(name, version, and a digest of what the lab renders for it) with what the last successful
`up` recorded, and shows the difference beside the VM actions:

    + component calico v3.28.5 (up installs it)
    ~ component helmrelease monitoring/loki 18.10.0 -> 18.11.0 (up upgrades it)
    ~ component metallb v0.14.9: its configuration changed (up applies it)

A component the record does not know is new; one the rendering no longer has is left in the
cluster (`up` never uninstalls), and the plan says so. Pure: the rendered bytes in, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from homelab.core.spec.load import FAST_LOADER

__all__ = [
    "Component",
    "ComponentChange",
    "component_changes",
    "desired_components",
]

INDEX_FILE = "addons.yaml"
HELM_RELEASE = "HelmRelease"
# a chart's own component (its HelmRelease) covers these, not the addon that carries them
CHART_KINDS = {HELM_RELEASE, "OCIRepository", "HelmRepository"}


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    config: str  # a digest of what the lab renders for it (resources, values)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "config": self.config}


@dataclass(frozen=True)
class ComponentChange:
    name: str
    before: Component | None
    after: Component | None

    @property
    def op(self) -> str:
        if self.before is None:
            return "install"
        if self.after is None:
            return "left"
        return "upgrade" if self.before.version != self.after.version else "reconfigure"

    def text(self) -> str:
        if self.after is None:
            assert self.before is not None
            return (
                f"component {self.name} {self.before.version}: no longer rendered; up leaves it "
                "in the cluster (remove it by hand if it should go)"
            )
        if self.before is None:
            return f"component {self.name} {self.after.version} (up installs it)"
        if self.op == "upgrade":
            return (
                f"component {self.name} {self.before.version} -> {self.after.version} "
                "(up upgrades it)"
            )
        return (
            f"component {self.name} {self.after.version}: its configuration changed (up applies it)"
        )

    def marker(self) -> str:
        return {"install": "+", "left": "*"}.get(self.op, "~")

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "op": self.op,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
        }


def desired_components(cluster_files: Mapping[str, bytes]) -> tuple[Component, ...]:
    """Every component `up` installs for this rendering, in the order it installs them."""
    raw = cluster_files.get(INDEX_FILE, b"") or b"{}"
    index = yaml.load(raw, Loader=FAST_LOADER) or {}  # noqa: S506 (a SafeLoader, libyaml's)
    found: list[Component] = []
    for entry in index.get("addons") or []:
        docs = [
            doc
            for name in entry.get("resources") or []
            for doc in yaml.load_all(cluster_files.get(str(name), b"") or b"", Loader=FAST_LOADER)
            if isinstance(doc, dict) and doc.get("kind") not in CHART_KINDS
        ]
        settings = {k: v for k, v in entry.items() if k not in ("resources", "charts")}
        body = json.dumps([settings, docs], sort_keys=True, default=str).encode()
        found.append(
            Component(str(entry.get("component")), str(entry.get("version", "")), _digest(body))
        )
        for name in entry.get("resources") or []:
            found.extend(_helm_releases(cluster_files.get(str(name), b"")))
    return tuple(found)


def _helm_releases(data: bytes) -> list[Component]:
    """One component per HelmRelease: its chart's version (from ``chart.spec.version``, or the
    tag of the OCIRepository its ``chartRef`` names) and a digest of its spec and source."""
    docs = [
        d for d in (yaml.load_all(data, Loader=FAST_LOADER) if data else ()) if isinstance(d, dict)
    ]
    sources = {
        (d.get("kind"), (d.get("metadata") or {}).get("name")): d.get("spec") or {}
        for d in docs
        if d.get("kind") != HELM_RELEASE
    }
    releases = []
    for doc in docs:
        if doc.get("kind") != HELM_RELEASE:
            continue
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        chart = (spec.get("chart") or {}).get("spec") or {}
        ref = spec.get("chartRef") or {}
        source = sources.get((ref.get("kind"), ref.get("name")), {}) if ref else {}
        version = str(chart.get("version") or (source.get("ref") or {}).get("tag", ""))
        body = json.dumps([spec, source], sort_keys=True).encode()
        name = f"helmrelease {meta.get('namespace', 'default')}/{meta.get('name')}"
        releases.append(Component(name, version, _digest(body)))
    return releases


def component_changes(
    desired: tuple[Component, ...], installed: Mapping[str, Component] | None
) -> tuple[ComponentChange, ...]:
    """What differs from the record of the last `up` (None: no record: everything is new)."""
    known = dict(installed or {})
    changes = [
        ComponentChange(c.name, known.get(c.name), c) for c in desired if known.get(c.name) != c
    ]
    wanted = {c.name for c in desired}
    changes += [ComponentChange(n, c, None) for n, c in sorted(known.items()) if n not in wanted]
    return tuple(changes)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()[:16]
