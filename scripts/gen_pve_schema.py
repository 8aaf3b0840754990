"""Derive the simulator's compact PVE API schema table from the official apidoc.json.

Usage: python scripts/gen_pve_schema.py [APIDOC] [--output PATH] [--check]

APIDOC defaults to ../shared/pve-api/apidoc.json beside the repository (PVE 8); when
apidoc-pve9.json lies beside it, every endpoint whose permission check differs on PVE 9 also gets
that check as `permissions_pve9` (the simulator's PVE 9 mode uses it). The output defaults to
src/homelab_sim/pve/schema_table.json (shipped as package data). `--check` writes nothing and
exits 1 when the committed table differs from what the generator would write.

The table holds, for every endpoint the simulator serves (SERVED below), the handler name,
protected / allowtoken / proxyto, permissions and the parameter definitions reduced to what
validation needs: type, format, enum, pattern (already rewritten from Perl to Python syntax),
minimum / maximum, minLength / maxLength, optional, default, requires, items, typetext.

Property strings (`net0=virtio,bridge=vmbr0`) are stored once each under `property_strings`
(sub-key schemas with default_key, alias, keyAlias) and referenced by id from every option that
uses them (`"property_string": "net[n]"`). Named property-string formats the dump only names
(`pve-qm-ipconfig`, `pve-qm-boot`, ...) are expanded from NAMED_PROPERTY_FORMATS, whose keys must
equal the keys the dump's typetext shows (so a newer apidoc with new sub-keys fails loudly).
Indexed options (`net[n]`, `scsi[n]`, ...) stay one entry each with the index range from
INDEX_RANGES (checked against the range the description states, when it does).
The output is deterministic: sorted keys, one-space indent, trailing newline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_APIDOC = REPO.parent / "shared" / "pve-api" / "apidoc.json"
APIDOC9_NAME = "apidoc-pve9.json"  # read from beside APIDOC: PVE 9's permission checks
DEFAULT_OUTPUT = REPO / "src" / "homelab_sim" / "pve" / "schema_table.json"

_VM = "/nodes/{node}/qemu/{vmid}"
_STORAGE = "/nodes/{node}/storage/{storage}"

# The endpoints the simulator serves: path template -> methods.
SERVED: dict[str, tuple[str, ...]] = {
    "/version": ("GET",),
    "/cluster/status": ("GET",),
    "/cluster/resources": ("GET",),
    "/cluster/nextid": ("GET",),
    "/cluster/options": ("GET", "PUT"),
    "/cluster/backup": ("GET", "POST"),
    "/cluster/backup/{id}": ("GET", "PUT", "DELETE"),
    "/cluster/backup-info": ("GET",),
    "/cluster/backup-info/not-backed-up": ("GET",),
    "/cluster/config/qdevice": ("GET",),
    "/nodes/{node}/lxc": ("GET",),
    "/nodes/{node}/lxc/{vmid}/config": ("GET",),
    "/nodes/{node}/replication": ("GET",),
    "/nodes/{node}/replication/{id}": ("GET",),
    "/nodes/{node}/replication/{id}/status": ("GET",),
    "/nodes/{node}/replication/{id}/log": ("GET",),
    "/nodes/{node}/subscription": ("GET",),
    "/nodes": ("GET",),
    "/nodes/{node}/status": ("GET",),
    "/nodes/{node}/time": ("GET",),
    "/nodes/{node}/network": ("GET",),
    "/nodes/{node}/qemu": ("GET", "POST"),
    _VM: ("DELETE",),
    f"{_VM}/clone": ("POST",),
    f"{_VM}/config": ("GET", "POST", "PUT"),
    f"{_VM}/pending": ("GET",),
    f"{_VM}/resize": ("PUT",),
    f"{_VM}/template": ("POST",),
    f"{_VM}/status/current": ("GET",),
    f"{_VM}/status/start": ("POST",),
    f"{_VM}/status/shutdown": ("POST",),
    f"{_VM}/status/stop": ("POST",),
    f"{_VM}/status/reboot": ("POST",),
    f"{_VM}/agent/ping": ("POST",),
    f"{_VM}/agent/network-get-interfaces": ("GET",),
    f"{_VM}/agent/get-osinfo": ("GET",),
    f"{_VM}/agent/exec": ("POST",),
    f"{_VM}/agent/exec-status": ("GET",),
    f"{_VM}/agent/file-read": ("GET",),
    f"{_VM}/agent/file-write": ("POST",),
    f"{_VM}/snapshot": ("GET", "POST"),
    f"{_VM}/snapshot/{{snapname}}": ("GET", "DELETE"),
    f"{_VM}/snapshot/{{snapname}}/config": ("GET", "PUT"),
    f"{_VM}/snapshot/{{snapname}}/rollback": ("POST",),
    "/nodes/{node}/storage": ("GET",),
    f"{_STORAGE}/status": ("GET",),
    f"{_STORAGE}/content": ("GET",),
    f"{_STORAGE}/content/{{volume}}": ("GET", "DELETE"),
    f"{_STORAGE}/upload": ("POST",),
    "/nodes/{node}/tasks": ("GET",),
    "/nodes/{node}/tasks/{upid}/status": ("GET",),
    "/nodes/{node}/tasks/{upid}/log": ("GET",),
    "/nodes/{node}/vzdump": ("POST",),
    "/storage": ("GET", "POST"),
    "/storage/{storage}": ("GET",),
    "/pools": ("GET", "POST"),
    "/pools/{poolid}": ("GET", "PUT", "DELETE"),
    "/access/ticket": ("GET", "POST"),
    "/access/permissions": ("GET",),
    "/access/domains": ("GET",),
    "/access/users": ("GET", "POST"),
    "/access/users/{userid}": ("GET",),
    "/access/users/{userid}/token/{tokenid}": ("GET", "POST", "DELETE"),
    "/access/roles": ("GET", "POST"),
    "/access/roles/{roleid}": ("GET", "PUT"),
    "/access/acl": ("GET", "PUT"),
}

# Index ranges of the collapsed `name[n]` options (qemu-server 8.x limits).
INDEX_RANGES: dict[str, tuple[int, int]] = {
    "net": (0, 31),
    "ipconfig": (0, 31),
    "scsi": (0, 30),
    "virtio": (0, 15),
    "sata": (0, 5),
    "ide": (0, 3),
    "serial": (0, 3),
    "parallel": (0, 2),
    "usb": (0, 13),
    "hostpci": (0, 15),
    "numa": (0, 7),
    "virtiofs": (0, 9),
    "unused": (0, 255),
}

_STR: dict[str, Any] = {"type": "string", "optional": True}
_BOOL: dict[str, Any] = {"type": "boolean", "optional": True}
_INT: dict[str, Any] = {"type": "integer", "optional": True}

# Named hash formats (property strings) that apidoc.json references by name only. Sub-keys as
# qemu-server / pve-common define them (typetext in the dump lists the same keys).
NAMED_PROPERTY_FORMATS: dict[str, dict[str, dict[str, Any]]] = {
    "pve-qm-ipconfig": {
        "ip": {**_STR, "format": "pve-ipv4-config", "default": "dhcp"},
        "gw": {**_STR, "format": "ipv4", "requires": "ip"},
        "ip6": {**_STR, "format": "pve-ipv6-config", "default": "dhcp"},
        "gw6": {**_STR, "format": "ipv6", "requires": "ip6"},
    },
    "pve-qm-watchdog": {
        "model": {
            **_STR,
            "default_key": True,
            "enum": ["i6300esb", "ib700"],
            "default": "i6300esb",
        },
        "action": {**_STR, "enum": ["reset", "shutdown", "poweroff", "pause", "debug", "none"]},
    },
    "pve-qm-rng": {
        "source": {
            "type": "string",
            "default_key": True,
            "enum": ["/dev/urandom", "/dev/random", "/dev/hwrng"],
        },
        "max_bytes": {**_INT},
        "period": {**_INT},
    },
    "pve-qm-cicustom": {
        key: {**_STR, "format": "pve-volume-id"} for key in ("meta", "network", "user", "vendor")
    },
    "pve-qm-boot": {
        "legacy": {**_STR, "default_key": True, "pattern": "[acdn]{1,4}", "default": "cdn"},
        "order": {**_STR, "format": "pve-qm-bootdev-list"},
    },
    "pve-qemu-sev-fmt": {
        "type": {"type": "string", "default_key": True},
        "allow-smt": {**_BOOL},
        "kernel-hashes": {**_BOOL},
        "no-debug": {**_BOOL},
        "no-key-sharing": {**_BOOL},
    },
    "pve-qm-smbios1": {
        "base64": {**_BOOL},
        **{
            key: {**_STR}
            for key in ("family", "manufacturer", "product", "serial", "sku", "version")
        },
        "uuid": {**_STR, "pattern": "[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}"},
    },
    "pve-vm-cpu-conf": {
        "cputype": {**_STR, "default_key": True},
        "flags": {**_STR, "pattern": "(?:[+-][a-zA-Z0-9\\-_\\.]+;)*[+-][a-zA-Z0-9\\-_\\.]+"},
        "hidden": {**_BOOL},
        "hv-vendor-id": {**_STR, "pattern": "[a-zA-Z0-9]{1,12}"},
        "phys-bits": {**_STR},
        "reported-model": {**_STR},
    },
    "pve-qm-hostpci": {
        "host": {**_STR, "default_key": True},
        "mapping": {**_STR, "format": "pve-configid"},
        "device-id": {**_STR},
        "vendor-id": {**_STR},
        "sub-device-id": {**_STR},
        "sub-vendor-id": {**_STR},
        "mdev": {**_STR},
        "romfile": {**_STR},
        "legacy-igd": {**_BOOL},
        "pcie": {**_BOOL},
        "rombar": {**_BOOL},
        "x-vga": {**_BOOL},
    },
    "backup-fleecing": {
        "enabled": {**_BOOL, "default_key": True},
        "storage": {**_STR, "format": "pve-storage-id"},
    },
    "backup-performance": {
        "max-workers": {**_INT, "minimum": 1, "maximum": 256},
        "pbs-entries-max": {**_INT, "minimum": 1},
    },
    "prune-backups": {
        "keep-all": {**_BOOL},
        **{
            f"keep-{unit}": {**_INT, "minimum": 0}
            for unit in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
        },
    },
}

# Named formats that stand for another option's inline property-string format.
FORMAT_FROM_OPTION: dict[str, str] = {"pve-qm-ide": "ide[n]"}

# Schema keys kept per parameter / property-string sub-key.
_KEPT = (
    "alias",
    "default",
    "default_key",
    "enum",
    "keyAlias",
    "maxLength",
    "maximum",
    "minLength",
    "minimum",
    "optional",
    "pattern",
    "requires",
    "type",
    "typetext",
)
_BOOLEAN_KEYS = ("optional", "default_key")
_NUMERIC_KEYS = ("maximum", "minimum", "maxLength", "minLength")
_RANGE_IN_DESCRIPTION = re.compile(r"\(n is 0 to (\d+)\)")
_TYPETEXT_KEY = re.compile(r"([A-Za-z0-9_-]+)=")


class SchemaError(Exception):
    """The apidoc does not have the shape the generator expects."""


def perl_to_python_regex(pattern: str) -> str:
    """Rewrite a Perl-stringified regex to Python syntax (semantics kept, anchoring not added)."""
    converted = re.sub(
        r"\(\?\^([a-z]*):", lambda m: f"(?{m.group(1)}:" if m.group(1) else "(?:", pattern
    )
    converted = converted.replace("\\z", "\\Z")
    try:
        re.compile(converted)
    except re.error as exc:
        raise SchemaError(f"pattern {pattern!r} does not compile as Python: {exc}") from exc
    return converted


def _walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _walk(node.get("children") or [])


def index_paths(apidoc: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Map every path of the apidoc tree to its `info` (method -> method schema)."""
    return {node["path"]: node.get("info") or {} for node in _walk(apidoc)}


