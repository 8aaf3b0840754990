"""PveClient on scripted replies: wire format, typed calls, retries, secrets, no httpx leaks."""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Callable
from ipaddress import IPv4Interface

import httpx
import pytest

from homelab.core.pve_reply import InvalidUpid, MalformedReply
from homelab.engine.proxmox import errors as e
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.tasks import TaskWaits
from homelab.errors import ProxmoxError

from .scripted import (
    SECRET,
    TOKEN_ID,
    UPID_CLONE,
    ScriptedPve,
    fail,
    form,
    make_client,
    ok,
    settings,
)

VM = "/nodes/pve1/qemu/201"
LOCK = "can't lock file '/var/lock/qemu-server/lock-201.conf' - got timeout"
UPID_IMG = "UPID:pve1:000012AB:01B2C3D4:66A1B2C3:imgcopy::root@pam!homelab:"
ONE_VM = [{"id": "qemu/201", "type": "qemu", "vmid": 201, "node": "pve1", "name": "k8s-master-1"}]


def test_envelope_is_unwrapped_and_token_header_sent() -> None:
    pve = ScriptedPve().on("GET", "/cluster/resources", ok(ONE_VM))
    client, _, _ = make_client(pve)
    (vm,) = client.cluster_vms()
    assert (vm.vmid, vm.node, vm.name) == (201, "pve1", "k8s-master-1")
    request = pve.requests[0]
    assert request.headers["Authorization"] == f"PVEAPIToken={TOKEN_ID}={SECRET}"
    assert request.url == "https://pve.test:8006/api2/json/cluster/resources?type=vm"


def test_get_sends_query_and_no_body_post_sends_a_form_with_content_length() -> None:
    pve = (
        ScriptedPve()
        .on("GET", "/cluster/resources", ok([]))
        .on("POST", "/nodes/pve1/qemu/9000/clone", ok(UPID_CLONE))
    )
    client, _, _ = make_client(pve)
    client.cluster_vms()
    upid = client.clone("pve1", 9000, 201, name="k8s-master-1", full=True, storage="local-lvm")
    get, post = pve.requests
    assert get.url.params["type"] == "vm" and get.content == b""
    assert upid == UPID_CLONE
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert int(post.headers["Content-Length"]) == len(post.content)
    assert form(post) == {
        "newid": "201",
        "name": "k8s-master-1",
        "full": "1",
        "storage": "local-lvm",
    }


def test_cluster_vms_read_pve8_forms_and_skip_other_guests() -> None:
    rows = [
        {
            "id": "qemu/9000",
            "type": "qemu",
            "node": "pve1",
            "vmid": 9000,
            "name": "ubuntu-2404",
            "template": 1,
            "status": "stopped",
            "maxmem": "4294967296",
        },
        {
            "id": "qemu/201",
            "type": "qemu",
            "node": "pve1",
            "vmid": "201",
            "status": "unknown",
            "tags": "homelab;lab-home;role-worker",
            "lock": "clone",
        },
        {"id": "lxc/300", "type": "lxc", "node": "pve1", "vmid": 300, "template": 0},
        {"id": "node/pve1", "type": "node", "node": "pve1", "status": "online"},
    ]
    client, _, _ = make_client(ScriptedPve().on("GET", "/cluster/resources", ok(rows)))
    clone, template = client.cluster_vms()  # sorted by VMID
    assert template.template and template.maxmem_mib == 4096 and template.vmid == 9000
    assert clone.vmid == 201 and not clone.template and clone.name is None
    assert clone.tags == ("homelab", "lab-home", "role-worker") and clone.lock == "clone"


def test_vm_config_returns_text_values_and_digest() -> None:
    config = {
        "cores": 2,
        "memory": "4096",
        "onboot": 1,
        "cpulimit": "1.5",
        "digest": "a" * 40,
        "net0": "virtio=BC:24:11:12:34:56,bridge=vmbr0",
    }
    client, _, _ = make_client(ScriptedPve().on("GET", f"{VM}/config", ok(config)))
    values, parsed = client.vm_config("pve1", 201)
    assert parsed.digest == "a" * 40 and "digest" not in values
    assert values["cores"] == "2" and values["onboot"] == "1" and values["cpulimit"] == "1.5"
    assert parsed.memory_mib == 4096 and parsed.onboot and parsed.net0 is not None


