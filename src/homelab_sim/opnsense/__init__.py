"""A simulated OPNsense firewall API (26.1 and 26.7), as strict as the real one.

Its knowledge comes from opnsense/core (controllers, models, ACLs), never from the tool. The
in-process API, for tests and for the tool's ``--sim`` wiring:

    sim = OpnsenseSimulator(version="26.1.2", dhcp="dnsmasq" | "kea" | "isc",
                            clock=VirtualClock(...), interfaces=[Interface("lan", "vtnet1",
                            "10.0.10.1/24", "LAN"), ...], devices=("vtnet0", ...),
                            api_port=443, anti_lockout=True, lan_default_allow=True)
    sim.api_key, sim.api_secret            root's key pair (Secret); sim.auth_header()
    sim.add_user(name, privileges)         privileges: keys of acl.PRIVILEGES (page-all...)
    sim.add_key(user) -> (key, Secret)
    sim.set_client(interface, address)     where the tool appears from (default lan/10.0.10.100)
    sim.seed(table, fields, running=True) -> uuid
                                           a "foreign" object made by hand before the lab;
                                           tables: alias rule vlan interface unbound dnsmasq
                                           kea_subnet kea
    sim.configured(table) / sim.running(table) -> {uuid: {field: text}}
    sim.evaluate(interface, source, destination, protocol="tcp", port=None,
                 configured=False) -> Verdict(action, rule, description, allowed)
    sim.client_can_reach() -> bool         the client's path to the API port, running rules
    sim.drop_after_apply(requests=N, seconds=S)
                                           fault: drop the client after each filter apply
    sim.advance(seconds); sim.clock        virtual time; the 26.1 rollback fires after 60 s
    sim.rollbacks                          pending rollback timers
    sim.log.entries / .paths / .applies    request log; applies per module/controller
    sim.handle(OpnRequest, source=Source(interface, address)) -> OpnResponse
                                           one request; another ``source`` is "elsewhere"
                                           (a console) and is never dropped by the lockout
    OpnsenseTransport(sim)                 an httpx transport (no sockets)
    homelab_sim.server.start_opnsense_server(sim) -> RunningServer
                                           HTTPS on 127.0.0.1 (endpoint, fingerprint, stop())
"""

from __future__ import annotations

from homelab_sim.opnsense.rules import Interface, Verdict
from homelab_sim.opnsense.simulator import OpnsenseSimulator, Source
from homelab_sim.opnsense.transport import OpnsenseTransport
from homelab_sim.opnsense.wire import OpnRequest, OpnResponse

__all__ = [
    "Interface",
    "OpnRequest",
    "OpnResponse",
    "OpnsenseSimulator",
    "OpnsenseTransport",
    "Source",
    "Verdict",
]
