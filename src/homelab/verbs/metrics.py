"""`homelab metrics`: collecting what the tool knows about a lab for Prometheus.

``collect_facts`` reads, for one lab: the plan (drift between spec and lab: the same observation
``plan`` makes, 1 + one request per Proxmox node when nothing changed), the state store (the
last apply and whether an apply was interrupted), the lab's certificates (the three CAs the
tool keeps, and the API server's serving certificate read by a verified TLS handshake) and the
etcd snapshots kept under ``.homelab/<lab>/etcd/``, and the lab's backups: per VM its newest
backup on a storage with ``backup`` content and whether a scheduled job (``/cluster/backup``)
covers it (PVE's ``not-backed-up`` view, computed from the jobs). Each source that fails is
counted in ``errors`` and its facts left out (see ``homelab.core.monitoring.facts``); an error
that is not the tool's own (a bug) is not swallowed.

``LabCollector`` is the prometheus_client collector the exporter registers: a scrape reuses the
last collection while it is younger than ``min_interval`` (so several Prometheus replicas, or a
short scrape interval, do not multiply the requests to Proxmox), and concurrent scrapes share
one collection.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from homelab.core.monitoring import metrics
from homelab.core.monitoring.facts import (
    ApplyFact,
    BackupFact,
    DrillFact,
    LabFacts,
    metric_families,
)
from homelab.core.observed import Observed
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import NoOp
from homelab.core.render.kubeadm import API_PORT
from homelab.engine.kube.certs import not_after, server_certificate
from homelab.engine.kube.health import ExpectedNode, check_health
from homelab.engine.state import state_dir
from homelab.errors import LabError
from homelab.verbs.cluster_api import admin_api
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext, make_plan
from homelab.verbs.secrets import cluster_secrets

__all__ = [
    "ETCD_SNAPSHOT_SUFFIX",
    "Collection",
    "LabCollector",
    "LabHealth",
    "collect_facts",
    "etcd_dir",
    "lab_health",
]

HEALTH_TIMEOUT = 3.0
"""Seconds ``status`` waits for the cluster before it shows its nodes as unknown."""
ETCD_SNAPSHOT_SUFFIX = ".db"
#: both the plain snapshots a user keeps there and the sealed ones `backup etcd` writes
ETCD_SNAPSHOT_SUFFIXES = (ETCD_SNAPSHOT_SUFFIX, ".db.sealed")
"""The suffix of an etcd snapshot file (``etcdctl snapshot save`` / ``etcdutl`` output)."""


def etcd_dir(spec_path: Path, lab: str) -> Path:
    """Where the lab's etcd snapshots are kept on this machine."""
    return state_dir(spec_path) / lab / "etcd"


@dataclass(frozen=True)
class Collection:
    """One collection: its facts, when it was made, and how long it took (seconds)."""

    facts: LabFacts
    at: float
    seconds: float


def collect_facts(conn: Connection, ctx: LabContext) -> LabFacts:
    """Everything the tool can tell about the lab now (see the module docstring)."""
    errors: Counter[str] = Counter()
    drift, observed = _drift(conn, ctx, errors)
    return LabFacts(
        lab=ctx.lab,
        vms=list(ctx.spec.vms),
        backups=_backups(conn, ctx, observed, errors) if observed is not None else {},
        drift_objects=drift,
        certificates=_certificates(conn, ctx, errors),
        last_apply=_last_apply(ctx, errors),
        etcd_snapshot_last=_newest_snapshot(etcd_dir(ctx.spec_path, ctx.lab), errors),
        drills=_drills(ctx, errors),
        errors=dict(errors),
    )


def last_drills(ctx: LabContext) -> dict[str, dict[str, Any]]:
    """The newest restore drill per VM (``homelab backup drill`` records them in the state
    store's history), with its time (``at``, ISO 8601)."""
    out: dict[str, dict[str, Any]] = {}
    for event in ctx.store.history(ctx.lab).recent(500):
        if event.event == "drill":
            out.setdefault(str(event.data.get("vm")), {**event.data, "at": event.at})
    return out


