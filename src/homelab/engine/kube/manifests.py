"""Fetching the upstream install manifests of the addons (tigera-operator, metallb-native).

One code path for every source: ``ManifestSource.fetch(entry)`` returns the manifest's bytes for
an entry of the renderer's addon index. The bytes come from, in order:

1. the cache ``.homelab/cache/manifests/<sha256 of the URL>.yaml`` (the URLs pin a version, so a
   cached copy never goes stale);
2. a mirror, when one is set: ``<mirror>/<component>/<version>/<file>`` (``HOMELAB_ADDONS_MIRROR``
   for air-gapped labs; with ``--sim`` the simulator's own mirror, chosen by its Site in
   ``homelab.simulated``);
3. the upstream URL itself, with the system trust store and full verification.

What was fetched is written to the cache before it is used.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from homelab.errors import KubeError

__all__ = ["MIRROR_ENV", "ManifestSource", "mirror_coordinates"]

MIRROR_ENV = "HOMELAB_ADDONS_MIRROR"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
ClientFactory = Callable[[], httpx.Client]


def mirror_coordinates(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(component, version, file) of an addon index entry, as mirrors lay manifests out.

    Calico is installed by the tigera operator, so its manifest is the operator's, under the
    operator's version (``tigera-operator/v1.34.13/tigera-operator.yaml``).
    """
    url = str(entry["manifest"])
    filename = urlsplit(url).path.rsplit("/", 1)[-1]
    if entry.get("component") == "calico" and entry.get("operator_version"):
        return "tigera-operator", str(entry["operator_version"]), filename
    return str(entry["component"]), str(entry["version"]), filename


def _public_client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(30.0), follow_redirects=True, trust_env=True)


@dataclass
class ManifestSource:
    """Where manifests come from: ``cache_dir``, then ``mirror`` (if any), then upstream."""

    cache_dir: Path
    mirror: str | None = None
    mirror_client: ClientFactory | None = None
    public_client: ClientFactory = _public_client
    fetched: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, cache_dir: Path) -> ManifestSource:
        mirror = os.environ.get(MIRROR_ENV, "").strip() or None
        return cls(cache_dir=cache_dir, mirror=mirror)

    def fetch(self, entry: dict[str, Any]) -> bytes:
        """The manifest of ``entry`` (cached, mirrored or downloaded)."""
        url = str(entry["manifest"])
        cached = self.cache_dir / (hashlib.sha256(url.encode()).hexdigest() + ".yaml")
        try:
            return cached.read_bytes()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise KubeError(f"cannot read the cached manifest {cached}: {exc.strerror}") from exc
        if self.mirror is not None:
            component, version, filename = mirror_coordinates(entry)
            where = f"{self.mirror.rstrip('/')}/{component}/{version}/{filename}"
            data = self._download(where, self.mirror_client or _public_client)
        else:
            where = url
            data = self._download(url, self.public_client)
        self.fetched.append(where)
        self._store(cached, data)
        return data

    def _download(self, url: str, factory: ClientFactory) -> bytes:
        try:
            with factory() as client:
                response = client.get(url)
        except httpx.HTTPError as exc:
            raise KubeError(
                f"cannot download the addon manifest {url}: {exc}",
                hint=f"for an air-gapped lab, set {MIRROR_ENV} to a mirror of the manifests",
            ) from exc
        if response.status_code != 200:
            raise KubeError(f"downloading the addon manifest {url}: HTTP {response.status_code}")
        if len(response.content) > MAX_MANIFEST_BYTES:
            raise KubeError(f"the addon manifest {url} is larger than 16 MiB; refusing it")
        return response.content

    def _store(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            raise KubeError(f"cannot cache the manifest in {path.parent}: {exc.strerror}") from exc
