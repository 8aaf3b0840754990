"""What the SSH key tests share: the example's key, a second one, the keys in a guest."""

from __future__ import annotations

from homelab.engine.guest.channel import GuestChannel
from tests.up.simlab import Upped

OLD = 'ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h admin@laptop"]'  # noqa: E501
NEW_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBKz4c8mN2x0h9hH3m6QpQj2bq1cT5mZcU1L8rXnJ0aB ops@desk"
)


def guest_keys(lab: Upped, name: str) -> tuple[str, str]:
    """(content of the user's authorized_keys in the guest, the VM's name)."""
    (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == name]
    channel = GuestChannel(lab.conn.client, lab.conn.clock)
    content = channel.read_file(vm.node, vm.vmid, "/home/ubuntu/.ssh/authorized_keys")
    return content.decode(), name
