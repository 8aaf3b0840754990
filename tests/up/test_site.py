"""The two Sites behind `up`: the real one driven against loopback servers, and the simulated one.

``RealSite`` is what `up` uses on a real lab; these tests run it for what can run on this machine:
the API server reached at the lab address itself (TLS checked against that address, no
server-name override), addon manifests from the cache or a mirror, and no guest reports.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.versions import versions_for
from homelab.engine.clock import Clock
from homelab.engine.kube.addons import parse_manifest
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import credentials_of
from homelab.engine.kube.manifests import MIRROR_ENV
from homelab.engine.kube.wait import ApiTimeout, wait_api_ready
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.site import RealSite, Site
from homelab.simulated.site import SimulatedSite
from homelab.verbs.connection import manifest_cache
from homelab.verbs.up import ensure_admin_kubeconfig
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.transport import SimTransport
from tests.up.tlsserver import serve_api

METALLB = {
    "component": "metallb",
    "version": "v0.14.9",
    "manifest": "https://raw.githubusercontent.com/metallb/metallb/v0.14.9/config/manifests/metallb-native.yaml",
}
BODY = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: metallb-system}\n"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, monotonic=lambda: self.now)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def test_a_real_site_reaches_a_lab_address_directly() -> None:
    site: Site = RealSite(Path("cache"))
    reach = site.reach("10.0.20.10", 6443)
    assert reach is not None
    assert (reach.url, reach.server_name) == ("https://10.0.20.10:6443", None)


def test_up_reaches_the_api_server_of_a_real_site_and_verifies_its_address(
    tmp_path: Path, lab_secrets: ClusterSecrets
) -> None:
    with serve_api(lab_secrets, ["127.0.0.1"]) as fake:
        fake.routes["/readyz"] = (200, "ok")
        fake.routes["/version"] = (200, {"gitVersion": "v1.29.15"})
        reach = RealSite(tmp_path).reach("127.0.0.1", port_of(fake.url))
        path = tmp_path / "admin.conf"
        text = ensure_admin_kubeconfig(path, lab_secrets, "t-lab", reach.url, reach.server_name)
        with KubeApi(credentials_of(text), timeout=5) as api:
            version = wait_api_ready(api, FakeTime().clock(), timeout=10, endpoint="127.0.0.1")
    assert version == "v1.29.15"
    cluster = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]
    assert cluster["server"] == fake.url
    assert "tls-server-name" not in cluster
    assert ("GET", "/readyz", "kubernetes-admin") in fake.seen


def test_a_real_site_does_not_accept_a_certificate_for_another_address(
    tmp_path: Path, lab_secrets: ClusterSecrets
) -> None:
    with serve_api(lab_secrets, ["10.0.20.10"]) as fake:
        fake.routes["/readyz"] = (200, "ok")
        reach = RealSite(tmp_path).reach("127.0.0.1", port_of(fake.url))
        text = ensure_admin_kubeconfig(
            tmp_path / "admin.conf", lab_secrets, "t-lab", reach.url, reach.server_name
        )
        with (
            KubeApi(credentials_of(text), timeout=5) as api,
            pytest.raises(ApiTimeout, match="TLS verification failed"),
        ):
            wait_api_ready(api, FakeTime().clock(), timeout=4, endpoint="127.0.0.1:6443")
    assert fake.seen == []


@contextmanager
def http_mirror(body: bytes) -> Iterator[tuple[str, list[str]]]:
    """A plain-HTTP manifest mirror on loopback; yields its base URL and the paths asked."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/m", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_real_site_takes_manifests_from_the_mirror_and_caches_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    cache = manifest_cache(tmp_path / "lab.yaml")
    with http_mirror(BODY) as (mirror, seen):
        monkeypatch.setenv(MIRROR_ENV, mirror)
        source = RealSite(cache).manifest_source()
        assert source.fetch(METALLB) == BODY
        assert RealSite(cache).manifest_source().fetch(METALLB) == BODY  # from the cache
    assert seen == ["/m/metallb/v0.14.9/metallb-native.yaml"]
    assert cache == tmp_path / ".homelab" / "cache" / "manifests"
    assert [p.suffix for p in cache.iterdir()] == [".yaml"]


def test_a_real_site_downloads_upstream_without_a_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    source = RealSite(tmp_path).manifest_source()
    assert (source.mirror, source.cache_dir) == (None, tmp_path)


def test_the_guests_of_a_real_site_report_nothing_yet() -> None:
    assert RealSite(Path("cache")).guest_phases() == {}


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[SimulatedSite]:
    sim = PveSimulator(SimConfig(nodes=("pve",), time_scale=400, seed=1))
    token_id, secret = parse_token(sim.token.reveal())
    settings = ConnectionSettings(
        endpoint="https://127.0.0.1:8006", token_id=token_id, token_secret=secret
    )
    site = SimulatedSite(settings, tmp_path / "manifests", transport=SimTransport(sim))
    try:
        yield site
    finally:
        site.close()
        sim.close()


def test_a_simulated_lab_address_does_not_exist_before_its_control_plane(
    simulated: SimulatedSite,
) -> None:
    site: Site = simulated
    assert site.reach("10.0.20.10", 6443) is None
    assert site.guest_phases() == {}


def test_a_simulated_site_takes_manifests_from_the_simulator(simulated: SimulatedSite) -> None:
    pins = versions_for("1.29")
    entry = {"component": "metallb", "version": pins.metallb, "manifest": pins.metallb_manifest}
    source = simulated.manifest_source()
    objects = parse_manifest(source.fetch(entry), "metallb-native.yaml")
    assert ("Namespace", "metallb-system") in {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert source.fetched == [
        f"https://127.0.0.1:8006/api2/json/_sim/manifests/metallb/{pins.metallb}/metallb-native.yaml"
    ]
    assert [p.parent for p in simulated.manifest_cache.iterdir()] == [simulated.manifest_cache]
