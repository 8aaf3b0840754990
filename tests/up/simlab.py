"""Running `up` in-process against the simulator, in a temporary copy of an example lab.

``upped(spec)`` yields while the simulator still runs, so a test can talk to the simulated
cluster (with the Python client or a real kubectl) through the admin kubeconfig `up` wrote.
``tamper`` rewrites one VM's rendered user-data before anything is applied: the test seam for
a wrong bootstrap token or CA hash in a worker's join configuration.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from homelab.core.cluster import ClusterSecrets
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import credentials_of
from homelab.verbs.connection import Connection, open_connection
from homelab.verbs.lab import LabContext, prepare_lab
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.up import UpOutcome, up_lab
from tests.support.paths import EXAMPLES

Tamper = Callable[[str, ClusterSecrets], str]


def copy_example(name: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(EXAMPLES / name, into / name))


@dataclass
class Upped:
    ctx: LabContext
    conn: Connection
    outcome: UpOutcome

    def api(self) -> KubeApi:
        return KubeApi(credentials_of(self.outcome.kubeconfig.read_text()))


def tamper_seed(ctx: LabContext, vm: str, tamper: Tamper) -> None:
    secrets = cluster_secrets(ctx.store, ctx.lab)
    seed = ctx.artifacts.seeds[vm]
    user_data = tamper(seed.user_data.decode(), secrets).encode()
    assert user_data != seed.user_data, "the tamper function changed nothing"
    ctx.artifacts.seeds[vm] = replace(seed, user_data=user_data)


@contextmanager
def upped(
    spec: Path, *, timeout: float = 1800.0, tamper: tuple[str, Tamper] | None = None
) -> Iterator[Upped]:
    ctx = prepare_lab(spec)
    try:
        if tamper is not None:
            tamper_seed(ctx, *tamper)
        with open_connection(ctx.spec, spec, sim=True) as conn:
            outcome = up_lab(conn, ctx, confirm=lambda _plan: True, timeout=timeout)
            yield Upped(ctx, conn, outcome)
    finally:
        ctx.close()


def config_map(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"made": name},
    }


def destroy_everything(lab: Upped) -> None:
    client = lab.conn.client
    for vm in client.cluster_vms():
        if vm.name in lab.ctx.spec.vms:
            client.wait_task(client.stop(vm.node, vm.vmid))
            client.wait_task(client.destroy(vm.node, vm.vmid))


def ready_nodes(lab: Upped) -> set[str]:
    with lab.api() as api:
        return {
            n["metadata"]["name"]
            for n in api.nodes()
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]
            )
        }
