"""`homelab net plan | apply | status | test SPEC`: the lab's OPNsense firewall.

Thin: each command loads the spec, opens the firewall (``--sim``: the built-in OPNsense
simulator over HTTPS on loopback), calls a verb of ``homelab.verbs.net`` and shows what it
returns. Known failures are LabErrors, shown by main.py as one red line with exit code 1.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SimOpt, SpecArg, YesOpt, ask
from homelab.cli.output import out
from homelab.errors import LabError

if TYPE_CHECKING:
    from homelab.core.network.plan import NetPlan
    from homelab.core.spec.models import LabSpec
    from homelab.verbs.net import Firewall

net_app = typer.Typer(
    help="The lab's OPNsense firewall: VLANs and their interface assignments (26.7), aliases, "
    "rules, DNS names, DHCP reservations.",
    no_args_is_help=True,
)
app.add_typer(net_app, name="net")

NetForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="apply even if the new rules would block homelab's own path to the OPNsense API, "
        "or the plan changes the assignment of the interface that path crosses",
    ),
]
_COLOURS = {"+": "green", "~": "yellow", "-": "red", "!": "red", "*": "yellow"}


@contextlib.contextmanager
def open_firewall(spec_path: Path, sim: bool) -> Iterator[tuple[LabSpec, Firewall]]:
    """The valid spec and its firewall, real or simulated; closed at the end."""
    from homelab.engine.opnsense.client import OpnsenseClient
    from homelab.engine.opnsense.settings import resolve
    from homelab.engine.state import state_dir
    from homelab.verbs.net import Firewall, require_opnsense
    from homelab.verbs.spec import load_valid_spec

    spec = load_valid_spec(spec_path)
    require_opnsense(spec, spec_path)
    assert spec.opnsense is not None
    recovery = state_dir(spec_path) / spec.name / "opnsense"
    if not sim:
        settings = resolve(spec.opnsense, base_dir=spec_path.resolve().parent)
        client = OpnsenseClient(settings)
        with contextlib.closing(client):
            yield spec, Firewall(client, time.sleep, recovery)
        return
    from homelab.simulated.opnsense import run_firewall

    with run_firewall(spec, spec_path) as simulated:
        client = OpnsenseClient(simulated.settings)
        with contextlib.closing(client):
            yield spec, Firewall(client, simulated.sim.advance, recovery)


def firewall_status(spec_path: Path, sim: bool) -> dict[str, object]:
    """The firewall side of ``homelab status``: OPNsense's version, DHCP server, in sync or
    the drift; a firewall that cannot be read is an ``error``, not a failed status."""
    from homelab.verbs.net import net_status

    try:
        with open_firewall(spec_path, sim) as (lab, firewall):
            status = net_status(lab, firewall)
    except LabError as exc:
        return {"error": exc.message.splitlines()[0]}
    return {
        "in_sync": status.in_sync,
        "opnsense_version": status.plan.version,
        "dhcp_server": status.plan.dhcp,
        "drift": [{"op": c.op, "module": c.module, "label": c.label} for c in status.plan.changes],
        "errors": list(status.plan.errors),
        "tool_path": status.tool_path.text(),
    }


def firewall_line(data: dict[str, object]) -> tuple[str, bool]:
    """One line of ``homelab status`` for the firewall, and whether it is a warning."""
    if "error" in data:
        return f"firewall: not read ({data['error']})", True
    drift = data["drift"]
    assert isinstance(drift, list)
    head = f"firewall: OPNsense {data['opnsense_version']}, DHCP {data['dhcp_server']}"
    if data["in_sync"]:
        return f"{head}: in sync", False
    return f"{head}: drift ({len(drift)} to change; `homelab net status` lists them)", True


def show_plan(plan: NetPlan) -> None:
    from homelab.core.network.render import plan_lines

    lines = plan_lines(plan)
    for marker, text in lines[:-1]:
        out.print(f"{marker} {text}", style=_COLOURS.get(marker), markup=False)
    if len(lines) > 1:
        out.print()
    out.print(lines[-1][1], style="bold", markup=False)


def _json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


@net_app.command("plan")
def plan_cmd(spec: SpecArg, sim: SimOpt = False, as_json: JsonOpt = False) -> None:
    """Show what `net apply` would change on the firewall (nothing is written)."""
    from homelab.core.network.render import plan_to_dict
    from homelab.verbs.net import net_plan

    with open_firewall(spec, sim) as (lab, firewall):
        _, plan = net_plan(lab, firewall)
    if as_json:
        _json(plan_to_dict(plan))
    else:
        show_plan(plan)
    if plan.errors or plan.locks_out:
        raise typer.Exit(1)


@net_app.command("apply")
def apply_cmd(
    spec: SpecArg,
    sim: SimOpt = False,
    yes: YesOpt = False,
    force: NetForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make the firewall hold the spec's objects: one reconfigure per module, lockout-safe."""
    from homelab.core.network.render import plan_to_dict
    from homelab.verbs.net import net_apply

    def confirm(plan: NetPlan) -> bool:
        if not as_json:
            show_plan(plan)
        return ask("Apply these firewall changes?", yes)

    with open_firewall(spec, sim) as (lab, firewall):
        outcome = net_apply(lab, spec, firewall, force=force, confirm=confirm)
    report = outcome.report
    if as_json:
        data = plan_to_dict(outcome.plan)
        data["applied"] = report.applied if report else []
        data["writes"] = report.writes if report else {}
        data["guard"] = report.guard if report else ""
        _json(data)
        return
    if report is None:
        out.print("No changes. The firewall matches the spec.", markup=False)
        return
    writes = sum(report.writes.values())
    guard = f"; filter guarded by {report.guard}" if report.guard else ""
    out.print(
        f"Applied {writes} write(s); reconfigured {', '.join(report.applied)}{guard}.",
        markup=False,
    )


