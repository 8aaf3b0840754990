"""Flux's source-controller and helm-controller in a simulated cluster.

They act once their Deployments (``flux-system``, from Flux's ``install.yaml``) run, and set
the status Flux sets, with its texts (fluxcd/source-controller v1.9, fluxcd/helm-controller
v1.6):

- ``HelmRepository``: a repository the catalogue has -> ``Ready=True`` (``Succeeded``,
  "stored artifact: revision 'sha256:…'") with an artifact; another -> ``Ready=False``
  (``Failed``, "failed to fetch Helm repository index: …").
- ``OCIRepository``: a tag the repository holds -> ``Ready=True`` ("stored artifact for digest
  '…'"); another -> ``Ready=False`` (``OCIArtifactPullFailed``, "failed to determine artifact
  digest: …"), retried, never stalled. As in Flux, ``status.observedGeneration`` moves only
  when a reconcile succeeds or stalls, so a release reads a failing source's own message.
- a ``HelmRelease`` with ``chart.spec`` gets a ``HelmChart`` named ``<namespace>-<name>`` in its
  source's namespace. A version the repository does not have is a persistent build error: the
  HelmChart is ``Stalled`` (``InvalidChartReference``, "invalid chart reference: failed to get
  chart version for remote reference: no 'loki' chart with version matching '…' found").
- a ``HelmRelease``: a dependency not Ready -> ``Ready=False`` (``DependencyNotReady``); its
  source not ready -> ``Ready=False`` (``SourceNotReady``, "<Kind> 'ns/name' is not ready: …");
  else installed (``Ready``/``Released=True``, ``InstallSucceeded``, "Helm install succeeded
  for release ns/name.v1 with chart name@version"), or upgraded when its generation or chart
  version moves (``UpgradeSucceeded``, release revision + 1). A chart whose own templates
  ``fail`` (the Loki chart's ``validate.yaml``) fails the install; after
  ``install.remediation.retries`` more attempts the release is ``Stalled`` (``RetriesExceeded``,
  "Failed to install after N attempt(s)").

What an installed chart creates is modelled only where the lab reads it: kube-prometheus-stack
creates its Grafana Service ``<release>-grafana`` (type, port from ``grafana.service``; MetalLB
then gives a LoadBalancer its address) and the Loki chart its ``loki`` Service on 3100.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homelab_sim.catalogue import OCI_CHARTS, chart_versions
from homelab_sim.kube.calico import deployment_running
from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"
FLUX_NS = "flux-system"
SOURCE = "source-controller"
HELM = "helm-controller"
LOKI_VALIDATE = "loki/templates/validate.yaml"
LOKI_SCHEMA_FAIL = (
    f"execution error at ({LOKI_VALIDATE}:59:4): You must provide a schema_config for Loki, "
    "one is not provided as this will be individual for every Loki cluster. See "
    "https://grafana.com/docs/loki/latest/operations/storage/schema/ for schema information. "
    "For quick testing (with no persistence) add `--set loki.useTestSchema=true`"
)
LOKI_REPLICAS_FAIL = (
    f"execution error at ({LOKI_VALIDATE}:19:4): Cannot run more than 1 Monolithic replica "
    "without an object storage backend."
)


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _condition(
    state: ClusterState,
    old: Obj | None,
    kind: str,
    ok: bool | None,
    reason: str,
    message: str,
    generation: int,
) -> Obj:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    previous = next(
        (c for c in ((old or {}).get("status") or {}).get("conditions") or [] if c["type"] == kind),
        None,
    )
    kept = previous is not None and (previous["status"], previous["reason"]) == (status, reason)
    since = previous["lastTransitionTime"] if previous is not None and kept else state.timestamp()
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def _conditions(
    state: ClusterState, obj: Obj, *items: tuple[str, bool | None, str, str]
) -> list[Obj]:
    generation = int(obj["metadata"].get("generation", 1))
    return [_condition(state, obj, t, ok, r, m, generation) for t, ok, r, m in items]


def ready(obj: Obj | None) -> bool:
    return _cond(obj, "Ready").get("status") == "True"


def _cond(obj: Obj | None, kind: str) -> Obj:
    found = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in found if c.get("type") == kind), {})


def run_flux(state: ClusterState) -> None:
    """Reconcile Flux's sources, then its HelmReleases (each once its controller runs)."""
    if state.kind(SOURCE_API, "HelmRepository") is None:
        return
    if deployment_running(state, FLUX_NS, SOURCE) is None:
        return
    for repo in state.objects(SOURCE_API, "HelmRepository"):
        _helm_repository(state, repo)
    for repo in state.objects(SOURCE_API, "OCIRepository"):
        _oci_repository(state, repo)
    if state.kind(HELM_API, "HelmRelease") is None:
        return
    if deployment_running(state, FLUX_NS, HELM) is None:
        return
    for release in state.objects(HELM_API, "HelmRelease"):
        _helm_release(state, release)
    for chart in state.objects(SOURCE_API, "HelmChart"):
        _helm_chart(state, chart)


