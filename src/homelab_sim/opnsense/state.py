"""The firewall's configuration: what is configured, what is running, and its revisions.

``configured`` holds one ``Table`` per model; a write through the API changes it and saves a
revision (``Config::save``: the new config is written to ``/conf/backup/config-<time>.xml``,
60 kept). ``running`` holds what each service last loaded: a module's apply/reconfigure copies
its tables from ``configured``. ``to_xml`` renders a revision as a ``config.xml`` document, the
body of ``core/backup/download``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from homelab_sim.opnsense import aliases, rules, services
from homelab_sim.opnsense.models import ModelSpec, Table

RETENTION = 60  # Config::backupCount() default
SPECS: dict[str, ModelSpec] = {
    "alias": aliases.SPEC,
    "rule": rules.SPEC,
    "vlan": services.VLAN,
    "interface": services.ASSIGNMENT,
    "unbound": services.UNBOUND_HOST,
    "dnsmasq": services.DNSMASQ_HOST,
    "kea_subnet": services.KEA_SUBNET,
    "kea": services.KEA_RESERVATION,
    "category": services.CATEGORY,
}
# where each table lives in config.xml (and what a revision restores)
XML_PATHS = {
    "alias": ("OPNsense", "Firewall", "Alias", "aliases"),
    "rule": ("OPNsense", "Firewall", "Filter", "rules"),
    "vlan": ("vlans",),
    "interface": ("interfaces",),
    "unbound": ("OPNsense", "unboundplus", "hosts"),
    "dnsmasq": ("dnsmasq", "hosts"),
    "kea_subnet": ("OPNsense", "Kea", "dhcp4", "subnets"),
    "kea": ("OPNsense", "Kea", "dhcp4", "reservations"),
    "category": ("OPNsense", "Firewall", "Category", "categories"),
}
Snapshot = dict[str, Table]


@dataclass(frozen=True)
class Revision:
    time: str  # "1780000000.1234"
    snapshot: Snapshot
    username: str
    description: str

    @property
    def filename(self) -> str:
        return f"config-{self.time}.xml"


@dataclass
class ConfigState:
    hostname: str = "OPNsense"
    domain: str = "localdomain"
    configured: Snapshot = field(
        default_factory=lambda: {name: Table(spec) for name, spec in SPECS.items()}
    )
    running: Snapshot = field(default_factory=dict)
    revisions: list[Revision] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.running:
            self.running = copy_snapshot(self.configured)

    def save(self, now: float, username: str, description: str) -> Revision:
        stamp = f"{now:.4f}"
        while any(r.time == stamp for r in self.revisions):
            now += 0.0001
            stamp = f"{now:.4f}"
        revision = Revision(stamp, copy_snapshot(self.configured), username, description)
        self.revisions.append(revision)
        del self.revisions[:-RETENTION]
        return revision

    def revision(self, time: str) -> Revision | None:
        return next((r for r in self.revisions if r.time == time), None)

    def load(self, *names: str) -> None:
        """A service (re)loads its configuration: running := configured for these tables."""
        for name in names:
            self.running[name] = self.configured[name].copy()


def copy_snapshot(snapshot: Snapshot) -> Snapshot:
    return {name: table.copy() for name, table in snapshot.items()}


def to_xml(state: ConfigState, revision: Revision) -> bytes:
    root = ET.Element("opnsense")
    meta = ET.SubElement(root, "revision")
    for tag, text in (
        ("username", revision.username),
        ("time", revision.time),
        ("description", revision.description),
    ):
        ET.SubElement(meta, tag).text = text
    system = ET.SubElement(root, "system")
    ET.SubElement(system, "hostname").text = state.hostname
    ET.SubElement(system, "domain").text = state.domain
    for name, path in XML_PATHS.items():
        node = root
        for step in path:
            found = node.find(step)
            node = found if found is not None else ET.SubElement(node, step)
        item = SPECS[name].item if name != "interface" else None
        for key, record in revision.snapshot[name].items():
            element = (
                ET.SubElement(node, key) if item is None else ET.SubElement(node, item, uuid=key)
            )
            for fieldname, value in record.items():
                ET.SubElement(element, fieldname).text = value
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0"?>\n' + document + b"\n"
