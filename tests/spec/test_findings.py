from __future__ import annotations

from homelab.core.spec.findings import Finding, error, format_path, warning


def test_format_is_the_compiler_style_line() -> None:
    finding = Finding("error", ("vms", "web-1", "ip"), "ip 10.0.0.1 is taken", 12, 5)
    assert finding.format("lab.yaml") == "lab.yaml:12:5: error: vms.web-1.ip: ip 10.0.0.1 is taken"


def test_warning_format_and_list_indices_in_the_path() -> None:
    finding = warning(("networks", "apps", "dns", 1), "listed twice").at(3, 9)
    assert finding.format("s.yaml") == "s.yaml:3:9: warning: networks.apps.dns[1]: listed twice"


def test_root_path_has_a_name() -> None:
    assert format_path(()) == "<root>"
    assert error((), "empty").at(1, 1).dotted == "<root>"


def test_to_json_keeps_the_raw_keys_and_position() -> None:
    finding = Finding("warning", ("access", "ssh_authorized_keys", 0), "odd", 29, 24)
    assert finding.to_json() == {
        "severity": "warning",
        "path": "access.ssh_authorized_keys[0]",
        "keys": ["access", "ssh_authorized_keys", 0],
        "line": 29,
        "col": 24,
        "message": "odd",
    }


def test_findings_sort_by_position_then_errors_first() -> None:
    late = Finding("error", ("b",), "x", 9, 1)
    warn = Finding("warning", ("a",), "x", 2, 1)
    err = Finding("error", ("a",), "x", 2, 1)
    assert sorted([late, warn, err], key=Finding.sort_key) == [err, warn, late]
