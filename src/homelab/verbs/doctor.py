"""`homelab doctor`: read what a lab needs of Proxmox VE, then judge it (``homelab.core.doctor``).

Nothing changes on Proxmox: every call is a read. The first one (``/version``) tells whether
the endpoint answers, its certificate matches the pin and the token is valid; when it fails
the other checks are not run (they could not be). A read the token may not do becomes a
finding of its own, and the checks that needed it are judged on what could be read.

The auditor check reads with the exporter's own token (sealed in the state store by
``homelab monitoring token``): its version call (does it authenticate), ``PVEAuditor`` as PVE
lists it, and the token's own permissions (``/access/permissions`` without a path: every path
it holds anything on). Without a stored token it only says whether monitoring needs one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx

from homelab.core.doctor import (
    CHECKS,
    AuditorFacts,
    Finding,
    LabFacts,
    diagnose,
    judge_auditor,
    pve_major,
    required_privileges,
)
from homelab.core.observed import Observed
from homelab.core.plan.sources import find_templates
from homelab.core.pve_reply import MalformedReply
from homelab.core.spec.models import LabSpec
from homelab.engine.observe import with_templates
from homelab.engine.proxmox.access import effective_privileges
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import (
    AuthenticationError,
    PermissionDenied,
    TlsError,
    TransportError,
)
from homelab.engine.proxmox.privileges import LAB_ROLE, PVE_MAJORS, SEED_ROLE, role_privileges
from homelab.engine.state import STATE_DIRNAME, URL_ENV, open_store
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.monitoring_token import (
    AUDITOR_ROLE,
    ExporterToken,
    auditor_settings,
    stored_auditor_token,
)

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


def _roles(version: str) -> tuple[frozenset[str], frozenset[str], list[Finding]]:
    """The documented roles for this PVE version (the nearest one homelab knows)."""
    major = pve_major(version)
    known = min(max(major, min(PVE_MAJORS)), max(PVE_MAJORS))
    notes = []
    if known != major:
        notes.append(
            Finding(
                "privileges",
                "warning",
                f"Proxmox VE {version} is not a version homelab knows (it knows "
                f"{', '.join(map(str, PVE_MAJORS))}); its privileges are judged as PVE {known}'s",
                "upgrade Proxmox VE to a supported version",
            )
        )
    return role_privileges(known, LAB_ROLE), role_privileges(known, SEED_ROLE), notes


def run_doctor(
    conn: Connection,
    spec: LabSpec,
    *,
    spec_path: Path | None = None,
    auditor: ExporterToken | None = None,
    transport: httpx.BaseTransport | None = None,
) -> DoctorReport:
    """Check everything ``spec`` needs of the Proxmox VE behind ``conn`` (reads only). The
    exporter's token is ``auditor``, else the one stored beside ``spec_path`` (if any);
    ``transport`` carries its requests (the default one when None)."""
    version, failed = _first_contact(conn)
    if version is None:
        ran = CHECKS[: CHECKS.index(failed[0].check) + 1]
        return DoctorReport(tuple(failed), ran, None)
    client = conn.client
    reader = _Reader()
    lab_role, seed_role, notes = _roles(version)
    resources = reader.read("templates", "the cluster's resources", client.cluster_resources)
    observed = None
    if resources is not None:
        seen = Observed(
            vms=resources.vms,
            seed_volumes={},
            nodes=tuple(spec.proxmox.nodes),
            capacities=resources.capacities,
        )
        observed = reader.read(
            "templates", "the templates' configs", partial(with_templates, client, spec, seen)
        )
    storages = reader.read("storage", "the storage configuration", client.storage_configs)
    label = str(spec.proxmox.template)
    templates = [t.vmid for t in find_templates(label, observed.vms)] if observed else []
    held: dict[str, frozenset[str]] = {}
    for path in sorted({r.path for r in required_privileges(spec, lab_role, seed_role, templates)}):
        privileges = reader.read(
            "privileges", f"the permissions on {path}", partial(effective_privileges, client, path)
        )
        if privileges is not None:
            held[path] = frozenset(privileges)
    vmids = resources.guest_vmids if resources is not None else frozenset[int]()
    bridges = {}
    for node in sorted({spec.node_of(name) for name in spec.vms}):
        found = reader.read("network", f"node {node}'s network", partial(client.node_bridges, node))
        if found is not None:
            bridges[node] = found
    facts = LabFacts(version, held, storages, observed, vmids, bridges)
    token = auditor or (_stored_token(spec_path, spec.name) if spec_path else None)
    monitoring = spec.monitoring is not None and spec.monitoring.enabled
    auditor_facts = _auditor_facts(conn, token, monitoring, reader, transport)
    findings = notes + reader.findings + diagnose(spec, facts, lab_role, seed_role)
    findings += judge_auditor(auditor_facts)
    order = {check: index for index, check in enumerate(CHECKS)}
    findings.sort(key=lambda f: order.get(f.check, len(CHECKS)))
    ran = CHECKS if token is not None or monitoring else CHECKS[:-1]
    return DoctorReport(tuple(findings), ran, version)


def _stored_token(spec_path: Path, lab: str) -> ExporterToken | None:
    """The exporter's token sealed in the lab's state store; None when there is no store yet
    (doctor does not make one)."""
    here = spec_path.resolve().parent / STATE_DIRNAME / "state.db"
    if not (here.exists() or os.environ.get(URL_ENV)):
        return None
    with open_store(spec_path) as store:
        return stored_auditor_token(store.secrets(lab))


def _auditor_facts(
    conn: Connection,
    token: ExporterToken | None,
    monitoring: bool,
    reader: _Reader,
    transport: httpx.BaseTransport | None,
) -> AuditorFacts:
    if token is None:
        return AuditorFacts(None, monitoring)
    settings = auditor_settings(conn.client.settings, token)
    with PveClient(settings, transport=transport) as client:
        try:
            client.version()
        except AuthenticationError:
            return AuditorFacts(token.token_id, monitoring, authenticated=False)
        role = reader.read(
            "auditor", f"role {AUDITOR_ROLE}", partial(_role_privileges, client, AUDITOR_ROLE)
        )
        held = reader.read("auditor", "the exporter token's permissions", partial(_held, client))
    return AuditorFacts(token.token_id, monitoring, True, role, held)


def _role_privileges(client: PveClient, role: str) -> frozenset[str]:
    data = client.session.get(f"/access/roles/{role}")
    if not isinstance(data, dict):
        raise MalformedReply(f"/access/roles/{role}: expected an object")
    return frozenset(str(priv) for priv in data)


def _held(client: PveClient) -> dict[str, frozenset[str]]:
    data = client.session.get("/access/permissions")
    if not isinstance(data, dict):
        raise MalformedReply("/access/permissions: expected an object")
    return {
        str(path): frozenset(str(p) for p in privs)
        for path, privs in data.items()
        if isinstance(privs, dict)
    }
