"""Retention as Proxmox prunes: the tool's rules (for etcd snapshots) against the simulator's
port of pve-storage's, and a worked example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from homelab.core.backup.retention import kept
from homelab_sim.pve.backup_jobs import prune_marks
from homelab_sim.pve.state import Volume

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def at(days: float) -> float:
    return (START + timedelta(days=days)).timestamp()


def test_a_worked_example() -> None:
    # twice a day for ten days: keep the 2 newest, then one a day for 3 more days
    times = [at(d + h / 24) for d in range(10) for h in (1, 13)]
    keep = kept(times, {"last": 2, "daily": 3})
    assert sorted(keep) == [
        at(6 + 13 / 24),
        at(7 + 13 / 24),
        at(8 + 13 / 24),
        at(9 + 1 / 24),
        at(9 + 13 / 24),
    ]
    assert kept(times, {"weekly": 2}) == {at(6 + 13 / 24), at(9 + 13 / 24)}  # ISO weeks 1 and 2
    assert kept(times, {}) == set(times)
    assert kept(times, {"last": 1, "daily": 2}) == {
        at(9 + 13 / 24),
        at(8 + 13 / 24),
        at(7 + 13 / 24),
    }


def _volumes(times: list[float]) -> list[Volume]:
    return [
        Volume(
            volid=f"b:backup/{t}",
            storage="b",
            node="pve",
            content="backup",
            size=1,
            vmid=1,
            ctime=int(t),
        )
        for t in times
    ]


RULES = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 3 * 365 * 24), min_size=0, max_size=40, unique=True),
    st.dictionaries(st.sampled_from(RULES), st.integers(1, 5), max_size=4),
)
def test_the_tool_keeps_what_pve_keeps(hours: list[int], counts: dict[str, int]) -> None:
    times = [float(int(at(h / 24))) for h in hours]
    ours = kept(times, counts)
    marks = prune_marks(_volumes(times), {f"keep-{k}": v for k, v in counts.items()})
    theirs = {float(v.split("/")[-1]) for v, m in marks.items() if m == "keep"}
    assert ours == theirs