def test_update_config_encodes_delete_digest_and_sshkeys() -> None:
    pve = ScriptedPve().on("PUT", f"{VM}/config", ok(None))
    client, _, _ = make_client(pve)
    key = "ssh-ed25519 AAAAC3Nza+/x= me@laptop"
    client.update_config(
        "pve1",
        201,
        digest="d" * 40,
        delete=["ipconfig1", "net1"],
        cores=4,
        sshkeys=key,
        agent="enabled=1",
        onboot=True,
    )
    sent = form(pve.requests[0])
    assert sent["delete"] == "ipconfig1,net1" and sent["digest"] == "d" * 40
    assert sent["cores"] == "4" and sent["onboot"] == "1"
    assert sent["sshkeys"] == "ssh-ed25519%20AAAAC3Nza%2B%2Fx%3D%20me%40laptop"


def test_transient_errors_on_get_are_retried() -> None:
    pve = ScriptedPve().on(
        "GET",
        f"{VM}/status/current",
        fail(500, LOCK),
        fail(596, "Connection timed out"),
        ok({"status": "running", "vmid": 201, "ha": {"managed": 0}, "agent": 1}),
    )
    client, _, waits = make_client(pve)
    status = client.vm_status("pve1", 201)
    assert status.running and status.agent and status.vmid == 201
    assert len(pve.requests) == 3 and waits == [0.5, 1.0]


def test_permanent_errors_are_not_retried() -> None:
    body = {
        "data": None,
        "errors": {"disk": "value 'scsi99' does not have a value in the enumeration"},
    }
    pve = ScriptedPve().on("PUT", f"{VM}/resize", fail(400, "Parameter verification failed.", body))
    client, _, waits = make_client(pve)
    with pytest.raises(e.ParameterError, match="scsi99"):
        client.resize("pve1", 201, "scsi99", "40G")
    assert len(pve.requests) == 1 and waits == []


def test_clone_is_not_repeated_after_an_ambiguous_error() -> None:
    pve = ScriptedPve().on("POST", "/nodes/pve1/qemu/9000/clone", fail(500, "got unexpected reply"))
    client, _, waits = make_client(pve)
    with pytest.raises(e.ServerError):
        client.clone("pve1", 9000, 201, name="a", full=True)
    assert len(pve.requests) == 1 and waits == []


def test_clone_is_repeated_after_a_lock_timeout_or_when_the_caller_allows() -> None:
    locked = fail(500, "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout")
    pve = ScriptedPve().on("POST", "/nodes/pve1/qemu/9000/clone", locked, ok(UPID_CLONE))
    client, _, _ = make_client(pve)
    assert client.clone("pve1", 9000, 201, name="a", full=True) == UPID_CLONE
    pve.on("POST", "/nodes/pve1/qemu/9000/clone", fail(502, "Bad Gateway"), ok(UPID_CLONE))
    assert client.clone("pve1", 9000, 202, name="b", full=True, idempotent=True) == UPID_CLONE
    assert len(pve.requests) == 4


def test_relative_resize_is_not_repeated_after_an_ambiguous_error() -> None:
    pve = ScriptedPve().on("PUT", f"{VM}/resize", fail(500, "boom"), fail(500, "boom"), ok(None))
    client, _, _ = make_client(pve)
    with pytest.raises(e.ServerError):
        client.resize("pve1", 201, "scsi0", "+8G")
    assert client.resize("pve1", 201, "scsi0", "40G") is None
    assert len(pve.requests) == 3


def test_power_calls_and_destroy() -> None:
    pve = ScriptedPve()
    for action in ("start", "shutdown", "stop"):
        pve.on("POST", f"{VM}/status/{action}", ok(UPID_CLONE))
    pve.on("DELETE", VM, ok(UPID_CLONE))
    client, _, _ = make_client(pve)
    client.start("pve1", 201)
    client.shutdown("pve1", 201, timeout=60, force_stop=True)
    client.stop("pve1", 201)
    assert client.destroy("pve1", 201) == UPID_CLONE
    shutdown = form(pve.calls("POST", f"{VM}/status/shutdown")[0])
    assert shutdown == {"timeout": "60", "forceStop": "1"}
    destroy = pve.calls("DELETE", VM)[0]
    assert destroy.url.params["purge"] == "1"
    assert destroy.url.params["destroy-unreferenced-disks"] == "1"


