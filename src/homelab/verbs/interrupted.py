"""What interrupted day-2 runs left in a lab's journal, and what to run to finish them, for
`homelab status`. No printing here, and no connection: the journal is the state store's.

Three kinds (the engines that journal them say what each phase means):

- ``patch``: a patch run (``patch/run``, with the nodes it finished) and the node it stopped at
  (``patch/<vm>``, its phase). `homelab patch SPEC` resumes it (its nodes and reboot mode);
- ``upgrade``: a node whose rolling Kubernetes upgrade stopped after a phase
  (``upgrade/<vm>``). `homelab up SPEC` (or `apply`) finishes it, then the nodes after it;
- ``drain``: a node a drain left cordoned (``drain/<vm>``). The next `homelab patch SPEC` when
  a patch run is interrupted (it drains the node again if it still has to), else `homelab
  apply SPEC`, uncordons it first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from homelab.engine.apply.drains import DRAIN_PREFIX
from homelab.engine.patch import PATCH_PREFIX, RUN_KEY
from homelab.engine.upgrade.rollout import UPGRADE_PREFIX

__all__ = ["Interrupted", "interrupted_runs"]


@dataclass(frozen=True)
class Interrupted:
    """One thing an interrupted run left: its kind, the VM (none for a patch run as a
    whole), what was reached, and the command that finishes it."""

    kind: str
    vm: str | None
    detail: str
    #: the commands that finish it (any one of them)
    run: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "run": list(self.run)}

    def line(self) -> str:
        commands = " or ".join(f"`{command}`" for command in self.run)
        return f"interrupted {self.kind}: {self.detail}; run {commands} to finish it"


def interrupted_runs(journal: dict[str, dict[str, Any]], spec: str = "SPEC") -> list[Interrupted]:
    """The journal's patch, upgrade and drain entries, in that order (see the docstring);
    the commands name ``spec``."""
    patch, apply, up = (f"homelab {verb} {spec}" for verb in ("patch", "apply", "up"))
    patching = RUN_KEY in journal
    out = []
    if patching:
        out.append(_patch_run(journal, patch))
    # the upgrade as a whole (its start entry) before its nodes
    for key, data in sorted(journal.items(), key=lambda kv: kv[1].get("op") != "upgrade-start"):
        if key.startswith(UPGRADE_PREFIX) and data.get("op") == "upgrade-start":
            detail = (
                f"the rolling upgrade to {data.get('to', '?')} began (etcd snapshot "
                f"{data.get('etcd', '?')}) and did not finish"
            )
            out.append(Interrupted("upgrade", None, detail, (up, apply)))
        elif key.startswith(UPGRADE_PREFIX):
            vm = key.removeprefix(UPGRADE_PREFIX)
            detail = f"{vm}: its upgrade to {data.get('to', '?')} stopped after {data.get('phase')}"
            out.append(Interrupted("upgrade", vm, detail, (up, apply)))
    for key, data in sorted(journal.items()):
        if key.startswith(DRAIN_PREFIX):
            vm = str(data.get("vm") or key.removeprefix(DRAIN_PREFIX))
            detail = f"{vm}: left cordoned by a drain that did not finish"
            out.append(Interrupted("drain", vm, detail, (patch if patching else apply,)))
    return out


def _patch_run(journal: dict[str, dict[str, Any]], patch: str) -> Interrupted:
    run = journal[RUN_KEY]
    targets = [str(t.get("vm")) for t in run.get("targets") or []]
    done = [vm for vm in targets if vm in (run.get("done") or {})]
    detail = f"{len(done)} of {len(targets)} node(s) patched"
    if done:
        detail += f" ({', '.join(done)})"
    stopped = [
        f"{key.removeprefix(PATCH_PREFIX)} (phase {data.get('phase') or 'planned'})"
        for key, data in sorted(journal.items())
        if key.startswith(PATCH_PREFIX) and key != RUN_KEY
    ]
    if stopped:
        detail += f", stopped at {', '.join(stopped)}"
    detail += f" (reboot {run.get('reboot', 'auto')})"
    return Interrupted("patch", None, detail, (patch,))
