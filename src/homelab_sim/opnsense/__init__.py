"""A simulated OPNsense firewall API (26.1 and 26.7), as strict as the real one.

Its knowledge comes from opnsense/core (controllers, models, ACL.xml, configd scripts; the 26.1
savepoint code before 17b8461), never from the tool. Same paths, bodies, replies and error
shapes as upstream; validation texts are upstream's. The in-process API:

    sim = OpnsenseSimulator(version="26.1.2" | "26.7.1", dhcp="dnsmasq" | "kea" | "isc",
              clock=VirtualClock(...), interfaces=[Interface("lan", "vtnet1", "10.0.10.1/24",
              "LAN"), ...], devices=("vtnet0", "vtnet1", ...), api_port=443,
              anti_lockout=True, lan_default_allow=True, hostname=..., domain=...)
    sim.api_key, sim.api_secret      root's pair (Secret; privilege page-all); sim.auth_header()
    sim.add_user(name, privileges)   privileges: keys of acl.PRIVILEGES (ACL.xml page names)
    sim.add_key(user) -> (key, Secret)
    sim.set_client(interface, address)
                                     where the tool appears from (default lan, 10.0.10.100);
                                     every served (loopback) request is this client
    sim.seed(table, fields, running=True, uuid=None) -> uuid
                                     an object made by hand before the lab, validated like
                                     the API; tables: alias rule vlan interface unbound
                                     dnsmasq kea_subnet kea category
    sim.configured(table) / sim.running(table) -> {uuid: {field: text}}
    sim.interfaces() -> {name: Interface}   running assignments
    sim.evaluate(interface, source, destination, protocol="tcp", port=None, configured=False)
        -> Verdict(action, rule, description).allowed
                                     rule: a uuid, "anti-lockout", "default allow LAN" or
                                     "default deny"
    sim.client_can_reach() -> bool   the client's path to the API port under running rules
    sim.drop_after_apply(requests=N, seconds=S)
                                     fault: after each filter apply drop the client's next N
                                     requests and/or all of them for S virtual seconds
    sim.advance(seconds); sim.clock  virtual time; sim.rollbacks lists pending 26.1 timers
                                     (they fire when due, on any request or state read)
    sim.log.entries / .paths / .applies / .count(method=, writes_only=) / .clear()
                                     applies: Counter per "firewall/filter", "firewall/alias",
                                     "interfaces/vlan_settings", "interfaces/assignment",
                                     "unbound/service", "dnsmasq/service", "kea/service"
    sim.handle(OpnRequest, source=Source(interface, address)) -> OpnResponse
                                     one request; any other source is "elsewhere" (a console)
                                     and is never dropped
    OpnsenseTransport(sim)           an httpx transport (no sockets; a drop raises
                                     httpx.RemoteProtocolError)
    homelab_sim.server.start_opnsense_server(sim, port=0) -> RunningServer
                                     HTTPS on 127.0.0.1: endpoint, fingerprint, cert_pem,
                                     token (root's secret), stop()

Behaviours worth knowing: nothing runs until the module's apply/reconfigure; an alias
reconfigure also reloads the rules; on 26.7 filter/apply reloads rules without alias
contents (``skip_alias``); searchRule without ``interface`` lists floating rules only;
revertBackup restores the configuration but reloads nothing; a fresh opt interface passes
nothing (a client there needs a rule).
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