def _set(state: ClusterState, kind: str, obj: Obj, status: Obj, manager: str) -> Obj:
    merged = {**(obj.get("status") or {}), **status}
    return state.set_status(
        state.rt(SOURCE_API if kind != "HelmRelease" else HELM_API, kind), obj, merged, manager
    )


def _artifact(state: ClusterState, obj: Obj, revision: str, digest: str) -> Obj:
    meta = obj["metadata"]
    kind = obj["kind"].lower()
    old = (obj.get("status") or {}).get("artifact") or {}
    return {
        "path": f"{kind}/{meta['namespace']}/{meta['name']}/{digest[7:19]}.tar.gz",
        "url": f"http://source-controller.{FLUX_NS}.svc.cluster.local./{kind}/"
        f"{meta['namespace']}/{meta['name']}/{digest[7:19]}.tar.gz",
        "revision": revision,
        "digest": digest,
        "lastUpdateTime": old.get("lastUpdateTime")
        if old.get("digest") == digest
        else state.timestamp(),
    }


def _helm_repository(state: ClusterState, repo: Obj) -> None:
    url = str((repo.get("spec") or {}).get("url", ""))
    if (repo.get("spec") or {}).get("type") == "oci":
        return  # OCI HelmRepositories have no index and no artifact; charts pull directly
    generation = int(repo["metadata"].get("generation", 1))
    charts = chart_versions(url, "")
    if charts is None:
        message = (
            "failed to fetch Helm repository index: failed to cache index to temporary file: "
            f"failed to fetch {url.rstrip('/')}/index.yaml : 404 Not Found"
        )
        status: Obj = {  # observedGeneration moves only on success or a stall (fluxcd/pkg)
            "conditions": _conditions(
                state,
                repo,
                ("Ready", False, "Failed", message),
                ("FetchFailed", True, "Failed", message),
            ),
        }
        _set(state, "HelmRepository", repo, status, SOURCE)
        return
    digest = _digest(url, "index")
    message = f"stored artifact: revision '{digest}'"
    status = {
        "observedGeneration": generation,
        "url": f"http://source-controller.{FLUX_NS}.svc.cluster.local./helmrepository/"
        f"{repo['metadata']['namespace']}/{repo['metadata']['name']}/index.yaml",
        "artifact": _artifact(state, repo, digest, digest),
        "conditions": _conditions(
            state,
            repo,
            ("Ready", True, "Succeeded", message),
            ("ArtifactInStorage", True, "Succeeded", message),
        ),
    }
    _set(state, "HelmRepository", repo, status, SOURCE)


def _oci_repository(state: ClusterState, repo: Obj) -> None:
    spec = repo.get("spec") or {}
    url = str(spec.get("url", ""))
    tag = str((spec.get("ref") or {}).get("tag") or "latest")
    generation = int(repo["metadata"].get("generation", 1))
    if tag not in OCI_CHARTS.get(url, ()):
        path = url.removeprefix("oci://")
        host, _, name = path.partition("/")
        message = (
            f"failed to determine artifact digest: GET https://{host}/v2/{name}/manifests/"
            f"{tag}: MANIFEST_UNKNOWN: manifest unknown; unknown tag={tag}"
        )
        status: Obj = {  # a failed pull is retried: observedGeneration stays
            "conditions": _conditions(
                state,
                repo,
                ("Ready", False, "OCIArtifactPullFailed", message),
                ("FetchFailed", True, "OCIArtifactPullFailed", message),
            ),
        }
        _set(state, "OCIRepository", repo, status, SOURCE)
        return
    digest = _digest(url, tag)
    revision = f"{tag}@{digest}"
    message = f"stored artifact for digest '{revision}'"
    status = {
        "observedGeneration": generation,
        "url": url,
        "artifact": _artifact(state, repo, revision, digest),
        "conditions": _conditions(
            state,
            repo,
            ("Ready", True, "Succeeded", message),
            ("ArtifactInStorage", True, "Succeeded", message),
        ),
    }
    _set(state, "OCIRepository", repo, status, SOURCE)


