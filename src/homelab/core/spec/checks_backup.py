"""Semantic checks on the ``backup:`` section: job names, the VMs a job names, what it covers."""

from __future__ import annotations

import re
from collections.abc import Iterator

from homelab.core.spec.backup import JOB_NAME_RE
from homelab.core.spec.findings import Problem, error, warning
from homelab.core.spec.models import LabSpec


def check_backup_jobs(spec: LabSpec) -> Iterator[Problem]:
    """Job names make PVE job ids; a job's VMs exist in the lab; every VM is covered."""
    if spec.backup is None:
        return
    pbs = spec.backup.storage.pbs
    if pbs is not None and pbs.fingerprint is None:
        yield warning(
            ("backup", "storage", "pbs"),
            "no fingerprint: Proxmox VE accepts the PBS's certificate only if a CA it trusts "
            "signed it (a PBS's own certificate is self-signed: copy its fingerprint from the "
            "PBS dashboard)",
        )
    covered: set[str] = set()
    for name, job in spec.backup.jobs.items():
        path = ("backup", "jobs", name)
        if not re.match(JOB_NAME_RE, name):
            yield error(
                path,
                f"job name '{name}': lowercase letters, digits and '-', 2-32 characters, "
                "starting with a letter and not ending with '-'",
            )
        if isinstance(job.vms, list):
            if not job.vms:
                yield error((*path, "vms"), "the list of VMs is empty (write 'all' for every VM)")
            for index, vm in enumerate(job.vms):
                if vm not in spec.vms:
                    yield error((*path, "vms", index), f"'{vm}' is not a VM of this lab")
        covered |= set(spec.backup_vms(name))
    if spec.backup.jobs:
        missed = [vm for vm in spec.vms if vm not in covered]
        if missed:
            yield warning(
                ("backup", "jobs"),
                f"no backup job covers {', '.join(missed)} (they count as not backed up)",
            )


BACKUP_CHECKS = (check_backup_jobs,)
