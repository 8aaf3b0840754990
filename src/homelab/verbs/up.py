"""``homelab up``: from the spec to a working Kubernetes cluster whose health the tool checked.

``up_lab`` first applies the plan (the provisioning verb, with apply's confirmation rules; it
re-arms the join token before booting nodes into an existing cluster: verbs.rearm), then
converges the cluster on one deadline (``timeout``, in the connection's seconds: virtual ones
with ``--sim``):

1. the admin kubeconfig, minted from the lab's CA in the state store (kubeadm's admin.conf
   identity), written to ``.homelab/<lab>/admin.conf`` with mode 0600 and reused while it still
   fits; its server is the control-plane endpoint ``<endpoint>:6443`` as the connection's Site
   reaches it (a real lab: ``https://<endpoint>:6443``; the simulator: the loopback address it
   maps that endpoint to, with ``tls-server-name`` = the endpoint), waiting while it does not
   exist yet;
2. the API server answering ``/readyz`` (TLS verified against the lab CA), then the admin
   certificate authorised (``kubeadm:cluster-admins`` has rights only once kubeadm bound it, a
   moment after ``/readyz``: a 403 is "not yet" for 60 s at most, engine.kube.wait);
3. the addons (engine.kube.addons), server-side applied, their manifests from the Site's source;
4. every node Ready and the system pods running (engine.kube.health);
5. with ``monitoring.enabled``: the stack's Secrets (Grafana's admin password, Alertmanager's
   configuration, the pve exporter's token) are read from the environment before anything is
   provisioned (a missing variable stops ``up`` at once, naming it), applied before the
   addons (Flux and the HelmReleases, addon index entry ``flux``), and after the nodes are
   healthy every HelmRelease must be Ready (a stalled one, or one whose chart source is
   stalled, fails at once with Flux's message); then Grafana's LoadBalancer address;
6. then, every node having run its seed, each seed ISO that holds secrets is replaced by its
   secret-free twin and deleted (verbs.scrub), so none rests on Proxmox storage.

A node that does not come up is named with what Proxmox says of its VM (power state, guest
agent), the last cloud-init / kubeadm phase it reached when its guest can be asked, and where to
look; nothing is torn down, so running ``up`` again finishes the job. The verb does not know
whether the lab is simulated (``homelab.engine.site``). No printing here.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from cryptography import x509

from homelab.core.cluster import ClusterSecrets
from homelab.core.ownership import NO_FLAGS, Flags, tagged_for
from homelab.core.plan.actions import Plan
from homelab.core.plan.components import desired_components
from homelab.core.render.kubeadm import API_PORT
from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec
from homelab.engine.apply.progress import ProgressSink
from homelab.engine.apply.runtime import Limits
from homelab.engine.kube.addons import AddonReport, install_addons
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.diagnose import explain_node, failed_guests
from homelab.engine.kube.health import ExpectedNode, HealthReport, NodeHealth
from homelab.engine.kube.kubeconfig import (
    KubeCredentials,
    credentials_of,
    default_kubeconfig_path,
    merge_into,
    write_private,
)
from homelab.engine.kube.wait import ApiTimeout, wait_api_ready, wait_authorized, wait_healthy
from homelab.engine.pki import mint_admin_kubeconfig
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import ProxmoxError
from homelab.engine.site import Reach
from homelab.engine.state import SecretBox, state_dir
from homelab.engine.state.components import InstalledComponents
from homelab.errors import KubeError, LabError
from homelab.verbs.connection import Connection
from homelab.verbs.etcd_schedule import SnapshotSchedule, schedule_snapshots
from homelab.verbs.lab import LabContext
from homelab.verbs.provision import ApplyOutcome, apply_lab
from homelab.verbs.scrub import SeedScrub, scrub_seeds
from homelab.verbs.secrets import cluster_secrets

__all__ = [
    "ClusterNotReady",
    "Converge",
    "UpOutcome",
    "admin_conf_path",
    "ensure_admin_kubeconfig",
    "raise_if_failed",
    "up_lab",
]

DEFAULT_TIMEOUT = 1800.0
RENEW_BEFORE = dt.timedelta(days=30)
#: Seconds between two looks at the guests' bootstrap, and at whether the API's address exists.
POLL = 2.0
Step = Callable[[str], None]


class ClusterNotReady(KubeError):
    """Nodes did not join, or the system pods did not run, in time."""


@dataclass
class UpOutcome:
    """What ``up`` did and what the cluster looks like at the end."""

    lab: str
    applied: ApplyOutcome
    endpoint: str
    server: str
    version: str
    kubeconfig: Path
    merged_into: Path | None
    addons: AddonReport
    health: HealthReport
    load_balancer: str | None
    elapsed: float
    etcd_snapshots: SnapshotSchedule
    #: per VM, what became of its secret seed ISO (``homelab.verbs.scrub``)
    seeds_scrubbed: SeedScrub
    #: the monitoring stack, when ``monitoring.enabled``
    monitoring: MonitoringOutcome | None = None

    @property
    def vms_changed(self) -> bool:
        return self.applied.report is not None

    @property
    def noop(self) -> bool:
        return (
            not self.vms_changed
            and not self.addons.changed
            and not self.etcd_snapshots.changed
            and not self.seeds_scrubbed.changed
        )

    def to_dict(self) -> dict[str, Any]:
        report = self.applied.report
        return {
            "lab": self.lab,
            "changed": not self.noop,
            "vms": [{"vm": o.vm, "kind": o.kind, "ok": o.ok} for o in report.outcomes]
            if report
            else [],
            "api_endpoint": f"https://{self.endpoint}:{API_PORT}",
            "server": self.server,
            "kubernetes_version": self.version,
            "kubeconfig": str(self.kubeconfig),
            "merged_into": str(self.merged_into) if self.merged_into else None,
            "load_balancer_pool": self.load_balancer,
            "addons": self.addons.to_dict(),
            "health": self.health.to_dict(),
            "etcd_snapshots": self.etcd_snapshots.to_dict(),
            "seeds_scrubbed": self.seeds_scrubbed.to_dict(),
            "monitoring": self.monitoring.to_dict() if self.monitoring else None,
            "elapsed_seconds": round(self.elapsed, 2),
        }


@dataclass
class MonitoringOutcome:
    """The stack's HelmReleases (name -> chart@version, all Ready) and where Grafana is."""

    releases: dict[str, str]
    grafana_url: str | None
    password_env: str

    @property
    def password_hint(self) -> str:
        """How to get Grafana's admin password (never the password)."""
        from homelab.core.monitoring.values import (
            GRAFANA_ADMIN_SECRET,
            GRAFANA_PASSWORD_KEY,
            NAMESPACE,
        )

        return (
            f"user admin; the password is ${self.password_env}, or: kubectl -n {NAMESPACE} "
            f"get secret {GRAFANA_ADMIN_SECRET} -o jsonpath='{{.data.{GRAFANA_PASSWORD_KEY}}}'"
            " | base64 -d"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "releases": dict(self.releases),
            "grafana_url": self.grafana_url,
            "grafana_password": self.password_hint,
        }


