"""cloud-init on a simulated guest: parse and validate user-data, then its modules in order.

``parse_user_data`` takes the seed's user-data (``#cloud-config``), loads the YAML and checks
it against cloud-init's JSON schema (the 24.1.3 schema Ubuntu 24.04 shipped, compacted into
``cloud_config_schema.json`` by ``scripts/gen_cloudinit_schema.py``). The simulated guest is
stricter than cloud-init, which only warns: user-data that violates the schema is not run at
all, and the guest's cloud-init status is ``error`` with the schema messages, so a renderer
bug is seen at once instead of as a half-configured node.

``program(config)`` lists the steps of a first boot in cloud-init's stage order (FACTS §7):

    init    store_userdata (the raw user-data kept), users_groups, set_hostname,
            write_files (not deferred)
    config  apt_configure (``apt.sources``), runcmd (written, not run)
    final   package_update_upgrade_install, write_files_deferred, scripts_user (runcmd)

``package_update_upgrade_install`` runs apt as cloud-init 24.1 does
(``distros/package_management/apt.py``): before each apt-get it waits, at most
``APT_LOCK_WAIT`` (30) seconds, for the four apt/dpkg lock files to be free, then gives up
with ``Could not get APT lock``; a failed update does not stop the install, and the module
fails if either did.

The raw user-data is kept where cloud-init keeps it (``Init.update`` -> ``_store_rawdata``:
``/var/lib/cloud/instance/user-data.txt``, ``paths.lookups["userdata_raw"]``, mode 0600, root's,
as cloud-init runs as root), before any module runs: what ``cloud-init query userdata`` reads.

Each step is a named generator factory over the machine that runs it, so a machine can
persist "next step = N" and resume there after a simulator restart.
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

import jsonschema

from homelab_sim.guest import apt, yamlio
from homelab_sim.guest.shell import Gen, Shell, Streams
from homelab_sim.guest.system import GuestSystem

HEADER = "#cloud-config"
MODELLED = {
    "apt",
    "disable_root",
    "hostname",
    "fqdn",
    "manage_etc_hosts",
    "package_update",
    "package_upgrade",
    "packages",
    "preserve_hostname",
    "runcmd",
    "ssh_authorized_keys",
    "ssh_pwauth",
    "swap",
    "users",
    "write_files",
}
INIT_SECONDS = 4.0
CONFIG_SECONDS = 2.0
UPGRADE_SECONDS = 30.0
APT_LOCK_WAIT = 30.0
APT_LOCK_FILES = (
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/cache/apt/archives/lock",
    "/var/lib/apt/lists/lock",
)


USER_DATA_RAW = "/var/lib/cloud/instance/user-data.txt"


class CloudConfig(dict[str, Any]):
    """A parsed cloud-config that remembers the bytes it was parsed from."""

    def __init__(self, doc: dict[str, Any], raw: bytes) -> None:
        super().__init__(doc)
        self.raw = raw


class UserDataError(Exception):
    """The user-data is not a cloud-config cloud-init would run (message: what and where)."""


class Machine(Protocol):
    system: GuestSystem
    shell: Shell

    def log(self, line: str) -> None: ...

    def now(self) -> float: ...

    def streams(self) -> Streams: ...

    def set_cloud_init(self, stage: str, module: str) -> None: ...


@dataclass(frozen=True)
class Step:
    stage: str
    module: str
    run: Callable[[Machine], Gen]
    label: str = ""


@cache
def _validator() -> jsonschema.Draft4Validator:
    text = resources.files("homelab_sim.guest").joinpath("cloud_config_schema.json").read_text()
    return jsonschema.Draft4Validator(json.loads(text))


def parse_user_data(text: str) -> CloudConfig:
    """The cloud-config as a dict, or UserDataError naming every schema violation."""
    first, _, body = text.partition("\n")
    if first.strip() != HEADER:
        raise UserDataError(
            f"user-data does not start with {HEADER!r} (found {first[:40]!r}): "
            "cloud-init would not treat it as cloud-config"
        )
    try:
        doc = yamlio.load(body)
    except yamlio.YAMLError as exc:
        raise UserDataError(f"Failed loading yaml blob: {exc}") from exc
    doc = doc or {}
    if not isinstance(doc, dict):
        raise UserDataError("cloud-config must be a mapping at the top level")
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{_path(e.absolute_path)}: {e.message}" for e in errors]
        raise UserDataError("Cloud config schema errors: " + ", ".join(lines))
    return CloudConfig(doc, text.encode("utf-8"))


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def program(config: dict[str, Any]) -> list[Step]:
    steps = []
    if isinstance(config, CloudConfig):
        raw = config.raw
        steps.append(Step("init", "store_userdata", lambda m: _store_user_data(m, raw)))
    steps += [
        Step("init", "users_groups", lambda m: _users(m, config)),
        Step("init", "set_hostname", lambda m: _hostname(m, config)),
        Step("init", "write_files", lambda m: _write_files(m, config, deferred=False)),
        Step("config", "apt_configure", lambda m: _apt_configure(m, config)),
        Step("config", "runcmd", lambda m: _store_runcmd(m, config)),
        Step("final", "package_update_upgrade_install", lambda m: _packages(m, config)),
        Step("final", "write_files_deferred", lambda m: _write_files(m, config, deferred=True)),
    ]
    for index, entry in enumerate(config.get("runcmd") or []):
        steps.append(
            Step("final", "scripts_user", _runcmd_entry(index, entry), label=_label(entry))
        )
    return steps


KEY_COMMANDS = ("kubeadm ", "curl ", "apt-get ")


def _label(entry: Any) -> str:
    """How a runcmd entry is named in logs and reports: a script by its key line."""
    if isinstance(entry, list) and entry[:2] == ["sh", "-c"] and len(entry) > 2:
        lines = [line.strip() for line in str(entry[2]).splitlines() if line.strip()]
        key = next(
            (ln for ln in lines if any(c in ln for c in KEY_COMMANDS)), lines[0] if lines else ""
        )
        text = f"sh -c: {key}"
    else:
        text = shlex.join(entry) if isinstance(entry, list) else str(entry).strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= 100 else first[:97] + "..."


def unmodelled_keys(config: dict[str, Any]) -> list[str]:
    return sorted(set(config) - MODELLED)


def _users(m: Machine, config: dict[str, Any]) -> Gen:
    m.set_cloud_init("init", "users_groups")
    yield INIT_SECONDS / 2
    for user in config.get("users") or []:
        name = user if isinstance(user, str) else user.get("name")
        if name and name != "default" and name not in m.system.users:
            m.system.users.append(str(name))
        keys = [] if isinstance(user, str) else list(user.get("ssh_authorized_keys") or [])
        if name and name != "default" and keys:
            # distros' create_user -> ssh_util.setup_user_keys: ~/.ssh 0700, the file 0600,
            # both the user's, one key a line
            home = str(user.get("homedir") or f"/home/{name}")
            m.system.mkdirs(f"{home}/.ssh")
            content = "".join(f"{key}\n" for key in keys).encode()
            m.system.write(f"{home}/.ssh/authorized_keys", content, 0o600, f"{name}:{name}")
    return 0


def _store_user_data(m: Machine, raw: bytes) -> Gen:
    # cloudinit/stages.py Init._store_rawdata: util.write_file(ipath("userdata_raw"), data, 0o600)
    yield 0.1
    m.system.write(USER_DATA_RAW, raw, 0o600, "root:root")
    return 0


def _hostname(m: Machine, config: dict[str, Any]) -> Gen:
    m.set_cloud_init("init", "set_hostname")
    yield 0.5
    name = config.get("hostname") or config.get("fqdn")
    if name:
        m.system.hostname = str(name).split(".")[0]
        m.system.write("/etc/hostname", f"{m.system.hostname}\n".encode())
    return 0


def _write_files(m: Machine, config: dict[str, Any], *, deferred: bool) -> Gen:
    m.set_cloud_init(
        "final" if deferred else "init", "write_files" + ("_deferred" if deferred else "")
    )
    yield INIT_SECONDS / 2
    for entry in config.get("write_files") or []:
        if bool(entry.get("defer", False)) != deferred:
            continue
        data = _decode(entry.get("content", ""), str(entry.get("encoding", "text")))
        path = str(entry["path"])
        if entry.get("append"):
            data = (m.system.read(path) or b"") + data
        mode = int(str(entry.get("permissions", "0644")), 8)
        m.system.write(path, data, mode, str(entry.get("owner", "root:root")))
    return 0


def _decode(content: Any, encoding: str) -> bytes:
    raw = content if isinstance(content, bytes) else str(content).encode()
    encoding = encoding.lower()
    if encoding in {"b64", "base64"}:
        return base64.b64decode(raw)
    if encoding in {"gz+b64", "gzip+base64", "gz+base64", "gzip+b64"}:
        return gzip.decompress(base64.b64decode(raw))
    if encoding in {"gz", "gzip"}:
        return gzip.decompress(raw)
    return raw


def _apt_configure(m: Machine, config: dict[str, Any]) -> Gen:
    m.set_cloud_init("config", "apt_configure")
    yield CONFIG_SECONDS
    sources = (config.get("apt") or {}).get("sources") or {}
    for name, source in sources.items():
        keyring = f"/etc/apt/cloud-init.gpg.d/{name.removesuffix('.list')}.gpg"
        if source.get("key"):
            dearmored = apt.dearmor(str(source["key"]).encode())
            if dearmored is None:
                m.log(f"cc_apt_configure: {name}: the key is not an ASCII-armored public key")
                return 1
            m.system.write(keyring, dearmored)
        line = str(source.get("source", "")).replace("$KEY_FILE", keyring)
        if line:
            filename = name if name.endswith(".list") else f"{name}.list"
            m.system.write(f"/etc/apt/sources.list.d/{filename}", (line + "\n").encode())
    return 0


def _store_runcmd(m: Machine, config: dict[str, Any]) -> Gen:
    m.set_cloud_init("config", "runcmd")
    yield 0.2
    lines = ["#!/bin/sh"]
    for entry in config.get("runcmd") or []:
        lines.append(shlex.join(entry) if isinstance(entry, list) else str(entry))
    m.system.write("/var/lib/cloud/instance/scripts/runcmd", "\n".join(lines).encode(), 0o700)
    return 0


def _packages(m: Machine, config: dict[str, Any]) -> Gen:
    m.set_cloud_init("final", "package_update_upgrade_install")
    io = m.streams()
    wanted = [
        p if isinstance(p, str) else "=".join(map(str, p)) for p in config.get("packages") or []
    ]
    failed = 0
    if config.get("package_update") or config.get("package_upgrade") or wanted:
        status = yield from _wait_for_apt(m)
        if not status:
            status = yield from apt.update(m.system, io)
        if status:
            m.log("cc_package_update_upgrade_install: Package update failed")
            failed = status
    if config.get("package_upgrade") and not failed:
        yield UPGRADE_SECONDS
    if wanted:
        status = yield from _wait_for_apt(m)
        if not status:
            status = yield from apt.install(m.system, wanted, io, allow_held=False, now=m.now)
        if status:
            m.log(
                "cc_package_update_upgrade_install: Failed to install packages: " + " ".join(wanted)
            )
            failed = status
    return failed


def _wait_for_apt(m: Machine) -> Gen:
    """cloud-init's ``_wait_for_apt_command``: poll the lock files once a second, 30 s."""
    start = m.now()
    while any(m.system.apt_holder(path, m.now()) for path in APT_LOCK_FILES):
        if m.now() - start >= APT_LOCK_WAIT:
            m.log("cc_package_update_upgrade_install: TimeoutError: Could not get APT lock")
            return 1
        yield 1.0
    return 0


def _runcmd_entry(index: int, entry: Any) -> Callable[[Machine], Gen]:
    def run(m: Machine) -> Generator[float, None, int]:
        m.set_cloud_init("final", f"scripts_user: runcmd[{index}]")
        io = m.streams()
        if isinstance(entry, list):
            return (yield from m.shell.run_argv([str(a) for a in entry], io))
        return (yield from m.shell.run_script(str(entry), io))

    return run