def test_agent_ping_reports_an_agent_that_is_not_up_yet() -> None:
    pve = ScriptedPve().on(
        "POST",
        f"{VM}/agent/ping",
        fail(500, "QEMU guest agent is not running"),
        fail(500, "VM 201 is not running"),
        ok({"result": {}}),
        fail(500, "No QEMU guest agent configured"),
    )
    client, _, waits = make_client(pve)
    assert client.agent_ping("pve1", 201) is False
    assert client.agent_ping("pve1", 201) is False
    assert client.agent_ping("pve1", 201) is True
    with pytest.raises(e.RefusedError, match="No QEMU guest agent configured"):
        client.agent_ping("pve1", 201)
    assert waits == []


def test_agent_interfaces_keep_global_ipv4_per_interface() -> None:
    result = {
        "result": [
            {
                "name": "lo",
                "ip-addresses": [
                    {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}
                ],
            },
            {
                "name": "eth0",
                "hardware-address": "bc:24:11:00:00:01",
                "ip-addresses": [
                    {"ip-address": "10.0.20.11", "ip-address-type": "ipv4", "prefix": 24},
                    {"ip-address": "169.254.3.4", "ip-address-type": "ipv4", "prefix": 16},
                    {"ip-address": "fe80::1", "ip-address-type": "ipv6", "prefix": 64},
                ],
            },
            {"name": "eth1", "ip-addresses": []},
        ]
    }
    pve = ScriptedPve().on("GET", f"{VM}/agent/network-get-interfaces", ok(result))
    client, _, _ = make_client(pve)
    assert client.agent_interfaces("pve1", 201) == {
        "eth0": (IPv4Interface("10.0.20.11/24"),),
        "eth1": (),
    }


def test_upload_iso_is_multipart_with_content_first_and_waits_for_imgcopy() -> None:
    pve = (
        ScriptedPve()
        .on("POST", "/nodes/pve1/storage/local/upload", ok(UPID_IMG))
        .on(
            "GET",
            f"/nodes/pve1/tasks/{UPID_IMG}/status",
            ok({"status": "stopped", "exitstatus": "OK"}),
        )
    )
    client, _, _ = make_client(pve)
    volid = client.upload_iso("pve1", "local", "homelab-201-seed.iso", b"ISO-BYTES")
    assert volid == "local:iso/homelab-201-seed.iso"
    upload = pve.requests[0]
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert int(upload.headers["Content-Length"]) == len(upload.content)
    body = upload.content
    content_at = body.index(b'name="content"')
    file_at = body.index(b'name="filename"; filename="homelab-201-seed.iso"')
    assert content_at < file_at and b"ISO-BYTES" in body
    assert b"\r\n\r\niso\r\n" in body
    # pve-http-server reads these fields in this order only, all before the file part
    algorithm_at = body.index(b'name="checksum-algorithm"\r\n\r\nsha256\r\n')
    digest = hashlib.sha256(b"ISO-BYTES").hexdigest().encode()
    checksum_at = body.index(b'name="checksum"\r\n\r\n' + digest + b"\r\n")
    assert content_at < algorithm_at < checksum_at < file_at
    assert pve.calls("GET", f"/nodes/pve1/tasks/{UPID_IMG}/status")


