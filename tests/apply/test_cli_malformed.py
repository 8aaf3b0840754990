"""A reply from Proxmox whose ``data`` has the wrong type is a clear, one-line error (exit 1),
never an ``internal error`` (exit 70): the simulator's ``malformed`` fault produces it."""

from __future__ import annotations

import pytest

from tests.apply.support import Cli, faults

MALFORMED = [
    ("GET", "/cluster/resources", "plan"),
    ("GET", "/nodes/*/storage/*/content", "plan"),
    ("POST", "/nodes/*/qemu/*/clone", "apply"),
    ("GET", "/nodes/*/qemu/*/config", "apply"),
    ("GET", "/nodes/*/tasks/*/status", "apply"),
    ("POST", "/nodes/*/qemu/*/status/start", "apply"),
]


@pytest.mark.parametrize(("method", "path", "verb"), MALFORMED)
def test_a_reply_of_the_wrong_type_is_a_clear_error(
    cli: Cli,
    method: str,
    path: str,
    verb: str,
) -> None:
    rule = {"method": method, "path": path, "fault": "malformed", "count": 10_000}
    cli.sim.set_faults(faults(rule))
    args = [verb, str(cli.spec)] + (["--yes", "--quiet"] if verb == "apply" else [])
    code, _, err = cli(*args)
    assert code == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert any(entry.fault == "malformed" for entry in cli.sim.log.entries())
    first = next(line for line in err.splitlines() if line.startswith("error:"))
    assert "Proxmox" in first or "vm " in first, err
