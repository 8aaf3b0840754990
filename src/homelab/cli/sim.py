"""`homelab sim serve` and `homelab sim faults`: the built-in Proxmox VE simulator.

`serve` listens on 127.0.0.1 only, prints exactly one JSON line on stdout when ready
(``{"endpoint": ..., "token": "root@pam!sim=SECRET", "fingerprint": ...}``) and nothing else
there; anything it logs goes to stderr. It runs until SIGINT or SIGTERM.

The fault profile (``--faults FILE``, YAML; also ``PUT /api2/json/_sim/faults`` as JSON) is a
list of rules, each matching a method and a path glob below /api2/json and firing on the first
``count`` matches or with a ``probability`` (reproducible with the profile's ``seed``)::

    seed: 42
    rules:
      - {method: POST, path: /nodes/*/qemu/*/clone, count: 1, fault: lock_timeout}
      - {path: /cluster/resources, probability: 0.05, fault: reset}
      - {method: POST, path: /nodes/*/qemu/*/status/start, count: 2, fault: slow_task, factor: 10}
      - {method: POST, path: /nodes/*/storage/*/upload, count: 1, fault: task_failure,
         message: "write failed: No space left on device"}
      - {path: /nodes/*/qemu/*/config, probability: 0.1, fault: http_error, status: 500,
         message: got timeout}

Kinds: ``http_error`` (answer ``status`` with ``message`` as PVE would), ``lock_timeout``
(PVE's flock timeout for the VMID in the path), ``reset`` (drop the connection, no response,
no effect), ``lost_response`` (carry the request out, then drop the connection),
``slow_task`` (the started task takes ``factor`` times longer), ``task_failure`` (the task ends
with ``TASK ERROR: message``), ``agent_timeout`` (an ``/agent/*`` call answers PVE's ``qmp
command 'guest-...' failed - got timeout``), ``apt_lock`` (on ``status/start``: the guest boots
with apt-daily/unattended-upgrades holding apt's locks for ``seconds``). Details in
``homelab_sim.pve.faults``; `homelab sim faults` prints a commented example.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from homelab.cli.app import sim_app
from homelab.errors import SimulatorError

if TYPE_CHECKING:
    from homelab_sim.pve.faults import FaultProfile

_NODE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
EXAMPLE_FAULTS = """\
# homelab sim serve --faults faults.yaml
seed: 42                       # optional: reproducible probabilities
rules:
  - method: POST               # or "*" (default)
    path: /nodes/*/qemu/*/clone
    count: 1                   # the first clone ...
    fault: lock_timeout        # ... fails with PVE's flock timeout
  - path: /cluster/resources
    probability: 0.05          # 5 % of these reads ...
    fault: reset               # ... lose their connection
  - method: POST
    path: /nodes/*/qemu/*/clone
    count: 1
    fault: lost_response       # the clone starts, but its answer never arrives
  - method: POST
    path: /nodes/*/qemu/*/status/start
    count: 2
    fault: slow_task           # the first two starts take 10x longer
    factor: 10
  - method: POST
    path: /nodes/*/storage/*/upload
    count: 1
    fault: task_failure        # the upload task ends with TASK ERROR: <message>
    message: "write failed: No space left on device"
  - path: /nodes/*/qemu/*/config
    probability: 0.1
    fault: http_error          # answer 500 with this reason
    status: 500
    message: "got timeout"