def _helm_chart(state: ClusterState, chart: Obj) -> None:
    spec = chart.get("spec") or {}
    ref = spec.get("sourceRef") or {}
    namespace = chart["metadata"]["namespace"]
    name, version = str(spec.get("chart", "")), str(spec.get("version") or "*")
    generation = int(chart["metadata"].get("generation", 1))
    repo = state.get(state.rt(SOURCE_API, "HelmRepository"), namespace, str(ref.get("name")))
    if repo is None or not ready(repo):
        if repo is None:
            why = f'helmrepositories.source.toolkit.fluxcd.io "{ref.get("name")}" not found'
        else:
            why = f"HelmRepository '{namespace}/{ref.get('name')}' is not ready"
        message = f"failed to get source: {why}"
        status: Obj = {
            "conditions": _conditions(
                state,
                chart,
                ("Ready", False, "SourceUnavailable", message),
                ("FetchFailed", True, "SourceUnavailable", message),
            ),
        }
        _set(state, "HelmChart", chart, status, SOURCE)
        return
    versions = chart_versions(str((repo.get("spec") or {}).get("url", "")), name) or ()
    if version not in versions and version != "*":
        message = (
            "invalid chart reference: failed to get chart version for remote reference: "
            f"no '{name}' chart with version matching '{version}' found"
        )
        status = {
            "observedGeneration": generation,
            "conditions": _conditions(
                state,
                chart,
                ("Stalled", True, "InvalidChartReference", message),
                ("Ready", False, "InvalidChartReference", message),
                ("FetchFailed", True, "InvalidChartReference", message),
            ),
        }
        _set(state, "HelmChart", chart, status, SOURCE)
        return
    resolved = version if version != "*" else versions[-1]
    digest = _digest(name, resolved)
    message = f"pulled '{name}' chart with version '{resolved}'"
    status = {
        "observedGeneration": generation,
        "observedChartName": name,
        "observedSourceArtifactRevision": ((repo.get("status") or {}).get("artifact") or {}).get(
            "revision"
        ),
        "artifact": _artifact(state, chart, resolved, digest),
        "conditions": _conditions(
            state,
            chart,
            ("Ready", True, "ChartPullSucceeded", message),
            ("ArtifactInStorage", True, "ChartPullSucceeded", message),
        ),
    }
    _set(state, "HelmChart", chart, status, SOURCE)


def _chart_of(state: ClusterState, release: Obj) -> tuple[Obj | None, str, str, str]:
    """The release's source object, its kind and reference, and the chart name."""
    spec = release.get("spec") or {}
    namespace = release["metadata"]["namespace"]
    ref = spec.get("chartRef")
    if ref:
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        where = str(ref.get("namespace") or namespace)
        served = state.kind(SOURCE_API, kind)
        source = state.get(served, where, name) if served is not None else None
        chart = name.rsplit("/", 1)[-1]
        if source is not None:
            chart = str((source.get("spec") or {}).get("url", chart)).rsplit("/", 1)[-1]
        return source, kind, f"{where}/{name}", chart
    template = (spec.get("chart") or {}).get("spec") or {}
    source_ref = template.get("sourceRef") or {}
    where = str(source_ref.get("namespace") or namespace)
    chart_name = f"{namespace}-{release['metadata']['name']}"
    wanted = {
        "apiVersion": SOURCE_API,
        "kind": "HelmChart",
        "metadata": {"name": chart_name, "namespace": where},
        "spec": {
            "chart": template.get("chart"),
            "version": template.get("version") or "*",
            "sourceRef": {"kind": source_ref.get("kind"), "name": source_ref.get("name")},
            "interval": template.get("interval") or "1m",
            "reconcileStrategy": template.get("reconcileStrategy") or "ChartVersion",
        },
    }
    made = state.ensure(wanted, manager=HELM)
    return made, "HelmChart", f"{where}/{chart_name}", str(template.get("chart"))


