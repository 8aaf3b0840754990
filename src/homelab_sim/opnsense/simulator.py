"""``OpnsenseSimulator``: one simulated OPNsense firewall, its API, its packet filter, its clock.

``handle(request)`` answers one HTTP request as the real API does (routing and 404s, Basic
auth with 401/403, JSON bodies, the controllers in ``api``). Requests come from the tool's
client unless ``source`` names another one (a console, another admin host): the client is the
lab address and interface the tool appears from (``set_client``). After a filter apply whose
running rules block the client's path to the API port, or while the drop fault is active,
the client's requests are dropped (no response) until a rollback, revert or restore from
elsewhere reopens the path.

Timers (the 26.1 rollback) run on the virtual clock: they fire when due, checked on every
request, ``evaluate`` and ``advance``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homelab_sim.clock import VirtualClock
from homelab_sim.errors import SimError
from homelab_sim.opnsense import acl, api, models, rules, wire
from homelab_sim.opnsense.aliases import by_name
from homelab_sim.opnsense.fields import Context
from homelab_sim.opnsense.requestlog import LoggedRequest, RequestLog
from homelab_sim.opnsense.state import ConfigState
from homelab_sim.secret import Secret

ROLLBACK_SECONDS = 60.0  # rollback_timer.php waits 60 s for cancelRollback
DHCP_BACKENDS = ("dnsmasq", "kea", "isc")
DEFAULT_INTERFACES = (
    rules.Interface("wan", "vtnet0", "192.0.2.2/24", "WAN"),
    rules.Interface("lan", "vtnet1", "10.0.10.1/24", "LAN"),
)
DEFAULT_DEVICES = ("vtnet0", "vtnet1", "vtnet2")


@dataclass(frozen=True)
class Source:
    """Where a request comes from: an interface of the firewall and an address behind it."""

    interface: str
    address: str


@dataclass
class _Rollback:
    revision: str
    deadline: float


class OpnsenseSimulator:
    """A simulated OPNsense (see the package docstring for the whole in-process API)."""

    def __init__(
        self,
        *,
        version: str = "26.1.2",
        dhcp: str = "dnsmasq",
        clock: VirtualClock | None = None,
        interfaces: Sequence[rules.Interface] = DEFAULT_INTERFACES,
        devices: Sequence[str] = DEFAULT_DEVICES,
        api_port: int = 443,
        anti_lockout: bool = True,
        lan_default_allow: bool = True,
        hostname: str = "OPNsense",
        domain: str = "localdomain",
    ) -> None:
        if dhcp not in DHCP_BACKENDS:
            raise SimError(
                f"unknown DHCP backend {dhcp!r}", hint=f"one of {', '.join(DHCP_BACKENDS)}"
            )
        parts = version.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
            raise SimError(
                f"unknown OPNsense version {version!r}", hint="a release such as 26.1.2 or 26.7"
            )
        self.version = version
        self.series = (int(parts[0]), int(parts[1]))
        self.dhcp = dhcp
        self.clock = clock or VirtualClock(time_scale=1.0)
        self.devices = tuple(devices)
        self.api_port = api_port
        self.anti_lockout = anti_lockout
        self.lan_default_allow = lan_default_allow
        self.state = ConfigState(hostname=hostname, domain=domain)
        self.log = RequestLog()
        self.lock = threading.RLock()  # the served API runs in another thread
        self.users: dict[str, frozenset[str]] = {"root": frozenset({"page-all"})}
        self.keys: dict[str, acl.ApiKey] = {}
        self.client = Source("lan", "10.0.10.100")
        self.rollbacks: list[_Rollback] = []
        self._drop_requests = 0
        self._drop_until: float | None = None
        self._drop_plan: tuple[int | None, float | None] = (None, None)
        for interface in interfaces:
            self.state.configured["interface"].rows[interface.name] = {
                "descr": interface.description,
                "if": interface.device,
                "lock": "1",
                "enable": "1",
                "type4": "staticv4",
                "ipaddr": interface.address,
                "type6": "none",
            }
        self.state.load("interface")
        self.api_key, self.api_secret = self.add_key("root")
        self.state.save(self.clock.now(), "root", "initial configuration")

    # -- versions -------------------------------------------------------------------------

    @property
    def has_savepoint(self) -> bool:
        """The filter savepoint/rollback API: up to 26.1 (removed by opnsense/core 17b8461)."""
        return self.series <= (26, 1)

    @property
    def has_assignment_api(self) -> bool:
        """``interfaces/assignment``: new in 26.7."""
        return self.series >= (26, 7)

    # -- credentials ----------------------------------------------------------------------

    def add_user(self, name: str, privileges: Iterable[str]) -> None:
        unknown = sorted(set(privileges) - set(acl.PRIVILEGES))
        if unknown:
            raise SimError(
                f"unknown privilege {unknown[0]!r}", hint="see homelab_sim.opnsense.acl.PRIVILEGES"
            )
        self.users[name] = frozenset(privileges)

    def add_key(self, user: str) -> tuple[str, Secret]:
        """A new API key/secret pair for ``user`` (the secret is shown once, as upstream)."""
        if user not in self.users:
            raise SimError(f"no such user {user!r}")
        key = secrets.token_urlsafe(60)[:80]
        secret = Secret(secrets.token_urlsafe(60)[:80])
        self.keys[key] = acl.ApiKey(key, secret, user)
        return key, secret

    def auth_header(self, key: str | None = None, secret: Secret | None = None) -> dict[str, str]:
        """The Authorization header of the root key (or the given pair)."""
        pair = f"{key or self.api_key}:{(secret or self.api_secret).reveal()}"
        return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    # -- the client, faults, clock --------------------------------------------------------

    def set_client(self, interface: str, address: str) -> None:
        """The lab address the tool appears from, behind ``interface`` (lan, opt1...)."""
        self.client = Source(interface, address)

    def drop_after_apply(
        self, *, requests: int | None = None, seconds: float | None = None
    ) -> None:
        """After each filter apply, drop the client's next ``requests`` requests and/or all of
        them for ``seconds`` virtual seconds (independent of the rules). Both None: off."""
        self._drop_plan = (requests, seconds)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)
            self.run_timers()

    def run_timers(self) -> None:
        now = self.clock.now()
        for pending in [r for r in self.rollbacks if r.deadline <= now]:
            self.rollbacks.remove(pending)
            self.rollback_filter(pending.revision)

    # -- seeding --------------------------------------------------------------------------

    def seed(
        self,
        table: str,
        fields: Mapping[str, Any],
        *,
        running: bool = True,
        uuid: str | None = None,
    ) -> str:
        """Add an object as if made by hand before the lab (validated as the API would);
        ``uuid`` keeps a known one (a saved simulator coming back)."""
        with self.lock:
            if uuid is not None and uuid in self.state.configured[table].rows:
                raise SimError(f"the seeded {table} {uuid} exists already")
            return self._seed(table, fields, running=running, uuid=uuid)

    def _seed(
        self, table: str, fields: Mapping[str, Any], *, running: bool, uuid: str | None
    ) -> str:
        target = self.state.configured[table]
        context = self.context(
            table, {**target.new_record(), **{k: str(v) for k, v in fields.items()}}
        )
        result, changed = models.add(target, dict(fields), context, key=uuid)
        if not changed:
            raise SimError(f"the seeded {table} is invalid: {result.get('validations')}")
        self.state.save(self.clock.now(), "root", f"seeded {table}")
        if running:
            self.state.load(table)
        return str(result["uuid"])

    # -- state ----------------------------------------------------------------------------

    def configured(self, table: str) -> dict[str, dict[str, str]]:
        with self.lock:
            self.run_timers()
            return {k: dict(v) for k, v in self.state.configured[table].items()}

    def running(self, table: str) -> dict[str, dict[str, str]]:
        with self.lock:
            self.run_timers()
            return {k: dict(v) for k, v in self.state.running[table].items()}

    def interfaces(self, *, configured: bool = False) -> dict[str, rules.Interface]:
        source = self.state.configured if configured else self.state.running
        out = {}
        for name, record in source["interface"].items():
            if record.get("enable") == "1" and record.get("ipaddr"):
                out[name] = rules.Interface(
                    name, record["if"], record["ipaddr"], record.get("descr", "")
                )
        return out

    def context(self, table: str, record: Mapping[str, str] | None = None) -> Context:
        configured = self.state.configured
        alias_rows = [r for _, r in configured["alias"].items()]
        devices = {d: d for d in self.devices}
        devices.update(
            {r["vlanif"]: r["vlanif"] for _, r in configured["vlan"].items() if r.get("vlanif")}
        )
        return Context(
            record=record or {},
            alias_names=frozenset(r["name"] for r in alias_rows if r.get("name")),
            port_alias_names=frozenset(r["name"] for r in alias_rows if r.get("type") == "port"),
            interfaces={
                name: r.get("descr") or name.upper() for name, r in configured["interface"].items()
            },
            devices=devices,
            subnets={u: r["subnet"] for u, r in configured["kea_subnet"].items()},
            categories=frozenset(configured["category"].rows),
        )

    # -- the packet filter ----------------------------------------------------------------

    def ruleset(self, *, configured: bool = False) -> rules.RuleSet:
        source = self.state.configured if configured else self.state.running
        return rules.RuleSet(
            rules=source["rule"],
            aliases=by_name(source["alias"]),
            interfaces=self.interfaces(configured=configured),
            anti_lockout=self.anti_lockout,
            lockout_ports=(self.api_port, 80, 22),
            lan_default_allow=self.lan_default_allow,
        )

    def evaluate(
        self,
        interface: str,
        source: str,
        destination: str,
        protocol: str = "tcp",
        port: int | None = None,
        *,
        configured: bool = False,
    ) -> rules.Verdict:
        """What the running (or configured) rule set does with this packet, and why."""
        with self.lock:
            self.run_timers()
            return rules.evaluate(
                self.ruleset(configured=configured),
                rules.Packet(interface, source, destination, protocol, port),
            )

    def api_address(self, interface: str) -> str:
        found = self.interfaces().get(interface)
        return str(found.ip) if found else ""

    def client_can_reach(self) -> bool:
        """Whether the running rules pass the client's connection to the API port."""
        target = self.api_address(self.client.interface)
        if not target:
            return False
        verdict = self.evaluate(
            self.client.interface, self.client.address, target, "tcp", self.api_port
        )
        return verdict.allowed

    def start_rollback(self, revision: str) -> None:
        """rollback_timer.php: revert the Filter section to ``revision`` in 60 s unless cancelled.
        It runs under ``flock -n``: while one timer waits, another does not start."""
        if not self.rollbacks:
            self.rollbacks.append(_Rollback(revision, self.clock.now() + ROLLBACK_SECONDS))

    def rollback_filter(self, revision: str) -> bool:
        """Filter::rollback + filter reload: the rules of ``revision`` configured and running."""
        found = self.state.revision(revision)
        if found is None:
            return False
        self.state.configured["rule"] = found.snapshot["rule"].copy()
        self.state.save(self.clock.now(), "(system)", "filter rollback")
        self.filter_reload(aliases=True)
        return True

    def filter_reload(self, *, aliases: bool) -> None:
        self.state.load("rule", *(["alias"] if aliases else []))

    def after_filter_apply(self) -> None:
        requests, seconds = self._drop_plan
        self._drop_requests = requests or 0
        self._drop_until = self.clock.now() + seconds if seconds else None

    # -- HTTP -----------------------------------------------------------------------------

    def handle(self, request: wire.OpnRequest, *, source: Source | None = None) -> wire.OpnResponse:
        with self.lock:
            return self._handle(request, source)

    def _handle(self, request: wire.OpnRequest, source: Source | None) -> wire.OpnResponse:
        self.run_timers()
        from_client = source is None or source == self.client
        if from_client and self._client_dropped():
            response = wire.dropped()
        else:
            response = self._answer(request)
        self.log.record(
            LoggedRequest(
                request.method,
                request.path,
                response.status,
                response.drop,
                from_client,
                self.clock.now(),
            )
        )
        return response

    def _client_dropped(self) -> bool:
        if self._drop_until is not None and self.clock.now() < self._drop_until:
            return True
        if self._drop_requests > 0:
            self._drop_requests -= 1
            return True
        return not self.client_can_reach()

    def _answer(self, request: wire.OpnRequest) -> wire.OpnResponse:
        try:
            route, params = api.resolve(self, request.path)
            denied = self._authorize(request)
            if denied is not None:
                return denied
            post, error = wire.parse_post(request)
            if error is not None:
                return wire.reply(400, {"status": 400, "message": error})
            call = api.Call(
                request.method.upper(),
                post,
                wire.query_fields(request),
                params,
                self._user(request),
            )
            result = route.handler(self, call)
        except wire.EndpointNotFound:
            return wire.not_found()
        except wire.UserError as exc:
            return wire.user_error(exc)
        except wire.UnexpectedError:
            return wire.unexpected()
        if isinstance(result, wire.OpnResponse):
            return result
        return wire.reply(200, result)

    def _credentials(self, request: wire.OpnRequest) -> acl.ApiKey | None:
        header = request.headers.get("authorization", "").split(" ")
        if len(header) < 2:
            return None
        try:
            key, _, secret = (
                base64.b64decode(header[1], validate=False)
                .decode("utf-8", "replace")
                .partition(":")
            )
        except (binascii.Error, ValueError):
            return None
        found = self.keys.get(key)
        if found is None or not secrets.compare_digest(found.secret.reveal(), secret):
            return None
        return found

    def _user(self, request: wire.OpnRequest) -> str:
        found = self._credentials(request)
        return found.user if found else ""

    def _authorize(self, request: wire.OpnRequest) -> wire.OpnResponse | None:
        if "authorization" not in request.headers:
            return wire.OpnResponse(401, b"", [])  # no session either: the UI's bare 401
        found = self._credentials(request)
        if found is None:
            return wire.reply(401, {"status": 401, "message": "Authentication Failed"})
        uri = request.path + (f"?{request.query}" if request.query else "")
        if not acl.page_accessible(self.users[found.user], uri):
            return wire.reply(403, {"status": 403, "message": "Forbidden"})
        return None
