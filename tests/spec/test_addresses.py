"""Addresses and networks must be text: YAML scalars that Python could coerce are refused."""

from __future__ import annotations

import pytest

from homelab.core.spec.validate import validate_text
from tests.support.paths import EXAMPLES

BASE = (EXAMPLES / "home-lab.yaml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("cidr: 10.0.10.0/24", "cidr: false", "networks.mgmt.cidr"),
        ("ip: 10.0.20.21", "ip: 167772170", "vms.k8s-worker-2.ip"),
        ("gateway: 10.0.20.1,", "gateway: 1.5,", "networks.apps.gateway"),
        ("pod_cidr: 192.168.0.0/16", "pod_cidr: true", "kubernetes.pod_cidr"),
    ],
)
def test_non_text_addresses_are_errors(old: str, new: str, path: str) -> None:
    assert old in BASE
    result = validate_text(BASE.replace(old, new, 1), "lab.yaml")
    assert result.spec is None
    messages = {f.dotted: f.message for f in result.findings if f.is_error}
    assert path in messages
    assert "written as text" in messages[path]
