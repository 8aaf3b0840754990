"""Disaster recovery on the simulated lab: every VM destroyed, the lab restored from its backups.

The simulator keeps a cluster's etcd data on its control plane's disk: destroying the last control
plane loses the cluster (its API stops answering), and a backup of a control plane holds the data
as it was when the backup was made. So what exists after the restore is what existed at backup time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.errors import KubeError
from homelab.simulated.site import SimulatedSite
from homelab.verbs.backup import backup_now, backup_status
from homelab.verbs.restore import restore_vm
from tests.up.simlab import config_map, copy_example, destroy_everything, ready_nodes, upped

BACKUP = """
backup:
  storage: {existing: local}
  jobs:
    nightly: {schedule: "02:30", retention: {keep_last: 3}}
"""


def test_the_lab_comes_back_from_its_backups(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + BACKUP)
    with upped(spec) as lab:
        with lab.api() as api:
            api.apply(config_map("before-backup"))
        run = backup_now(lab.conn, lab.ctx)
        assert run.ok and sum(len(a) for a in run.archives.values()) == 3
        with lab.api() as api:
            api.apply(config_map("after-backup"))

        destroy_everything(lab)
        with pytest.raises(KubeError), lab.api() as api:  # etcd went with the control plane
            api.find("v1", "ConfigMap", "before-backup", "default")

        for vm in lab.ctx.spec.vms:  # the control plane first (spec order)
            result = restore_vm(lab.conn, lab.ctx, vm)
            assert result.in_place and not result.warnings, result
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        for _ in range(120):
            if ready_nodes(lab) == set(lab.ctx.spec.vms):
                break
            site.advance_clock(5)
        assert ready_nodes(lab) == set(lab.ctx.spec.vms)
        with lab.api() as api:
            assert api.find("v1", "ConfigMap", "before-backup", "default") is not None
            assert api.find("v1", "ConfigMap", "after-backup", "default") is None
        status = backup_status(lab.conn, lab.ctx)
        assert [row.count for row in status.vms] == [1, 1, 1]
