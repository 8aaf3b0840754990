"""`state recover` on the simulator, over the wire: a lab whose state store was lost is planned
as it runs again, not replaced."""

from __future__ import annotations

from pathlib import Path

from homelab.engine.state import open_store
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.spec import load_valid_spec
from homelab.verbs.state_recover import recover_store
from tests.day2.recover.support import lost_store


def test_the_reference_lab_is_recovered_and_plans_no_change(tmp_path: Path) -> None:
    with lost_store("home-lab.yaml", tmp_path) as lab:
        spec = load_valid_spec(lab.spec)
        done = recover_store(lab.conn, spec, lab.spec)
        assert done is not None
        with open_store(lab.spec) as store:
            assert cluster_secrets(store, spec.name).to_json() == lab.secrets.to_json()
        plan = lab.plan()
        assert plan.errors == ()
        assert plan.changes == ()