def test_storage_calls_encode_the_volume_id() -> None:
    upid = "UPID:pve1:000012AC:01B2C3D4:66A1B2C3:imgdel:local@@iso:root@pam!homelab:"
    items = [{"volid": "local:iso/seed.iso", "content": "iso", "format": "iso", "size": "69632"}]
    pve = (
        ScriptedPve()
        .on("GET", "/nodes/pve1/storage/local/content", ok(items))
        .on(
            "GET",
            "/nodes/pve1/storage/local/status",
            ok(
                {
                    "type": "dir",
                    "content": "iso,vztmpl,backup",
                    "active": 1,
                    "shared": 0,
                    "total": 100,
                    "used": 40,
                    "avail": 60,
                }
            ),
        )
        .on("DELETE", "/nodes/pve1/storage/local/content/local:iso/seed.iso", ok(upid))
        .on(
            "GET", f"/nodes/pve1/tasks/{upid}/status", ok({"status": "stopped", "exitstatus": "OK"})
        )
    )
    client, _, _ = make_client(pve)
    (item,) = client.storage_content("pve1", "local", content="iso")
    assert item.volid == "local:iso/seed.iso" and item.size == 69632
    status = client.storage_status("pve1", "local")
    assert status.content == ("iso", "vztmpl", "backup") and status.active and not status.shared
    assert client.delete_volume("pve1", "local", "local:iso/seed.iso") is True
    delete = pve.calls("DELETE", "/nodes/pve1/storage/local/content/local:iso/seed.iso")[0]
    assert b"/content/local%3Aiso%2Fseed.iso" in delete.url.raw_path


def test_request_hook_counts_every_request_including_retries() -> None:
    pve = ScriptedPve().on("GET", "/cluster/resources", fail(503, "Service Unavailable"), ok([]))
    seen: list[tuple[str, str]] = []
    client = PveClient(
        settings(),
        transport=httpx.MockTransport(pve),
        retry=RetryPolicy(sleep=lambda _: None),
        on_request=lambda method, path: seen.append((method, path)),
    )
    client.cluster_vms()
    assert seen == [("GET", "/cluster/resources")] * 2


def test_unknown_endpoint_is_not_found() -> None:
    client, _, _ = make_client(ScriptedPve())
    with pytest.raises(e.NotFoundError, match="not implemented"):
        client.session.get("/nodes/pve1/nonsense")


