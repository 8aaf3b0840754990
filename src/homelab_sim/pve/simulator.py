"""PveSimulator: the whole simulated Proxmox VE cluster behind one ``handle(request)`` call.

The pipeline of ``handle`` is the one of pveproxy + pvedaemon (BEHAVIOUR §1-4):

    path (/api2/json/...) -> tick the virtual clock (finish due tasks) -> match the schema
    (501) -> authenticate (401, empty body) -> CSRF for ticket writes (401) -> merge query,
    body and path parameters -> validate with the schema (400) -> permission check (403)
    -> fault injection -> handler -> envelope; log the request; persist if state changed.

It does no network I/O and has no framework: ``homelab_sim.transport`` (httpx, in-process) and
``homelab_sim.server`` (uvicorn, HTTPS) adapt it. One lock serialises requests; everything is
in memory and fast. PVE delays authentication failures by 3 s (anti brute force); here the
response is flagged ``auth_failure`` and the adapter waits outside the lock, for
``SimConfig.auth_delay`` seconds or, when that is None, its own default: 0 in-process (unit
tests stay instant), 0.1 s over HTTPS (a client looping on bad credentials is still visibly
slowed down, and a suite of negative end-to-end tests does not wait 3 s each).
"""

from __future__ import annotations

import contextlib
import random
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab_sim.clock import VirtualClock
from homelab_sim.guest.cluster_guest import ClusterGuest
from homelab_sim.guest.model import GuestModel
from homelab_sim.kube import KubeRegistry
from homelab_sim.kube import manifest as kube_manifest
from homelab_sim.pve import (
    access,
    access_users,
    agent_exec,
    backup,
    backup_info,
    backup_jobs,
    cluster,
    cluster_config,
    control,
    lxc,
    network,
    nodes,
    options,
    pbs,
    pools,
    privs,
    qemu,
    qemu_clone,
    qemu_config,
    qemu_power,
    replication,
    schema,
    snapshots,
    storage,
    subscription,
    tasks,
)
from homelab_sim.pve.auth import ROOT, Authenticator, AuthFailure, Identity, new_secret
from homelab_sim.pve.context import Ctx, Result
from homelab_sim.pve.defaults import default_state
from homelab_sim.pve.errors import ApiError, ConnectionReset, fail, lock_timeout_text, param_fail
from homelab_sim.pve.faults import Fault, FaultInjector, FaultProfile
from homelab_sim.pve.permissions import Permissions
from homelab_sim.pve.persistence import StateStore
from homelab_sim.pve.requestlog import LoggedRequest, RequestLog
from homelab_sim.pve.state import AclEntry, ClusterState, StorageDef, TokenDef, UserDef
from homelab_sim.pve.wire import (
    SimRequest,
    SimResponse,
    parse_body,
    parse_query,
    respond,
    respond_error,
)
from homelab_sim.secret import Secret

API_PREFIX = "/api2/json"
TICKET_KEY = "ticket-key"
_SYSTEM = Identity(userid="root@pam", via="system")
_UPLOAD = "/nodes/{node}/storage/{storage}/upload"


def _run_job_on_node(ctx: Ctx, settings: dict[str, Any], node: str, at: float) -> None:
    """A scheduled run of a backup job on one node; finished at once if it ended by now."""
    if not backup.job_guests_on(ctx, node, settings):
        return
    backup.start_vzdump(ctx, settings, node, at=at)
    task = ctx.state.tasks[-1]
    if task.end_v <= ctx.now():
        tasks.finish_task(ctx, task)


ROUTES: dict[tuple[str, str], Any] = {}
for _module in (
    access,
    agent_exec,
    access_users,
    backup,
    cluster,
    network,
    nodes,
    options,
    pbs,
    pools,
    qemu,
    qemu_clone,
    qemu_config,
    qemu_power,
    snapshots,
    storage,
    tasks,
    backup_info,
    cluster_config,
    lxc,
    replication,
    subscription,
):
    ROUTES.update(_module.ROUTES)


