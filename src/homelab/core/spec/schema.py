"""The spec's JSON Schema, generated from the pydantic models, for editors and CI linters.

Editors that speak the yaml-language-server protocol pick it up from a first line such as
``# yaml-language-server: $schema=homelab-spec.schema.json``. Pure.
"""

from __future__ import annotations

from typing import Any

from homelab import __version__
from homelab.core.spec.checks import HOSTNAME_RE
from homelab.core.spec.models import LabSpec
from homelab.core.spec.validate import EXTENSION_PREFIX

SCHEMA_ID = "urn:homelab:spec:lab-spec"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def lab_json_schema() -> dict[str, Any]:
    """The JSON Schema of a homelab spec file (draft 2020-12)."""
    body = LabSpec.model_json_schema(mode="validation")
    properties = body["properties"]
    properties["name"]["pattern"] = HOSTNAME_RE.pattern
    properties["vms"]["propertyNames"] = {"pattern": HOSTNAME_RE.pattern}
    body["patternProperties"] = {f"^{EXTENSION_PREFIX}": {"description": "ignored; for anchors"}}
    return {
        "$schema": DRAFT,
        "$id": f"{SCHEMA_ID}:{__version__}",
        "title": f"homelab lab spec (homelab {__version__})",
        "description": (
            "One declarative file for a homelab lab: Proxmox VE access, networks, the kubeadm "
            "Kubernetes cluster and its VMs. Checks that relate fields to each other (overlaps, "
            "addresses, quorum) are done by `homelab validate`."
        ),
        **{key: value for key, value in body.items() if key not in ("title", "description")},
    }