def test_non_envelope_reply_is_a_clear_error() -> None:
    html = httpx.Response(200, content=b"<html>login</html>", headers={"Content-Type": "text/html"})
    client, _, _ = make_client(ScriptedPve().on("GET", "/cluster/resources", html), attempts=1)
    with pytest.raises(e.ServerError, match="not a Proxmox API envelope"):
        client.cluster_vms()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), e.TransportError),
        (httpx.ConnectTimeout("timed out"), e.TransportError),
        (httpx.ReadTimeout("timed out"), e.TransportError),
        (httpx.WriteTimeout("timed out"), e.TransportError),
        (httpx.PoolTimeout("timed out"), e.TransportError),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), e.TransportError),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            e.TransportError,
        ),
        (httpx.ProxyError("proxy"), e.TransportError),
        (httpx.UnsupportedProtocol("bad scheme"), ProxmoxError),
        (httpx.LocalProtocolError("bad header"), ProxmoxError),
        (httpx.DecodingError("bad gzip"), ProxmoxError),
        (httpx.TooManyRedirects("loop"), ProxmoxError),
    ],
)
def test_httpx_is_not_leaked_outside(exc: Exception, expected: type[ProxmoxError]) -> None:
    calls: list[int] = []

    def explode(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise exc

    client, _, _ = make_client(ScriptedPve().on("GET", "/cluster/resources", explode), attempts=2)
    with pytest.raises(ProxmoxError) as caught:
        client.cluster_vms()
    error = caught.value
    assert isinstance(error, expected)
    assert not isinstance(error, httpx.HTTPError)
    assert error.__cause__ is exc
    assert "pve.test:8006" in error.message or "GET /cluster/resources" in error.message
    assert len(calls) == (2 if expected is e.TransportError else 1)


def test_a_connection_lost_during_the_handshake_is_a_transport_error() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
        except ssl.SSLError as inner:
            raise httpx.ConnectError("EOF occurred in violation of protocol") from inner

    client, _, _ = make_client(ScriptedPve().on("GET", "/cluster/resources", drop), attempts=1)
    with pytest.raises(e.TransportError):
        client.cluster_vms()


def test_connection_refused_is_retried_even_for_unsafe_requests() -> None:
    calls: list[int] = []

    def refuse_once(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return ok(UPID_CLONE)

    client, _, waits = make_client(
        ScriptedPve().on("POST", "/nodes/pve1/qemu/9000/clone", refuse_once)
    )
    assert client.clone("pve1", 9000, 201, name="a", full=True) == UPID_CLONE
    assert len(calls) == 2 and len(waits) == 1


def test_secret_never_shows_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pve = (
        ScriptedPve()
        .on("GET", "/cluster/resources", fail(503, "Service Unavailable"), ok([]))
        .on("GET", f"{VM}/status/current", fail(401, "Authentication failed!"))
    )
    client, _, _ = make_client(pve)
    client.cluster_vms()
    with pytest.raises(e.AuthenticationError) as caught:
        client.vm_status("pve1", 201)
    texts = [
        repr(client),
        str(client),
        repr(client.settings),
        str(caught.value),
        repr(caught.value),
        caught.value.hint or "",
        caplog.text,
        *(repr(r.headers) for r in pve.requests),
    ]
    assert caplog.records, "the client logs its requests at DEBUG"
    for text in texts:
        assert SECRET not in text


def test_client_closes_and_reopens_its_connection_pool() -> None:
    pve = ScriptedPve().on("GET", "/cluster/resources", ok([]))
    with PveClient(
        settings(), transport=httpx.MockTransport(pve), retry=RetryPolicy(attempts=1)
    ) as client:
        client.cluster_vms()
        client.close()
        client.cluster_vms()
    assert len(pve.requests) == 2


def test_a_task_call_that_returns_no_upid_is_a_clear_error() -> None:
    pve = ScriptedPve().on("POST", f"{VM}/status/start", ok(None))
    client, _, _ = make_client(pve)
    with pytest.raises(InvalidUpid, match="not a task id"):
        client.start("pve1", 201)


def test_upload_refuses_a_name_proxmox_would_reject_before_sending() -> None:
    pve = ScriptedPve()
    client, _, _ = make_client(pve)
    with pytest.raises(e.RefusedError, match=r"must end in \.iso"):
        client.upload_iso("pve1", "local", "seed.yaml", b"x")
    assert pve.requests == []


def test_repr_names_the_endpoint_and_token_id_only() -> None:
    client, _, _ = make_client(ScriptedPve())
    assert repr(client) == f"PveClient(endpoint='https://pve.test:8006', token_id='{TOKEN_ID}')"


@pytest.mark.parametrize(
    ("path", "call", "data"),
    [
        ("/cluster/resources", lambda c: c.cluster_vms(), {"vmid": 201}),
        (f"{VM}/config", lambda c: c.vm_config("pve1", 201), ["cores", 2]),
        (f"{VM}/status/current", lambda c: c.vm_status("pve1", 201), [{"status": "running"}]),
        ("/nodes/pve1/storage/local/content", lambda c: c.storage_content("pve1", "local"), {}),
    ],
)
def test_a_reply_of_the_wrong_shape_is_a_clear_error_and_not_retried(
    path: str, call: Callable[[PveClient], object], data: object
) -> None:
    pve = ScriptedPve().on("GET", path, ok(data))
    client, _, waits = make_client(pve)
    with pytest.raises(MalformedReply, match="Proxmox sent"):
        call(client)
    assert len(pve.requests) == 1 and waits == []


def test_deleting_a_volume_that_is_not_there_says_so() -> None:
    gone = fail(500, "volume 'local:iso/seed.iso' does not exist")
    pve = ScriptedPve().on("DELETE", "/nodes/pve1/storage/local/content/local:iso/seed.iso", gone)
    client, _, waits = make_client(pve)
    assert client.delete_volume("pve1", "local", "local:iso/seed.iso") is False
    assert waits == []


def test_a_delete_without_a_task_id_is_watched_until_the_volume_is_gone() -> None:
    listed = ok([{"volid": "local:iso/seed.iso", "content": "iso"}])
    pve = (
        ScriptedPve()
        .on("DELETE", "/nodes/pve1/storage/local/content/local:iso/seed.iso", ok(None))
        .on("GET", "/nodes/pve1/storage/local/content", listed, listed, ok([]))
    )
    client, clock, _ = make_client(pve)
    assert client.delete_volume("pve1", "local", "local:iso/seed.iso", TaskWaits(poll=0.5))
    assert len(pve.calls("GET", "/nodes/pve1/storage/local/content")) == 3
    assert clock.sleeps == [0.5, 0.5]