@dataclass
class SimConfig:
    """How to start a simulator. ``token_secret`` None: random (or the one in ``state_dir``)."""

    nodes: Sequence[str] = ("pve",)
    time_scale: float = 1.0
    password: Secret | None = None
    token_id: str = "root@pam!sim"  # noqa: S105 - an id, not a secret
    token_secret: Secret | None = None
    state_dir: Path | None = None
    faults: FaultProfile | None = None
    auth_delay: float | None = None  # None: the adapter's default (0 in-process, 0.1 s HTTPS)
    seed: int | None = None
    pve_major: int = 8  # 8 or 9 (privilege names, permission checks, /version); a new state only
    # called (under the simulator's lock) for every request the schema rejected: a test suite
    # can collect them and fail on any parameter a real Proxmox VE would refuse
    on_rejection: Callable[[LoggedRequest], None] | None = None
    # storage.cfg entries beside each node's ``local``/``local-lvm`` (e.g. a shared ``ceph``)
    storages: Sequence[StorageDef] = ()


class PveSimulator:
    """A simulated PVE 8.4 or 9.0 cluster. Thread-safe; ``handle`` is the only HTTP entry."""

    def __init__(self, config: SimConfig | None = None, *, guest: GuestModel | None = None) -> None:
        self.config = config or SimConfig()
        self.log = RequestLog()
        self.faults = FaultInjector(self.config.faults)
        self._faults_paused = 0
        self._lock = threading.RLock()
        self.generation = 0
        self._cache: dict[Any, Any] = {}  # response caches, valid for one generation
        self._cache_generation = 0
        self._rng = random.Random(self.config.seed)  # noqa: S311 - simulation only
        self._store = StateStore(self.config.state_dir) if self.config.state_dir else None
        loaded = self._store.load() if self._store else None
        if loaded is None:
            self.clock = VirtualClock(time_scale=self.config.time_scale)
            self.state = self._fresh_state()
            secrets: dict[str, Secret] = {TICKET_KEY: new_secret()}
            self.blobs: dict[str, bytes] = {}
        else:
            self.state, secrets = loaded
            self.clock = VirtualClock(
                base=self.state.virtual_now, time_scale=self.config.time_scale
            )
            blob_keys = {v.blob for v in self.state.volumes.values() if v.blob}
            self.blobs = self._store.load_blobs(blob_keys) if self._store else {}
        self.kube = KubeRegistry.from_dict(self.state.kube, self.clock)
        self._kube_mark = self._kube_signature()
        self.guest: GuestModel = guest or ClusterGuest(self.kube)
        if loaded is not None:
            vms = list(self.state.vms.values())
            self.guest.restore(self.state.guest_model, vms, self.clock)
        self._init_auth(secrets)
        self._persist(force=loaded is None)

    def _fresh_state(self) -> ClusterState:
        macs = [qemu.new_mac(self._rng) for _ in self.config.nodes]
        state = default_state(
            list(self.config.nodes), self.clock.now(), macs, list(self.config.storages)
        )
        state.pve_major = privs.check_major(self.config.pve_major)
        return state

    def _init_auth(self, secrets: dict[str, Secret]) -> None:
        token_id = self.config.token_id
        userid = token_id.split("!", 1)[0]
        self.state.users.setdefault(userid, UserDef(userid=userid))
        self.state.tokens.setdefault(token_id, TokenDef(tokenid=token_id))
        if self.config.token_secret is not None:
            secrets[token_id] = self.config.token_secret
        secrets.setdefault(token_id, new_secret())
        key = secrets.pop(TICKET_KEY, None) or new_secret()
        self.perms = Permissions(self.state)
        self.auth = Authenticator(self.state, secrets, self.config.password, key)
        self._ticket_key = key

    # ------------------------------------------------------------------ public API

    @property
    def token(self) -> Secret:
        """The root token in PROXMOX_VE_API_TOKEN form: ``root@pam!sim=SECRET``."""
        token_id = self.config.token_id
        return Secret(f"{token_id}={self.auth.secrets()[token_id].reveal()}")

    def add_token(
        self, tokenid: str, acl: Mapping[str, Sequence[str]], *, privsep: bool = True
    ) -> Secret:
        """Create an API token (``user@realm!name``, its user too if missing) holding ``acl``
        (path -> privileges, propagated): one custom role per path, granted to the token and,
        for a privilege-separated token, to its user as well (so the intersection is ``acl``).
        Returns the token's full value. Tests use it; clients use the access API."""
        with self._lock:
            secret = new_secret()
            userid = tokenid.split("!", 1)[0]
            self.state.users.setdefault(userid, UserDef(userid=userid))
            self.state.tokens[tokenid] = TokenDef(tokenid=tokenid, privsep=privsep)
            stem = re.sub(r"[^A-Za-z0-9.\-_]", "_", tokenid)
            for index, (path, granted) in enumerate(sorted(acl.items())):
                role = f"sim_{stem}_{index}"
                self.state.roles[role] = sorted(granted)
                holders = [("token", tokenid)] if privsep else []
                if userid != ROOT:
                    holders.append(("user", userid))
                for kind, ugid in holders:
                    self.state.acl.append(AclEntry(path=path, type=kind, ugid=ugid, roleid=role))
            self.auth.add_secret(tokenid, secret)
            self._persist(force=True)
            return Secret(f"{tokenid}={secret.reveal()}")

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward (tasks due by then finish at the next request)."""
        with self._lock:
            self.clock.advance(seconds)
            self.generation += 1

    def auth_delay(self, default: float) -> float:
        """Seconds an adapter waits before sending an authentication failure."""
        configured = self.config.auth_delay
        return default if configured is None else configured

    def set_faults(self, profile: FaultProfile) -> None:
        with self._lock:
            self.faults.set_profile(profile)

    @contextlib.contextmanager
    def faults_paused(self) -> Iterator[None]:
        """No fault is injected (nor drawn from the profile's random sequence) in the block:
        for a test's set-up requests, so the faults hit the requests under test as before."""
        with self._lock:
            self._faults_paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._faults_paused -= 1

    def set_fingerprint(self, fingerprint: str) -> None:
        with self._lock:
            self.state.fingerprint = fingerprint
            self.generation += 1

    def kube_endpoints(self) -> dict[str, str]:
        """Each simulated cluster's API (``10.0.20.10:6443``) -> its loopback HTTPS URL."""
        with self._lock:
            self.kube.serve()
            return self.kube.endpoints()

    def manifest(self, component: str, version: str, filename: str) -> bytes | None:
        """An addon's upstream-shaped install manifest from the simulator's mirror."""
        return kube_manifest(component, version, filename)

    def close(self) -> None:
        """Stop the simulated Kubernetes API servers (the PVE side holds no resources)."""
        with self._lock:
            self._persist(force=True)
            self.kube.close()

    def start_ticker(self, interval: float = 0.05) -> Callable[[], None]:
        """Advance guests and clusters in the background (a served simulator's world moves on
        its clock even while no PVE request comes in, e.g. while a client polls the
        Kubernetes API). Does nothing on a frozen clock. Returns the function that stops it."""
        if self.clock.time_scale == 0:
            return lambda: None
        stopped = threading.Event()

        def run() -> None:
            while not stopped.wait(interval):
                self.settle()

        thread = threading.Thread(target=run, name="homelab-sim-ticker", daemon=True)
        thread.start()

        def stop() -> None:
            stopped.set()
            thread.join(5)

        return stop

    def settle(self) -> None:
        """Finish every task that is due now (what any request does first)."""
        with self._lock:
            self._tick()
            self._persist()

    # ------------------------------------------------------------------ request handling

    def handle(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self._changed = False
            entry: dict[str, Any] = {"user": None, "errors": None, "fault": None}
            response = self._answer(request, entry)
            self._changed |= request.method.upper() != "GET"
            if self._changed:
                self.generation += 1
            logged = LoggedRequest(
                method=request.method,
                path=request.path,
                status=0 if response.drop else response.status,
                time=self.clock.now(),
                **entry,
            )
            self.log.add(logged)
            self._persist()
            if logged.errors is not None and self.config.on_rejection is not None:
                self.config.on_rejection(logged)
            return response

    def _answer(self, request: SimRequest, entry: dict[str, Any]) -> SimResponse:
        try:
            return self._dispatch(request, entry)
        except ApiError as err:
            return respond_error(err)
        except AuthFailure as exc:
            response = respond(401, str(exc), None)
            response.auth_failure = True
            return response
        except ConnectionReset:
            return SimResponse(0, "", [], b"", drop=True)
        except Exception as exc:  # a simulator bug: answer like a crashed handler, keep serving
            traceback.print_exc(file=sys.stderr)
            return respond_error(fail(f"internal simulator error: {type(exc).__name__}: {exc}"))

    def _dispatch(self, request: SimRequest, entry: dict[str, Any]) -> SimResponse:
        method = request.method.upper()
        path = _api_path(request.path)
        if self._cache_generation != self.generation:
            self._cache.clear()
            self._cache_generation = self.generation
        self._tick()
        if method not in {"GET", "POST", "PUT", "DELETE"}:
            raise ApiError(501, f"method '{method}' not available")
        if path.startswith("/_sim/"):
            return self._control(request, method, path.rstrip("/"), entry)
        found = schema.match(method, path)
        if found is None:
            raise ApiError(501, f"Method '{method} {path}' not implemented")
        endpoint, path_params = found
        ident = self._authenticate(request, endpoint, method)
        entry["user"] = ident.task_user if ident else None
        params, upload = self._params(request, endpoint.template, path_params)
        coerced, errors = schema.validate(endpoint, params)
        if errors:
            entry["errors"] = errors
            raise param_fail(errors)
        if ident is not None:
            permissions = endpoint.permissions_for(self.state.pve_major)
            denied = self.perms.check(ident, permissions, coerced)
            if denied:
                raise ApiError(403, denied)
        fault = self._fault(method, path, entry)
        handler = ROUTES.get((method, endpoint.template))
        if handler is None:
            raise ApiError(501, f"Method '{method} {path}' not implemented")
        ctx = self._ctx(ident or _SYSTEM, fault, upload)
        result = handler(ctx, coerced)
        self._changed |= ctx.changed
        if fault is not None and fault.kind == "lost_response":
            raise ConnectionReset()
        if fault is not None and fault.kind == "malformed":
            data = result.data if isinstance(result, Result) else result
            return respond(200, "OK", ["malformed"] if isinstance(data, dict) else {"bad": 1})
        if isinstance(result, Result):
            return respond(200, "OK", result.data, result.extra, raw=result.raw)
        return respond(200, "OK", result)

    def _authenticate(
        self, request: SimRequest, endpoint: schema.Endpoint, method: str
    ) -> Identity | None:
        if (endpoint.permissions or {}).get("user") == "world":
            return None
        ident = self.auth.identify(request.headers)
        if ident is None:
            raise AuthFailure("No ticket")
        if ident.via == "token" and not endpoint.allowtoken:
            raise ApiError(
                403,
                f"Permission check failed (URI '{request.path}' not available with API token, "
                "need proper ticket.)",
            )
        if ident.via == "ticket" and method != "GET" and endpoint.template != _UPLOAD:
            csrf = request.headers.get("csrfpreventiontoken", "")
            if not self.auth.verify_csrf(csrf, ident.userid):
                raise AuthFailure("Permission denied - invalid csrf token")
        return ident

    def _params(
        self, request: SimRequest, template: str, path_params: Mapping[str, str]
    ) -> tuple[dict[str, Any], Any]:
        body, upload = parse_body(request, upload=template == _UPLOAD)
        params = {**body, **parse_query(request.query)}
        if upload is not None:
            params["filename"] = upload.filename
        conflicts = {
            key: "duplicate parameter (already defined in URI) with conflicting values!"
            for key, value in path_params.items()
            if key in params and str(params[key]) != value
        }
        if conflicts:
            raise param_fail(conflicts)
        params.update(path_params)
        return params, upload

    def _fault(self, method: str, path: str, entry: dict[str, Any]) -> Fault | None:
        if self._faults_paused:
            return None
        fault = self.faults.pick(method, path)
        if fault is None:
            return None
        entry["fault"] = fault.kind
        if fault.kind == "reset":
            raise ConnectionReset()
        if fault.kind == "http_error":
            raise ApiError(fault.rule.status, fault.rule.message)
        if fault.kind == "lock_timeout":
            raise fail(lock_timeout_text(fault.vmid()))
        return fault

    def _control(
        self, request: SimRequest, method: str, path: str, entry: dict[str, Any]
    ) -> SimResponse:
        ident = self.auth.identify(request.headers)
        if ident is None:
            raise AuthFailure("No ticket")
        entry["user"] = ident.task_user
        control.check_csrf(self.auth, ident, method, request.headers)
        body, _ = parse_body(request, upload=False)
        params = {**body, **parse_query(request.query)}
        ctx = self._ctx(ident)
        answer = control.dispatch(self, ctx, method, path, params)
        if isinstance(answer, control.RawBody):
            headers = [("content-type", answer.content_type), ("server", "pve-api-daemon/3.0")]
            return SimResponse(200, "OK", headers, answer.data)
        return respond(200, "OK", answer)

    def _ctx(self, ident: Identity, fault: Fault | None = None, upload: Any = None) -> Ctx:
        return Ctx(
            state=self.state,
            clock=self.clock,
            ident=ident,
            perms=self.perms,
            auth=self.auth,
            guest=self.guest,
            blobs=self.blobs,
            fault=fault,
            upload=upload,
            generation=self.generation,
            cache=self._cache,
            rng=self._rng,
        )

    def _tick(self) -> None:
        ctx = self._ctx(_SYSTEM)
        if tasks.complete_due(ctx):
            self._changed = True
            self.generation += 1
        if backup_jobs.run_scheduled(ctx, _run_job_on_node):
            self._changed = True
            self.generation += 1
        now = self.clock.now()
        if self.guest.tick(now):
            self._changed = True
            self.generation += 1
        self.kube.tick(now)

    def _kube_signature(self) -> list[tuple[str, int, int]]:
        """Changes whenever a simulated cluster's objects or nodes do (cheap to compute)."""
        return [(c.name, c.state.store.revision, len(c.nodes)) for c in self.kube.clusters()]

    def _persist(self, *, force: bool = False) -> None:
        if self._store is None:
            return
        kube_mark = self._kube_signature()
        if not (force or getattr(self, "_changed", False) or kube_mark != self._kube_mark):
            return
        self.state.virtual_now = self.clock.now()
        self.state.guest_model = self.guest.snapshot()
        if kube_mark != self._kube_mark or force:
            self.state.kube = self.kube.to_dict()
            self._kube_mark = kube_mark
        secrets = {**self.auth.secrets(), TICKET_KEY: self._ticket_key}
        self._store.save(self.state, secrets, self.blobs)
        self._changed = False


def _api_path(raw: str) -> str:
    """The path below /api2/json, or ApiError(501) as pveproxy answers other formatters."""
    if raw == API_PREFIX or raw.startswith(API_PREFIX + "/"):
        return raw[len(API_PREFIX) :].rstrip("/") or "/"
    if raw.startswith("/api2/"):
        fmt = raw[len("/api2/") :].split("/", 1)[0]
        if fmt:
            raise ApiError(501, f"no formatter for uri {raw}, {fmt}")
    raise ApiError(501, "no such uri")