def _drills(ctx: LabContext, errors: Counter[str]) -> dict[str, DrillFact]:
    try:
        found = last_drills(ctx)
    except LabError:
        errors["state"] += 1
        return {}
    return {
        vm: DrillFact(at=dt.datetime.fromisoformat(str(d["at"])).timestamp(), ok=bool(d.get("ok")))
        for vm, d in found.items()
        if vm in ctx.spec.vms
    }


@dataclass(frozen=True)
class LabHealth:
    """What ``homelab status`` shows beside the VMs: each VM's node in the cluster, and the
    lab's own facts (the exporter's: certificates, last apply, etcd snapshot)."""

    nodes: dict[str, str]
    """vm -> "Ready", "NotReady: why", "not joined", or "?" when the cluster did not answer."""
    api: str
    """"" when the cluster answered; else why not ("no cluster yet", the error)."""
    facts: LabFacts

    def to_dict(self) -> dict[str, object]:
        apply = self.facts.last_apply
        return {
            "nodes": dict(self.nodes),
            "api": self.api,
            "certificates": dict(self.facts.certificates),
            "last_apply": None if apply is None else {"at": apply.at, "ok": apply.ok},
            "etcd_snapshot_last": self.facts.etcd_snapshot_last,
            "errors": dict(self.facts.errors),
        }


def lab_health(conn: Connection, ctx: LabContext) -> LabHealth:
    """The health of the lab's nodes (one look at the cluster) and its facts, without a plan
    (``status`` made one already): certificates, last apply, etcd snapshots."""
    errors: Counter[str] = Counter()
    facts = LabFacts(
        lab=ctx.lab,
        vms=list(ctx.spec.vms),
        certificates=_certificates(conn, ctx, errors, timeout=HEALTH_TIMEOUT),
        last_apply=_last_apply(ctx, errors),
        etcd_snapshot_last=_newest_snapshot(etcd_dir(ctx.spec_path, ctx.lab), errors),
        errors=dict(errors),
    )
    unknown = dict.fromkeys(ctx.spec.vms, "?")
    api = admin_api(conn, ctx, timeout=HEALTH_TIMEOUT) if ctx.store.has_applied(ctx.lab) else None
    if api is None:
        return LabHealth(dict.fromkeys(ctx.spec.vms, "not joined"), "no cluster yet", facts)
    expected = [ExpectedNode(n, vm.role, str(vm.ip)) for n, vm in ctx.spec.vms.items()]
    try:
        with api:
            report = check_health(api, expected, load_balancer=False)
    except LabError as exc:
        return LabHealth(unknown, exc.message.splitlines()[0], facts)
    nodes = {
        n.name: "Ready" if n.ready else f"NotReady: {n.reason}" if n.registered else "not joined"
        for n in report.nodes
    }
    return LabHealth(nodes, "", facts)


def _drift(
    conn: Connection, ctx: LabContext, errors: Counter[str]
) -> tuple[int | None, Observed | None]:
    try:
        plan, observed = make_plan(conn, ctx)
    except LabError:
        errors["proxmox"] += 1
        return None, None
    changes = sum(1 for action in plan.actions if not isinstance(action, NoOp))
    return changes + len(plan.errors), observed


def _backups(
    conn: Connection, ctx: LabContext, observed: Observed, errors: Counter[str]
) -> dict[str, BackupFact]:
    """Per VM of the lab: its newest backup on any storage with ``backup`` content (one content
    read per such storage, per node unless shared) and whether a scheduled job covers it."""
    ours = {vm.name: vm for vm in lab_vms(ctx.lab, observed.vms) if vm.name in ctx.spec.vms}
    if not ours:
        return {}
    client = conn.client
    try:
        storages = [s for s in client.storage_configs().values() if "backup" in s.content]
        jobs = client.backup_jobs()
        newest: dict[int, int] = {}
        nodes = sorted({vm.node for vm in ours.values()})
        for storage in storages:
            for node in [n for n in nodes if storage.on_node(n)][: 1 if storage.shared else None]:
                for item in client.storage_content(node, storage.storage, "backup"):
                    if item.vmid is not None and item.ctime is not None:
                        newest[item.vmid] = max(item.ctime, newest.get(item.vmid, 0))
    except LabError:
        errors["backups"] += 1
        return {}
    facts = {}
    for name, vm in ours.items():
        verdicts = [job.covers(vm.vmid, vm.node) for job in jobs]
        covered = True if True in verdicts else None if None in verdicts else False
        last = newest.get(vm.vmid)
        facts[name] = BackupFact(last=float(last) if last is not None else None, covered=covered)
    return facts


