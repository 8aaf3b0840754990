"""What Proxmox VE writes on a VM's own cloud-init drive (``vm-<id>-cloudinit``), NoCloud format.

PVE regenerates the drive at every start from the VM's config (qemu-server
``QemuServer/Cloudinit.pm``: ``cloudinit_userdata``, ``nocloud_network``, ``nocloud_gen_metadata``);
the ISO is labelled ``cidata``. A guest that sees it beside homelab's seed ISO may read this one
instead (``homelab_sim.guest.seed.nocloud_pick``). DNS entries taken from the host's resolv.conf
and IPv6 subnets are left out of the network config.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any
from urllib.parse import unquote

from homelab_sim.guest.seed import SeedFiles


def _hostname_fqdn(config: dict[str, Any], vmid: int) -> tuple[str, str]:
    hostname = str(config.get("name") or f"VM{vmid}")
    if "." in hostname:
        return hostname.split(".", 1)[0], hostname
    search = config.get("searchdomain")
    return hostname, f"{hostname}.{search}" if search else hostname


def _userdata(config: dict[str, Any], vmid: int) -> str:
    hostname, fqdn = _hostname_fqdn(config, vmid)
    lines = ["#cloud-config", f"hostname: {hostname}", "manage_etc_hosts: true", f"fqdn: {fqdn}"]
    user = config.get("ciuser")
    if user is not None:
        lines.append(f"user: {user}")
        if user == "root":
            lines.append("disable_root: False")
    if config.get("cipassword") is not None:
        lines.append(f"password: {config['cipassword']}")
    keys = [k.strip() for k in unquote(str(config.get("sshkeys", ""))).splitlines()]
    if config.get("sshkeys") is not None:  # stored URI-escaped, as the API takes them
        lines.append("ssh_authorized_keys:")
        lines += [f"  - {key}" for key in keys if key]
    lines += ["chpasswd:", "  expire: False"]
    if user != "root":
        lines += ["users:", "  - default"]
    if str(config.get("ciupgrade", "1")) != "0":
        lines.append("package_upgrade: true")
    return "\n".join(lines) + "\n"


def _network(config: dict[str, Any]) -> str:
    text = "version: 1\nconfig:\n"
    for key in sorted(k for k in config if k.startswith("net") and k[3:].isdigit()):
        index = key[3:]
        ipconfig = config.get(f"ipconfig{index}")
        if not ipconfig:
            continue
        opts = dict(p.split("=", 1) for p in str(ipconfig).split(",") if "=" in p)
        model = str(config[key]).split(",", 1)[0]
        mac = model.split("=", 1)[1].lower() if "=" in model else ""
        text += (
            f"    - type: physical\n      name: eth{index}\n      mac_address: '{mac}'\n"
            "      subnets:\n"
        )
        ip = opts.get("ip")
        if ip == "dhcp":
            text += "        - type: dhcp4\n"
        elif ip:
            iface = ipaddress.IPv4Interface(ip)
            text += (
                f"        - type: static\n          address: '{iface.ip}'\n"
                f"          netmask: '{iface.netmask}'\n"
            )
            if opts.get("gw"):
                text += f"          gateway: '{opts['gw']}'\n"
    return text


def pve_cloudinit_seed(config: dict[str, Any], vmid: int) -> SeedFiles:
    """The NoCloud files PVE generates for the VM with ``config`` (``instance-id`` is the SHA-1
    of user-data and network-config, as ``nocloud_gen_metadata`` makes it)."""
    user, network = _userdata(config, vmid), _network(config)
    instance = hashlib.sha1((user + network).encode(), usedforsecurity=False).hexdigest()
    return SeedFiles(
        user_data=user,
        meta_data=f"instance-id: {instance}\n",
        network_config=network,
        vendor_data="",
    )
