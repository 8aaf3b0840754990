"""Scheduled etcd snapshots on the control planes: a shell script, a oneshot service and a
systemd timer, rendered from ``backup.etcd``. Pure.

Every control plane runs ``homelab-etcd-snapshot.timer``; at each time the schedule names (as
``OnCalendar=``, the PVE calendar event written out value by value in systemd's own form, so
both read it the same way) the service takes a snapshot with ``etcdctl snapshot save`` inside
the etcd static pod's container (kubeadm's client certificate, as ``homelab backup etcd``
does), checks it with ``etcdutl snapshot status`` and moves it to ``SNAPSHOT_DIR`` as
``<Unix time>.db`` (mode 0600: a snapshot holds the cluster's Secrets). That directory is on the
VM's disk, so the VM's backups carry the snapshots with them. The script then prunes the
directory by the spec's retention, by Proxmox's rules (``core.backup.retention``), the periods
in UTC. ``Persistent=true`` makes systemd take a snapshot at boot when the VM was off at a
scheduled time, as PVE's ``repeat-missed`` does for a backup job.

The script uses only POSIX sh, coreutils (``date``, ``ls``, ``basename``, ``mv``, ``chmod``,
``rm``, ``touch``, ``mkdir``), grep and crictl, all in the stock Ubuntu image or installed by the
node's seed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from homelab.core.backup.calendar import CalendarEvent, parse_calendar_event
from homelab.core.spec.backup import EtcdBackup

__all__ = [
    "PATHS",
    "SCRIPT_PATH",
    "SERVICE",
    "SNAPSHOT_DIR",
    "TIMER",
    "UnitFile",
    "on_calendar",
    "snapshot_units",
]

SNAPSHOT_DIR = "/var/lib/homelab/etcd-snapshots"
SCRIPT_PATH = "/usr/local/sbin/homelab-etcd-snapshot"
SERVICE = "homelab-etcd-snapshot.service"
TIMER = "homelab-etcd-snapshot.timer"
UNIT_DIR = "/etc/systemd/system"
#: every file the timer is made of, the timer last (it is started once the others are there)
PATHS = (SCRIPT_PATH, f"{UNIT_DIR}/{SERVICE}", f"{UNIT_DIR}/{TIMER}")
MARK = "# managed by homelab: changes are overwritten by the next `homelab up`"
ETCD_WAIT = 180  # seconds the script waits for the etcd container
WORK = "/var/lib/etcd/homelab-scheduled.db"  # inside the etcd container's host mount
PKI = "/etc/kubernetes/pki/etcd"
ETCDCTL = (
    "etcdctl --endpoints=https://127.0.0.1:2379 "
    f"--cacert={PKI}/ca.crt --cert={PKI}/server.crt --key={PKI}/server.key"
)
# date(1) formats of the periods of Proxmox's retention rules (weekly: ISO weeks)
PERIOD_FORMATS = {
    "hourly": "%Y-%m-%dT%H",
    "daily": "%Y-%m-%d",
    "weekly": "%G-W%V",
    "monthly": "%Y-%m",
    "yearly": "%Y",
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class UnitFile:
    """A file to put on a control plane: path, text, mode."""

    path: str
    text: str
    mode: int = 0o644


def on_calendar(event: CalendarEvent) -> str:
    """The event in systemd's ``OnCalendar=`` form, every value spelled out
    (``Mon,Fri *-*-* 02:00,30:00``): no steps or ranges, so nothing is left to read
    differently; ``UTC`` when the event says so (else the node's local time, as PVE)."""

    def values(field_values: frozenset[int] | None, width: int) -> str:
        if field_values is None:
            return "*"
        return ",".join(f"{v:0{width}d}" for v in sorted(field_values))

    parts = []
    if len(event.weekdays) < len(_DAYS):
        parts.append(",".join(_DAYS[d] for d in sorted(event.weekdays)))
    parts.append(
        f"{values(event.year.values, 4)}-{values(event.month.values, 2)}-"
        f"{values(event.day.values, 2)}"
    )
    parts.append(
        f"{values(event.hour.values, 2)}:{values(event.minute.values, 2)}:"
        f"{values(event.second.values, 2)}"
    )
    if event.utc:
        parts.append("UTC")
    return " ".join(parts)


def _prune(counts: dict[str, int]) -> list[str]:
    """Proxmox's retention in sh over the snapshot list ``$all`` (newest first): ``$keep``
    and ``$gone`` collect the Unix times kept and passed over."""
    lines = [
        'rm -f "$keep" "$gone" "$seen" "$rule"',
        'touch "$keep" "$gone"',
    ]
    last = counts.get("last", 0)
    if last:
        lines += [
            "for f in $all; do",
            f'  if [ "$(grep -c \'\' "$keep")" -ge {last} ]; then break; fi',
            '  basename "$f" .db >> "$keep"',
            "done",
        ]
    for rule, fmt in PERIOD_FORMATS.items():
        wanted = counts.get(rule, 0)
        if not wanted:
            continue
        lines += [
            f"# keep-{rule}={wanted}",
            'rm -f "$seen" "$rule"',
            'touch "$seen" "$rule"',
            "for f in $all; do",
            '  e=$(basename "$f" .db)',
            '  if grep -qxF "$e" "$keep"; then',
            f'    date -u -d "@$e" +{fmt} >> "$seen"',
            "  fi",
            "done",
            "for f in $all; do",
            '  e=$(basename "$f" .db)',
            '  if grep -qxF "$e" "$keep"; then continue; fi',
            '  if grep -qxF "$e" "$gone"; then continue; fi',
            f'  p=$(date -u -d "@$e" +{fmt})',
            '  if grep -qxF "$p" "$seen"; then continue; fi',
            '  if grep -qxF "$p" "$rule"; then',
            '    echo "$e" >> "$gone"',
            "    continue",
            "  fi",
            f'  if [ "$(grep -c \'\' "$rule")" -ge {wanted} ]; then break; fi',
            '  echo "$p" >> "$rule"',
            '  echo "$e" >> "$keep"',
            "done",
        ]
    lines += [
        "for f in $all; do",
        '  e=$(basename "$f" .db)',
        '  if grep -qxF "$e" "$keep"; then continue; fi',
        '  rm -f "$dir/$f"',
        '  echo "pruned $dir/$f"',
        "done",
        'rm -f "$keep" "$gone" "$seen" "$rule"',
    ]
    return lines


def snapshot_script(etcd: EtcdBackup) -> str:
    counts = etcd.retention.counts()
    rules = ",".join(f"keep-{rule}={n}" for rule, n in counts.items())
    lines = [
        "#!/bin/sh",
        MARK,
        f"# an etcd snapshot of this control plane, kept by {rules} (UTC periods)",
        f"dir={shlex.quote(SNAPSHOT_DIR)}",
        f"work={shlex.quote(WORK)}",
        'keep="$dir/.keep"',
        'gone="$dir/.gone"',
        'seen="$dir/.seen"',
        'rule="$dir/.rule"',
        'mkdir -p "$dir" || exit 1',
        'chmod 700 "$dir" || exit 1',
        "# at boot (Persistent=true runs a missed snapshot then) etcd starts after the kubelet",
        'id=""',
        f"for try in $(seq 1 {ETCD_WAIT // 5}); do",
        "  id=$(crictl ps --name etcd --state running -q)",
        '  if [ -n "$id" ]; then break; fi',
        "  sleep 5",
        "done",
        'if [ -z "$id" ]; then',
        f'  echo "no etcd container runs on this node after {ETCD_WAIT} s" >&2',
        "  exit 1",
        "fi",
        "now=$(date -u +%s)",
        'rm -f "$work"',
        f'crictl exec "$id" {ETCDCTL} snapshot save "$work" || exit 1',
        'if ! crictl exec "$id" etcdutl snapshot status "$work" >/dev/null; then',
        '  rm -f "$work"',
        "  exit 1",
        "fi",
        'mv "$work" "$dir/$now.db" || exit 1',
        'chmod 600 "$dir/$now.db" || exit 1',
        'echo "saved $dir/$now.db"',
        "all=$(ls -1r \"$dir\" | grep -x '[0-9]*\\.db')",
        *_prune(counts),
    ]
    return "\n".join(lines) + "\n"


def snapshot_units(etcd: EtcdBackup) -> list[UnitFile]:
    """The script, the service and the timer (in this order: the timer is started last)."""
    calendar = on_calendar(parse_calendar_event(etcd.schedule))
    service = "\n".join(
        [
            MARK,
            "[Unit]",
            "Description=homelab: etcd snapshot of this control plane",
            "After=kubelet.service",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart=/bin/sh {SCRIPT_PATH}",
            "",
        ]
    )
    timer = "\n".join(
        [
            MARK,
            "[Unit]",
            f"Description=homelab: etcd snapshots ({etcd.schedule})",
            "",
            "[Timer]",
            f"OnCalendar={calendar}",
            "Persistent=true",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    script_path, service_path, timer_path = PATHS
    return [
        UnitFile(script_path, snapshot_script(etcd), 0o755),
        UnitFile(service_path, service),
        UnitFile(timer_path, timer),
    ]