def admin_conf_path(spec_path: Path, lab: str) -> Path:
    return state_dir(spec_path) / lab / "admin.conf"


def up_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[Plan], bool],
    progress: ProgressSink | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    merge_kubeconfig: bool = False,
    on_step: Step | None = None,
    flags: Flags = NO_FLAGS,
    limits: Limits | None = None,
) -> UpOutcome:
    """Apply, then converge the cluster; raise ClusterNotReady naming what did not come up."""
    started = time.monotonic()
    step = on_step or (lambda _text: None)
    stack_secrets = monitoring_secrets(ctx.spec, ctx.store.secrets(ctx.lab))
    monitored = ctx.spec.monitoring is not None and ctx.spec.monitoring.enabled
    applied = apply_lab(conn, ctx, confirm=confirm, progress=progress, flags=flags, limits=limits)
    raise_if_failed(applied)
    deadline = conn.clock.monotonic() + timeout
    converge = Converge(conn, ctx, deadline, step)
    secrets = cluster_secrets(ctx.store, ctx.lab)
    reach = converge.api_server()
    path = admin_conf_path(ctx.spec_path, ctx.lab)
    text = ensure_admin_kubeconfig(path, secrets, ctx.lab, reach.url, reach.server_name)
    merged = None
    if merge_kubeconfig:
        merged = default_kubeconfig_path()
        merge_into(merged, text, ctx.lab)
    with KubeApi(credentials_of(text)) as api:
        version = converge.wait_api(api)
        early = [api.apply(obj) for obj in stack_secrets]
        addons = install_addons(
            api,
            ctx.artifacts.cluster,
            conn.site.manifest_source(),
            conn.clock,
            timeout=converge.left(),
            on_step=lambda what: step(f"applying {what}"),
        )
        addons.results[:0] = early
        step("waiting for every node to be Ready and the system pods to run")
        health = converge.wait_healthy(api)
        monitoring = None
        if monitored:
            step("waiting for the monitoring stack's HelmReleases to be Ready")
            monitoring = wait_monitoring(api, conn, ctx.spec, converge)
    # what this up installed: the next plan shows what a changed spec or pin would move
    InstalledComponents(ctx.store, ctx.lab).put(desired_components(ctx.artifacts.cluster))
    snapshots = schedule_snapshots(conn, ctx, step)
    step("replacing the joined nodes' seed ISOs with their secret-free twins")
    scrubbed = scrub_seeds(conn, ctx, step, limits=limits)
    return UpOutcome(
        lab=ctx.lab,
        applied=applied,
        endpoint=converge.endpoint,
        server=reach.url,
        version=version,
        kubeconfig=path,
        merged_into=merged,
        addons=addons,
        health=health,
        load_balancer=converge.load_balancer,
        elapsed=time.monotonic() - started,
        etcd_snapshots=snapshots,
        seeds_scrubbed=scrubbed,
        monitoring=monitoring,
    )


