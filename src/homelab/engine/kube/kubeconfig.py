"""Admin kubeconfigs on disk: reading one into credentials, writing it 0600, merging it.

``credentials_of`` reads the single-cluster kubeconfig the tool minted (embedded data, as
``homelab.engine.pki.mint_admin_kubeconfig`` writes) into ``KubeCredentials``. ``write_private``
writes it with mode 0600 from the first byte (no window where the key is world-readable).
``merge_into`` adds the lab's cluster, user and context to a user's kubeconfig the way
``kubectl config`` would: the entries named after the lab are replaced, every other entry is
kept as it was, and the previous file is copied to ``<file>.homelab-backup`` first.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from homelab.core.secret import Secret
from homelab.errors import KubeError

__all__ = [
    "KubeCredentials",
    "credentials_of",
    "default_kubeconfig_path",
    "merge_into",
    "write_private",
]


@dataclass(frozen=True)
class KubeCredentials:
    """Where the API server is and how to trust it and prove who we are."""

    server: str
    ca_pem: str = field(repr=False)
    client_cert_pem: str = field(repr=False)
    client_key_pem: Secret
    tls_server_name: str | None = None


def credentials_of(text: str) -> KubeCredentials:
    """The current context's cluster and user of a kubeconfig with embedded data."""
    doc = _load(text, "the admin kubeconfig")
    context_name = doc.get("current-context")
    context = _entry(doc, "contexts", context_name, "context")
    cluster = _entry(doc, "clusters", context.get("cluster"), "cluster")
    user = _entry(doc, "users", context.get("user"), "user")
    try:
        return KubeCredentials(
            server=str(cluster["server"]),
            ca_pem=_decode(cluster["certificate-authority-data"]),
            client_cert_pem=_decode(user["client-certificate-data"]),
            client_key_pem=Secret(_decode(user["client-key-data"])),
            tls_server_name=cluster.get("tls-server-name"),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise KubeError(
            "the admin kubeconfig lacks embedded certificate data",
            hint="delete it; `homelab up` mints a new one",
        ) from exc


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (replacing it atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(path)
        path.chmod(0o600)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise KubeError(f"cannot write the kubeconfig {path}: {exc.strerror}") from exc


def default_kubeconfig_path() -> Path:
    """The file kubectl writes to: the first path of $KUBECONFIG, else ~/.kube/config."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(paths[0]) if paths else Path.home() / ".kube" / "config"


def merge_into(target: Path, text: str, name: str) -> Path | None:
    """Merge the kubeconfig ``text`` into ``target`` as cluster/user/context ``name``.

    Returns the backup's path (None when ``target`` did not exist). Other entries and the
    file's current-context are kept; a new file gets ``name`` as its current context.
    """
    source = _load(text, "the admin kubeconfig")
    existing = _read_existing(target)
    merged = _merged(existing, source, name)
    backup = None
    if target.exists():
        backup = target.with_name(target.name + ".homelab-backup")
        try:
            shutil.copy2(target, backup)
            backup.chmod(0o600)
        except OSError as exc:
            raise KubeError(f"cannot back up {target}: {exc.strerror}") from exc
    write_private(target, yaml.safe_dump(merged, sort_keys=False, default_flow_style=False))
    return backup


def _merged(existing: dict[str, Any], source: dict[str, Any], name: str) -> dict[str, Any]:
    context = _entry(source, "contexts", source.get("current-context"), "context")
    cluster = _entry(source, "clusters", context.get("cluster"), "cluster")
    user = _entry(source, "users", context.get("user"), "user")
    doc = dict(existing) or {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    entries = {
        "clusters": {"name": name, "cluster": cluster},
        "users": {"name": name, "user": user},
        "contexts": {"name": name, "context": {"cluster": name, "user": name}},
    }
    for section, entry in entries.items():
        kept = [e for e in doc.get(section) or [] if not _named(e, name)]
        doc[section] = [*kept, entry]
    if not doc.get("current-context"):
        doc["current-context"] = name
    return doc


def _named(entry: object, name: str) -> bool:
    return isinstance(entry, dict) and entry.get("name") == name


def _read_existing(target: Path) -> dict[str, Any]:
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KubeError(f"cannot read {target}: {exc.strerror}") from exc
    if not text.strip():
        return {}
    return _load(text, str(target))


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeError(f"{what} is not valid YAML") from exc
    if not isinstance(doc, dict):
        raise KubeError(f"{what} is not a kubeconfig (expected a mapping)")
    return doc


def _entry(doc: dict[str, Any], section: str, name: object, key: str) -> dict[str, Any]:
    for item in doc.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(key), dict):
            return dict(item[key])
    raise KubeError(f"the kubeconfig has no {section[:-1]} named {name!r}")


def _decode(data: object) -> str:
    if not isinstance(data, str):
        raise ValueError("not base64 text")
    return base64.b64decode(data, validate=True).decode("ascii")
