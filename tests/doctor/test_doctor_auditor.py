"""doctor's auditor check: the exporter's token exists, authenticates, holds PVEAuditor's
privileges on / and nothing that writes (judged from facts, and against the simulator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab.core.doctor import AuditorFacts, judge_auditor
from homelab.core.secret import Secret
from homelab.engine.state import open_store
from homelab.verbs import monitoring_token as mt
from homelab.verbs.doctor import DoctorReport, run_doctor
from homelab.verbs.spec import load_valid_spec
from homelab_sim.pve.privs import builtin_roles
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import AclEntry
from homelab_sim.transport import SimTransport
from tests.apply.support import inprocess, new_sim, root_client, settings_for, write_spec
from tests.support.cli import run_main

ROLE = frozenset({"Sys.Audit", "VM.Audit", "Datastore.Audit"})
TOKEN = "homelab-monitor@pve!exporter"


def test_facts_without_a_token() -> None:
    assert judge_auditor(AuditorFacts(None, monitoring=False)) == []
    (finding,) = judge_auditor(AuditorFacts(None, monitoring=True))
    assert finding.severity == "warning" and "homelab monitoring token" in finding.fix


def test_facts_of_a_refused_token() -> None:
    (finding,) = judge_auditor(AuditorFacts(TOKEN, True, authenticated=False))
    assert finding.is_error and TOKEN in finding.problem and "new one" in finding.fix


def test_facts_of_exactly_the_auditor_role() -> None:
    facts = AuditorFacts(TOKEN, True, True, ROLE, {"/": ROLE, "/vms": frozenset({"VM.Audit"})})
    assert judge_auditor(facts) == []


def test_facts_missing_a_privilege_and_holding_a_write_one() -> None:
    held = {"/": ROLE - {"VM.Audit"}, "/vms": frozenset({"VM.Audit", "VM.PowerMgmt"})}
    missing, writes = judge_auditor(AuditorFacts(TOKEN, False, True, ROLE, held))
    assert "lacks VM.Audit on /" in missing.problem
    assert writes.is_error and "VM.PowerMgmt on /vms" in writes.problem


def _lab(tmp_path: Path, sim: PveSimulator) -> tuple[Path, mt.ExporterToken]:
    spec = write_spec(tmp_path)
    with open_store(spec) as store, root_client(sim) as root:
        made = mt.ensure_auditor_token(
            root, store.secrets("home-lab"), settings_for(sim), transport=SimTransport(sim)
        )
    return spec, made.token


def _doctor(sim: PveSimulator, spec: Path, auditor: mt.ExporterToken | None = None) -> DoctorReport:
    transport = SimTransport(sim)
    return run_doctor(
        inprocess(sim), load_valid_spec(spec), spec_path=spec, auditor=auditor, transport=transport
    )


@pytest.mark.parametrize("major", [8, 9])
def test_the_token_the_command_made_passes(tmp_path: Path, major: int) -> None:
    sim = new_sim(pve_major=major)
    spec, _ = _lab(tmp_path, sim)
    report = _doctor(sim, spec)
    assert report.status("auditor") == "ok", report.findings
    assert report.ok


def test_a_grant_that_writes_is_an_error(tmp_path: Path) -> None:
    sim = new_sim()
    spec, _ = _lab(tmp_path, sim)
    for kind, ugid in (("user", "homelab-monitor@pve"), ("token", TOKEN)):
        sim.state.acl.append(AclEntry(path="/vms", type=kind, ugid=ugid, roleid="PVEVMUser"))
    report = _doctor(sim, spec)
    (finding,) = [f for f in report.findings if f.check == "auditor"]
    assert finding.is_error and "VM.PowerMgmt on /vms" in finding.problem
    assert report.status("auditor") == "error" and not report.ok


def test_a_token_short_of_the_auditor_role_is_an_error(tmp_path: Path) -> None:
    sim = new_sim()
    spec, _ = _lab(tmp_path, sim)
    sim.state.acl = [e for e in sim.state.acl if e.ugid != TOKEN]
    sim.state.acl.append(AclEntry(path="/", type="token", ugid=TOKEN, roleid="PVETemplateUser"))
    report = _doctor(sim, spec)
    problems = [f.problem for f in report.findings if f.check == "auditor"]
    assert any("lacks" in p and "Sys.Audit" in p for p in problems), problems
    # VM.Clone is not effective: a privilege-separated token holds only what its user has too
    assert not any("VM.Clone" in p for p in problems), problems


def test_a_revoked_token_is_refused(tmp_path: Path) -> None:
    sim = new_sim()
    spec, token = _lab(tmp_path, sim)
    del sim.state.tokens[TOKEN]
    report = _doctor(sim, spec)
    (finding,) = [f for f in report.findings if f.check == "auditor"]
    assert "refuses" in finding.problem
    forged = mt.ExporterToken(token.user, token.token_name, Secret("0" * 36))
    assert _doctor(sim, spec, auditor=forged).status("auditor") == "error"


def test_without_a_token_the_check_runs_only_when_monitoring_is_on(tmp_path: Path) -> None:
    sim = new_sim()
    spec = write_spec(tmp_path)
    assert _doctor(sim, spec).status("auditor") == "skipped"
    spec = write_spec(tmp_path, {"monitoring": {"enabled": True}})
    report = _doctor(sim, spec)
    assert report.status("auditor") == "warning" and report.ok


def test_the_simulators_auditor_role_is_pves(tmp_path: Path) -> None:
    """The role doctor compares with is read from PVE, not from a table of the tool's."""
    sim = new_sim()
    with root_client(sim) as root:
        listed = root.session.get("/access/roles/PVEAuditor")
    assert frozenset(listed) == builtin_roles(8)["PVEAuditor"]


def test_doctor_reports_the_auditor_check_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    monkeypatch.delenv(mt.ADMIN_ENV, raising=False)
    code, _, err = run_main(monkeypatch, capsys, "monitoring", "token", str(spec), "--sim")
    assert code == 0, err
    code, out, err = run_main(monkeypatch, capsys, "doctor", str(spec), "--sim", "--json")
    assert code == 0, err
    assert json.loads(out)["checks"]["auditor"] == "ok"