#: Where prometheus-pve-exporter's token comes from (its own variable names).
PVE_EXPORTER_ENVS = ("PVE_USER", "PVE_TOKEN_NAME", "PVE_TOKEN_VALUE")


def monitoring_secrets(spec: LabSpec, box: SecretBox) -> list[dict[str, Any]]:
    """The monitoring namespace and the stack's Secrets; empty without ``monitoring.enabled``.

    Grafana's password and the receivers' secrets come from the environment; the exporter's
    Proxmox token is the auditor token ``homelab monitoring token`` stored sealed in the state
    store, else ``PVE_USER``/``PVE_TOKEN_NAME``/``PVE_TOKEN_VALUE``. Anything missing is a
    LabError naming it."""
    if spec.monitoring is None or not spec.monitoring.enabled:
        return []
    # imported here: a lab without monitoring starts `up` as fast as before
    from homelab.core.monitoring import stack
    from homelab.core.monitoring.alertmanager import MissingSecret, alertmanager_config

    assert spec.monitoring is not None
    mon = spec.monitoring
    from homelab.verbs.monitoring_token import stored_auditor_token

    missing = [name for name in mon.secret_envs() if not os.environ.get(name)]
    token = stored_auditor_token(box) if mon.scrape.pve_nodes else None
    if mon.scrape.pve_nodes and token is None:
        missing += [name for name in PVE_EXPORTER_ENVS if not os.environ.get(name)]
    if missing:
        raise LabError(
            "monitoring.enabled needs these environment variables: " + ", ".join(missing),
            hint=f"{mon.grafana_admin_password_env} is Grafana's admin password; "
            "PVE_USER/PVE_TOKEN_NAME/PVE_TOKEN_VALUE a read-only (PVEAuditor) Proxmox token "
            "for prometheus-pve-exporter, unless `homelab monitoring token` made and stored "
            "one; the others are the receivers' secrets",
        )
    env = {name: os.environ[name] for name in mon.secret_envs()}
    try:
        config = alertmanager_config(mon, env)
    except MissingSecret as exc:  # pragma: no cover - every name was checked above
        raise LabError(f"monitoring needs the environment variable {exc.args[0]}") from None
    objects = [
        stack.namespace(),
        stack.grafana_admin_secret(Secret(env[mon.grafana_admin_password_env])),
        stack.alertmanager_secret(config),
    ]
    if token is not None:
        objects.append(stack.pve_exporter_secret(token.user, token.token_name, token.value))
    elif mon.scrape.pve_nodes:
        user, token_name, token_value = (os.environ[n] for n in PVE_EXPORTER_ENVS)
        objects.append(stack.pve_exporter_secret(user, token_name, Secret(token_value)))
    return objects