def _source_problem(source: Obj | None, kind: str, ref: str) -> tuple[str, str] | None:
    """(reason, message) of a release whose source is missing or not ready (helm-controller's
    getSource and isReady), None when the source has an artifact."""
    if source is None:
        plural = {"OCIRepository": "ocirepositories", "HelmChart": "helmcharts"}.get(
            kind, f"{kind.lower()}s"
        )
        plural += ".source.toolkit.fluxcd.io"
        name = ref.split("/", 1)[1]
        return "ArtifactFailed", f'could not get Source object: {plural} "{name}" not found'
    return None if (text := _not_ready(source, kind, ref)) is None else ("SourceNotReady", text)


def _not_ready(source: Obj, kind: str, ref: str) -> str | None:
    generation = int(source["metadata"].get("generation", 1))
    observed = int((source.get("status") or {}).get("observedGeneration", -1))
    ready_cond = _cond(source, "Ready")
    if generation != observed:
        msg = "latest generation of object has not been reconciled"
        if ready_cond.get("status") == "False":
            msg = str(ready_cond.get("message"))
        return f"{kind} '{ref}' is not ready: {msg}"
    if _cond(source, "Stalled").get("status") == "True":
        return f"{kind} '{ref}' is not ready: {_cond(source, 'Stalled').get('message')}"
    if not (source.get("status") or {}).get("artifact"):
        return f"{kind} '{ref}' is not ready: does not have an artifact"
    return None


def _chart_failure(chart: str, values: Obj) -> str | None:
    """The ``fail`` a chart's own templates raise for these values (what the simulated world
    knows of them: the Loki chart's validate.yaml)."""
    if chart != "loki":
        return None
    loki = values.get("loki") or {}
    storage = (loki.get("storage") or {}).get("type", "s3")
    replicas = int((values.get("singleBinary") or {}).get("replicas", 0) or 0)
    if storage == "filesystem" and replicas > 1:
        return LOKI_REPLICAS_FAIL
    structured = (loki.get("structuredConfig") or {}).get("schema_config")
    if not loki.get("schemaConfig") and not structured and not loki.get("useTestSchema"):
        return LOKI_SCHEMA_FAIL
    return None


