"""Reading a Terraform state file (format version 4, Terraform 0.12 and later). Pure.

The format is Terraform's own (``internal/states/statefile/version4.go``): a JSON object with
``version: 4`` and ``resources[]``; each resource has ``mode`` (``managed`` or ``data``),
``type``, ``name``, an optional ``module`` (a module instance address such as
``module.vm["web"]`` or ``module.x[0].module.y``) and ``instances[]``, each with an optional
``index_key`` (an int for ``count``, a string for ``for_each``), an optional ``status``
(``tainted``), an optional ``deposed`` key, ``attributes`` (the object, as JSON) and
``sensitive_attributes`` (paths of steps ``{"type": "get_attr"|"index", "value": ...}``).

``read_state`` turns the text into ``Instance`` values, one per managed, current, untainted
resource instance, and a ``Skipped`` note for every other one (data sources, tainted and deposed
objects). Anything that is not a version 4 state is a ``LabError`` naming the file: bad JSON with
its line and column, another format version, the output of ``terraform show -json`` (another
schema), and instances still in the pre-0.12 ``attributes_flat`` form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homelab.errors import LabError

__all__ = [
    "Instance",
    "Skipped",
    "StateFile",
    "address_of",
    "read_state",
    "shell_quote",
]

SUPPORTED_VERSION = 4
PathStep = str | int
AttrPath = tuple[PathStep, ...]


@dataclass(frozen=True)
class Instance:
    """One managed resource instance Terraform holds: its address, type and attributes."""

    address: str
    type: str
    provider: str
    attributes: Mapping[str, Any]
    sensitive: frozenset[AttrPath] = frozenset()

    def is_sensitive(self, path: Sequence[PathStep]) -> bool:
        """Whether ``path`` (keys and list indexes) is, or lies under, a sensitive path."""
        return any(tuple(path[: len(mark)]) == mark for mark in self.sensitive)


@dataclass(frozen=True)
class Skipped:
    """A resource instance the importer leaves alone, and why."""

    address: str
    reason: str


@dataclass(frozen=True)
class StateFile:
    """What a state file holds for the importer."""

    source: str
    terraform_version: str
    serial: int | None
    instances: tuple[Instance, ...]
    skipped: tuple[Skipped, ...] = field(default=())


def _fail(source: str, message: str, hint: str | None = None) -> LabError:
    return LabError(f"{source}: {message}", hint=hint)


def _decode(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(
            f"{source}:{exc.lineno}:{exc.colno}",
            f"not valid JSON: {exc.msg}",
            hint="a Terraform state is the JSON that `terraform state pull` prints",
        ) from None
    except RecursionError:
        raise _fail(source, "not valid JSON: nested too deeply") from None


def read_state(text: str, source: str) -> StateFile:
    """The instances of the state ``text`` (read from ``source``, named in every error)."""
    data = _decode(text, source)
    if not isinstance(data, dict):
        raise _fail(source, "not a Terraform state: the JSON is not an object")
    if "format_version" in data and "values" in data:
        raise _fail(
            source,
            "this is the output of `terraform show -json`, not a state file",
            hint="write the state itself with `terraform state pull > terraform.tfstate`",
        )
    version = data.get("version")
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        shown = "missing" if version is None else json.dumps(version)
        raise _fail(
            source,
            f"Terraform state format version {shown}; homelab reads version 4 "
            "(Terraform 0.12 and later)",
            hint="run `terraform state pull` with Terraform 0.12 or later and import what it "
            "prints",
        )
    resources = data.get("resources", [])
    if not isinstance(resources, list):
        raise _fail(source, "`resources` is not a list")
    instances: list[Instance] = []
    skipped: list[Skipped] = []
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise _fail(source, f"resources[{index}] is not an object")
        _read_resource(source, index, resource, instances, skipped)
    serial = data.get("serial")
    return StateFile(
        source=source,
        terraform_version=str(data.get("terraform_version") or "unknown"),
        serial=serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
        instances=tuple(instances),
        skipped=tuple(skipped),
    )


def _text(source: str, where: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, f"{where} is not a non-empty string")
    return value


def _read_resource(
    source: str,
    index: int,
    resource: Mapping[str, Any],
    instances: list[Instance],
    skipped: list[Skipped],
) -> None:
    where = f"resources[{index}]"
    mode = resource.get("mode", "managed")
    kind = _text(source, f"{where}.type", resource.get("type"))
    name = _text(source, f"{where}.name", resource.get("name"))
    module = resource.get("module") or ""
    if not isinstance(module, str):
        raise _fail(source, f"{where}.module is not a string")
    provider = str(resource.get("provider") or "")
    entries = resource.get("instances", [])
    if not isinstance(entries, list):
        raise _fail(source, f"{where}.instances is not a list")
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _fail(source, f"{where}.instances[{number}] is not an object")
        key = entry.get("index_key")
        if key is not None and (isinstance(key, bool) or not isinstance(key, int | str)):
            raise _fail(source, f"{where}.instances[{number}].index_key is not a number or text")
        address = address_of(module, mode == "data", kind, name, key)
        if mode == "data":
            skipped.append(Skipped(address, "a data source: Terraform reads it, it makes nothing"))
            continue
        if mode != "managed":
            raise _fail(source, f"{where}.mode is {json.dumps(mode)}, not managed or data")
        if "attributes_flat" in entry and "attributes" not in entry:
            raise _fail(
                source,
                f"{address} is stored in the pre-0.12 form (attributes_flat), which only "
                "Terraform itself can read",
                hint="run `terraform apply -refresh-only` (or `terraform refresh`) with "
                "Terraform 0.12 or later, then `terraform state pull` again",
            )
        if entry.get("deposed"):
            skipped.append(
                Skipped(
                    address,
                    f"deposed object {entry['deposed']} (left by create_before_destroy; "
                    "Terraform destroys it on its next apply)",
                )
            )
            continue
        if entry.get("status") == "tainted":
            skipped.append(
                Skipped(
                    address,
                    "tainted: Terraform replaces it on its next apply (run `terraform untaint` "
                    "if it is fine, then import again)",
                )
            )
            continue
        attributes = entry.get("attributes")
        if not isinstance(attributes, dict):
            raise _fail(source, f"{address}: its attributes are not an object")
        instances.append(
            Instance(
                address=address,
                type=kind,
                provider=provider,
                attributes=attributes,
                sensitive=_sensitive_paths(entry.get("sensitive_attributes")),
            )
        )


def _sensitive_paths(raw: object) -> frozenset[AttrPath]:
    """Terraform's ``sensitive_attributes`` (lists of get_attr/index steps) as key tuples.

    Unreadable entries mark the whole object sensitive: a secret is never shown by mistake."""
    if not raw:
        return frozenset()
    if not isinstance(raw, list):
        return frozenset({()})
    paths: set[AttrPath] = set()
    for steps in raw:
        path: list[PathStep] = []
        for step in steps if isinstance(steps, list) else [None]:
            value = step.get("value") if isinstance(step, dict) else None
            if isinstance(value, dict):  # an index step holds a typed value {"value":, "type":}
                value = value.get("value")
            if isinstance(value, bool) or not isinstance(value, str | int):
                path = []
                break
            path.append(value)
        paths.add(tuple(path))
    return frozenset(paths)


# ---- addresses -------------------------------------------------------------------------------


def _hcl_string(text: str) -> str:
    """A string as HCL quotes it in an address: ``"web"``, escapes and template markers kept."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    return f'"{escaped}"'


def address_of(module: str, data: bool, kind: str, name: str, key: int | str | None) -> str:
    """The resource instance address Terraform's commands take:
    ``module.vm["web"].proxmox_vm_qemu.this``, ``proxmox_vm_qemu.node[0]``, ``data.x.y``."""
    parts = [module] if module else []
    parts.append(f"{'data.' if data else ''}{kind}.{name}")
    text = ".".join(parts)
    if key is None:
        return text
    return f"{text}[{key}]" if isinstance(key, int) else f"{text}[{_hcl_string(key)}]"


def shell_quote(word: str) -> str:
    """``word`` in single quotes for a POSIX shell (a quote inside becomes ``'"'"'``)."""
    return "'" + word.replace("'", "'\"'\"'") + "'"
