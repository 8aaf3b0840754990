"""Fixtures for the render tests: both example labs rendered with the TEST-ONLY PKI."""

from __future__ import annotations

import pytest

from homelab.core.render.artifacts import Artifacts
from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from tests.render.support import LABS, load_example, pki_for


@pytest.fixture(scope="session")
def rendered() -> dict[str, Artifacts]:
    """Both example labs rendered with the TEST-ONLY PKI."""
    return {lab: render_lab(load_example(lab), pki_for(lab)) for lab in LABS}


@pytest.fixture(scope="session")
def specs() -> dict[str, LabSpec]:
    return {lab: load_example(lab) for lab in LABS}