def wait_monitoring(
    api: KubeApi, conn: Connection, spec: LabSpec, converge: Converge
) -> MonitoringOutcome:
    """Every HelmRelease of the stack Ready, then Grafana's LoadBalancer address."""
    from homelab.core.monitoring import stack
    from homelab.core.monitoring.values import NAMESPACE

    assert spec.monitoring is not None
    pending = [name for name, _chart in stack.RELEASES]
    releases: dict[str, str] = {}
    while True:
        for name in list(pending):
            release = api.find(stack.HELM_API, "HelmRelease", name, NAMESPACE) or {}
            ready = _condition(release, "Ready")
            if ready.get("status") == "True":
                history = (release.get("status") or {}).get("history") or [{}]
                releases[name] = f"{history[0].get('chartName')}@{history[0].get('chartVersion')}"
                pending.remove(name)
                continue
            why = ready.get("message") or "not reconciled yet"
            if _condition(release, "Stalled").get("status") == "True" or _source_stalled(
                api, release
            ):
                raise KubeError(
                    f"HelmRelease {NAMESPACE}/{name} failed: {why}",
                    hint="fix the chart version or values in the spec and run `homelab up` again",
                )
            if converge.left() <= 0:
                raise KubeError(
                    f"HelmRelease {NAMESPACE}/{name} was not Ready in time: {why}",
                    hint=f"see `kubectl -n {NAMESPACE} describe helmrelease {name}`; "
                    "run `homelab up` again to keep waiting",
                )
        if not pending:
            break
        conn.clock.sleep(POLL)
    return MonitoringOutcome(
        releases=releases,
        grafana_url=_grafana_url(api, conn, converge, str(spec.api_endpoint())),
        password_env=spec.monitoring.grafana_admin_password_env,
    )


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def _source_stalled(api: KubeApi, release: dict[str, Any]) -> bool:
    """Whether the HelmChart Flux made for a ``chart.spec`` release is stalled (a chart version
    its repository does not have: helm-controller would wait for it for ever)."""
    from homelab.core.monitoring.stack import SOURCE_API

    meta = release.get("metadata") or {}
    if not ((release.get("spec") or {}).get("chart") or {}).get("spec"):
        return False
    name = f"{meta.get('namespace')}-{meta.get('name')}"
    chart = api.find(SOURCE_API, "HelmChart", name, meta.get("namespace"))
    return _condition(chart or {}, "Stalled").get("status") == "True"


