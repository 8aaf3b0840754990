"""The ``backup:`` section: what it accepts, what it refuses and where it says so."""

from __future__ import annotations

import pytest

from homelab.core.spec.backup import Retention
from tests.spec.helpers import check, example_text, position_of

SECTION = """
backup:
  storage:
    pbs:
      id: pbs-lab
      server: 10.0.10.5
      datastore: homelab
      namespace: home-lab
      token_id: homelab@pbs!pve
  jobs:
    nightly:
      schedule: "02:30"
      retention: {keep_last: 3, keep_daily: 7, keep_weekly: 4}
      notes: "{{guestname}} of home-lab"
    masters:
      vms: {role: control-plane}
      schedule: "sat *-1..7 03:00"
      retention: {keep_monthly: 6}
      mode: stop
  etcd: {schedule: "*:0/30"}
"""


def lab(section: str = SECTION) -> str:
    return example_text() + section


def test_a_full_section_loads_with_its_defaults() -> None:
    result = check(lab())
    assert result.ok, result.findings
    spec = result.spec
    assert spec is not None and spec.backup is not None
    assert spec.backup.storage.storage_id == "pbs-lab"
    assert spec.backup.storage.pbs is not None and spec.backup.storage.pbs.port == 8007
    assert spec.backup.storage.pbs.token_env == "HOMELAB_PBS_TOKEN"
    nightly = spec.backup.jobs["nightly"]
    assert (nightly.mode, nightly.max_age, nightly.enabled) == ("snapshot", "36h", True)
    assert nightly.retention.prune_backups() == "keep-last=3,keep-daily=7,keep-weekly=4"
    assert spec.backup_vms("nightly") == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    assert spec.backup_vms("masters") == ["k8s-master-1"]
    assert spec.backup.etcd is not None and spec.backup.etcd.retention.counts() == {
        "last": 24,
        "daily": 7,
    }


def test_a_named_selection_keeps_the_spec_order() -> None:
    text = lab(SECTION.replace("vms: {role: control-plane}", "vms: [k8s-worker-3, k8s-master-1]"))
    spec = check(text).spec
    assert spec is not None and spec.backup_vms("masters") == ["k8s-master-1", "k8s-worker-3"]


def test_retention_renders_in_pves_order() -> None:
    keep = Retention(keep_yearly=1, keep_hourly=2, keep_last=5)
    assert keep.prune_backups() == "keep-last=5,keep-hourly=2,keep-yearly=1"


REFUSED = [
    ('schedule: "02:30"', 'schedule: "mon..fri 25:00"', 'schedule: |"mon..fri', "hour 25 is out"),
    ('schedule: "02:30"', 'schedule: "*-02-30"', 'schedule: |"*-02-30"', "matches no date"),
    ('schedule: "02:30"', 'schedule: "12:00 13:00"', 'schedule: |"12:00', "unexpected '13:00'"),
    ("keep_monthly: 6", "keep_monthly: 0", "keep_monthly: |0", "at least 1"),
    ("retention: {keep_monthly: 6}", "retention: {}", "|retention: {}", "keeps something"),
    ("mode: stop", "mode: pause", "mode: |pause", "'snapshot', 'suspend' or 'stop'"),
    ('notes: "{{guestname}} of home-lab"', 'notes: "{{name}}"', 'notes: |"{{name}}"', "{{name}}"),
    ("datastore: homelab", "datastore: home/lab", "datastore: |home/lab", "a PBS datastore name"),
    ("token_id: homelab@pbs!pve", "token_id: homelab", "token_id: |homelab\n", "PBS API token"),
    ("masters:", "Masters_:", "|Masters_:", "job name 'Masters_'"),
    ("{role: control-plane}", "[k8s-master-9]", "[|k8s-master-9]", "not a VM"),
    ("{role: control-plane}", "[]", "|vms: []", "the list of VMs is empty"),
    ("    pbs:\n", "    existing: bk\n    pbs:\n", "\n  |storage:\n    existing", "exactly one"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "where", "message"), REFUSED, ids=[r[3] for r in REFUSED])
def test_mistakes_are_named_at_their_place(old: str, new: str, where: str, message: str) -> None:
    text = lab(SECTION.replace(old, new, 1))
    assert text != lab()
    result = check(text)
    errors = [f for f in result.findings if f.severity == "error"]
    assert errors, "accepted"
    found = next((f for f in errors if message in f.message), None)
    assert found is not None, [f.message for f in errors]
    line, column = position_of(text, where)
    assert (found.line, found.col) == (line, column), found


def test_an_uncovered_vm_is_a_warning() -> None:
    text = lab(
        SECTION.replace(
            "    nightly:\n      schedule",
            "    nightly:\n      vms: [k8s-master-1]\n      schedule",
        )
    )
    result = check(text)
    assert result.ok
    warnings = [f.message for f in result.findings if f.severity == "warning"]
    assert (
        "no backup job covers k8s-worker-2, k8s-worker-3 (they count as not backed up)" in warnings
    )


def test_an_existing_storage_instead_of_pbs() -> None:
    pbs = SECTION[SECTION.index("    pbs:") : SECTION.index("  jobs:")]
    result = check(lab(SECTION.replace(pbs, "    existing: backups\n")))
    assert result.ok, result.findings
    assert result.spec is not None and result.spec.backup is not None
    assert result.spec.backup.storage.storage_id == "backups"


def test_a_pbs_without_fingerprint_is_a_warning() -> None:
    result = check(lab())
    warnings = [f for f in result.findings if f.severity == "warning"]
    assert [w.message.split(":")[0] for w in warnings] == ["no fingerprint"]
    assert warnings[0].path == ("backup", "storage", "pbs")