def _number(value: Any) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def compact_property(
    prop: Mapping[str, Any], siblings: Mapping[str, Any], registry: PropertyStrings, label: str
) -> dict[str, Any]:
    """Reduce one parameter (or property-string sub-key) schema to what validation needs."""
    out: dict[str, Any] = {}
    for key in _KEPT:
        if key not in prop or prop[key] is None:
            continue
        value = prop[key]
        if key in _BOOLEAN_KEYS:
            value = bool(int(value))
        elif key in _NUMERIC_KEYS:
            value = _number(value)
        elif key == "pattern":
            value = perl_to_python_regex(value)
        elif key == "requires" and not isinstance(value, str):
            raise SchemaError(f"unsupported 'requires' object: {value!r}")
        out[key] = value
    if "items" in prop:
        out["items"] = compact_property(prop["items"], siblings, registry, label)
    fmt = prop.get("format")
    if isinstance(fmt, dict):
        out["property_string"] = registry.add(label, fmt, siblings)
    elif isinstance(fmt, str):
        out.update(_resolve_named_format(fmt, siblings, registry))
        if fmt in NAMED_PROPERTY_FORMATS:
            _check_typetext_keys(fmt, str(prop.get("typetext", "")))
    if "property_string" not in out:
        out.pop("typetext", None)
    return out