def _grafana_url(api: KubeApi, conn: Connection, converge: Converge, node: str) -> str | None:
    """``http://<LoadBalancer address>`` of Grafana's Service once MetalLB gave it one, or
    ``http://<node>:<node port>`` in a lab without a pool; None if there is none in time."""
    from homelab.core.monitoring.stack import GRAFANA_SERVICE
    from homelab.core.monitoring.values import NAMESPACE

    while True:
        svc = api.find("v1", "Service", GRAFANA_SERVICE, NAMESPACE) or {}
        ports = (svc.get("spec") or {}).get("ports") or []
        if (svc.get("spec") or {}).get("type") == "NodePort" and ports[:1]:
            node_port = ports[0].get("nodePort")
            if node_port:
                return f"http://{node}:{node_port}"
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        address = next((i.get("ip") or i.get("hostname") for i in ingress), None)
        if address:
            port = next((p.get("port") for p in ports), 80)
            return f"http://{address}" + ("" if port == 80 else f":{port}")
        if converge.left() <= 0:
            return None
        conn.clock.sleep(POLL)


def raise_if_failed(applied: ApplyOutcome) -> None:
    failed = applied.report.failed if applied.report else []
    if failed:
        first = failed[0]
        raise LabError(
            f"provisioning failed for {len(failed)} VM(s); {first.vm}: {first.error}",
            hint="fix the cause and run `homelab up` again; it resumes where it stopped",
        )
    jobs = applied.report.failed_jobs if applied.report else ()
    if jobs:
        raise LabError(
            f"setting backup jobs failed for {len(jobs)} job(s); {jobs[0].name}: {jobs[0].error}",
            hint="fix the cause and run `homelab up` again",
        )


class Converge:
    """The converge phase's shared facts: the deadline, the endpoint, the expected nodes.

    Whatever differs between a real lab and a simulated one is asked of ``conn.site``; what
    Proxmox says of the VMs (power state, guest agent) is asked of ``conn.client``.
    """

    def __init__(self, conn: Connection, ctx: LabContext, deadline: float, step: Step) -> None:
        self.conn = conn
        self.site = conn.site
        self.ctx = ctx
        self.deadline = deadline
        self.step = step
        self.endpoint = str(ctx.spec.api_endpoint())
        lb = ctx.spec.kubernetes.load_balancer
        self.load_balancer = f"{lb.first}-{lb.last}" if lb is not None else None
        self.expected = [
            ExpectedNode(name, vm.role, str(vm.ip)) for name, vm in ctx.spec.vms.items()
        ]
        self._last_guest_check = float("-inf")

    def left(self) -> float:
        return max(self.deadline - self.conn.clock.monotonic(), 0.0)

    def wait_api(self, api: KubeApi, *, what: str = "") -> str:
        """The API server ready and the admin certificate authorised; its version."""
        self.step(f"waiting for the API server at https://{self.endpoint}:{API_PORT}")
        clock = self.conn.clock
        try:
            version = wait_api_ready(api, clock, timeout=self.left(), endpoint=self.endpoint)
            wait_authorized(api, clock, timeout=self.left(), endpoint=self.endpoint)
        except ApiTimeout as exc:
            self.fail_api(f"{what}{exc.message}")
        return version

    def wait_healthy(self, api: KubeApi) -> HealthReport:
        """Every expected node Ready and the system pods running, or ClusterNotReady."""
        health = wait_healthy(
            api,
            self.expected,
            self.conn.clock,
            timeout=self.left(),
            load_balancer=self.load_balancer is not None,
            on_poll=self.check_guests,
        )
        if not health.ok:
            self.fail(health)
        return health

    def api_server(self) -> Reach:
        """How to reach the API server; waits while its address does not exist yet."""
        key = f"{self.endpoint}:{API_PORT}"
        reach = self.site.reach(self.endpoint, API_PORT)
        if reach is None:
            self.step(f"waiting for the control plane at {key} to exist")
        while reach is None:
            self.check_guests(None, only=self.ctx.spec.control_planes)
            if self.left() <= 0:
                self.fail_api(f"the API server at {key} did not come up in time")
            self.conn.clock.sleep(POLL)
            reach = self.site.reach(self.endpoint, API_PORT)
        return reach

    def check_guests(self, health: HealthReport | None, *, only: list[str] | None = None) -> None:
        """Stop early when a guest reports that its bootstrap failed for good (a refused join)."""
        if self.conn.clock.monotonic() - self._last_guest_check < POLL:
            return
        self._last_guest_check = self.conn.clock.monotonic()
        pending = only if only is not None else [n.name for n in health.not_ready] if health else []
        failed = failed_guests(self.site.guest_phases(), pending)
        if failed:
            nodes = {n.name: n for n in health.nodes} if health else {}
            vms = vm_states(self.conn.client, self.ctx.lab, [g.vm for g in failed])
            lines = [
                explain_node(
                    nodes.get(g.vm) or self._absent(g.vm),
                    g,
                    user=self.user,
                    vm_state=vms.get(g.vm, ""),
                )
                for g in failed
            ]
            raise ClusterNotReady(
                "; ".join(lines),
                hint="fix the cause and run `homelab up` again; the rest of the lab is kept",
            )

    @property
    def user(self) -> str:
        return self.ctx.spec.access.user

    def _absent(self, name: str) -> NodeHealth:
        vm = self.ctx.spec.vms[name]
        return NodeHealth(name, vm.role, str(vm.ip), "", False, False)

    def fail_api(self, what: str) -> NoReturn:
        """ClusterNotReady: ``what`` went wrong, and how far each control plane got."""
        phases = self.site.guest_phases()
        names = self.ctx.spec.control_planes
        vms = vm_states(self.conn.client, self.ctx.lab, names)
        lines = [
            explain_node(self._absent(n), phases.get(n), user=self.user, vm_state=vms.get(n, ""))
            for n in names
        ]
        raise ClusterNotReady(
            f"{what}; " + "; ".join(lines),
            hint="run `homelab up` again to keep waiting, or raise --timeout",
        )

    def fail(self, health: HealthReport) -> NoReturn:
        phases = self.site.guest_phases()
        vms = vm_states(self.conn.client, self.ctx.lab, [n.name for n in health.not_ready])
        lines = [
            explain_node(n, phases.get(n.name), user=self.user, vm_state=vms.get(n.name, ""))
            for n in health.not_ready
        ]
        lines += [p for p in health.problems() if not p.startswith("node ")]
        raise ClusterNotReady(
            "the cluster is not healthy in time: " + "; ".join(lines),
            hint="the lab is left as it is; run `homelab up` again to finish the job",
        )