def _certificates(
    conn: Connection, ctx: LabContext, errors: Counter[str], *, timeout: float = 5.0
) -> dict[str, float]:
    expiries: dict[str, float] = {}
    try:
        secrets = cluster_secrets(ctx.store, ctx.lab)
        for name, pem in (
            ("cluster-ca", secrets.ca_cert),
            ("etcd-ca", secrets.etcd_ca_cert),
            ("front-proxy-ca", secrets.front_proxy_ca_cert),
        ):
            expiries[name] = not_after(pem).timestamp()
    except LabError:
        errors["certificates"] += 1
        return expiries
    if not ctx.store.has_applied(ctx.lab):
        return expiries  # no cluster yet: no API server to ask
    reach = conn.site.reach(str(ctx.spec.api_endpoint()), API_PORT)
    if reach is None:
        return expiries  # the simulator never started an API server there
    try:
        cert = server_certificate(
            reach.url, ca_pem=secrets.ca_cert, server_name=reach.server_name, timeout=timeout
        )
    except LabError:
        errors["certificates"] += 1
    else:
        expiries["apiserver"] = cert.not_valid_after_utc.timestamp()
    return expiries


def _last_apply(ctx: LabContext, errors: Counter[str]) -> ApplyFact | None:
    try:
        events = [e for e in ctx.store.history(ctx.lab).recent(200) if e.event == "apply"]
        interrupted = bool(ctx.store.intents(ctx.lab).all())
    except LabError:
        errors["state"] += 1
        return None
    if not events:
        return ApplyFact(at=None, ok=False) if interrupted else None
    newest = events[0]
    outcomes = newest.data.get("outcomes", [])
    ok = not interrupted and all(bool(o.get("ok")) for o in outcomes)
    return ApplyFact(at=dt.datetime.fromisoformat(newest.at).timestamp(), ok=ok)


def newest_snapshot(folder: Path) -> float | None:
    """When the newest etcd snapshot in ``folder`` was written (None: none, or no folder);
    OSError when the folder cannot be read."""
    try:
        times = [
            p.stat().st_mtime
            for p in folder.iterdir()
            if p.is_file() and p.name.endswith(ETCD_SNAPSHOT_SUFFIXES)
        ]
    except FileNotFoundError:
        return None
    return max(times, default=None)


def _newest_snapshot(folder: Path, errors: Counter[str]) -> float | None:
    try:
        return newest_snapshot(folder)
    except OSError:
        errors["etcd"] += 1
        return None


class LabCollector(Collector):
    """The exporter's collector: one collection per ``min_interval``, shared by scrapes."""

    def __init__(
        self,
        collect: Callable[[], LabFacts],
        *,
        min_interval: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._collect = collect
        self._min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Collection | None = None

    def latest(self) -> Collection:
        """The last collection if still fresh, else a new one (one at a time)."""
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._last.at >= self._min_interval:
                facts = self._collect()
                self._last = Collection(facts, now, self._clock() - now)
            return self._last

    def collect(self) -> Iterator[Metric]:
        last = self.latest()
        yield from metric_families(last.facts)
        seconds = GaugeMetricFamily(
            metrics.COLLECT_SECONDS, "How long the last collection took.", labels=["lab"]
        )
        seconds.add_metric([last.facts.lab], last.seconds)
        yield seconds
