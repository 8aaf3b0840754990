"""Installing the cluster's addons: every object server-side applied with field manager homelab.

For each entry of the renderer's addon index (``addons.yaml``), in its order:

1. the upstream install manifest (``ManifestSource``): its CustomResourceDefinitions first, then
   waiting until each is Established, then Namespaces, then every other object (the objects of
   one step do not depend on each other, so up to ``PARALLEL`` are applied at once; the report
   keeps the manifest's order);
2. the lab's own resources rendered next to the index (Calico's Installation and APIServer,
   MetalLB's IPAddressPool and L2Advertisement). These depend on controllers that have only just
   been created (MetalLB validates its pools with a webhook served by its controller);
3. kube-vip needs nothing here: it is a static pod the renderer placed on the control planes.

Every apply that fails with an error that can go away (``KubeError.transient``: a 409 conflict,
a 429, a 5xx, a webhook whose controller does not serve yet, a lost connection) is tried again
until the deadline, as ``kubectl apply`` in a loop would be. Anything else (a 403 of RBAC or of a
webhook that denied the object, a 422 invalid object, a 404) fails at once with the API server's
message: asking again for half an hour would not change the answer.

The result lists each object with ``created``/``configured``/``unchanged``, so a second ``up``
can say that the addons are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from lightkube import codecs
from lightkube.generic_resource import create_resources_from_crd

from homelab.core.spec.load import FAST_LOADER
from homelab.engine.clock import Clock
from homelab.engine.kube.client import ApplyResult, object_ref
from homelab.engine.kube.manifests import ManifestSource
from homelab.errors import KubeError

__all__ = ["AddonApi", "AddonReport", "install_addons", "parse_manifest"]

INDEX_FILE = "addons.yaml"
CRD_API = "apiextensions.k8s.io/v1"
POLL = 1.0
PARALLEL = 8  # objects of one step applied at once (they do not depend on each other)


class AddonApi(Protocol):
    """What installing the addons needs of the API (``KubeApi`` has it)."""

    def apply(self, obj: dict[str, Any]) -> ApplyResult: ...

    def find(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any: ...


@dataclass
class AddonReport:
    """What installing the addons did, object by object."""

    results: list[ApplyResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[ApplyResult]:
        return [r for r in self.results if r.change != "unchanged"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": len(self.results),
            "changed": [{"object": r.ref, "change": r.change} for r in self.changed],
            "notes": list(self.notes),
        }


def parse_manifest(data: bytes, source: str) -> list[dict[str, Any]]:
    """Every object of a multi-document YAML manifest (``List`` kinds flattened)."""
    try:
        docs = list(yaml.load_all(data.decode("utf-8"), Loader=FAST_LOADER))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KubeError(f"the manifest {source} is not valid YAML: {exc}") from exc
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise KubeError(f"the manifest {source} holds a document that is not an object")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(item for item in doc["items"] if isinstance(item, dict))
        else:
            objects.append(doc)
    return objects


@dataclass
class _Installer:
    api: AddonApi
    clock: Clock
    deadline: float
    report: AddonReport

    def left(self) -> float:
        return self.deadline - self.clock.monotonic()

    def apply_all(self, objects: Iterable[dict[str, Any]]) -> None:
        """Apply independent objects, a few at a time (each apply is a read and a patch)."""
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="homelab-apply") as pool:
            self.report.results.extend(pool.map(self.apply, objects))

    def apply(self, obj: dict[str, Any]) -> ApplyResult:
        """Apply; retry what can succeed later (controllers and webhooks starting) until the
        deadline; fail at once on anything else."""
        while True:
            try:
                return self.api.apply(obj)
            except KubeError as exc:
                if not exc.transient:
                    raise
                if self.left() <= 0:
                    raise KubeError(
                        f"{object_ref(obj)} was still refused when the time ran out: {exc}",
                        hint="check the addon's controller pods; rerun `homelab up` to retry",
                    ) from exc
            self.clock.sleep(min(POLL * 2, max(self.left(), 0.01)))

    def wait_established(self, crds: list[dict[str, Any]]) -> None:
        pending = [str(c["metadata"]["name"]) for c in crds]
        while pending:
            pending = [name for name in pending if not self._established(name)]
            if not pending:
                return
            if self.left() <= 0:
                raise KubeError(
                    f"CustomResourceDefinition {pending[0]} was not Established in time"
                    + (f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""),
                    hint="rerun `homelab up` to retry",
                )
            self.clock.sleep(POLL)

    def _established(self, name: str) -> bool:
        try:
            crd = self.api.find(CRD_API, "CustomResourceDefinition", name)
        except KubeError as exc:
            if exc.transient:
                return False  # asked again at the next poll, until the deadline
            raise
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install_addons(
    api: AddonApi,
    cluster_files: dict[str, bytes],
    source: ManifestSource,
    clock: Clock,
    *,
    timeout: float,
    on_step: Callable[[str], None] | None = None,
) -> AddonReport:
    """Apply every addon of the index in ``cluster_files`` (the renderer's output)."""
    index = _index(cluster_files)
    installer = _Installer(api, clock, clock.monotonic() + timeout, AddonReport())
    for entry in index.get("addons") or []:
        component = str(entry.get("component"))
        if on_step is not None:
            on_step(f"{component} {entry.get('version', '')}".strip())
        if entry.get("manifest"):
            objects = parse_manifest(source.fetch(entry), str(entry["manifest"]))
            register_crds(objects)
            crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
            installer.apply_all(crds)
            installer.wait_established(crds)
            rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
            installer.apply_all(o for o in rest if o["kind"] == "Namespace")
            installer.apply_all(o for o in rest if o["kind"] != "Namespace")
        for filename in entry.get("resources") or []:
            for obj in parse_manifest(_file(cluster_files, filename), filename):
                installer.report.results.append(installer.apply(obj))
        if entry.get("apply") == "static-pod":
            installer.report.notes.append(f"{component}: a static pod on every control plane")
    return installer.report


def register_crds(objects: list[dict[str, Any]]) -> None:
    """Teach the client the kinds these CRDs define, so their objects can be applied."""
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            try:
                create_resources_from_crd(codecs.from_dict(obj))  # type: ignore[arg-type]
            except (ValueError, KeyError, TypeError) as exc:
                name = (obj.get("metadata") or {}).get("name")
                raise KubeError(f"CustomResourceDefinition {name} is malformed: {exc}") from exc


def _index(cluster_files: dict[str, bytes]) -> dict[str, Any]:
    doc = yaml.safe_load(_file(cluster_files, INDEX_FILE))
    if not isinstance(doc, dict):
        raise KubeError(f"the rendered {INDEX_FILE} is not a mapping")
    return doc


def _file(cluster_files: dict[str, bytes], name: str) -> bytes:
    try:
        return cluster_files[name]
    except KeyError:
        raise KubeError(f"the renderer produced no {name}") from None
