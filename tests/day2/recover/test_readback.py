"""The cluster's secrets read back from a control plane's files: parsed exactly, and refused
(naming the file, never quoting it) when they do not hold together."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets
from homelab.engine.state.readback import (
    FILES,
    SHARED,
    ReadBackRefused,
    check_served,
    problems,
    secrets_from,
)
from homelab_sim.guest.kubeadm_pki import ControlPlane, write_certificates
from homelab_sim.guest.system import GuestSystem

KUBEADM = "/etc/homelab/kubeadm.yaml"
PKI = "/etc/kubernetes/pki"
Files = dict[str, bytes]


def init_config(token: str) -> bytes:
    return (
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
        f"bootstrapTokens:\n- token: {token}\n  ttl: 24h0m0s\n---\n"
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
    ).encode()


@pytest.fixture(scope="module")
def made() -> tuple[ClusterSecrets, Files]:
    """A lab's secrets, and a control plane's files made from them as kubeadm does."""
    secrets = generate_cluster_secrets("lab")
    system = GuestSystem.stock()
    for name, path in SHARED.items():
        value = getattr(secrets, name)
        text = value if isinstance(value, str) else value.reveal()
        system.write(path, text.encode("ascii"), 0o600)
    write_certificates(system, ControlPlane("m1", "10.0.20.10", ""), dt.datetime.now(dt.UTC))
    files = {path: system.read(path) or b"" for path in FILES if path != KUBEADM}
    files[KUBEADM] = init_config(secrets.bootstrap_token().reveal())
    return secrets, files


def test_what_kubeadm_left_is_read_back_exactly_and_verifies(
    made: tuple[ClusterSecrets, Files],
) -> None:
    secrets, files = made
    read = secrets_from("lab", files, "m1")
    assert read.to_json() == secrets.to_json()
    assert problems(read, files, "m1") == []


def test_a_join_configuration_gives_the_token_too(made: tuple[ClusterSecrets, Files]) -> None:
    secrets, files = made
    join = (
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n"
        f"  bootstrapToken:\n    token: {secrets.bootstrap_token().reveal()}\n"
    )
    read = secrets_from("lab", {**files, KUBEADM: join.encode()}, "m2")
    assert read.bootstrap_token().reveal() == secrets.bootstrap_token().reveal()


def new_ca(*, ski: bool = True) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if ski:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    pem = serialization.Encoding.PEM
    return builder.sign(key, hashes.SHA256()).public_bytes(pem), key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


Change = Callable[[Files, ClusterSecrets], Files]
REFUSED_AT_READ: list[tuple[str, Change, str]] = [
    (
        "missing",
        lambda f, s: {k: v for k, v in f.items() if k != f"{PKI}/sa.key"},
        r"sa\.key was not read from m1",
    ),
    (
        "not ascii",
        lambda f, s: {**f, f"{PKI}/ca.crt": "é".encode()},
        r"ca\.crt in m1 is not a PEM file",
    ),
    (
        "bad yaml",
        lambda f, s: {**f, KUBEADM: b"kind: [\n" + s.bootstrap_token().reveal().encode()},
        r"is not valid YAML \(line \d+\)",
    ),
    (
        "no token",
        lambda f, s: {**f, KUBEADM: b"kind: ClusterConfiguration\n"},
        "holds no bootstrap token",
    ),
    (
        "bad token",
        lambda f, s: {**f, KUBEADM: init_config("ABCDEF.0123456789abcdef")},
        r"is not of the form",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in REFUSED_AT_READ], ids=[c[0] for c in REFUSED_AT_READ]
)
def test_files_that_cannot_be_read_back_are_refused_without_their_content(
    made: tuple[ClusterSecrets, Files], change: Change, message: str
) -> None:
    secrets, files = made
    with pytest.raises(ReadBackRefused, match=message) as caught:
        secrets_from("lab", change(files, secrets), "m1")
    assert secrets.bootstrap_token_secret.reveal() not in caught.value.message


def swap(files: Files, path: str, data: bytes) -> Files:
    return {**files, path: data}


def other_key() -> bytes:
    return new_ca()[1]


PROBLEMS: list[tuple[str, Callable[[Files], Files], str]] = [
    ("ca key", lambda f: swap(f, f"{PKI}/ca.key", other_key()), r"ca\.key in m1 is not the key of"),
    ("sa key", lambda f: swap(f, f"{PKI}/sa.key", other_key()), r"sa\.key in m1 is not the key of"),
    (
        "etcd ca",
        lambda f: swap(
            swap(f, f"{PKI}/etcd/ca.crt", (ca := new_ca())[0]), f"{PKI}/etcd/ca.key", ca[1]
        ),
        r"etcd/server\.crt in m1 was not signed",
    ),
    (
        "no ski",
        lambda f: swap(
            swap(f, f"{PKI}/front-proxy-ca.crt", (ca := new_ca(ski=False))[0]),
            f"{PKI}/front-proxy-ca.key",
            ca[1],
        ),
        r"front-proxy-ca\.crt in m1 is not a CA certificate",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS]
)
def test_material_that_does_not_hold_together_is_named(
    made: tuple[ClusterSecrets, Files], change: Callable[[Files], Files], message: str
) -> None:
    _secrets, files = made
    changed = change(files)
    found = problems(secrets_from("lab", changed, "m1"), changed, "m1")
    assert any(re.search(message, p) for p in found), found


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        (
            f"{PKI}/apiserver.crt",
            b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
            "is not a PEM certificate",
        ),
        (f"{PKI}/ca.key", b"not a key\n", "is not an unencrypted PEM private key"),
        (f"{PKI}/sa.pub", b"not a key\n", "is not a PEM public key"),
    ],
)
def test_garbage_in_a_pem_file_is_refused(
    made: tuple[ClusterSecrets, Files], path: str, data: bytes, message: str
) -> None:
    _secrets, files = made
    changed = swap(files, path, data)
    with pytest.raises(ReadBackRefused, match=message):
        problems(secrets_from("lab", changed, "m1"), changed, "m1")


def test_an_api_server_that_does_not_answer_is_refused(
    made: tuple[ClusterSecrets, Files],
) -> None:
    secrets, _files = made
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ReadBackRefused, match=f"at 10.0.20.10:{port} does not answer over TLS"):
        check_served(secrets.ca_cert, f"https://127.0.0.1:{port}", "10.0.20.10", timeout=2)