class PropertyStrings:
    """Property-string formats shared by many options, stored once under a stable id."""

    def __init__(self) -> None:
        self.formats: dict[str, dict[str, Any]] = {}

    def add(self, label: str, fmt: Mapping[str, Any], siblings: Mapping[str, Any]) -> str:
        """Compact `fmt`, store it, and return its id (`label` or `label#hash` on a clash)."""
        subkeys = {key: compact_property(sub, siblings, self, key) for key, sub in fmt.items()}
        ident = label
        if ident in self.formats and self.formats[ident] != subkeys:
            digest = hashlib.sha256(json.dumps(subkeys, sort_keys=True).encode()).hexdigest()
            ident = f"{label}#{digest[:8]}"
        self.formats[ident] = subkeys
        return ident


def _resolve_named_format(
    name: str, siblings: Mapping[str, Any], registry: PropertyStrings
) -> dict[str, Any]:
    if name in NAMED_PROPERTY_FORMATS:
        return {"property_string": registry.add(name, NAMED_PROPERTY_FORMATS[name], siblings)}
    if name in FORMAT_FROM_OPTION:
        option = siblings.get(FORMAT_FROM_OPTION[name])
        if option is None or not isinstance(option.get("format"), dict):
            raise SchemaError(f"format {name} needs option {FORMAT_FROM_OPTION[name]} beside it")
        return {"property_string": registry.add(name, option["format"], siblings)}
    return {"format": name}


