"""The simulator's own control API under ``/api2/json/_sim/`` (not PVE; same authentication).

    GET    /_sim/requests   the request log (method, path, status, virtual time, errors)
    DELETE /_sim/requests   clear it
    GET    /_sim/faults     the active fault profile (with how often each rule fired)
    PUT    /_sim/faults     replace it (JSON body: a profile, see faults.py)
    GET    /_sim/clock      {"now": virtual epoch seconds, "time_scale": x}
    POST   /_sim/clock      {"advance": seconds}: move the virtual clock forward
    GET    /_sim/state      the whole simulated cluster as JSON

Reads need Sys.Audit on ``/``, writes Sys.Modify on ``/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homelab.errors import SimulatorError
from homelab.sim.pve.context import Ctx
from homelab.sim.pve.errors import ApiError, param_fail
from homelab.sim.pve.faults import parse_profile

if TYPE_CHECKING:
    from homelab.sim.pve.simulator import PveSimulator

Control = Callable[["PveSimulator", Ctx, dict[str, Any]], Any]


def get_requests(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return [entry.as_dict() for entry in sim.log.entries()]


def clear_requests(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    sim.log.clear()
    return None


def get_faults(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return sim.faults.profile.model_dump()


def put_faults(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    try:
        profile = parse_profile(p, source="the request body")
    except SimulatorError as exc:
        raise param_fail({"profile": exc.message}) from exc
    sim.faults.set_profile(profile)
    return None


def get_clock(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return {"now": sim.clock.now(), "time_scale": sim.clock.time_scale}


def post_clock(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    try:
        seconds = float(p.get("advance", 0))
    except (TypeError, ValueError):
        raise param_fail({"advance": "a number of seconds is required"}) from None
    if seconds < 0:
        raise param_fail({"advance": "the clock only moves forward"})
    sim.clock.advance(seconds)
    return {"now": sim.clock.now(), "time_scale": sim.clock.time_scale}


def get_state(sim: PveSimulator, ctx: Ctx, p: dict[str, Any]) -> Any:
    return sim.state.model_dump(mode="json")


ROUTES: dict[tuple[str, str], tuple[str, Control]] = {
    ("GET", "/_sim/requests"): ("Sys.Audit", get_requests),
    ("DELETE", "/_sim/requests"): ("Sys.Modify", clear_requests),
    ("GET", "/_sim/faults"): ("Sys.Audit", get_faults),
    ("PUT", "/_sim/faults"): ("Sys.Modify", put_faults),
    ("GET", "/_sim/clock"): ("Sys.Audit", get_clock),
    ("POST", "/_sim/clock"): ("Sys.Modify", post_clock),
    ("GET", "/_sim/state"): ("Sys.Audit", get_state),
}


def dispatch(sim: PveSimulator, ctx: Ctx, method: str, path: str, p: dict[str, Any]) -> Any:
    route = ROUTES.get((method, path))
    if route is None:
        raise ApiError(501, f"Method '{method} {path}' not implemented")
    priv, handler = route
    if not ctx.can("/", priv):
        raise ApiError(403, f"Permission check failed (/, {priv})")
    return handler(sim, ctx, p)
