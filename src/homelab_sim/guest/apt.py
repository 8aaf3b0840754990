"""apt on a simulated guest: the Ubuntu 24.04 archive, pkgs.k8s.io (one repository per minor)
and Docker's repository for Ubuntu (``containerd.io``).

``apt-get update`` reads ``/etc/apt/sources.list.d/*.list`` and keeps the repositories it
could fetch and verify (the ``signed-by`` keyring must hold the repository's key, as the
``curl ... | gpg --dearmor`` step writes it); ``apt-get install`` finds packages only in those,
with exactly apt's messages: ``E: Unable to locate package kubelet``, ``E: Version
'1.29.15-1.1' for 'kubelet' was not found``, and refuses to move a held package.

pkgs.k8s.io carries, for minor 1.M, kubelet/kubeadm/kubectl ``1.M.0-1.1`` to ``1.M.P-1.1``
(P the last patch released), cri-tools and kubernetes-cni; kubeadm depends on all of them.
Which minors and patches exist, and the archive's packages, come from ``catalogue``. Docker's
repository is ``deb [signed-by=KEYRING] https://download.docker.com/linux/ubuntu noble stable``
(key from ``https://download.docker.com/linux/ubuntu/gpg``); its ``containerd.io`` provides the
``containerd`` service.

Locks (apt 2.7.14, ``apt-pkg/deb/debsystem.cc``, ``contrib/fileutl.cc``, ``acquire.cc``):
``install`` takes the dpkg frontend lock, then the dpkg lock, then (to download) the archives
lock; ``update`` takes only the lists lock. Only the two dpkg locks can be waited for, with
``-o DPkg::Lock::Timeout=N`` (apt >= 1.9.11; 0, the default, does not wait; < 0 waits for
ever): apt tries once a second, N times, printing ``Waiting for cache lock: Could not get lock
/var/lib/dpkg/lock-frontend. It is held by process PID (NAME)...``, and fails with ``E: Unable
to acquire the dpkg frontend lock (...), is another process using it?``. Without a timeout
the error is ``E: Could not get lock ... It is held by process PID (NAME)``, apt's notice and
the same ``E: Unable to ...`` line. Every failure exits 100. Who holds what is
``GuestSystem.apt_holds`` (apt-daily and unattended-upgrades at boot).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable

from homelab_sim.catalogue import (
    DOCKER_KEY_ID,
    DOCKER_NOBLE,
    DOCKER_REPO,
    KUBERNETES,
    UBUNTU_ARCHIVE,
)
from homelab_sim.guest.noble import NOBLE_UPDATES
from homelab_sim.guest.shell import Gen, Streams
from homelab_sim.guest.system import (
    ARCHIVES_LOCK,
    DPKG_LOCK,
    FRONTEND_LOCK,
    LISTS_LOCK,
    AptHold,
    GuestSystem,
)

ARCHIVE = "http://archive.ubuntu.com/ubuntu noble"
K8S_REPO = re.compile(r"^https://pkgs\.k8s\.io/core:/stable:/v(\d+\.\d+)/deb/?$")
K8S_KEY_ID = "234654DA9A296436"
DOCKER_NOBLE_REPO = f"{DOCKER_REPO} noble"
ARMORED_KEY = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
    "mQENBGMHoXcBCADukGOEQyleViOgtkMVa7hKifP6POCTh+98xNW4TfHK/nBJN2sm\n"
    "(simulated pkgs.k8s.io signing key, id 234654DA9A296436)\n"
    "-----END PGP PUBLIC KEY BLOCK-----\n"
)
DOCKER_KEY_URL = f"{DOCKER_REPO}/gpg"
DOCKER_ARMORED_KEY = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
    "mQINBFit2ioBEADhWpZ8/wvZ6hUTiXOwQHXMAlaFHcPH9hAtr4F1y2+OYdbtMuth\n"
    f"(simulated Docker repository signing key, id {DOCKER_KEY_ID})\n"
    "-----END PGP PUBLIC KEY BLOCK-----\n"
)
UNITS = {
    "containerd": "containerd",
    "containerd.io": "containerd",
    "kubelet": "kubelet",
    "qemu-guest-agent": "qemu-guest-agent",
}
DEPENDS = {"kubeadm": ["kubelet", "kubectl", "kubernetes-cni", "cri-tools"]}
#: Docker's containerd.io declares ``Conflicts: containerd`` (and ``Replaces``): apt removes it
CONFLICTS = {"containerd.io": ("containerd",)}
SECONDS_PER_PACKAGE = 8.0
UPDATE_SECONDS = 5.0
BE_AWARE = "N: Be aware that removing the lock file is not a solution and may break your system.\n"
DPKG_LOCKS = (
    (FRONTEND_LOCK, f"Unable to acquire the dpkg frontend lock ({FRONTEND_LOCK}), "),
    (DPKG_LOCK, "Unable to lock the administration directory (/var/lib/dpkg/), "),
)
Clock = Callable[[], float]


def dearmor(armored: bytes) -> bytes | None:
    """What ``gpg --dearmor`` writes for an armored key; None if the input holds none."""
    text = armored.decode("utf-8", "replace")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        return None
    return b"\x99\x01\x0d" + text.encode()


def signing_key(url: str) -> tuple[str, str] | None:
    """(armored key, key id) served at ``url``: pkgs.k8s.io's ``Release.key`` of a minor it
    has, or Docker's ``gpg``; None for any other URL (a 404)."""
    if url == DOCKER_KEY_URL:
        return DOCKER_ARMORED_KEY, DOCKER_KEY_ID
    if url.endswith("/Release.key") and K8S_REPO.match(url.removesuffix("Release.key")):
        return ARMORED_KEY, K8S_KEY_ID
    return None


