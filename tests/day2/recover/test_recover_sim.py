"""`state recover` on the simulator, over the wire: a lab whose state store was lost is planned
as it runs again, not replaced; what does not verify, or cannot be read, is refused with nothing
written; a kill mid-recover leaves no store and a rerun finishes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from homelab.core.ownership import lab_vms
from homelab.core.secret import Secret
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import PermissionDenied
from homelab.engine.proxmox.session import PveSession
from homelab.engine.state import open_store
from homelab.engine.state.crypto import key_file_for
from homelab.engine.state.readback import ReadBackRefused
from homelab.engine.state.recover import PENDING_NAME, Rebuild, StoreExists
from homelab.errors import LabError
from homelab.simulated.access import SIM_PVE_ENV
from homelab.simulated.site import SimulatedSite
from homelab.verbs import state_recover
from homelab.verbs.connection import Connection, open_connection
from homelab.verbs.lab import prepare_lab
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.spec import load_valid_spec
from homelab.verbs.state_recover import recover_store
from homelab.verbs.up import up_lab
from tests.day2.recover.support import LostStore, lost_store
from tests.up.simlab import copy_example

PKI = "/etc/kubernetes/pki"


def records(lab: LostStore) -> dict[str, str]:
    """Each lab VM's name -> the store its homelab record names."""
    out = {}
    for vm in lab_vms(lab.secrets.lab, lab.conn.client.cluster_vms()):
        _values, config = lab.conn.client.vm_config(vm.node, vm.vmid)
        assert config.record is not None and vm.name
        out[vm.name] = config.record.store
    return out


def test_the_reference_lab_is_recovered_and_up_is_a_no_op(tmp_path: Path) -> None:
    with lost_store("home-lab.yaml", tmp_path) as lab:
        spec = load_valid_spec(lab.spec)
        prepare_lab(lab.spec).close()  # a command run after the loss made a store, and a new PKI
        with pytest.raises(StoreExists, match="never applied lab home-lab"):
            recover_store(lab.conn, spec, lab.spec)
        shown: list[state_recover.RecoveryPlan] = []

        def decline(plan: state_recover.RecoveryPlan) -> bool:
            shown.append(plan)
            return False

        done = recover_store(lab.conn, spec, lab.spec, replace=True, confirm=decline)
        assert done is None and not (lab.db.parent / PENDING_NAME).exists()  # not confirmed
        done = recover_store(lab.conn, spec, lab.spec, replace=True)
        assert done is not None and done.backup is not None and done.backup.exists()
        assert sorted(a.vm for a in shown[0].adoptions) == [
            "k8s-master-1",
            "k8s-worker-2",
            "k8s-worker-3",
        ]
        assert shown[0].control_plane == "k8s-master-1" and shown[0].warnings == ()
        with open_store(lab.spec) as store:
            assert cluster_secrets(store, spec.name).to_json() == lab.secrets.to_json()
            assert set(records(lab).values()) == {store.store_id} != {lab.store_id}
            assert store.history(spec.name).recent(1)[0].event == "recover-state"
        sealed = lab.db.read_bytes()
        assert lab.secrets.ca_key.reveal().splitlines()[1].encode() not in sealed
        assert lab.secrets.bootstrap_token_secret.reveal().encode() not in sealed
        plan = lab.plan()
        assert (plan.errors, plan.changes) == ((), ())
        ctx = prepare_lab(lab.spec)
        try:
            outcome = up_lab(lab.conn, ctx, confirm=lambda _plan: True, timeout=600)
        finally:
            ctx.close()
        assert outcome.applied.plan.changes == ()
        assert sorted(n.name for n in outcome.health.nodes if n.ready) == [
            "k8s-master-1",
            "k8s-worker-2",
            "k8s-worker-3",
        ]
        with pytest.raises(StoreExists, match="it manages lab home-lab"):
            recover_store(lab.conn, spec, lab.spec)


