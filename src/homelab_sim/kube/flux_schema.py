"""What the API server refuses of a HelmRelease by its CRD's schema (helm-controller v1.6.3's
``helm.toolkit.fluxcd.io_helmreleases.yaml``): ``spec.interval`` required and shaped as a Go
duration, and the CEL rule that ``spec`` holds exactly one of ``chart`` and ``chartRef``. The
causes carry the API server's texts for a required field, a pattern and a CEL rule.
"""

from __future__ import annotations

import re
from typing import Any

Cause = tuple[str, str, str]
DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
CHART_RULE = "either chart or chartRef must be set"


def helmrelease_causes(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    interval = spec.get("interval")
    if interval is None:
        causes.append(("spec.interval", "FieldValueRequired", "Required value"))
    elif not isinstance(interval, str) or re.fullmatch(DURATION, interval) is None:
        causes.append(
            (
                "spec.interval",
                "FieldValueInvalid",
                f"Invalid value: \"{interval}\": spec.interval in body should match '{DURATION}'",
            )
        )
    if ("chart" in spec) == ("chartRef" in spec):
        causes.append(("spec", "FieldValueInvalid", f'Invalid value: "object": {CHART_RULE}'))
    return causes
