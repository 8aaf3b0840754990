"""The names of the metrics the tool exports about what nobody else knows (one place).

The exporter (``homelab metrics``) writes them; the alert rules read them; both import these
names, so a rename cannot leave a rule watching a series that no longer exists. Every series
carries ``lab``; per-VM series carry ``vm`` (the spec's VM name).
"""

from __future__ import annotations

PREFIX = "homelab"

BACKUP_LAST = f"{PREFIX}_vm_backup_last_timestamp_seconds"
"""Unix time of the newest backup of a VM (absent: never backed up)."""
BACKUP_COVERED = f"{PREFIX}_vm_backup_covered"
"""1 when a backup job of the lab covers the VM, else 0."""
DRILL_SUCCESS = f"{PREFIX}_vm_drill_last_success"
"""1 when the last restore drill of a VM passed, 0 when it failed (absent: never drilled)."""
DRILL_LAST = f"{PREFIX}_vm_drill_last_timestamp_seconds"
DRIFT_OBJECTS = f"{PREFIX}_drift_objects"
"""How many objects differ between the spec and the lab (0: in sync)."""
CERT_EXPIRY = f"{PREFIX}_certificate_expiry_timestamp_seconds"
"""Unix time a certificate expires; label ``certificate`` (lab-ca, apiserver, kubelet/<node>)."""
APPLY_LAST = f"{PREFIX}_last_apply_timestamp_seconds"
APPLY_SUCCESS = f"{PREFIX}_last_apply_success"
"""1 when the last apply finished, 0 when it failed or was interrupted."""
ETCD_SNAPSHOT_LAST = f"{PREFIX}_etcd_snapshot_last_timestamp_seconds"
COLLECT_ERRORS = f"{PREFIX}_collector_errors"
"""Facts the last collection could not read (0: every fact was read); label ``source``."""

COLLECT_SECONDS = f"{PREFIX}_collection_duration_seconds"
"""How long the last collection took (it is reused between scrapes for a minimum interval)."""

EXPORTER_JOB = "homelab"
"""The scrape job name of the tool's exporter."""
