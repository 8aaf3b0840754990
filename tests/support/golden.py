"""Golden files: ``HOMELAB_UPDATE_GOLDEN=1`` rewrites every golden (render, plan, observe) from
what the code produces now; review the diff before committing."""

from __future__ import annotations

import os

ENV = "HOMELAB_UPDATE_GOLDEN"
#: The name the render goldens used before both were merged into ``ENV``.
RETIRED = "HOMELAB_UPDATE_GOLDENS"


def updating() -> bool:
    return os.environ.get(ENV) == "1"
