from __future__ import annotations

import os
from pathlib import Path

import pytest

from homelab.errors import SpecError
from homelab.verbs.spec import load_valid_spec, read_spec
from tests.spec.helpers import example_text
from tests.support.paths import EXAMPLES


def test_read_spec_of_an_example() -> None:
    result = read_spec(EXAMPLES / "home-lab.yaml")
    assert result.ok and result.spec is not None
    assert result.source == str(EXAMPLES / "home-lab.yaml")
    assert result.spec.control_planes == ["k8s-master-1"]


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: tmp / "absent.yaml", "no such file"),
        (lambda tmp: tmp, "this is a directory"),
        (lambda tmp: Path(os.devnull), "not a regular file"),
    ],
)
def test_files_that_cannot_be_read_are_findings(
    make: object, fragment: str, tmp_path: Path
) -> None:
    assert callable(make)
    path = make(tmp_path)
    result = read_spec(path)
    (finding,) = result.findings
    assert (finding.line, finding.col, finding.severity) == (1, 1, "error")
    assert fragment in finding.message
    assert result.spec is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(example_text())
    spec.chmod(0)
    (finding,) = read_spec(spec).findings
    assert "cannot read the file" in finding.message


def test_load_valid_spec_returns_the_model() -> None:
    spec = load_valid_spec(EXAMPLES / "ha-lab.yaml")
    assert len(spec.control_planes) == 3
    assert str(spec.api_endpoint()) == "10.0.20.9"


def test_load_valid_spec_raises_with_the_first_error_and_a_count(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        example_text().replace("vlan: 20", "vlan: 10").replace("name: home-lab", "name: Lab!")
    )
    with pytest.raises(SpecError) as caught:
        load_valid_spec(spec)
    assert caught.value.message.startswith(
        f"{spec}:3:7: error: name: 'Lab!' is not a valid lab name"
    )
    assert caught.value.message.endswith("(1 more)")
    assert caught.value.hint == f"run homelab validate {spec}"


def test_load_valid_spec_accepts_warnings(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(example_text().replace("dns: [10.0.10.1]", "dns: [10.0.10.1, 10.0.10.1]"))
    assert load_valid_spec(spec).name == "home-lab"


def test_load_valid_spec_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_valid_spec(tmp_path / "nope.yaml")


def test_a_path_through_a_file_is_a_finding(tmp_path: Path) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(example_text())
    (finding,) = read_spec(spec / "child.yaml").findings
    assert finding.message == "cannot read the file: Not a directory"
