"""`homelab doctor`: read what a lab needs of Proxmox VE, then judge it (``homelab.core.doctor``).

Nothing changes on Proxmox: every call is a read. The first one (``/version``) tells whether
the endpoint answers, its certificate matches the pin and the token is valid; when it fails
the other checks are not run (they could not be). A read the token may not do becomes a
finding of its own, and the checks that needed it are judged on what could be read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from homelab.core.doctor import (
    CHECKS,
    Finding,
    LabFacts,
    TemplateFacts,
    diagnose,
    required_privileges,
)
from homelab.core.plan.sources import find_templates
from homelab.core.spec.models import LabSpec
from homelab.engine.proxmox.errors import (
    AuthenticationError,
    PermissionDenied,
    TlsError,
    TransportError,
)
from homelab.errors import LabError
from homelab.verbs.connection import Connection

__all__ = ["DoctorReport", "run_doctor"]

T = TypeVar("T")


@dataclass(frozen=True)
class DoctorReport:
    """The findings, the checks that ran, and the Proxmox VE version (None: not reached)."""

    findings: tuple[Finding, ...]
    checked: tuple[str, ...]
    version: str | None

    @property
    def ok(self) -> bool:
        return not any(finding.is_error for finding in self.findings)

    def status(self, check: str) -> str:
        """``ok``, ``warning``, ``error``, or ``skipped`` (not run)."""
        if check not in self.checked:
            return "skipped"
        severities = {f.severity for f in self.findings if f.check == check}
        return "error" if "error" in severities else "warning" if severities else "ok"


def _first_contact(conn: Connection) -> tuple[str | None, list[Finding]]:
    endpoint = conn.client.settings.endpoint
    try:
        return conn.client.version(), []
    except TlsError as exc:
        return None, [Finding("endpoint", "error", exc.message, exc.hint or _PIN_FIX)]
    except TransportError as exc:
        fix = f"check proxmox.endpoint / PROXMOX_VE_ENDPOINT ({endpoint}) and the network path"
        return None, [
            Finding("endpoint", "error", f"{endpoint} does not answer: {exc.message}", fix)
        ]
    except AuthenticationError as exc:
        problem = f"the API token was refused ({exc.message})"
        fix = (
            "check PROXMOX_VE_API_TOKEN (user@realm!name=secret) and that the token exists, is "
            "not expired and its user is enabled (pveum user token list USER)"
        )
        return None, [Finding("token", "error", problem, fix)]
    except LabError as exc:
        problem = f"{endpoint} does not answer as Proxmox VE does: {exc.message}"
        return None, [Finding("endpoint", "error", problem, exc.hint or "check proxmox.endpoint")]


_PIN_FIX = "set proxmox.fingerprint or PROXMOX_VE_FINGERPRINT to the node certificate's SHA-256"


class _Reader:
    """Runs the reads, turning each one that fails into a finding."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def read(self, check: str, what: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except PermissionDenied as exc:
            self.findings.append(
                Finding(
                    check,
                    "error",
                    f"the token may not read {what}: {exc.message}",
                    "grant the documented role (README: Using a real Proxmox VE) to the token",
                )
            )
        except LabError as exc:
            self.findings.append(
                Finding(
                    check, "error", f"cannot read {what}: {exc.message}", exc.hint or "try again"
                )
            )
        return None


def _config_of(conn: Connection, node: str, vmid: int) -> dict[str, str]:
    return conn.client.vm_config(node, vmid)[0]


def run_doctor(conn: Connection, spec: LabSpec) -> DoctorReport:
    """Check everything ``spec`` needs of the Proxmox VE behind ``conn`` (reads only)."""
    version, failed = _first_contact(conn)
    if version is None:
        ran = CHECKS[: CHECKS.index(failed[0].check) + 1]
        return DoctorReport(tuple(failed), ran, None)
    client = conn.client
    reader = _Reader()
    vms = reader.read("templates", "the cluster's VMs", client.cluster_vms)
    templates = (
        None
        if vms is None
        else [
            TemplateFacts(vm.vmid, vm.node, config)
            for vm in find_templates(str(spec.proxmox.template), vms)
            if (
                config := reader.read(
                    "templates",
                    f"the config of template {vm.vmid}",
                    partial(_config_of, conn, vm.node, vm.vmid),
                )
            )
            is not None
        ]
    )
    storages = reader.read("storage", "the storage configuration", client.storage_configs)
    inventory = reader.read("vmids", "the cluster's resources", client.cluster_inventory)
    guests, capacities = inventory or (None, None)
    vmids = (t.vmid for t in templates or ())
    held: dict[str, frozenset[str]] = {}
    for path in sorted({req.path for req in required_privileges(spec, version, vmids)}):
        privileges = reader.read(
            "privileges", f"the permissions on {path}", partial(client.permissions, path)
        )
        if privileges is not None:
            held[path] = privileges
    facts = LabFacts(version, held, storages, templates, guests, capacities)
    findings = reader.findings + diagnose(spec, facts)
    order = {check: index for index, check in enumerate(CHECKS)}
    findings.sort(key=lambda f: order.get(f.check, len(CHECKS)))
    return DoctorReport(tuple(findings), CHECKS, version)
