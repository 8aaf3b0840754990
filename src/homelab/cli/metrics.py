"""`homelab metrics SPEC`: the tool's own Prometheus exporter.

It exports what nobody else knows about the lab (drift, the last apply and its outcome, the
expiry of the lab's CAs and of the API server's certificate, the age of the newest local etcd
snapshot, and how many facts could not be read): ``--once`` prints one collection in the
Prometheus text format and exits; otherwise it serves ``/metrics`` on ``--listen`` until
SIGINT or SIGTERM. Series and their meaning: ``homelab.core.monitoring.metrics``.
"""

from __future__ import annotations

import signal
import threading
from ipaddress import ip_address
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import SimOpt, SpecArg, lab_session
from homelab.cli.output import err
from homelab.errors import LabError

DEFAULT_LISTEN = "127.0.0.1:9877"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` as (host, port); a clear error otherwise."""
    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip_address(host)
        port = int(port_text)
    except ValueError:
        port = -1
    if not sep or not 0 < port < 65536:
        raise LabError(
            f"--listen {text!r} is not an address and port",
            hint=f"give an IP address and a port, e.g. {DEFAULT_LISTEN} or [::1]:9877",
        )
    return host, port


@app.command()
def metrics(
    spec: SpecArg,
    sim: SimOpt = False,
    once: Annotated[bool, typer.Option("--once", help="print one collection and exit")] = False,
    listen: Annotated[
        str, typer.Option("--listen", help="serve /metrics on HOST:PORT", metavar="HOST:PORT")
    ] = DEFAULT_LISTEN,
    min_interval: Annotated[
        float,
        typer.Option(
            "--min-interval",
            min=0.0,
            help="seconds a collection is reused by later scrapes (fewer requests to Proxmox)",
        ),
    ] = 15.0,
) -> None:
    """Export the lab's drift, last apply, certificate expiry and etcd snapshot age."""
    from prometheus_client import CollectorRegistry, generate_latest, start_http_server

    from homelab.verbs.metrics import LabCollector, collect_facts

    host, port = parse_listen(listen) if not once else ("", 0)
    with lab_session(spec, sim) as (ctx, conn):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LabCollector(lambda: collect_facts(conn, ctx), min_interval=min_interval))
        if once:
            typer.echo(generate_latest(registry).decode("utf-8"), nl=False)
            return
        try:
            server, _thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise LabError(f"cannot listen on {listen}: {exc.strerror}") from exc
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        err.print(f"serving the metrics of lab {ctx.lab} on http://{listen}/metrics", markup=False)
        try:
            stop.wait()
        finally:
            server.shutdown()
            server.server_close()
