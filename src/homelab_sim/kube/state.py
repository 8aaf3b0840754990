"""One cluster's state and its write path: config, object store, resource catalog.

Every write, from a client (``api.py``) or a controller (``controllers.py``), goes through
``ClusterState.create`` / ``update`` / ``delete`` so that admission defaults (``admission.py``),
field ownership (``managed.py``) and the store's bookkeeping apply the same way. Deleting a
Namespace deletes what it holds; deleting a CRD deletes its objects and its kinds; objects whose
owner (``ownerReferences``) is gone are collected by ``collect_garbage``. Not thread-safe by
itself: callers hold the cluster's lock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homelab_sim.kube import admission, managed
from homelab_sim.kube.resources import Catalog, ResourceType
from homelab_sim.kube.store import Key, Obj, ObjectStore, clone, key_of, timestamp

CORE_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class ClusterConfig:
    """What ``kubeadm init`` fixed for the cluster."""

    name: str
    version: str
    endpoint: str
    pod_cidr: str
    service_cidr: str
    ca_cert_pem: str
    ca_key_pem: str
    sans: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    #: extraArgs of the control-plane components, by component (kube-scheduler, etcd...)
    component_args: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the KubeProxyConfiguration given to kubeadm init (what it puts in kube-proxy's map)
    proxy: dict[str, Any] = field(default_factory=dict)

    @property
    def api_service_ip(self) -> str:
        """The first address of the service range (the ``kubernetes`` Service)."""
        return str(ipaddress.ip_network(self.service_cidr, strict=False).network_address + 1)

    @property
    def dns_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr, strict=False).network_address + 10)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ClusterState:
    """Objects, kinds and config of one cluster; all writes go through here."""

    def __init__(self, config: ClusterConfig, now: Callable[[], float]) -> None:
        self.config = config
        self.now = now
        self.store = ObjectStore(now)
        self.catalog = Catalog()
        #: node -> (when its kubelet stopped posting status, when it posts again: its VM
        #: booted and the kubelet came up; ``inf`` while the VM is down)
        self.kubelet_down: dict[str, tuple[float, float]] = {}

    def kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self.catalog.by_kind(api_version, kind)

    def rt(self, api_version: str, kind: str) -> ResourceType:
        found = self.catalog.by_kind(api_version, kind)
        if found is None:
            raise KeyError(f"{api_version} {kind} is not served")
        return found

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        return self.store.get(key_of(rt, namespace, name))

    def items(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        return self.store.items(rt.group, rt.name, namespace if rt.namespaced else None)

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        rt = self.kind(api_version, kind)
        return [] if rt is None else self.items(rt, namespace)

    def create(self, rt: ResourceType, obj: Obj, *, manager: str, record: bool = True) -> Obj:
        obj = clone(obj)
        admission.admit(self, rt, obj, None)
        if record:
            managed.record_update(rt, None, obj, manager=manager, now=self.timestamp())
        stored = self.store.create(rt, obj)
        admission.after_write(self, rt, stored)
        return stored

    def update(
        self,
        rt: ResourceType,
        obj: Obj,
        *,
        manager: str,
        subresource: str = "",
        record: bool = True,
    ) -> Obj:
        obj = clone(obj)
        meta = obj["metadata"]
        old = self.store.get(key_of(rt, meta.get("namespace", ""), meta["name"]))
        assert old is not None, "update of a missing object"
        admission.admit(self, rt, obj, old)
        if record:
            managed.record_update(
                rt, old, obj, manager=manager, now=self.timestamp(), subresource=subresource
            )
        for system in ("uid", "creationTimestamp", "generation", "resourceVersion"):
            meta[system] = old["metadata"].get(system)
        if managed.same_but_times(obj, old):
            return old  # a no-op write: nothing changes, not even managedFields times
        stored = self.store.update(rt, obj)
        admission.after_write(self, rt, stored)
        return stored

    def delete(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        gone = self.store.delete(key_of(rt, namespace, name))
        if gone is None:
            return None
        if rt.kind == "Namespace" and rt.group == "":
            self._delete_namespaced(name)
        if rt.kind == "CustomResourceDefinition":
            for served in self.catalog.custom.get(name, []):
                for obj in self.items(served):
                    self.store.delete(key_of(served, _ns(obj), obj["metadata"]["name"]))
            self.catalog.remove_crd(name)
        return gone

    def _delete_namespaced(self, namespace: str) -> None:
        for key in list(self.store.keys()):
            if key[2] == namespace:
                self.store.delete(key)

    def collect_garbage(self) -> int:
        """Delete objects whose every owner is gone (the garbage collector); returns how many."""
        uids = {
            obj["metadata"].get("uid")
            for key in list(self.store.keys())
            if (obj := self.store.get(key)) is not None
        }
        removed = 0
        for key in list(self.store.keys()):
            obj = self.store.get(key)
            owners = (obj or {}).get("metadata", {}).get("ownerReferences") or []
            if owners and not any(o.get("uid") in uids for o in owners):
                self.store.delete(key)
                removed += 1
        return removed

    def ensure(self, obj: Obj, *, manager: str) -> Obj:
        """Create ``obj`` or bring the live object's spec/data/labels to it (controllers)."""
        meta = obj["metadata"]
        rt = self.rt(obj["apiVersion"], obj["kind"])
        live = self.get(rt, meta.get("namespace", ""), meta["name"])
        if live is None:
            return self.create(rt, obj, manager=manager)
        merged = clone(live)
        managed.merge_into(merged, obj)
        if merged == live:
            return live
        return self.update(rt, merged, manager=manager)

    def set_status(self, rt: ResourceType, obj: Obj, status: dict[str, Any], manager: str) -> Obj:
        """Replace an object's status if it changed (the status subresource of controllers)."""
        if obj.get("status") == status:
            return obj
        new = clone(obj)
        new["status"] = status
        return self.update(rt, new, manager=manager, subresource="status")

    def timestamp(self) -> str:
        return timestamp(self.now())

    def key(self, rt: ResourceType, obj: Obj) -> Key:
        return key_of(rt, _ns(obj), obj["metadata"]["name"])


def _ns(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("namespace", ""))