def _repo_key(repo: str) -> tuple[str, str]:
    """(armored key, key id) a repository's Release file is signed with."""
    return (
        (DOCKER_ARMORED_KEY, DOCKER_KEY_ID)
        if repo == DOCKER_NOBLE_REPO
        else (ARMORED_KEY, K8S_KEY_ID)
    )


def repo_packages(repo: str) -> dict[str, list[str]]:
    """Package -> versions available from ``repo`` (``URL`` for a flat repository such as
    pkgs.k8s.io's, ``URL SUITE`` otherwise)."""
    if repo == ARCHIVE:
        return {name: [version] for name, version in {**UBUNTU_ARCHIVE, **NOBLE_UPDATES}.items()}
    if repo == DOCKER_NOBLE_REPO:
        return {name: list(versions) for name, versions in DOCKER_NOBLE.items()}
    match = K8S_REPO.match(repo)
    known = KUBERNETES.get(match.group(1)) if match else None
    if known is None:
        return {}
    patches = known.package_versions()
    return {
        "kubelet": patches,
        "kubeadm": patches,
        "kubectl": patches,
        "cri-tools": [f"{known.cri_tools}-{known.package_revision}"],
        "kubernetes-cni": [f"{known.kubernetes_cni}-{known.package_revision}"],
    }


def apt_get(system: GuestSystem, args: list[str], io: Streams, now: Clock) -> Gen:
    words = _strip_options(args)
    if not words:
        io.err.write("E: Invalid operation\n")
        return 100
    verb, names = words[0], words[1:]
    if verb == "update":
        if not _lock_at_once(system, LISTS_LOCK, "/var/lib/apt/lists/", now(), io):
            return 100
        return (yield from update(system, io))
    if verb == "install":
        timeout = lock_timeout(options(args))
        status = yield from lock_dpkg(system, io, now, timeout)
        if status:
            return status
        allow_held = "--allow-change-held-packages" in args
        return (yield from install(system, names, io, allow_held=allow_held, now=now))
    io.err.write(f"E: Invalid operation {verb} (the simulated apt-get knows update, install)\n")
    return 100


def _strip_options(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in {"-o", "--option"}:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def options(args: list[str]) -> dict[str, str]:
    """The ``-o Key=Value`` settings of a command line (keys lower-cased: apt's are not
    case-sensitive); ``-oKey=Value`` and ``--option[=]Key=Value`` too."""
    out: dict[str, str] = {}
    for index, arg in enumerate(args):
        value: str | None = None
        if arg in {"-o", "--option"} and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--option="):
            value = arg.removeprefix("--option=")
        elif arg.startswith("-o") and not arg.startswith("--") and len(arg) > 2:
            value = arg[2:]
        if value is not None and "=" in value:
            key, _, setting = value.partition("=")
            out[key.lower()] = setting
    return out


def lock_timeout(settings: dict[str, str]) -> int:
    """``DPkg::Lock::Timeout`` as apt's ``FindI`` reads it (0 when unset or not a number)."""
    match = re.match(r"^\s*([-+]?\d+)", settings.get("dpkg::lock::timeout", ""))
    return int(match.group(1)) if match else 0


def held_text(hold: AptHold) -> str:
    return f"Could not get lock {hold.path}. It is held by process {hold.pid} ({hold.process})"


def _lock_at_once(system: GuestSystem, path: str, directory: str, now: float, io: Streams) -> bool:
    """pkgAcquire::GetLock: no waiting (``DPkg::Lock::Timeout`` does not apply)."""
    hold = system.apt_holder(path, now)
    if hold is None:
        return True
    io.err.write(f"E: {held_text(hold)}\n{BE_AWARE}E: Unable to lock directory {directory}\n")
    return False


def lock_dpkg(system: GuestSystem, io: Streams, now: Clock, timeout: int) -> Gen:
    """debSystem::Lock: the frontend lock, then the dpkg lock, each waited for as apt does."""
    for path, unable in DPKG_LOCKS:
        hold = system.apt_holder(path, now())
        if hold is None:
            continue
        if timeout == 0:
            io.err.write(
                f"E: {held_text(hold)}\n{BE_AWARE}E: {unable}is another process using it?\n"
            )
            return 100
        io.out.write(f"Waiting for cache lock: {held_text(hold)}...\n")
        tries = math.ceil(hold.until - now())  # one try a second, the first at once
        if 0 < timeout <= tries:
            yield float(timeout)
            io.err.write(f"E: {unable}is another process using it?\n")
            return 100
        yield float(tries)
        if timeout > 0:
            timeout -= tries
    return 0


def update(system: GuestSystem, io: Streams) -> Gen:
    yield UPDATE_SECONDS
    lists, status = [ARCHIVE], 0
    io.out.write(f"Hit:1 {ARCHIVE} InRelease\n")
    for repo, keyring in _configured_sources(system):
        if not repo_packages(repo):
            io.err.write(f"E: The repository '{repo} InRelease' does not have a Release file.\n")
            status = 100
        elif keyring is None or system.read(keyring) != dearmor(_repo_key(repo)[0].encode()):
            io.err.write(
                f"W: GPG error: {repo} InRelease: The following signatures couldn't be verified"
                f" because the public key is not available: NO_PUBKEY {_repo_key(repo)[1]}\n"
                f"E: The repository '{repo} InRelease' is not signed.\n"
            )
            status = 100
        else:
            io.out.write(f"Get:2 {repo} InRelease [1189 B]\n")
            lists.append(repo)
    system.apt_lists = lists
    io.out.write("Reading package lists... Done\n")
    return status


def _configured_sources(system: GuestSystem) -> list[tuple[str, str | None]]:
    """(repository, signed-by keyring) of every ``deb`` line in sources.list.d; the
    repository is its URL for a flat one (suite ``/``), else ``URL SUITE``."""
    out = []
    for name in system.listdir("/etc/apt/sources.list.d"):
        if not name.endswith(".list"):
            continue
        text = system.text(posixpath.join("/etc/apt/sources.list.d", name)) or ""
        for line in text.splitlines():
            match = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)(?:\s+(\S+))?", line)
            if match is None:
                continue
            options = match.group(1) or ""
            keyring = re.search(r"signed-by=(\S+?)[\s\]]", options + " ")
            suite = match.group(3) or "/"
            repo = match.group(2) if suite == "/" else f"{match.group(2).rstrip('/')} {suite}"
            out.append((repo, keyring.group(1) if keyring else None))
    return out