"""


def _nodes(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if not _NODE.match(n)]
    if not names or bad:
        raise SimulatorError(
            f"invalid node names: {', '.join(bad) or value!r}",
            hint="give node names like pve,pve2 (letters, digits and '-')",
        )
    if len(set(names)) != len(names):
        raise SimulatorError(f"duplicate node names in {value!r}")
    return names


def _faults(path: Path | None) -> FaultProfile | None:
    import yaml

    from homelab_sim.errors import SimError
    from homelab_sim.pve.faults import parse_profile

    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulatorError(f"cannot read the fault profile {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SimulatorError(f"the fault profile {path} is not valid YAML: {exc}") from exc
    try:
        return parse_profile(data, source=str(path))
    except SimError as exc:
        raise SimulatorError(exc.message, hint=exc.hint) from exc


@sim_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one.")] = 0,
    state: Annotated[
        Path | None,
        typer.Option(help="Keep the simulated cluster in this directory across restarts."),
    ] = None,
    nodes: Annotated[str, typer.Option(help="Comma-separated node names.")] = "pve",
    time_scale: Annotated[
        float, typer.Option(min=0.0, help="Virtual seconds per real second (60: 1 min -> 1 s).")
    ] = 1.0,
    faults: Annotated[
        Path | None, typer.Option(help="Fault profile (YAML); see `homelab sim faults`.")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="HOMELAB_SIM_PASSWORD",
            help="Password of root@pam for ticket logins (default: random, never printed).",
        ),
    ] = None,
) -> None:
    """Serve a simulated Proxmox VE 8 API over HTTPS on 127.0.0.1.

    When ready, prints one JSON line: {"endpoint", "token", "fingerprint"}.
    Example fault profile: `homelab sim faults > faults.yaml`.
    """
    # imported here: the server stack is heavy and other commands should start fast
    from homelab_sim.errors import SimError
    from homelab_sim.pve.auth import new_secret
    from homelab_sim.pve.simulator import PveSimulator, SimConfig
    from homelab_sim.secret import Secret
    from homelab_sim.server import serve_forever

    config = SimConfig(
        nodes=_nodes(nodes),
        time_scale=time_scale,
        password=Secret(password) if password else new_secret(),
        state_dir=state,
        faults=_faults(faults),
    )
    try:
        sim = PveSimulator(config)

        def ready(endpoint: str, fingerprint: str) -> None:
            line = {"endpoint": endpoint, "token": sim.token.reveal(), "fingerprint": fingerprint}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()

        serve_forever(sim, port=port, on_ready=ready)
    except SimError as exc:  # the simulator's own error, in the tool's error tree
        raise SimulatorError(exc.message, hint=exc.hint) from exc


@sim_app.command("faults")
def faults_example() -> None:
    """Print an example fault profile for `homelab sim serve --faults FILE`."""
    sys.stdout.write(EXAMPLE_FAULTS)


SimSpecArg = Annotated[Path, typer.Argument(help="the lab spec (YAML)", metavar="SPEC")]


def _lab_folder(spec_path: Path) -> tuple[str, Path]:
    from homelab.simulated.lab import sim_dir
    from homelab.verbs.spec import load_valid_spec

    spec = load_valid_spec(spec_path)
    return spec.name, sim_dir(spec_path, spec.name)


@sim_app.command("start")
def start(spec: SimSpecArg) -> None:
    """Run the lab's simulator in the background (its Proxmox VE and Kubernetes APIs stay up
    between commands; `--sim` commands use it). State, pid and log in .homelab/<lab>/sim/."""
    from homelab.simulated.background import start_background

    lab, folder = _lab_folder(spec)
    info = start_background(spec, folder)
    typer.echo(
        f"the simulated lab {lab} runs in the background (pid {info.pid}, Proxmox VE at "
        f"{info.endpoint}); stop it with `homelab sim stop {spec}`"
    )


@sim_app.command("status")
def status(
    spec: SimSpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Whether the lab's background simulator runs, and where."""
    import time

    from homelab.simulated.background import LOG_FILE, read_running

    lab, folder = _lab_folder(spec)
    info = read_running(folder)
    doc: dict[str, object] = {
        "lab": lab,
        "running": info is not None,
        "log": str(folder / LOG_FILE),
    }
    if info is not None:
        doc |= {"pid": info.pid, "endpoint": info.endpoint, "uptime": time.time() - info.started}
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    elif info is None:
        typer.echo(f"the simulated lab {lab} is not running in the background")
    else:
        typer.echo(
            f"the simulated lab {lab} runs: pid {info.pid}, Proxmox VE at {info.endpoint}, "
            f"up {time.time() - info.started:.0f} s; log {folder / LOG_FILE}"
        )


@sim_app.command("stop")
def stop(spec: SimSpecArg) -> None:
    """Stop the lab's background simulator (its state is kept for the next start)."""
    from homelab.simulated.background import stop_background

    lab, folder = _lab_folder(spec)
    info = stop_background(folder)
    if info is None:
        typer.echo(f"the simulated lab {lab} was not running in the background")
    else:
        typer.echo(f"stopped the simulated lab {lab} (pid {info.pid})")


@sim_app.command("_serve", hidden=True)
def serve_background(spec: SimSpecArg) -> None:
    """What `sim start` runs in the background."""
    from homelab.simulated.lab import serve_in_background
    from homelab.verbs.spec import load_valid_spec

    serve_in_background(load_valid_spec(spec), spec)