def _helm_release(state: ClusterState, release: Obj) -> None:
    meta = release["metadata"]
    spec = release.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    generation = int(meta.get("generation", 1))
    status = dict(release.get("status") or {})
    for dep in spec.get("dependsOn") or []:
        dep_ns = dep.get("namespace") or namespace
        other = state.get(state.rt(HELM_API, "HelmRelease"), dep_ns, dep["name"])
        if other is None or not ready(other):
            message = f"dependency '{dep_ns}/{dep['name']}' is not ready"
            conds = _conditions(state, release, ("Ready", False, "DependencyNotReady", message))
            _set(state, "HelmRelease", release, {"conditions": _merge(status, conds)}, HELM)
            return
    source, kind, ref, chart = _chart_of(state, release)
    if kind == "HelmChart" and source is not None:
        _helm_chart(state, source)
        source = state.get(state.rt(SOURCE_API, "HelmChart"), *ref.split("/", 1))
    problem = _source_problem(source, kind, ref)
    if problem is not None:
        conds = _conditions(state, release, ("Ready", False, *problem))
        _set(state, "HelmRelease", release, {"conditions": _merge(status, conds)}, HELM)
        return
    assert source is not None
    artifact = (source.get("status") or {}).get("artifact") or {}
    version = str(artifact.get("revision", "")).split("@", 1)[0]
    history = list(status.get("history") or [])
    current = history[0] if history else None
    wanted = (chart, version, generation)
    if (
        current is not None
        and current.get("status") == "deployed"
        and (
            current.get("chartName"),
            current.get("chartVersion"),
            status.get("lastAttemptedGeneration"),
        )
        == wanted
    ):
        return  # in sync: nothing to do
    if _cond(release, "Stalled").get("status") == "True" and (
        status.get("lastAttemptedGeneration") == generation
        and status.get("lastAttemptedRevision") == version
    ):
        return  # stalled until the spec or the chart changes
    action = "upgrade" if current is not None else "install"
    reason = action.capitalize()  # InstallFailed, UpgradeSucceeded, ...
    revision = int(current["version"]) + 1 if current is not None else 1
    full = f"{namespace}/{name}.v{revision}"
    values = spec.get("values") or {}
    failure = _chart_failure(chart, values)
    status.update(
        {
            "observedGeneration": generation,
            "lastAttemptedGeneration": generation,
            "lastAttemptedRevision": version,
            "lastAttemptedReleaseAction": action,
            "helmChart": ref if kind == "HelmChart" else None,
            "storageNamespace": namespace,
        }
    )
    if status["helmChart"] is None:
        del status["helmChart"]
    if failure is not None:
        retries = int(((spec.get(action) or {}).get("remediation") or {}).get("retries", 0))
        attempts = retries + 1 if retries >= 0 else 1
        message = (
            f"Helm {action} failed for release {namespace}/{name} with chart "
            f"{chart}@{version}: {failure}"
        )
        stalled = f"Failed to {action} after {attempts} attempt(s)"
        status[f"{action}Failures"] = int(status.get(f"{action}Failures", 0)) + attempts
        status["failures"] = int(status.get("failures", 0)) + attempts
        conds = _conditions(
            state,
            release,
            ("Stalled", True, "RetriesExceeded", stalled),
            ("Ready", False, f"{reason}Failed", message),
            ("Released", False, f"{reason}Failed", message),
        )
        status["conditions"] = _merge(status, conds)
        _set(state, "HelmRelease", release, status, HELM)
        return
    message = f"Helm {action} succeeded for release {full} with chart {chart}@{version}"
    snapshot = {
        "name": name,
        "namespace": namespace,
        "version": revision,
        "status": "deployed",
        "chartName": chart,
        "chartVersion": version,
        "appVersion": "",
        "configDigest": _digest(repr(sorted(values.items()))),
        "digest": _digest(full, chart, version),
        "firstDeployed": (current or {}).get("firstDeployed") or state.timestamp(),
        "lastDeployed": state.timestamp(),
    }
    if current is not None:
        current = {**current, "status": "superseded"}
        history = [snapshot, current, *history[1:]][:5]
    else:
        history = [snapshot]
    status["history"] = history
    status["conditions"] = [
        c
        for c in _merge(
            status,
            _conditions(
                state,
                release,
                ("Ready", True, f"{reason}Succeeded", message),
                ("Released", True, f"{reason}Succeeded", message),
            ),
        )
        if c["type"] not in ("Stalled", "Reconciling")
    ]
    status["installFailures"] = 0
    status["upgradeFailures"] = 0
    status["failures"] = 0
    _set(state, "HelmRelease", release, status, HELM)
    _chart_objects(state, release, chart, values)


def _merge(status: Obj, new: list[Obj]) -> list[Obj]:
    kinds = {c["type"] for c in new}
    return [*new, *(c for c in status.get("conditions") or [] if c["type"] not in kinds)]


def _chart_objects(state: ClusterState, release: Obj, chart: str, values: Obj) -> None:
    meta = release["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    labels = {
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "Helm",
    }
    annotations = {"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": namespace}
    services: list[tuple[str, str, int, int, str]] = []
    if chart == "kube-prometheus-stack":
        grafana = values.get("grafana") or {}
        if grafana.get("enabled", True):
            svc = grafana.get("service") or {}
            services.append(
                (
                    f"{name}-grafana",
                    str(svc.get("type") or "ClusterIP"),
                    int(svc.get("port") or 80),
                    int(svc.get("targetPort") or 3000),
                    "grafana",
                )
            )
    elif chart == "loki":
        services.append((name, "ClusterIP", 3100, 3100, "loki"))
    for svc_name, svc_type, port, target, app in services:
        state.ensure(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": svc_name,
                    "namespace": namespace,
                    "labels": {**labels, "app.kubernetes.io/name": app},
                    "annotations": annotations,
                },
                "spec": {
                    "type": svc_type,
                    "selector": {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": name},
                    "ports": [
                        {
                            "name": "http-web" if app == "grafana" else "http-metrics",
                            "port": port,
                            "targetPort": target,
                            "protocol": "TCP",
                        }
                    ],
                },
            },
            manager=HELM,
        )