def _check_typetext_keys(name: str, typetext: str) -> None:
    """The sub-keys of a named format must be the ones the dump's typetext shows."""
    shown = set(_TYPETEXT_KEY.findall(typetext))
    defined = set(NAMED_PROPERTY_FORMATS[name])
    if shown != defined:
        raise SchemaError(f"{name}: typetext keys {sorted(shown)} != defined {sorted(defined)}")


def index_range(name: str, prop: Mapping[str, Any]) -> list[int]:
    """The index range of a collapsed `name[n]` option, cross-checked with its description."""
    base = name[: -len("[n]")]
    if base not in INDEX_RANGES:
        raise SchemaError(f"no index range known for {name}; add it to INDEX_RANGES")
    low, high = INDEX_RANGES[base]
    stated = _RANGE_IN_DESCRIPTION.search(str(prop.get("description", "")))
    if stated and int(stated.group(1)) != high:
        raise SchemaError(f"{name}: description says 0..{stated.group(1)}, table says {high}")
    return [low, high]


def compact_method(info: Mapping[str, Any], registry: PropertyStrings) -> dict[str, Any]:
    """Reduce one method schema (`info[METHOD]`) to the table entry."""
    parameters = info.get("parameters") or {}
    props: Mapping[str, Any] = parameters.get("properties") or {}
    params: dict[str, Any] = {}
    for name, prop in props.items():
        entry = compact_property(prop, props, registry, name)
        if name.endswith("[n]"):
            entry["index"] = index_range(name, prop)
        params[name] = entry
    return {
        "name": info["name"],
        "protected": bool(int(info.get("protected", 0))),
        "allowtoken": bool(int(info.get("allowtoken", 1))),
        "proxyto": info.get("proxyto"),
        "permissions": info.get("permissions"),
        "additionalProperties": bool(int(parameters.get("additionalProperties", 0))),
        "params": params,
    }


