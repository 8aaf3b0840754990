"""Which backups a retention keeps, by Proxmox's rules (used for the etcd snapshots the tool keeps
on this machine; PVE prunes the VM backups itself). Pure.

The rules (pve-storage ``prune_mark_backup_group``, PBS's prune): backups are taken newest first;
``keep-last N`` keeps the N newest; then each of ``keep-hourly``, ``-daily``, ``-weekly`` (ISO
weeks), ``-monthly``, ``-yearly`` N keeps, going on from the newest, the newest backup of each
of N periods of its kind that no backup kept so far falls in; the older backups of a period it
kept are marked removed on the way, and no later rule keeps them (so ``keep-weekly`` does not
keep a backup that ``keep-daily`` passed over). Everything not kept is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

__all__ = ["kept"]

_PERIODS: dict[str, Callable[[datetime], tuple[int, ...]]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar()[:2]),
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: (t.year,),
}


def kept(times: Iterable[float], counts: Mapping[str, int]) -> set[float]:
    """The times (Unix seconds, UTC periods) of the backups ``counts`` keeps, e.g.
    ``{"last": 3, "daily": 7}``; an empty ``counts`` keeps everything."""
    ordered = sorted(set(times), reverse=True)
    if not counts:
        return set(ordered)
    last = counts.get("last", 0)
    keep: set[float] = set(ordered[:last])
    dropped: set[float] = set()
    for rule, period in _PERIODS.items():
        wanted = counts.get(rule, 0)
        if wanted <= 0:
            continue
        when = {t: period(datetime.fromtimestamp(t, UTC)) for t in ordered}
        before = {when[t] for t in keep}
        chosen: set[tuple[int, ...]] = set()
        for t in ordered:
            if t in keep or t in dropped or when[t] in before:
                continue
            if when[t] in chosen:
                dropped.add(t)  # an older one of a period this rule kept: no later rule keeps it
                continue
            if len(chosen) >= wanted:
                break
            chosen.add(when[t])
            keep.add(t)
    return keep
