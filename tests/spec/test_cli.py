"""`homelab validate` and `homelab schema` as a user runs them: a subprocess, exit codes, output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.spec.helpers import example_text, mutate
from tests.support.paths import EXAMPLES

LINE_RE = re.compile(
    r"^(?P<src>.+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): (?P<path>\S+): .+$"
)


PLAIN_ENV = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}


def homelab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env if env is not None else PLAIN_ENV,
    )


MALFORMED: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "not yaml": b"name: [home-lab\nproxmox: {\n",
    "binary": bytes(range(256)) * 4,
    "latin-1": "name: caf\u00e9\n".encode("latin-1"),
    "list at top": b"- name: home-lab\n- vms: {}\n",
    "scalar at top": b"home-lab\n",
    "wrong types": example_text().replace("nodes: [pve]", "nodes: pve").encode(),
    "unknown key": example_text().replace("  storage: local-lvm", "  storgae: local-lvm").encode(),
    "duplicate key": example_text()
    .replace("  iso_storage: local", "  iso_storage: local\n  storage: x")
    .encode(),
    "alias bomb": b"a: &a [x,x,x,x,x,x,x,x,x,x]\n"
    + b"".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    ),
}


@pytest.mark.parametrize("name", MALFORMED.keys())
def test_malformed_files_give_lines_and_exit_1_never_a_traceback(name: str, tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    content = MALFORMED[name]
    if content is not None:
        spec.write_bytes(content)
    proc = homelab("validate", str(spec))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    assert all(LINE_RE.match(line) for line in lines[:-1]), lines
    assert all(line.startswith(f"{spec}:") for line in lines[:-1])
    assert re.fullmatch(r"\d+ errors?, \d+ warnings?", lines[-1])


def test_directory_is_an_error_line(tmp_path: Path) -> None:
    proc = homelab("validate", str(tmp_path))
    assert proc.returncode == 1
    assert (
        proc.stdout.splitlines()[0]
        == f"{tmp_path}:1:1: error: <root>: this is a directory, not a spec file"
    )


def test_unknown_and_duplicate_keys_are_named(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        mutate(
            example_text(),
            [
                ("  storage: local-lvm", "  storgae: local-lvm"),
                ("  iso_storage: local", "  iso_storage: local\n  iso_storage: local"),
            ],
        )
    )
    out = homelab("validate", str(spec)).stdout
    assert (
        f"{spec}:10:3: error: proxmox.storgae: unknown key 'storgae' (did you mean 'storage'?)"
        in out
    )
    assert (
        f"{spec}:12:3: error: proxmox.iso_storage: duplicate key 'iso_storage' (first at line 11)"
        in out
    )
    assert out.strip().endswith("2 errors, 0 warnings")


def test_a_clean_spec_says_ok_and_exits_0() -> None:
    proc = homelab("validate", str(EXAMPLES / "ha-lab.yaml"))
    assert proc.returncode == 0
    assert proc.stdout.strip() == "ok: ha-lab (6 VMs)"


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        re.sub(r"ssh_authorized_keys: \[.*\]", "ssh_authorized_keys: []", example_text())
    )
    proc = homelab("validate", str(spec))
    assert proc.returncode == 0
    first, summary = proc.stdout.strip().splitlines()
    assert first.startswith(f"{spec}:29:3: warning: access.ssh_authorized_keys: no SSH key")
    assert summary == "ok: home-lab (3 VMs), 1 warning"


def test_terminal_output_is_coloured_errors_red_warnings_yellow(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        example_text()
        .replace("vlan: 20", "vlan: 10")
        .replace("dns: [10.0.10.1]", "dns: [10.0.10.1, 10.0.10.1]")
    )
    env = {**os.environ, "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    lines = homelab("validate", str(spec), env=env).stdout.splitlines()
    assert lines[0].startswith("\x1b[31m") and "VLAN 10 is already used" in lines[0]
    assert lines[1].startswith("\x1b[33m") and "listed twice" in lines[1]
    plain = homelab("validate", str(spec)).stdout
    assert "\x1b[" not in plain


def test_json_output(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(example_text().replace("vlan: 20", "vlan: 10"))
    proc = homelab("validate", "--json", str(spec))
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["errors"] == 1 and report["warnings"] == 0
    assert report["findings"] == [
        {
            "severity": "error",
            "path": "networks.apps.vlan",
            "keys": ["networks", "apps", "vlan"],
            "line": 15,
            "col": 16,
            "message": "VLAN 10 is already used by network 'mgmt'",
        }
    ]


def test_json_output_of_a_clean_spec() -> None:
    proc = homelab("validate", "--json", str(EXAMPLES / "home-lab.yaml"))
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert (report["ok"], report["lab"], report["findings"]) == (True, "home-lab", [])


def test_schema_is_a_json_schema_the_examples_satisfy() -> None:
    proc = homelab("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "homelab" in schema["title"] and schema["$id"].startswith("urn:homelab:spec")
    validator = jsonschema.Draft202012Validator(schema)
    for example in ("home-lab", "ha-lab"):
        data = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
        assert list(validator.iter_errors(data)) == []
    broken = yaml.safe_load(example_text())
    broken["proxmox"]["storgae"] = "local"
    broken["vms"]["Bad_Name"] = broken["vms"].pop("k8s-worker-3")
    messages = [error.message for error in validator.iter_errors(broken)]
    assert any("storgae" in message for message in messages)
    assert any("Bad_Name" in message for message in messages)
