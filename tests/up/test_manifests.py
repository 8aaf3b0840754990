"""Addon manifests: cached by URL hash, from a mirror when set, else from their URL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from homelab.engine.kube.addons import parse_manifest
from homelab.engine.kube.manifests import ManifestSource, mirror_coordinates
from homelab.errors import KubeError

CALICO = {
    "component": "calico",
    "version": "v3.28.5",
    "operator_version": "v1.34.13",
    "manifest": "https://raw.githubusercontent.com/projectcalico/calico/v3.28.5/manifests/tigera-operator.yaml",
}
METALLB = {
    "component": "metallb",
    "version": "v0.14.9",
    "manifest": "https://raw.githubusercontent.com/metallb/metallb/v0.14.9/config/manifests/metallb-native.yaml",
}
BODY = b"apiVersion: v1\nkind: Namespace\nmetadata: {name: tigera-operator}\n"


def serving(seen: list[str], status: int = 200) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(status, content=BODY)

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_mirror_coordinates_follow_the_simulator_layout() -> None:
    assert mirror_coordinates(CALICO) == ("tigera-operator", "v1.34.13", "tigera-operator.yaml")
    assert mirror_coordinates(METALLB) == ("metallb", "v0.14.9", "metallb-native.yaml")


def test_a_manifest_is_downloaded_once_then_read_from_the_cache(tmp_path: Path) -> None:
    seen: list[str] = []
    source = ManifestSource(cache_dir=tmp_path, public_client=lambda: serving(seen))
    assert source.fetch(CALICO) == BODY
    assert source.fetch(CALICO) == BODY
    assert seen == [CALICO["manifest"]]
    cached = tmp_path / (hashlib.sha256(CALICO["manifest"].encode()).hexdigest() + ".yaml")
    assert cached.read_bytes() == BODY


def test_a_mirror_replaces_the_upstream_url(tmp_path: Path) -> None:
    seen: list[str] = []
    source = ManifestSource(
        cache_dir=tmp_path, mirror="https://mirror.lan/m/", mirror_client=lambda: serving(seen)
    )
    source.fetch(METALLB)
    assert seen == ["https://mirror.lan/m/metallb/v0.14.9/metallb-native.yaml"]


def test_the_mirror_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMELAB_ADDONS_MIRROR", "https://mirror.lan/m")
    assert ManifestSource.from_env(tmp_path).mirror == "https://mirror.lan/m"


def test_a_failed_download_names_the_url_and_caches_nothing(tmp_path: Path) -> None:
    seen: list[str] = []
    source = ManifestSource(cache_dir=tmp_path, public_client=lambda: serving(seen, 404))
    with pytest.raises(KubeError, match=r"metallb-native\.yaml: HTTP 404"):
        source.fetch(METALLB)
    assert list(tmp_path.iterdir()) == []


def test_parse_manifest_flattens_lists_and_skips_empty_documents() -> None:
    data = (
        b"---\n# comment only\n---\napiVersion: v1\nkind: List\nitems:\n"
        b"- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
        b"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: a}\n"
    )
    objects = parse_manifest(data, "x.yaml")
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "a"),
        ("ConfigMap", "b"),
    ]


def test_parse_manifest_refuses_a_document_that_is_not_an_object() -> None:
    with pytest.raises(KubeError, match=r"x\.yaml holds a document that is not an object"):
        parse_manifest(b"- just\n- a list\n", "x.yaml")
