"""Flux's release ``install.yaml`` as the simulator's manifest mirror serves it.

A compact stand-in, shaped like ``kustomize build manifests/install`` of fluxcd/flux2 at the
releases in ``homelab_sim.catalogue.FLUX``: the ``flux-system`` Namespace, the CRDs of all seven
controllers (schemas cut to structural stubs), a ServiceAccount per controller, the
``crd-controller`` ClusterRole with its binding, the three NetworkPolicies the release ships
(``allow-egress``, ``allow-scraping``, ``allow-webhooks``) and one Deployment per controller
with the real image names. A real lab applies the real file.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.kube.manifests import crd

Obj = dict[str, Any]
NAMESPACE = "flux-system"
#: (group, plural, kind, served versions), as the controllers' CRDs define them.
FLUX_KINDS = (
    ("source.toolkit.fluxcd.io", "buckets", "Bucket", ("v1",)),
    ("source.toolkit.fluxcd.io", "externalartifacts", "ExternalArtifact", ("v1",)),
    ("source.toolkit.fluxcd.io", "gitrepositories", "GitRepository", ("v1",)),
    ("source.toolkit.fluxcd.io", "helmcharts", "HelmChart", ("v1",)),
    ("source.toolkit.fluxcd.io", "helmrepositories", "HelmRepository", ("v1",)),
    ("source.toolkit.fluxcd.io", "ocirepositories", "OCIRepository", ("v1",)),
    ("kustomize.toolkit.fluxcd.io", "kustomizations", "Kustomization", ("v1",)),
    ("helm.toolkit.fluxcd.io", "helmreleases", "HelmRelease", ("v2",)),
    ("notification.toolkit.fluxcd.io", "alerts", "Alert", ("v1beta3",)),
    ("notification.toolkit.fluxcd.io", "providers", "Provider", ("v1beta3",)),
    ("notification.toolkit.fluxcd.io", "receivers", "Receiver", ("v1",)),
    ("image.toolkit.fluxcd.io", "imagepolicies", "ImagePolicy", ("v1",)),
    ("image.toolkit.fluxcd.io", "imagerepositories", "ImageRepository", ("v1",)),
    ("image.toolkit.fluxcd.io", "imageupdateautomations", "ImageUpdateAutomation", ("v1",)),
    ("source.extensions.fluxcd.io", "artifactgenerators", "ArtifactGenerator", ("v1beta1",)),
)
_READY = '.status.conditions[?(@.type=="Ready")]'
COLUMNS = (
    ("Age", "date", ".metadata.creationTimestamp"),
    ("Ready", "string", f"{_READY}.status"),
    ("Status", "string", f"{_READY}.message"),
)


def _labels(version: str, component: str = "") -> dict[str, str]:
    labels = {
        "app.kubernetes.io/instance": NAMESPACE,
        "app.kubernetes.io/part-of": "flux",
        "app.kubernetes.io/version": version,
    }
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _deployment(version: str, controller: str, tag: str) -> Obj:
    selector = {"app": controller}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": controller,
            "namespace": NAMESPACE,
            "labels": {**_labels(version, controller), "control-plane": "controller"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "serviceAccountName": controller,
                    "terminationGracePeriodSeconds": 10,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [
                        {
                            "name": "manager",
                            "image": f"ghcr.io/fluxcd/{controller}:{tag}",
                            "args": [
                                "--events-addr=http://notification-controller.flux-system.svc"
                                ".cluster.local./",
                                "--watch-all-namespaces=true",
                                "--log-level=info",
                                "--log-encoding=json",
                                "--enable-leader-election",
                            ],
                            "ports": [
                                {"containerPort": 8080, "name": "http-prom"},
                                {"containerPort": 9440, "name": "healthz"},
                            ],
                        }
                    ],
                },
            },
        },
    }


def _network_policy(name: str, spec: Obj, version: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": _labels(version)},
        "spec": spec,
    }


def flux_install(version: str, controllers: tuple[tuple[str, str], ...]) -> list[Obj]:
    """Every object of Flux ``version``'s install.yaml, in kustomize's order."""
    crds = []
    for group, plural, kind, versions in FLUX_KINDS:
        doc = crd(group, plural, kind, "Namespaced", versions, columns=COLUMNS)
        doc["metadata"]["labels"] = _labels(version)
        crds.append(doc)
    accounts = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": _labels(version)},
        }
        for name, _tag in controllers
    ]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "crd-controller-flux-system", "labels": _labels(version)},
        "rules": [
            {
                "apiGroups": [g for g in sorted({k[0] for k in FLUX_KINDS})],
                "resources": ["*"],
                "verbs": ["*"],
            },
            {
                "apiGroups": [""],
                "resources": ["namespaces", "secrets", "configmaps", "serviceaccounts", "events"],
                "verbs": ["get", "list", "watch", "create", "patch"],
            },
        ],
    }
    admin = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "cluster-reconciler-flux-system", "labels": _labels(version)},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}
            for name in ("kustomize-controller", "helm-controller")
        ],
    }
    policies = [
        _network_policy(
            "allow-egress",
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{}],
            },
            version,
        ),
        _network_policy(
            "allow-scraping",
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}],
            },
            version,
        ),
        _network_policy(
            "allow-webhooks",
            {
                "podSelector": {"matchLabels": {"app": "notification-controller"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {}}]}],
            },
            version,
        ),
    ]
    deployments = [_deployment(version, name, tag) for name, tag in controllers]
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {**_labels(version), "pod-security.kubernetes.io/warn": "restricted"},
        },
    }
    return [namespace, *crds, *accounts, role, admin, *policies, *deployments]
