"""``--state DIR``: the cluster, tasks, uploads and secrets survive a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from homelab.errors import SimulatorError
from homelab_sim.errors import SimError
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.secret import Secret
from tests.sim.support import Api, make_iso, upload


def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = SimConfig(time_scale=0, state_dir=tmp_path, password=Secret("pw"))
    first = PveSimulator(config)
    api = Api(first)
    api.finish(api.clone(101, name="keep-me"))
    seed = make_iso("cidata", {"user-data": "#cloud-config\n", "meta-data": "x: 1\n"})
    api.finish(upload(api, "seed.iso", seed))
    pending = api.clone(102)
    api.ok("POST", "/cluster/backup", data={"id": "nightly", "schedule": "daily"})
    token = first.token
    now = first.clock.now()

    second = PveSimulator(config)
    assert second.token == token
    assert second.clock.now() >= now
    again = Api(second)
    assert again.ok("GET", "/nodes/pve/qemu/101/config")["name"] == "keep-me"
    assert again.ok("GET", f"/nodes/pve/tasks/{pending}/status")["status"] == "running"
    assert again.finish(pending)["exitstatus"] == "OK"
    isos = again.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
    assert [v["volid"] for v in isos] == ["local:iso/seed.iso"]
    assert second.blobs  # the uploaded bytes came back from disk
    assert again.ok("GET", "/cluster/backup/nightly")["schedule"] == "daily"
    for name in ("state.json", "secrets.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert token.reveal().split("=", 1)[1] not in (tmp_path / "state.json").read_text()


def test_a_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(SimError, match="unreadable"):
        PveSimulator(SimConfig(state_dir=tmp_path))


def test_the_tool_reports_a_simulator_that_cannot_start_in_its_own_error_tree(
    tmp_path: Path,
) -> None:
    import shutil

    import yaml

    from homelab.core.spec.models import LabSpec
    from homelab.verbs.connection import open_connection

    example = Path(__file__).resolve().parents[2] / "examples" / "home-lab.yaml"
    spec_path = Path(shutil.copy(example, tmp_path / "home-lab.yaml"))
    spec = LabSpec.model_validate(yaml.safe_load(spec_path.read_text(encoding="utf-8")))
    (tmp_path / ".homelab").mkdir()
    (tmp_path / ".homelab" / "home-lab").write_text("a file where the lab's directory goes\n")
    with (
        pytest.raises(SimulatorError, match="cannot create the state directory") as caught,
        open_connection(spec, spec_path, sim=True),
    ):
        pass
    assert isinstance(caught.value.__cause__, SimError)