def test_the_ha_lab_on_pve_9_is_recovered_and_plans_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIM_PVE_ENV, "9")  # file-read needs VM.GuestAgent.FileRead there
    with lost_store("ha-lab.yaml", tmp_path) as lab:
        spec = load_valid_spec(lab.spec)
        with weak_client(lab, "VM.Audit,VM.GuestAgent.Audit,Sys.Audit") as weak:
            conn = Connection(weak, lab.conn.site, lab.conn.clock)
            with pytest.raises(PermissionDenied, match=r"VM\.GuestAgent\.FileRead"):
                recover_store(conn, spec, lab.spec)
        done = recover_store(lab.conn, spec, lab.spec)
        assert done is not None and done.backup is None
        assert len(done.plan.adoptions) == len(spec.vms)
        with open_store(lab.spec) as store:
            assert cluster_secrets(store, spec.name).to_json() == lab.secrets.to_json()
        plan = lab.plan()
        assert (plan.errors, plan.changes) == ((), ())


def other_ca(common_name: str = "kubernetes") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def resign_apiserver(
    old: bytes, ca_key: rsa.RSAPrivateKey, ca: x509.Certificate
) -> tuple[bytes, bytes]:
    """apiserver.crt/.key as the old one (names, SANs) but signed by another CA."""
    leaf = x509.load_pem_x509_certificate(old)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for extension in leaf.extensions:
        if not isinstance(extension.value, x509.AuthorityKeyIdentifier):
            builder = builder.add_extension(extension.value, extension.critical)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(pem), key_pem


