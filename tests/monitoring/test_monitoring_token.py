"""The exporter's read-only token: made through the access API by a separate admin token,
exactly PVEAuditor on / for the user and its privilege-separated token, idempotent, its secret
sealed in the state store and never printed; refused with Proxmox's own 403 text without the
admin privileges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import SettingsError, parse_token
from homelab.engine.proxmox.privileges import grants
from homelab.engine.state import SecretBox, StateStore, open_store
from homelab.errors import LabError
from homelab.verbs import monitoring_token as mt
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import AclEntry
from homelab_sim.transport import SimTransport
from tests.apply.support import inprocess, new_sim, root_client, settings_for, write_spec
from tests.support.cli import run_main

OURS = {("user", mt.AUDITOR_USER), ("token", mt.AUDITOR_TOKEN_ID)}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with open_store(write_spec(tmp_path)) as opened:
        yield opened


@pytest.fixture
def sim() -> PveSimulator:
    return new_sim()


def _ensure(sim: PveSimulator, box: SecretBox, admin: PveClient | None = None) -> mt.AuditorOutcome:
    transport = SimTransport(sim)
    with admin or root_client(sim) as client:
        return mt.ensure_auditor_token(client, box, settings_for(sim), transport=transport)


def _acl(sim: PveSimulator) -> set[tuple[str, str, str, str, bool]]:
    return {
        (e.path, e.type, e.ugid, e.roleid, e.propagate)
        for e in sim.state.acl
        if (e.type, e.ugid) in OURS
    }


def _writes_since(sim: PveSimulator, mark: int) -> list[str]:
    return [f"{e.method} {e.path}" for e in sim.log.entries()[mark:] if e.method != "GET"]


def test_first_run_makes_user_token_and_acls_second_changes_nothing(
    sim: PveSimulator, store: StateStore
) -> None:
    box = store.secrets("home-lab")
    first = _ensure(sim, box)
    assert len(first.changes) == 4
    assert sim.state.tokens[mt.AUDITOR_TOKEN_ID].privsep
    assert _acl(sim) == {
        ("/", "user", mt.AUDITOR_USER, "PVEAuditor", True),
        ("/", "token", mt.AUDITOR_TOKEN_ID, "PVEAuditor", True),
    }
    assert "***" in repr(first.token) and first.token.value.reveal() not in repr(first.token)
    assert mt.auditor_token(box) == first.token
    env = first.token.env()
    assert env["PVE_USER"].reveal() == mt.AUDITOR_USER
    assert env["PVE_TOKEN_NAME"].reveal() == "exporter"
    assert env["PVE_TOKEN_VALUE"] == first.token.value

    mark = len(sim.log.entries())
    second = _ensure(sim, box)
    assert second.changes == () and second.token == first.token
    assert _writes_since(sim, mark) == []  # a second run sends no write


def test_a_lost_secret_is_replaced_by_a_new_token(sim: PveSimulator, store: StateStore) -> None:
    box = store.secrets("home-lab")
    first = _ensure(sim, box)
    box.delete(mt.SECRET_NAME)
    again = _ensure(sim, box)
    assert again.token.value != first.token.value
    assert mt.auditor_token(box) == again.token
    assert [c.split(" (")[0] for c in again.changes] == [
        f"token {mt.AUDITOR_TOKEN_ID} deleted",
        f"token {mt.AUDITOR_TOKEN_ID} created",
        f"PVEAuditor on / granted to token {mt.AUDITOR_TOKEN_ID}",
    ]
    assert len(_acl(sim)) == 2


def test_a_stored_secret_proxmox_refuses_is_replaced(sim: PveSimulator, store: StateStore) -> None:
    box = store.secrets("home-lab")
    first = _ensure(sim, box)
    box.put(mt.SECRET_NAME, f"{mt.AUDITOR_TOKEN_ID}={'0' * 36}".encode())
    again = _ensure(sim, box)
    assert again.changes[0].startswith(f"token {mt.AUDITOR_TOKEN_ID} deleted")
    assert again.token.value not in (first.token.value, Secret("0" * 36))
    assert mt.auditor_token(box) == again.token


def test_grants_beyond_auditing_are_taken_away(sim: PveSimulator, store: StateStore) -> None:
    box = store.secrets("home-lab")
    _ensure(sim, box)
    sim.state.acl.append(
        AclEntry(path="/vms", type="token", ugid=mt.AUDITOR_TOKEN_ID, roleid="PVEVMAdmin")
    )
    outcome = _ensure(sim, box)
    assert outcome.changes == (
        f"PVEVMAdmin on /vms taken from token {mt.AUDITOR_TOKEN_ID} (more than auditing)",
    )
    assert len(_acl(sim)) == 2


def test_the_labs_own_token_is_refused_with_proxmoxs_text(
    sim: PveSimulator, store: StateStore
) -> None:
    conn = inprocess(sim)  # the documented least-privileged token
    with pytest.raises(LabError) as refused:
        _ensure(sim, store.secrets("home-lab"), conn.client)
    message = refused.value.message
    assert message.endswith("Permission check failed (/access/realm/pve, Realm.AllocateUser)")
    assert mt.ADMIN_ENV in message
    hint = refused.value.hint or ""
    assert "Realm.AllocateUser on /access/realm/pve" in hint
    assert "Permissions.Modify on /" in hint
    assert mt.AUDITOR_USER not in sim.state.users


def test_an_admin_without_permissions_modify_cannot_grant(
    sim: PveSimulator, store: StateStore
) -> None:
    token = sim.add_token(
        "ops@pve!users",
        {"/access": ["User.Modify", "Realm.AllocateUser", "Sys.Audit"]},
    )
    token_id, secret = parse_token(token.reveal())
    admin_settings = replace(settings_for(sim), token_id=token_id, token_secret=secret)
    admin = PveClient(admin_settings, transport=SimTransport(sim))
    with pytest.raises(LabError) as refused:
        _ensure(sim, store.secrets("home-lab"), admin)
    assert refused.value.message.endswith("Permission check failed (/, Permissions.Modify)")
    assert _acl(sim) == set()


@pytest.mark.parametrize("major", [8, 9])
def test_the_labs_documented_role_never_holds_the_admin_privileges(major: int) -> None:
    admin_privileges = {priv for _, priv in mt.ADMIN_PRIVILEGES}
    for grant in grants(major, "local", backups=True, pbs=True):
        assert not admin_privileges & grant.privileges, grant


def test_no_stored_token_says_how_to_make_one(store: StateStore) -> None:
    with pytest.raises(LabError) as missing:
        mt.auditor_token(store.secrets("home-lab"))
    assert "homelab monitoring token" in (missing.value.hint or "")


def test_admin_settings_come_from_their_own_variable(sim: PveSimulator) -> None:
    lab = settings_for(sim, fingerprint="AA:" * 31 + "AA")
    assert mt.admin_settings(lab, {}) is None
    admin = mt.admin_settings(lab, {mt.ADMIN_ENV: "root@pam!ops=s3cret-value"})
    assert admin is not None
    assert (admin.token_id, admin.endpoint, admin.fingerprint) == (
        "root@pam!ops",
        lab.endpoint,
        lab.fingerprint,
    )
    with pytest.raises(SettingsError) as bad:
        mt.admin_settings(lab, {mt.ADMIN_ENV: "not-a-token-s3cret"})
    assert mt.ADMIN_ENV in bad.value.message and "s3cret" not in bad.value.message


def test_the_command_makes_then_finds_the_token_and_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    monkeypatch.delenv(mt.ADMIN_ENV, raising=False)
    code, out, err = run_main(monkeypatch, capsys, "monitoring", "token", str(spec), "--sim")
    assert code == 0, err
    assert f"Token {mt.AUDITOR_TOKEN_ID} (made)" in out
    with open_store(spec) as store:
        secret = mt.auditor_token(store.secrets("home-lab")).value.reveal()
    code, out, err = run_main(
        monkeypatch, capsys, "monitoring", "token", str(spec), "--sim", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == {"token_id": mt.AUDITOR_TOKEN_ID, "changed": False, "changes": []}
    assert secret not in out + err


def test_the_command_refuses_a_real_lab_without_an_admin_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, {"proxmox.endpoint": "https://127.0.0.1:9"})
    monkeypatch.delenv(mt.ADMIN_ENV, raising=False)
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", "homelab@pve!apply=x")
    code, _, err = run_main(monkeypatch, capsys, "monitoring", "token", str(spec))
    assert code == 1
    assert f"{mt.ADMIN_ENV} is not set" in err and "Permissions.Modify on /" in err
