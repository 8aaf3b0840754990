"""What pveproxy and pve-storage refuse: odd file names, deep JSON, truncated multipart bodies,
bodies over the size limit (refused before they are read). Never a traceback or a 500 of the
simulator's own."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.server import start_server
from tests.sim.support import Api

UPLOAD = "/nodes/pve/storage/local/upload"


def _upload(api: Api, filename: str, content: str = "iso") -> httpx.Response:
    return api.call(
        "POST",
        UPLOAD,
        data={"content": content},
        files={"filename": (filename, b"bytes", "application/octet-stream")},
    )


def _isos(api: Api) -> set[str]:
    listing = api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "iso"})
    return {item["volid"] for item in listing}


def test_upload_file_names_are_normalised_and_checked_as_pve_does(api: Api) -> None:
    odd = _upload(api, "../dir\\we ird$+=name (1).ISO")
    api.finish(odd.json()["data"])
    assert "local:iso/we_ird___name__1_.ISO" in _isos(api)
    bare = _upload(api, ".iso")
    assert (bare.status_code, bare.json()["errors"]) == (400, {"filename": "wrong file extension"})
    long = _upload(api, "a" * 252 + ".iso")
    assert long.status_code == 400
    assert long.json()["errors"] == {"filename": "value may only be 255 characters long"}
    assert _upload(api, "a" * 251 + ".iso").status_code == 200


def test_a_storage_without_the_content_says_so_in_pves_words(api: Api, sim: PveSimulator) -> None:
    local = next(s for s in sim.state.storages if s.storage == "local")
    local.content = [c for c in local.content if c != "iso"]
    refused = _upload(api, "tools.iso")
    assert (refused.status_code, refused.reason_phrase) == (
        500,
        "storage 'local' does not support 'iso' content",
    )


def test_truncated_multipart_is_pves_upload_failed(api: Api) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\niso\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="filename"; filename="a.iso"\r\n'
        "Content-Type: application/octet-stream\r\n\r\nhalf of the da"
    ).encode()
    for cut in (body, body[:40], b"garbage"):
        response = api.call(
            "POST",
            UPLOAD,
            content=cut,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert (response.status_code, response.reason_phrase) == (500, "upload failed")
    assert not _isos(api)


@pytest.mark.parametrize("depth", [513, 50_000])
def test_deeply_nested_json_is_refused_with_json_xs_text(api: Api, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    response = api.call(
        "POST",
        "/nodes/pve/qemu/9000/clone",
        content=b'{"newid": 130, "x": ' + body + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 500
    assert response.reason_phrase.startswith(
        "json text or perl structure exceeds maximum nesting level (max_depth set too low?)"
    )


def test_shallow_json_is_still_accepted(api: Api) -> None:
    nested = "[" * 500 + "]" * 500
    response = api.call(
        "POST",
        "/nodes/pve/qemu/9000/clone",
        content=b'{"newid": 130, "description": "' + nested.encode() + b'"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.reason_phrase


def test_malformed_json_is_refused_not_crashed(api: Api) -> None:
    response = api.call(
        "POST",
        "/nodes/pve/qemu/9000/clone",
        content=b'{"newid": 13',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 500
    assert response.reason_phrase.startswith("malformed JSON string")


def test_a_body_over_the_limit_is_refused_before_it_is_read() -> None:
    """A declared Content-Length over pveproxy's 512 KiB is answered at once, body unsent."""
    sim = PveSimulator(SimConfig(time_scale=0))
    server = start_server(sim)
    try:
        port = int(server.endpoint.rsplit(":", 1)[1])
        context = ssl.create_default_context(cadata=server.cert_pem.decode())
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(
                b"POST /api2/json/nodes/pve/qemu/9000/clone HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: PVEAPIToken=" + server.token.reveal().encode() + b"\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 1000000000\r\n\r\nnewid=1"
            )
            status_line = tls.recv(4096).split(b"\r\n", 1)[0]
        assert status_line == b"HTTP/1.1 501 for data too large"
    finally:
        server.stop()
