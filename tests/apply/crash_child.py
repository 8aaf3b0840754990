"""The process the crash tests kill: applies (or destroys) a lab against a simulator over HTTPS.

    python tests/apply/crash_child.py apply|destroy SPEC TIME_SCALE

Endpoint, token and certificate fingerprint come from CRASH_ENDPOINT, CRASH_TOKEN and
CRASH_FINGERPRINT. Progress events go to stdout, one line each, so the parent can kill this
process at a chosen moment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from homelab.cli.progress import PlainLines
from homelab.engine.apply.runtime import Limits
from homelab.engine.clock import Clock
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.site import RealSite
from homelab.verbs.connection import connect_to, manifest_cache
from homelab.verbs.lab import prepare_lab
from homelab.verbs.provision import apply_lab, destroy_lab


def main() -> None:
    verb, spec, scale = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    token_id, secret = parse_token(os.environ["CRASH_TOKEN"])
    settings = ConnectionSettings(
        endpoint=os.environ["CRASH_ENDPOINT"],
        token_id=token_id,
        token_secret=secret,
        fingerprint=os.environ["CRASH_FINGERPRINT"],
    )
    conn = connect_to(settings, RealSite(manifest_cache(spec)), Clock.scaled(scale))
    ctx = prepare_lab(spec)
    progress = PlainLines.to(sys.stdout)
    print("READY", flush=True)
    limits = Limits(agent_timeout=120.0)
    if verb == "apply":
        apply_lab(conn, ctx, confirm=lambda plan: True, progress=progress, limits=limits)
    else:
        destroy_lab(conn, ctx, confirm=lambda vms: True, progress=progress, limits=limits)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
