"""What the guest channel did, kept in the lab's history with secrets masked
(``core.secret.redact``, ``engine.guest.record``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from homelab.core.secret import MASK, Secret, redact
from homelab.engine.guest.channel import ExecResult, GuestCommand
from homelab.engine.guest.record import (
    EXEC_EVENT,
    TAIL,
    WRITE_EVENT,
    CommandLog,
    guest_records,
)
from homelab.engine.state import History, open_store
from homelab.errors import LabError

TOKEN = "abcdef.0123456789abcdef"
CERT_KEY = "0f" * 32
PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"kubeadm join --token {TOKEN} x", f"kubeadm join --token {MASK} x"),
        (f"--certificate-key {CERT_KEY}", f"--certificate-key {MASK}"),
        (f"--certificate-key={CERT_KEY}", f"--certificate-key={MASK}"),
        (f"key:\n{PEM}\nafter", f"key:\n[private key {MASK}]\nafter"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE (cut short", f"[private key {MASK}]"),
        ("password=hunter2 and Token: 'abc'", f"password={MASK} and Token: '{MASK}'"),
        ("kubeadm upgrade node", "kubeadm upgrade node"),
        ("sha256:" + "ab" * 32, "sha256:" + "ab" * 32),  # a CA hash is public
    ],
)
def test_secrets_are_masked_by_their_shape(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_known_secret_is_masked_by_its_value_longest_first() -> None:
    short, long = Secret("s3cr"), Secret("s3cr3t-value")
    assert redact("a s3cr3t-value and s3cr", [short, long, Secret("")]) == f"a {MASK} and {MASK}"


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[History]:
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)
    spec = tmp_path / "lab.yaml"
    spec.write_text("name: x\n")
    with open_store(spec) as store:
        yield store.history("x")


def test_commands_and_writes_are_kept_masked_with_the_vm_named(history: History) -> None:
    asked: list[int] = []
    names = {201: "k8s-worker-2"}

    def lookup() -> Mapping[int, str]:
        asked.append(1)
        return names

    log = CommandLog(history, [Secret("hunter2")], lookup)
    done = ExecResult(
        0, f"joined with {TOKEN}\n" + "x" * (TAIL + 10), "hunter2 said hi\n", False, 1.23456
    )
    log(GuestCommand("pve", 201, ("kubeadm", "join", "--token", TOKEN), done))
    log(GuestCommand("pve", 201, ("sleep", "900"), error="`sleep 900` still runs after 5 s"))
    log(GuestCommand("pve", 201, wrote="/etc/homelab/kube-vip.yaml", size=812))
    names[305] = "k8s-worker-9"
    log(GuestCommand("pve", 305, ("true",), ExecResult(0, "", "")))
    assert len(asked) == 2, "the names are asked again only for a VMID not known"

    events = history.recent(10, events=(EXEC_EVENT, WRITE_EVENT))
    first, timeout, wrote, new = reversed(events)
    assert first.data["vm"] == "k8s-worker-2" and first.data["argv"][-1] == MASK
    assert first.data["stdout"].startswith("x") and len(first.data["stdout"]) == TAIL
    assert first.data["truncated"] is True and first.data["seconds"] == 1.235
    assert first.data["stderr"] == f"{MASK} said hi\n" and TOKEN not in str(first.data)
    assert timeout.data["exitcode"] is None and "still runs" in timeout.data["error"]
    assert wrote.event == WRITE_EVENT and wrote.data["path"] == "/etc/homelab/kube-vip.yaml"
    assert wrote.data["size"] == 812 and "argv" not in wrote.data
    assert new.data["vm"] == "k8s-worker-9"

    history.append("apply", {"ok": True})  # other events are not guest records
    records = guest_records(history.recent(50), vm="k8s-worker-2", last=2)
    assert [r.event for r in records] == [EXEC_EVENT, WRITE_EVENT], "the newest two, oldest first"
    assert records[0].to_dict()["argv"] == ["sleep", "900"] and records[0].vm == "k8s-worker-2"


def test_a_vm_whose_name_cannot_be_read_is_kept_by_its_vmid(history: History) -> None:
    def broken() -> Mapping[int, str]:
        raise LabError("Proxmox does not answer")

    CommandLog(history, [], broken)(GuestCommand("pve", 7, ("true",), ExecResult(0, "", "")))
    (record,) = guest_records(history.recent(5))
    assert record.data["vm"] is None and record.vm == "vmid 7"