@net_app.command("status")
def status_cmd(spec: SpecArg, sim: SimOpt = False, as_json: JsonOpt = False) -> None:
    """In sync or drift, and whether homelab's own path to the API is open now."""
    from homelab.core.network.render import change_line
    from homelab.verbs.net import net_status

    with open_firewall(spec, sim) as (lab, firewall):
        status = net_status(lab, firewall)
    if as_json:
        _json(
            {
                "in_sync": status.in_sync,
                "opnsense_version": status.plan.version,
                "dhcp_server": status.plan.dhcp,
                "drift": [
                    {"op": c.op, "module": c.module, "label": c.label} for c in status.plan.changes
                ],
                "errors": list(status.plan.errors),
                "tool_path": {"allowed": status.tool_path.allowed, "rule": status.tool_path.rule},
            }
        )
        return
    head = f"OPNsense {status.plan.version}, DHCP: {status.plan.dhcp}"
    state = "in sync" if status.in_sync else f"drift ({len(status.plan.changes)} to change)"
    out.print(f"{head}: {state}", markup=False)
    for change in status.plan.changes:
        marker, text = change_line(change)
        out.print(f"  {marker} {text}", style=_COLOURS.get(marker), markup=False)
    for error in status.plan.errors:
        out.print(f"  ! {error}", style="red", markup=False)
    out.print(f"homelab's path to the API: {status.tool_path.text()}", markup=False)


@net_app.command("test")
def test_cmd(
    spec: SpecArg,
    source: Annotated[str, typer.Argument(metavar="FROM", help="a VM, api, or an address")],
    to: Annotated[str, typer.Argument(metavar="TO", help="a VM, api, or an address")],
    port: Annotated[int, typer.Argument(metavar="PORT", min=1, max=65535)],
    protocol: Annotated[str, typer.Option("--protocol", "-p", help="tcp or udp")] = "tcp",
    sim: SimOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Would the firewall's rules let FROM reach TO:PORT now? Exit 2 when blocked."""
    from homelab.errors import LabError
    from homelab.verbs.net import net_test

    if protocol not in ("tcp", "udp"):
        raise LabError(f"--protocol {protocol}: tcp or udp")
    with open_firewall(spec, sim) as (lab, firewall):
        packet, verdict = net_test(lab, firewall, source, to, port, protocol)
    if as_json:
        _json(
            {
                "interface": packet.interface,
                "from": str(packet.source),
                "to": str(packet.destination),
                "port": port,
                "protocol": protocol,
                "allowed": verdict.allowed,
                "rule": verdict.rule,
            }
        )
    else:
        what = f"{packet.source} -> {packet.destination}:{port}/{protocol} on {packet.interface}"
        out.print(f"{what}: {verdict.text()}", markup=False)
    if not verdict.allowed:
        raise typer.Exit(2)
