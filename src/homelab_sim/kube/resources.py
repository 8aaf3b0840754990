"""The resource kinds a simulated API server knows, and their discovery documents.

``BUILTINS`` lists the built-in kinds of a v1.29 API server that the tool and ``kubectl`` use
(core v1, apps, rbac, apiextensions, admissionregistration, policy, coordination, discovery,
storage, scheduling). A ``Catalog`` holds them plus the kinds that CustomResourceDefinitions add
once Established, and renders the legacy discovery shapes kubectl reads: ``APIVersions``
(/api), ``APIGroupList`` (/apis), ``APIGroup`` (/apis/<g>) and ``APIResourceList``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One resource (plural name) of one group/version, as discovery describes it."""

    group: str
    version: str
    name: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """``deployments.apps`` / ``pods``: how error messages name the resource."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def api_resources(self) -> list[dict[str, Any]]:
        """The APIResource entries of this resource and its subresources."""
        main: dict[str, Any] = {
            "name": self.name,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        entries = [main]
        for sub in self.subresources:
            kind, verbs = _SUBRESOURCE_SHAPES.get(sub, (self.kind, ["get", "patch", "update"]))
            entries.append(
                {
                    "name": f"{self.name}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                    **({"group": "policy", "version": "v1"} if sub == "eviction" else {}),
                }
            )
        return entries


_SUBRESOURCE_SHAPES: dict[str, tuple[str, list[str]]] = {
    "eviction": ("Eviction", ["create"]),
    "scale": ("Scale", ["get", "patch", "update"]),
}


def _r(
    gv: str,
    name: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    cat: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(group, version, name, kind, namespaced, short, verbs, sub, cat)


_ALL = ("all",)
BUILTINS: tuple[ResourceType, ...] = (
    _r(
        "v1", "namespaces", "Namespace", False, ("ns",), ("finalize", "status"), verbs=NO_COLLECTION
    ),
    _r("v1", "nodes", "Node", False, ("no",), ("proxy", "status")),
    _r("v1", "pods", "Pod", True, ("po",), ("eviction", "status", "log"), _ALL),
    _r("v1", "services", "Service", True, ("svc",), ("status",), _ALL, verbs=NO_COLLECTION),
    _r("v1", "endpoints", "Endpoints", True, ("ep",)),
    _r("v1", "configmaps", "ConfigMap", True, ("cm",)),
    _r("v1", "secrets", "Secret", True),
    _r("v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _r("v1", "events", "Event", True, ("ev",)),
    _r("v1", "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",)),
    _r("v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    _r("v1", "limitranges", "LimitRange", True, ("limits",)),
    _r("v1", "resourcequotas", "ResourceQuota", True, ("quota",), ("status",)),
    _r("apps/v1", "deployments", "Deployment", True, ("deploy",), ("scale", "status"), _ALL),
    _r("apps/v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), _ALL),
    _r("apps/v1", "replicasets", "ReplicaSet", True, ("rs",), ("scale", "status"), _ALL),
    _r("apps/v1", "statefulsets", "StatefulSet", True, ("sts",), ("scale", "status"), _ALL),
    _r("apps/v1", "controllerrevisions", "ControllerRevision", True),
    _r("batch/v1", "jobs", "Job", True, (), ("status",), _ALL),
    _r("batch/v1", "cronjobs", "CronJob", True, ("cj",), ("status",), _ALL),
    _r("rbac.authorization.k8s.io/v1", "roles", "Role", True),
    _r("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", True),
    _r("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("status",),
    ),
    _r(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
    ),
    _r(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
    ),
    _r("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",)),
    _r("coordination.k8s.io/v1", "leases", "Lease", True),
    _r("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", True),
    _r("storage.k8s.io/v1", "storageclasses", "StorageClass", False, ("sc",)),
    _r("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    _r("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _r("networking.k8s.io/v1", "ingressclasses", "IngressClass", False),
    _r("networking.k8s.io/v1", "ingresses", "Ingress", True, ("ing",), ("status",)),
)


def resources_of_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        out.append(
            ResourceType(
                group=str(spec.get("group", "")),
                version=str(version.get("name", "")),
                name=str(names.get("plural", "")),
                kind=str(names.get("kind", "")),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                subresources=subresources,
                categories=tuple(names.get("categories") or ()),
            )
        )
    return out


@dataclass
class Catalog:
    """Built-in kinds plus CRD-served kinds, looked up by path or by apiVersion/kind."""

    custom: dict[str, list[ResourceType]] = field(default_factory=dict)  # by CRD name

    _index: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _kinds: dict[tuple[str, str], ResourceType] = field(default_factory=dict)

    def all(self) -> list[ResourceType]:
        return [*BUILTINS, *(rt for rts in self.custom.values() for rt in rts)]

    def add_crd(self, crd: dict[str, Any]) -> None:
        self.custom[crd["metadata"]["name"]] = resources_of_crd(crd)
        self._index.clear()

    def remove_crd(self, name: str) -> None:
        self.custom.pop(name, None)
        self._index.clear()

    def _build(self) -> None:
        if not self._index:
            for rt in reversed(self.all()):  # the first definition wins
                self._index[(rt.group, rt.version, rt.name)] = rt
            self._kinds.clear()
            for rt in reversed(self.all()):
                self._kinds[(rt.group_version, rt.kind)] = rt

    def by_path(self, group: str, version: str, name: str) -> ResourceType | None:
        self._build()
        return self._index.get((group, version, name))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        self._build()
        return self._kinds.get((api_version, kind))

    def versions_of(self, group: str) -> list[str]:
        seen: list[str] = []
        for rt in self.all():
            if rt.group == group and rt.version not in seen:
                seen.append(rt.version)
        return seen

    def api_versions(self, server_address: str) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ],
        }

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.versions_of(group)
        if not group or not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def api_group_list(self) -> dict[str, Any]:
        groups: list[str] = []
        for rt in self.all():
            if rt.group and rt.group not in groups:
                groups.append(rt.group)
        listed = [self.api_group(g) for g in groups]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [g for g in listed if g]}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        types = [rt for rt in self.all() if rt.group == group and rt.version == version]
        if not types:
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": types[0].group_version,
            "resources": [entry for rt in types for entry in rt.api_resources()],
        }
