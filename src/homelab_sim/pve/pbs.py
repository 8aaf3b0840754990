"""Proxmox Backup Server storages: ``POST /storage`` with ``type=pbs``, and the PBS servers behind.

pve-storage ``API2/Storage/Config.pm`` ``create``: ``Datastore.Allocate`` on ``/storage``; the
id must be new (``storage ID '<id>' already defined``); the password (a PBS API token's secret
when ``username`` is a token id) goes to ``/etc/pve/priv/storage/<id>.pw`` and is never listed;
then the storage is activated to find problems at once, and on failure nothing is kept. Errors
come wrapped as ``create storage failed: <reason>``. ``PBSPlugin.pm`` ``activate_storage`` lists
the datastores the credentials may see (``GET /api2/json/admin/datastore`` on ``server:port``,
default 8007, 7 s timeout, the certificate accepted when its SHA-256 fingerprint is the
configured one) and fails with ``<id>: error fetching datastores - <error>`` or ``<id>: Cannot
find datastore '<ds>', check permissions and existence!``. The texts of the connection errors
come from PVE::APIClient::LWP **[unc]**.

The PBS servers themselves are part of the simulated world (like the guests' network): the
control API's ``PUT /_sim/pbs`` registers one (address, certificate fingerprint, datastores, and
the API tokens it accepts, kept as SHA-256 digests), ``reachable: false`` makes it unreachable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail, param_fail
from homelab_sim.pve.qemu_config import split_list
from homelab_sim.pve.state import DEFAULT_PBS_PORT, PbsServer, StorageDef

__all__ = ["PbsServer", "create_storage", "digest", "put_pbs"]

DEFAULT_PORT = DEFAULT_PBS_PORT


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def put_pbs(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """``PUT /_sim/pbs``: add or replace a PBS server (``token_secret`` is kept as a digest)."""
    data = dict(body)
    secret = data.pop("token_secret", None)
    token = data.pop("token_id", None)
    if "datastore" in data:  # one datastore, as form fields
        name = str(data.pop("datastore"))
        data["datastores"] = {name: int(data.pop("datastore_bytes", 4 * 1024**4))}
    server = PbsServer.model_validate(data)
    if token is not None and secret is not None:
        server.tokens[str(token)] = digest(str(secret))
    ctx.state.pbs_servers[server.address] = server
    ctx.changed = True
    return {"address": server.address}


def _connect_error(ctx: Ctx, opts: dict[str, Any], password: str | None) -> str | None:
    address = f"{opts['server']}:{int(opts.get('port', DEFAULT_PORT))}"
    server = ctx.state.pbs_servers.get(address)
    if server is None or not server.reachable:
        return f"500 Can't connect to {address} (Connection refused)"
    wanted = str(opts.get("fingerprint") or "").upper()
    if wanted != server.fingerprint.upper():  # a self-signed certificate unless pinned
        return f"500 Can't connect to {address} (certificate verify failed)"
    user = str(opts.get("username") or "root@pam")
    if password is None or server.tokens.get(user) != digest(password):
        return "401 Unauthorized"
    return None


def pbs_unreachable(ctx: Ctx, storage: StorageDef, adding: int = 0) -> str | None:
    """Why a pbs storage cannot take a backup of ``adding`` bytes now (its server gone or
    unreachable, its datastore full), or None."""
    opts = storage.pbs or {}
    server = ctx.state.pbs_servers.get(f"{opts.get('server')}:{opts.get('port', DEFAULT_PORT)}")
    if server is None or not server.reachable:
        return f"{storage.storage}: error fetching datastores - 500 Can't connect to " + (
            f"{opts.get('server')}:{opts.get('port', DEFAULT_PORT)} (Connection refused)"
        )
    datastore = opts.get("datastore", "")
    total = server.datastores.get(datastore, 0)
    used = sum(v.size for v in ctx.state.volumes.values() if v.storage == storage.storage)
    if used + adding > total:  # PBS: the chunk store's file system is full **[unc]**
        return (
            f"backup write data failed: command error: inserting chunk on store '{datastore}' "
            "failed: No space left on device (os error 28)"
        )
    return None


def create_storage(ctx: Ctx, p: dict[str, Any]) -> Any:
    """``POST /storage`` for ``type=pbs`` (other types are not creatable in the simulator)."""
    sid = str(p["storage"])
    kind = str(p["type"])
    if kind != "pbs":
        raise fail(f"create storage failed: the simulator creates only pbs storages, not {kind}")
    for key in ("server", "datastore"):
        if not p.get(key):
            raise param_fail({key: "property is missing and it is not optional"})
    if ctx.state.storage(sid) is not None:
        raise fail(f"create storage failed: storage ID '{sid}' already defined")
    content = split_list(p.get("content")) or ["backup"]
    if set(content) - {"backup", "none"}:
        raise param_fail({"content": f"storage does not support content type '{content[0]}'"})
    password = p.get("password")
    problem = _connect_error(ctx, p, None if password is None else str(password))
    if problem is not None:
        raise fail(f"create storage failed: {sid}: error fetching datastores - {problem}")
    server = ctx.state.pbs_servers[f"{p['server']}:{int(p.get('port', DEFAULT_PORT))}"]
    datastore = str(p["datastore"])
    if datastore not in server.datastores:
        raise fail(
            f"create storage failed: {sid}: Cannot find datastore '{datastore}', "
            "check permissions and existence!"
        )
    reply: dict[str, Any] = {"storage": sid, "type": "pbs"}
    settings = {
        key: str(p[key])
        for key in ("server", "port", "datastore", "namespace", "username", "fingerprint")
        if p.get(key) not in (None, "")
    }
    wanted_key = p.get("encryption-key")
    if wanted_key is not None:  # on_add_hook: 'autogen' makes one, else it must be a JSON key
        text = _autogen_key() if wanted_key == "autogen" else str(wanted_key)
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict) or "data" not in decoded:
            raise fail("Value does not seems like a valid, JSON formatted encryption key!")
        settings["encryption-key"] = str(decoded.get("fingerprint") or 1)
        reply["config"] = {"encryption-key": text}
    storage = StorageDef(
        storage=sid,
        type="pbs",
        content=[c for c in content if c != "none"],
        total=server.datastores[datastore],
        shared=True,
        nodes=split_list(p.get("nodes")) or None,
        pbs=settings,
        pbs_secret=None if password is None else digest(str(password)),
    )
    ctx.state.storages.append(storage)
    ctx.changed = True
    return reply


def _autogen_key() -> str:
    """What ``proxmox-backup-client key create --kdf none`` writes: a key with no passphrase."""
    raw = secrets.token_bytes(32)
    fingerprint = ":".join(f"{b:02x}" for b in hashlib.sha256(raw).digest()[:8])
    return json.dumps(
        {
            "kdf": None,
            "created": "2026-01-01T00:00:00+00:00",
            "modified": "2026-01-01T00:00:00+00:00",
            "data": base64.b64encode(raw).decode(),
            "fingerprint": fingerprint,
        }
    )


ROUTES = {("POST", "/storage"): create_storage}
