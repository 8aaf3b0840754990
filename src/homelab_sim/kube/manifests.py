"""The simulator's manifest mirror: upstream-shaped install manifests of the cluster addons.

These are compact stand-ins for the upstream files, for the simulator only: the same objects
in the same order as ``tigera-operator.yaml`` (Calico, tigera operator; from Calico 3.30 without
the CRDs, which are in ``operator-crds.yaml`` at the same tag) and
``metallb-native.yaml`` (MetalLB), and Flux's ``install.yaml`` (``flux_install``) at the
releases in ``homelab_sim.catalogue``
(Namespace, CRDs, ServiceAccounts, RBAC, webhook, Deployment/DaemonSet with the real image
names), with CRD schemas cut to structural stubs (``x-kubernetes-preserve-unknown-fields``)
where the real ones run to thousands of lines. A real lab applies the real files.

``manifest(component, version, filename)`` returns the YAML bytes, or None when unknown
(a release upstream does not have, or one the simulator does not model).
Components are named as in the addon index (``calico`` with the Calico version) or as the
interface names them (``tigera-operator`` with the operator version); ``metallb`` for MetalLB;
``flux`` for Flux.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from homelab_sim.catalogue import CALICO, FLUX, METALLB
from homelab_sim.kube.store import YAML_DUMPER

Obj = dict[str, Any]
_PRESERVE: Obj = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_PRIVILEGED = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}
CALICO_KINDS = (  # crd.projectcalico.org kinds in Calico v3.28 (plural, kind, scope)
    ("bgpconfigurations", "BGPConfiguration", "Cluster"),
    ("bgpfilters", "BGPFilter", "Cluster"),
    ("bgppeers", "BGPPeer", "Cluster"),
    ("blockaffinities", "BlockAffinity", "Cluster"),
    ("caliconodestatuses", "CalicoNodeStatus", "Cluster"),
    ("clusterinformations", "ClusterInformation", "Cluster"),
    ("felixconfigurations", "FelixConfiguration", "Cluster"),
    ("globalnetworkpolicies", "GlobalNetworkPolicy", "Cluster"),
    ("globalnetworksets", "GlobalNetworkSet", "Cluster"),
    ("hostendpoints", "HostEndpoint", "Cluster"),
    ("ipamblocks", "IPAMBlock", "Cluster"),
    ("ipamconfigs", "IPAMConfig", "Cluster"),
    ("ipamhandles", "IPAMHandle", "Cluster"),
    ("ippools", "IPPool", "Cluster"),
    ("ipreservations", "IPReservation", "Cluster"),
    ("kubecontrollersconfigurations", "KubeControllersConfiguration", "Cluster"),
    ("networkpolicies", "NetworkPolicy", "Namespaced"),
    ("networksets", "NetworkSet", "Namespaced"),
)
OPERATOR_KINDS = (
    ("apiservers", "APIServer", "Cluster"),
    ("imagesets", "ImageSet", "Cluster"),
    ("installations", "Installation", "Cluster"),
    ("tigerastatuses", "TigeraStatus", "Cluster"),
)
#: Kinds Calico 3.30 added (``manifests/operator-crds.yaml`` at v3.30.7): Calico's staged
#: policies and tiers, the operator's Whisker/Goldmane/GatewayAPI/ManagementClusterConnection.
CALICO_330_KINDS = (
    ("stagedglobalnetworkpolicies", "StagedGlobalNetworkPolicy", "Cluster"),
    ("stagedkubernetesnetworkpolicies", "StagedKubernetesNetworkPolicy", "Namespaced"),
    ("stagednetworkpolicies", "StagedNetworkPolicy", "Namespaced"),
    ("tiers", "Tier", "Cluster"),
)
OPERATOR_330_KINDS = (
    ("gatewayapis", "GatewayAPI", "Cluster"),
    ("goldmanes", "Goldmane", "Cluster"),
    ("managementclusterconnections", "ManagementClusterConnection", "Cluster"),
    ("whiskers", "Whisker", "Cluster"),
)
_CONDITION = ".status.conditions[?(@.type=='{}')].{}"
PRINTER_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "TigeraStatus": (
        ("Available", "string", _CONDITION.format("Available", "status")),
        ("Progressing", "string", _CONDITION.format("Progressing", "status")),
        ("Degraded", "string", _CONDITION.format("Degraded", "status")),
        ("Since", "date", _CONDITION.format("Available", "lastTransitionTime")),
    ),
    "IPAddressPool": (
        ("Auto Assign", "boolean", ".spec.autoAssign"),
        ("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs"),
        ("Addresses", "string", ".spec.addresses"),
    ),
}
METALLB_KINDS = (
    ("bfdprofiles", "BFDProfile", ("v1beta1",)),
    ("bgpadvertisements", "BGPAdvertisement", ("v1beta1",)),
    ("bgppeers", "BGPPeer", ("v1beta1", "v1beta2")),
    ("communities", "Community", ("v1beta1",)),
    ("ipaddresspools", "IPAddressPool", ("v1beta1",)),
    ("l2advertisements", "L2Advertisement", ("v1beta1",)),
    ("servicel2statuses", "ServiceL2Status", ("v1beta1",)),
)


def crd(
    group: str,
    plural: str,
    kind: str,
    scope: str,
    versions: tuple[str, ...] = ("v1",),
    *,
    status: bool = True,
    short: tuple[str, ...] = (),
    columns: tuple[tuple[str, str, str], ...] = (),
) -> Obj:
    served = []
    for i, version in enumerate(versions):
        schema = {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": _PRESERVE,
                "status": _PRESERVE,
            },
        }
        entry: Obj = {
            "name": version,
            "served": True,
            "storage": i == len(versions) - 1,
            "schema": {"openAPIV3Schema": schema},
        }
        if status:
            entry["subresources"] = {"status": {}}
        if columns:
            entry["additionalPrinterColumns"] = [
                {"name": name, "type": kind, "jsonPath": path} for name, kind, path in columns
            ]
        served.append(entry)
    names: Obj = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short:
        names["shortNames"] = list(short)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "names": names, "scope": scope, "versions": served},
    }


def _meta(obj_name: str, namespace: str = "", **labels: str) -> Obj:
    meta: Obj = {"name": obj_name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return meta


def _rbac(name: str, namespace: str, rules: list[Obj], *, cluster: bool = True) -> list[Obj]:
    kind = "ClusterRole" if cluster else "Role"
    group = "rbac.authorization.k8s.io/v1"
    role = {
        "apiVersion": group,
        "kind": kind,
        "metadata": _meta(name, "" if cluster else namespace),
        "rules": rules,
    }
    binding = {
        "apiVersion": group,
        "kind": f"{kind}Binding",
        "metadata": _meta(name, "" if cluster else namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [
            {"kind": "ServiceAccount", "name": name.split(":")[-1], "namespace": namespace}
        ],
    }
    return [role, binding]


def operator_crds(*, calico_330: bool) -> list[Obj]:
    """The Calico and operator CRDs (``operator-crds.yaml`` from 3.30, inside
    ``tigera-operator.yaml`` before)."""
    calico_kinds = CALICO_KINDS + (CALICO_330_KINDS if calico_330 else ())
    operator_kinds = OPERATOR_KINDS + (OPERATOR_330_KINDS if calico_330 else ())
    crds = [crd("crd.projectcalico.org", p, k, s, status=False) for p, k, s in calico_kinds]
    crds += [
        crd("operator.tigera.io", p, k, s, columns=PRINTER_COLUMNS.get(k, ()))
        for p, k, s in sorted(operator_kinds)
    ]
    return crds


def tigera_operator(operator_version: str, *, with_crds: bool = True) -> list[Obj]:
    """tigera-operator.yaml: (up to Calico 3.29) the CRDs, then RBAC and the operator
    Deployment."""
    crds = operator_crds(calico_330=False) if with_crds else []
    image = f"quay.io/tigera/operator:{operator_version}"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("tigera-operator", "tigera-operator", **{"k8s-app": "tigera-operator"}),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"name": "tigera-operator"}},
            "template": {
                "metadata": {"labels": {"name": "tigera-operator", "k8s-app": "tigera-operator"}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [
                        {"effect": "NoExecute", "operator": "Exists"},
                        {"effect": "NoSchedule", "operator": "Exists"},
                    ],
                    "serviceAccountName": "tigera-operator",
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "containers": [
                        {
                            "name": "tigera-operator",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["operator"],
                            "env": [
                                {"name": "WATCH_NAMESPACE", "value": ""},
                                {"name": "OPERATOR_NAME", "value": "tigera-operator"},
                                {
                                    "name": "TIGERA_OPERATOR_INIT_IMAGE_VERSION",
                                    "value": operator_version,
                                },
                            ],
                        }
                    ],
                },
            },
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _meta("tigera-operator", name="tigera-operator", **_PRIVILEGED),
        },
        *crds,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta("tigera-operator", "tigera-operator"),
        },
        *_rbac(
            "tigera-operator",
            "tigera-operator",
            [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        ),
        deployment,
    ]


def metallb_native(version: str) -> list[Obj]:
    """metallb-native.yaml: CRDs, RBAC, webhook, the controller Deployment and speaker
    DaemonSet."""
    ns = "metallb-system"
    crds = [
        crd("metallb.io", p, k, "Namespaced", v, columns=PRINTER_COLUMNS.get(k, ()))
        for p, k, v in METALLB_KINDS
    ]
    labels = {"app": "metallb"}

    def workload(kind: str, component: str, spec: Obj) -> Obj:
        selector = {"app": "metallb", "component": component}
        container = {
            "name": component,
            "image": f"quay.io/metallb/{component}:{version}",
            "args": ["--port=7472", "--log-level=info"],
            "ports": [{"containerPort": 7472, "name": "monitoring"}],
        }
        pod_spec = {
            "serviceAccountName": component,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "terminationGracePeriodSeconds": 0 if component == "controller" else 2,
            "containers": [container],
            **spec,
        }
        body: Obj = {
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": selector}, "spec": pod_spec},
        }
        if kind == "Deployment":
            body["revisionHistoryLimit"] = 3
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": _meta(component, ns, app="metallb", component=component),
            "spec": body,
        }

    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": _meta("metallb-webhook-configuration"),
        "webhooks": [
            {
                "name": f"{kind.lower()}validationwebhook.metallb.io",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "clientConfig": {
                    "service": {
                        "name": "metallb-webhook-service",
                        "namespace": ns,
                        "path": f"/validate-metallb-io-v1beta1-{kind.lower()}",
                    }
                },
                "rules": [
                    {
                        "apiGroups": ["metallb.io"],
                        "apiVersions": ["v1beta1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [plural],
                    }
                ],
            }
            for plural, kind in (
                ("ipaddresspools", "IPAddressPool"),
                ("l2advertisements", "L2Advertisement"),
                ("bgpadvertisements", "BGPAdvertisement"),
            )
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, **_PRIVILEGED)},
        *crds,
        *(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(n, ns, **labels)}
            for n in ("controller", "speaker")
        ),
        *_rbac(
            "metallb-system:controller",
            ns,
            [
                {
                    "apiGroups": [""],
                    "resources": ["services", "namespaces"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": [""], "resources": ["services/status"], "verbs": ["update"]},
                {
                    "apiGroups": ["metallb.io"],
                    "resources": ["*"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        ),
        *_rbac(
            "metallb-system:speaker",
            ns,
            [
                {
                    "apiGroups": [""],
                    "resources": ["services", "endpoints", "nodes", "namespaces"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("metallb-excludel2", ns),
            "data": {
                "excludel2.yaml": 'announcedInterfacesToExclude: ["^docker.*", "^cbr.*", '
                '"^dummy.*", "^virbr.*", "^lxcbr.*", "^veth.*", "^lo$", '
                '"^cali.*", "^tunl.*", "^flannel.*", "^kube-ipvs.*", "^cni.*", '
                '"^nodelocaldns.*"]\n'
            },
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": _meta("metallb-webhook-cert", ns)},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("metallb-webhook-service", ns),
            "spec": {
                "ports": [{"port": 443, "targetPort": 9443}],
                "selector": {"component": "controller"},
            },
        },
        workload("Deployment", "controller", {"securityContext": {"runAsNonRoot": True}}),
        workload(
            "DaemonSet",
            "speaker",
            {
                "hostNetwork": True,
                "tolerations": [
                    {
                        "key": "node-role.kubernetes.io/master",
                        "operator": "Exists",
                        "effect": "NoSchedule",
                    },
                    {
                        "key": "node-role.kubernetes.io/control-plane",
                        "operator": "Exists",
                        "effect": "NoSchedule",
                    },
                ],
            },
        ),
        webhook,
    ]


@functools.cache
def _catalogue() -> dict[tuple[str, str, str], list[Obj]]:
    out: dict[tuple[str, str, str], list[Obj]] = {}
    for release in CALICO.values():
        operator = tigera_operator(release.operator, with_crds=not release.separate_crds)
        files = {"tigera-operator.yaml": operator}
        if release.separate_crds:
            files["operator-crds.yaml"] = operator_crds(calico_330=True)
        for filename, docs in files.items():
            out[("tigera-operator", release.operator, filename)] = docs
            out[("calico", release.version, filename)] = docs
    for version in METALLB:
        out[("metallb", version, "metallb-native.yaml")] = metallb_native(version)
    from homelab_sim.kube.flux_install import flux_install  # it imports crd() from here

    for version, controllers in FLUX.items():
        out[("flux", version, "install.yaml")] = flux_install(version, controllers)
    return out


def known() -> list[tuple[str, str, str]]:
    """Every (component, version, filename) the mirror serves."""
    return sorted(_catalogue())


def manifest(component: str, version: str, filename: str) -> bytes | None:
    """An upstream-shaped install manifest (multi-document YAML), or None if unknown."""
    if (component, version, filename) not in _catalogue():
        return None
    return _render(component, version, filename)


@functools.lru_cache(maxsize=16)
def _render(component: str, version: str, filename: str) -> bytes:
    docs = _catalogue()[(component, version, filename)]
    text = yaml.dump_all(docs, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False)
    return ("---\n" + text).encode()