def vm_states(client: PveClient, lab: str, names: list[str]) -> dict[str, str]:
    """What Proxmox says of the lab's VMs ``names``: power state, and whether the guest agent
    answers. Partial (or empty) when Proxmox cannot be asked."""
    states: dict[str, str] = {}
    try:
        for vm in client.cluster_vms():
            ours = tagged_for(lab, vm.tags)
            if vm.name not in names or not ours:
                continue
            if vm.status != "running":
                states[vm.name] = f"VM {vm.status or 'state unknown'}"
                continue
            answers = client.agent_ping(vm.node, vm.vmid)
            agent = "answers" if answers else "does not answer: still booting, or no agent"
            states[vm.name] = f"VM running, guest agent {agent}"
    except ProxmoxError:
        return states
    return states


def ensure_admin_kubeconfig(
    path: Path, secrets: ClusterSecrets, lab: str, server: str, server_name: str | None
) -> str:
    """The admin kubeconfig at ``path``: kept while it fits, else minted anew (0600)."""
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current is not None and _still_fits(current, secrets, server, server_name):
        return current
    text = mint_admin_kubeconfig(secrets, cluster=lab, server=server, tls_server_name=server_name)
    write_private(path, text)
    return text


def _still_fits(text: str, secrets: ClusterSecrets, server: str, name: str | None) -> bool:
    try:
        creds: KubeCredentials = credentials_of(text)
        cert = x509.load_pem_x509_certificate(creds.client_cert_pem.encode("ascii"))
    except (KubeError, ValueError):
        return False
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
    same = (creds.server, creds.tls_server_name, creds.ca_pem) == (server, name, secrets.ca_cert)
    return fresh and same
