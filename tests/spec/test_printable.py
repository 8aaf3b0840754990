"""Text from a spec cannot drive the terminal: control characters come out escaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from homelab.core.spec.findings import Finding
from homelab.core.spec.printable import printable
from tests.spec.helpers import check, example_text, mutate

W3 = "k8s-worker-3: {role: worker"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, café, 東京", "plain text, café, 東京"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\x07b\x08c\x7f", "a\\x07b\\x08c\\x7f"),
        ("line\nnext\rback\ttab", "line\\nnext\\rback\\ttab"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI, a one-byte escape sequence on some terminals
        ("\x85", "\\x85"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),  # bidi override
        ("\u2028", "\\u2028"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_printable_escapes_control_characters_only(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_finding_format_escapes_path_message_and_source() -> None:
    finding = Finding("error", ("vms", "a\x1b[31m"), "bad 'a\x1b[31m'", 2, 3)
    line = finding.format("lab\x1b].yaml")
    assert "\x1b" not in line
    assert line == "lab\\x1b].yaml:2:3: error: vms.a\\x1b[31m: bad 'a\\x1b[31m'"
    assert finding.to_json()["keys"] == ["vms", "a\x1b[31m"]  # JSON keeps the data as written


def test_escape_in_a_key_and_a_value_of_a_spec() -> None:
    text = mutate(
        example_text(),
        [
            ("  storage: local-lvm", '  storage: "local\\e[31m-lvm"'),
            (W3, '"k8s-\\e]0;pwned\\aworker": {role: worker'),
        ],
    )
    result = check(text)
    lines = result.lines()
    assert result.errors and all("\x1b" not in line and "\x07" not in line for line in lines)
    joined = "\n".join(lines)
    assert "'local\\x1b[31m-lvm' is not a valid Proxmox storage id" in joined
    assert "vms.k8s-\\x1b]0;pwned\\x07worker: 'k8s-\\x1b]0;pwned\\x07worker'" in joined


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("verb", ["validate", "plan"])
def test_the_cli_never_echoes_a_raw_escape_or_rich_markup(verb: str, tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    text = mutate(
        example_text(),
        [(W3, '"k8s-\\e[2J[/x][bold]w\\x9b": {role: worker')],
    )
    spec.write_text(text, encoding="utf-8")
    proc = run(verb, str(spec))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output and "internal error" not in output
    assert "\x1b" not in output and "\x9b" not in output
    assert "k8s-\\x1b[2J[/x][bold]w\\x9b" in output