def install(
    system: GuestSystem, names: list[str], io: Streams, *, allow_held: bool, now: Clock
) -> Gen:
    wanted: dict[str, str | None] = {}
    for spec in names:
        name, _, version = spec.partition("=")
        wanted[name] = version or None
    requested = set(wanted)
    for name in list(wanted):
        for dep in DEPENDS.get(name, []):
            wanted.setdefault(dep, None)
    available = _available(system)
    chosen: dict[str, str] = {}
    for name, pinned in wanted.items():
        installed = system.installed.get(name)
        if pinned is None and name not in requested and installed is not None:
            chosen[name] = installed  # a dependency already installed is not upgraded
            continue
        versions = available.get(name)
        if not versions:
            io.err.write(f"E: Unable to locate package {name}\n")
            return 100
        if pinned is not None and pinned not in versions:
            io.err.write(f"E: Version '{pinned}' for '{name}' was not found\n")
            return 100
        chosen[name] = pinned or versions[-1]
    changed = {n: v for n, v in chosen.items() if system.installed.get(n) != v}
    held = sorted(n for n in changed if n in system.held and n in system.installed)
    if held and not allow_held:
        io.err.write(
            "E: Held packages were changed and -y was used without --allow-change-held-packages.\n"
        )
        return 100
    if changed and not _lock_at_once(system, ARCHIVES_LOCK, "/var/cache/apt/archives/", now(), io):
        return 100
    yield SECONDS_PER_PACKAGE * len(changed)
    for name in changed:
        for gone in CONFLICTS.get(name, ()):
            if gone in system.installed:
                io.out.write(f"Removing {gone} ({system.installed.pop(gone)}) ...\n")
    for name, version in changed.items():
        io.out.write(f"Setting up {name} ({version}) ...\n")
        system.installed[name] = version
        unit = UNITS.get(name)
        if unit is not None and system.units.get(unit) != "masked":
            system.units[unit] = "enabled"
            system.active.add(unit)
    return 0


def _available(system: GuestSystem) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for repo in system.apt_lists:
        for name, versions in repo_packages(repo).items():
            out.setdefault(name, []).extend(versions)
    return out


def apt_mark(system: GuestSystem, args: list[str], io: Streams) -> Gen:
    if not args or args[0] not in {"hold", "unhold", "showhold"}:
        io.err.write("E: Invalid operation (the simulated apt-mark knows hold, unhold)\n")
        return 100
    yield 0.5
    if args[0] == "showhold":
        io.out.write("".join(f"{name}\n" for name in sorted(system.held)))
        return 0
    for name in args[1:]:
        if name not in system.installed and name not in _available(system):
            io.err.write(f"E: Unable to locate package {name}\n")
            return 100
        if args[0] == "hold":
            system.held.add(name)
            io.out.write(f"{name} set on hold.\n")
        else:
            system.held.discard(name)
            io.out.write(f"Canceled hold on {name}.\n")
    return 0
