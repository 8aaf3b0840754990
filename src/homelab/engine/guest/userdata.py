"""What a node was born with, read back from the user-data cloud-init kept in the guest.

cloud-init stores the raw user-data of its datasource at ``/var/lib/cloud/instance/user-data.txt``
(``Init.update`` -> ``_store_rawdata``, mode 0600, root's; ``cloud-init query userdata`` reads
it), so the facts a node's seed carried at its first boot are in the node, even when the state
store lost them. ``read_born`` reads that file through the guest agent (root reads it; on PVE 9
``agent/file-read`` needs VM.GuestAgent.FileRead) and ``parse_born`` keeps only the facts:

- ``keys``: the ``ssh_authorized_keys`` of the access user (``users``);
- ``version``: the Kubernetes version kubelet/kubeadm/kubectl were pinned to (``kubeadm=V-R``
  in the install command, V the version);
- ``bootstrap``: how the node entered the cluster: ``kubeadm init`` or ``join``, the API
  endpoint it waited for, and (a joining control plane) the control plane it waited for before
  joining, by name and address.

The user-data holds secrets (the cluster CA keys, the bootstrap token): it is parsed in memory
and dropped; it is never logged, journaled or returned. The secret-free twin that replaces the
seed once the node joined keeps the keys and the pinned packages but not the bootstrap steps:
a node whose cloud-init re-read its datasource from the twin tells no ``bootstrap``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from homelab.engine.guest.channel import GuestChannel
from homelab.errors import LabError

__all__ = ["USER_DATA", "Bootstrap", "BornFacts", "parse_born", "read_born"]

USER_DATA = "/var/lib/cloud/instance/user-data.txt"
HEADER = "#cloud-config"
PINNED = re.compile(r"^kubeadm=(?P<version>[0-9][^-\s]*)-\S+$")
CURL_URL = re.compile(r"https://\S+/(?:healthz|readyz)")
WAITED_FOR = re.compile(r"homelab: gave up waiting for control plane (?P<name>[A-Za-z0-9.-]+)")


@dataclass(frozen=True)
class Bootstrap:
    """How a node's seed brought it into the cluster."""

    init: bool  # kubeadm init (the cluster's first control plane), else kubeadm join
    endpoint: str  # the host of the cluster API it waited for ("" for the first)
    previous: tuple[str, str] | None = None  # the control plane a joining one waited for


@dataclass(frozen=True)
class BornFacts:
    """The first-boot facts of one node (None: its user-data does not say)."""

    keys: tuple[str, ...] | None
    version: str | None
    bootstrap: Bootstrap | None


class UserDataUnreadable(LabError):
    """The user-data read back is not a cloud-config this tool can take facts from."""


def read_born(
    channel: GuestChannel, node: str, vmid: int, user: str, *, timeout: float = 5.0
) -> BornFacts:
    """The born facts of VM ``vmid`` (LabError when the file cannot be read or parsed)."""
    data = channel.read_file(node, vmid, USER_DATA, timeout=timeout)
    return parse_born(data, user)


def parse_born(data: bytes, user: str) -> BornFacts:
    """The facts of a ``#cloud-config`` user-data; only they leave this function."""
    text = data.decode("utf-8", "replace")
    first, _, body = text.partition("\n")
    if first.strip() != HEADER:
        raise UserDataUnreadable(f"{USER_DATA} is not a cloud-config (no {HEADER} header)")
    try:
        doc = yaml.safe_load(body)
    except yaml.YAMLError:
        # the parser's message quotes the text, which holds secrets: say only where
        raise UserDataUnreadable(f"{USER_DATA} is not valid YAML") from None
    if not isinstance(doc, dict):
        raise UserDataUnreadable(f"{USER_DATA} is not a mapping at the top level")
    runcmd = [_words(entry) for entry in doc.get("runcmd") or []]
    return BornFacts(_keys(doc, user), _version(runcmd), _bootstrap(runcmd))


def _words(entry: Any) -> list[str]:
    return [str(word) for word in entry] if isinstance(entry, list) else [str(entry)]


def _keys(doc: dict[str, Any], user: str) -> tuple[str, ...] | None:
    for entry in doc.get("users") or []:
        if isinstance(entry, dict) and entry.get("name") == user:
            return tuple(str(key) for key in entry.get("ssh_authorized_keys") or [])
    return None


def _version(runcmd: list[list[str]]) -> str | None:
    for argv in runcmd:
        for word in argv:
            found = PINNED.match(word)
            if found:
                return found.group("version")
    return None


def _bootstrap(runcmd: list[list[str]]) -> Bootstrap | None:
    scripts = [" ".join(argv) for argv in runcmd]
    init = any("kubeadm init --config" in s for s in scripts)
    join = any("kubeadm join --config" in s for s in scripts)
    if not (init or join):
        return None
    endpoint, previous = "", None
    for script in scripts:
        urls = CURL_URL.findall(script)
        if not urls:
            continue
        host = urlsplit(urls[0]).hostname or ""
        waited = WAITED_FOR.search(script)
        if waited:
            previous = (waited.group("name"), host)
        elif urls[0].endswith("/healthz") and not endpoint:
            endpoint = host
    return Bootstrap(init=init and not join, endpoint=endpoint, previous=previous)
