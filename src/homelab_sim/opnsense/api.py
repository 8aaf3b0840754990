"""The API: ``/api/<module>/<controller>/<action>/<params...>`` to a controller action.

Routing is the MVC router's: names are matched without underscores and without case (PHP
class and method names), extra path parts are parameters, too few required parameters or an
unknown action is 404 ``Endpoint not found`` (before authentication, as the dispatcher
resolves first). Each handler (``ctl_*``) mirrors its upstream controller action; what a
version lacks is absent (the 26.1 filter savepoint actions, the 26.7 assignment controller),
and on 26.7 ``apply/<rev>`` is a plain apply (PHP ignores the extra argument).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from homelab_sim.opnsense import ctl_core, ctl_firewall, ctl_interfaces, ctl_services, wire
from homelab_sim.opnsense.crud import Call, Route, key

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator

__all__ = ["ROUTES", "Call", "Route", "resolve"]
ROUTES: dict[str, Route] = {
    **ctl_firewall.routes(),
    **ctl_interfaces.routes(),
    **ctl_services.routes(),
    **ctl_core.routes(),
}


def resolve(sim: OpnsenseSimulator, path: str) -> tuple[Route, list[str]]:
    parts = [urllib.parse.unquote(p) for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) < 4 or parts[0] != "api":
        raise wire.EndpointNotFound(path)
    route = ROUTES.get(key(*parts[1:4]))
    if route is None or not route.available(sim) or len(parts) - 4 < route.required:
        raise wire.EndpointNotFound(path)
    return route, parts[4:]