def pem_pair(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> tuple[bytes, bytes]:
    pem = serialization.Encoding.PEM
    return cert.public_bytes(pem), key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def nothing_written(lab: LostStore) -> None:
    assert not lab.db.exists() and not (lab.db.parent / PENDING_NAME).exists()
    assert set(records(lab).values()) == {lab.store_id}


def weak_client(lab: LostStore, privs: str) -> PveClient:
    """A client whose token holds only ``privs`` (set up with the simulator's root token)."""
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    root = PveSession(site.settings)
    try:
        root.post("/access/roles", roleid="Weak", privs=privs)
        answer = root.post("/access/users/homelab@pve/token/weak", privsep=1)
        root.request(
            "PUT", "/access/acl", {"path": "/", "roles": "Weak", "tokens": "homelab@pve!weak"}
        )
    finally:
        root.close()
    settings = dataclasses.replace(
        lab.conn.client.settings,
        token_id="homelab@pve!weak",
        token_secret=Secret(str(answer["value"])),
    )
    return PveClient(settings)


def test_what_does_not_verify_or_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with lost_store("home-lab.yaml", tmp_path) as lab:
        spec = load_valid_spec(lab.spec)
        client = lab.conn.client
        (master,) = [v for v in client.cluster_vms() if v.name == "k8s-master-1"]
        channel = GuestChannel(client, lab.conn.clock)

        def put(path: str, data: bytes) -> None:
            channel.write_file(master.node, master.vmid, path, data)

        (worker,) = [v for v in client.cluster_vms() if v.name == "k8s-worker-3"]
        _values, config = client.vm_config(worker.node, worker.vmid)
        client.update_config(worker.node, worker.vmid, delete=["description"])  # tagged by hand
        text = lab.spec.read_text()
        # every seed changes (a key change would not: each node keeps the keys it was born
        # with, read back from its user-data)
        lab.spec.write_text(text.replace("dns: [10.0.10.1]", "dns: [10.0.10.53]"))
        shown: list[state_recover.RecoveryPlan] = []

        def decline(plan: state_recover.RecoveryPlan) -> bool:
            shown.append(plan)
            return False

        assert recover_store(lab.conn, load_valid_spec(lab.spec), lab.spec, confirm=decline) is None
        assert sorted(a.vm for a in shown[0].adoptions) == ["k8s-master-1", "k8s-worker-2"]
        assert sorted(shown[0].warnings) == [
            "vm k8s-master-1: its seed was made from another version of the spec: the next plan "
            "will show the change",
            "vm k8s-worker-2: its seed was made from another version of the spec: the next plan "
            "will show the change",
            "vm k8s-worker-3: carries the tag lab-home-lab but no homelab record: left alone "
            "(`homelab adopt SPEC` takes it over)",
        ]
        lab.spec.write_text(text)
        client.update_config(worker.node, worker.vmid, description=config.description)
        nothing_written(lab)

        with weak_client(lab, "VM.Audit,Sys.Audit,Datastore.Audit") as weak:
            conn = Connection(weak, lab.conn.site, lab.conn.clock)
            with pytest.raises(PermissionDenied, match=r"VM\.Monitor"):
                recover_store(conn, spec, lab.spec)
        nothing_written(lab)

        original = {
            name: channel.read_file(master.node, master.vmid, f"{PKI}/{name}")
            for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.pub")
        }
        ca_key, ca = other_ca()
        cert_pem, key_pem = pem_pair(ca_key, ca)
        put(f"{PKI}/ca.crt", cert_pem)
        put(f"{PKI}/ca.key", key_pem)
        with pytest.raises(ReadBackRefused, match=r"apiserver\.crt in k8s-master-1 was not signed"):
            recover_store(lab.conn, spec, lab.spec)
        nothing_written(lab)

        leaf, leaf_key = resign_apiserver(original["apiserver.crt"], ca_key, ca)
        put(f"{PKI}/apiserver.crt", leaf)
        put(f"{PKI}/apiserver.key", leaf_key)
        with pytest.raises(ReadBackRefused, match="presents a certificate that the cluster CA"):
            recover_store(lab.conn, spec, lab.spec)
        nothing_written(lab)

        for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key"):
            put(f"{PKI}/{name}", original[name])
        put(f"{PKI}/sa.pub", pem_pair(*other_ca())[0].replace(b"CERTIFICATE", b"PUBLIC KEY"))
        with pytest.raises(ReadBackRefused, match=r"sa\.pub in k8s-master-1 is not a PEM public"):
            recover_store(lab.conn, spec, lab.spec)
        put(f"{PKI}/sa.pub", original["sa.pub"])

        kubeadm_yaml = channel.read_file(master.node, master.vmid, "/etc/homelab/kubeadm.yaml")
        assert channel.run(master.node, master.vmid, ["rm", "/etc/homelab/kubeadm.yaml"]).ok
        with pytest.raises(
            LabError, match="no control plane of lab home-lab could be read"
        ) as lost:
            recover_store(lab.conn, spec, lab.spec)
        assert "/etc/homelab/kubeadm.yaml': No such file or directory" in lost.value.message
        put("/etc/homelab/kubeadm.yaml", kubeadm_yaml)

        client.wait_task(client.stop(master.node, master.vmid))
        with pytest.raises(LabError, match="no control plane of lab home-lab could be") as caught:
            recover_store(lab.conn, spec, lab.spec)
        # /cluster/resources may still say running (pvestatd's lag): the agent then says why
        assert re.search(r"k8s-master-1: (stopped|.*VM \d+ is not running)", caught.value.message)
        nothing_written(lab)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no clean-up."""


def test_a_kill_mid_recover_leaves_no_store_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lost_store("home-lab.yaml", tmp_path) as lab:
        spec = load_valid_spec(lab.spec)
        readopt = state_recover._readopt
        seen: list[str] = []

        def dies_at_the_second_vm(conn: Connection, adoption: object, store_id: str) -> None:
            seen.append(store_id)
            if len(seen) == 2:
                raise Killed
            readopt(conn, adoption, store_id)  # type: ignore[arg-type]

        with monkeypatch.context() as patch:
            patch.setattr(state_recover, "_readopt", dies_at_the_second_vm)
            # a kill cleans nothing up; the kernel frees its lock on recover.lock
            patch.setattr(Rebuild, "__exit__", lambda self, *_exc: self._release())
            with pytest.raises(Killed):
                recover_store(lab.conn, spec, lab.spec)
        assert not lab.db.exists() and (lab.db.parent / PENDING_NAME).exists()
        dead = seen[0]
        assert key_file_for(dead).exists()
        assert sorted(records(lab).values()) == sorted([dead, lab.store_id, lab.store_id])

        done = recover_store(lab.conn, spec, lab.spec)
        assert done is not None
        assert not (lab.db.parent / PENDING_NAME).exists() and not key_file_for(dead).exists()
        with open_store(lab.spec) as store:
            assert set(records(lab).values()) == {store.store_id}
        plan = lab.plan()
        assert (plan.errors, plan.changes) == ((), ())


def test_a_lab_that_is_not_on_proxmox_has_nothing_to_recover(tmp_path: Path) -> None:
    spec_path = copy_example("home-lab.yaml", tmp_path)
    spec = load_valid_spec(spec_path)
    with (
        open_connection(spec, spec_path, sim=True) as conn,
        pytest.raises(LabError, match="no VM of lab home-lab is on Proxmox") as caught,
    ):
        recover_store(conn, spec, spec_path)
    assert caught.value.hint is not None and "homelab up" in caught.value.hint
    assert not (spec_path.parent / ".homelab" / "state.db").exists()