def build_table(
    apidoc: list[dict[str, Any]],
    source_sha256: str,
    apidoc9: list[dict[str, Any]] | None = None,
    source9_sha256: str | None = None,
) -> dict[str, Any]:
    """The whole table: every SERVED endpoint, compacted. With the PVE 9 dump, each endpoint
    whose permission check differs there also gets ``permissions_pve9``."""
    paths = index_paths(apidoc)
    paths9 = index_paths(apidoc9) if apidoc9 is not None else {}
    endpoints: dict[str, dict[str, Any]] = {}
    registry = PropertyStrings()
    for path, methods in SERVED.items():
        info = paths.get(path)
        if info is None:
            raise SchemaError(f"path {path} is not in the apidoc")
        for method in methods:
            if method not in info:
                raise SchemaError(f"{method} {path} is not in the apidoc")
            entry = compact_method(info[method], registry)
            if apidoc9 is not None:
                entry.update(_permissions9(path, method, entry["permissions"], paths9))
            endpoints.setdefault(path, {})[method] = entry
    source: dict[str, Any] = {"file": "apidoc.json", "sha256": source_sha256}
    if source9_sha256 is not None:
        source["pve9"] = {"file": APIDOC9_NAME, "sha256": source9_sha256}
    return {
        "source": source,
        "endpoints": endpoints,
        "property_strings": registry.formats,
    }


def _permissions9(
    path: str, method: str, permissions: Any, paths9: Mapping[str, Any]
) -> dict[str, Any]:
    info = paths9.get(path)
    if info is None or method not in info:
        raise SchemaError(f"{method} {path} is not in {APIDOC9_NAME}")
    other = info[method].get("permissions")
    return {} if other == permissions else {"permissions_pve9": other}


def render_table(apidoc_path: Path) -> str:
    """The exact text of the table file for this apidoc (and the PVE 9 dump beside it, when
    there is one)."""
    raw = apidoc_path.read_bytes()
    raw9_path = apidoc_path.with_name(APIDOC9_NAME)
    raw9 = raw9_path.read_bytes() if raw9_path.exists() else None
    table = build_table(
        json.loads(raw),
        hashlib.sha256(raw).hexdigest(),
        json.loads(raw9) if raw9 is not None else None,
        hashlib.sha256(raw9).hexdigest() if raw9 is not None else None,
    )
    return json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apidoc", nargs="?", type=Path, default=DEFAULT_APIDOC)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the output is stale")
    args = parser.parse_args(argv)
    try:
        text = render_table(args.apidoc)
    except (OSError, ValueError, SchemaError) as exc:
        print(f"gen_pve_schema: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: rerun scripts/gen_pve_schema.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
