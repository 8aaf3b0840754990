"""The backup storage of a lab with a ``backup:`` section: checked, or added as a PBS. Pure.

``existing: <id>``: the storage must exist on Proxmox and hold ``backup`` content, or the plan
stops. ``pbs:``: a storage of type ``pbs`` with that id is added when absent (``POST /storage``,
the token's secret from the environment at apply time; PVE contacts the PBS before keeping it).
One that exists must be a ``pbs`` storage of the same server and datastore (PVE cannot change
those); a different namespace, port, token id or fingerprint stops the plan too: the tool does
not change a storage holding backups under the user's feet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from homelab.core.spec.backup import PbsStorage
from homelab.core.spec.models import LabSpec
from homelab.core.storage_facts import StorageFacts

__all__ = ["StorageAction", "pbs_settings", "plan_storage"]


@dataclass(frozen=True)
class StorageAction:
    """Add PBS storage ``id`` with ``settings`` (its token secret comes from ``token_env``)."""

    id: str
    settings: tuple[tuple[str, str], ...]
    token_env: str

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "settings": dict(self.settings), "token_env": self.token_env}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StorageAction:
        settings = data["settings"]
        if not isinstance(settings, Mapping):
            raise TypeError("a storage action's settings are a mapping")
        return cls(
            id=str(data["id"]),
            settings=tuple(sorted((str(k), str(v)) for k, v in settings.items())),
            token_env=str(data["token_env"]),
        )


def pbs_settings(pbs: PbsStorage) -> dict[str, str]:
    """What ``POST /storage`` gets for ``pbs`` (without the password)."""
    out = {
        "type": "pbs",
        "server": pbs.server,
        "port": str(pbs.port),
        "datastore": pbs.datastore,
        "username": pbs.token_id,
        "content": "backup",
    }
    if pbs.namespace:
        out["namespace"] = pbs.namespace
    if pbs.fingerprint:
        out["fingerprint"] = pbs.fingerprint.upper()
    if pbs.encrypt:
        out["encryption-key"] = "autogen"  # PVE makes the key and answers it once
    return out


def plan_storage(
    spec: LabSpec, storages: Mapping[str, StorageFacts]
) -> tuple[StorageAction | None, list[str]]:
    """The storage action (None: nothing to do) and the errors that stop the plan."""
    if spec.backup is None:
        return None, []
    storage = spec.backup.storage
    if storage.existing is not None:
        found = storages.get(storage.existing)
        if found is None:
            return None, [
                f"backup storage {storage.existing} does not exist on Proxmox (or the token may "
                "not see it): add it, or name one that holds backups"
            ]
        if "backup" not in found.content:
            return None, [
                f"backup storage {storage.existing} does not hold backups (content "
                f"{','.join(sorted(found.content)) or 'none'}): add 'backup' to its content"
            ]
        return None, []
    pbs = storage.pbs
    assert pbs is not None  # exactly one of existing and pbs (the model says so)
    wanted = pbs_settings(pbs)
    found = storages.get(pbs.id)
    if found is None:
        return StorageAction(pbs.id, tuple(sorted(wanted.items())), pbs.token_env), []
    if found.type != "pbs":
        return None, [
            f"backup storage {pbs.id} exists on Proxmox as a {found.type or 'non-PBS'} storage: "
            "give the PBS storage another id"
        ]
    have = dict(found.pbs)
    have.setdefault("port", "8007")
    differ = [
        key
        for key in ("server", "port", "datastore", "namespace", "username", "fingerprint")
        if (have.get(key) or "").upper() != (wanted.get(key) or "").upper()
    ]
    if differ:
        shown = ", ".join(
            f"{k} {have.get(k) or '(none)'} -> {wanted.get(k) or '(none)'}" for k in differ
        )
        return None, [
            f"backup storage {pbs.id} exists with other settings ({shown}): homelab does not "
            "change a storage that holds backups; change it in Proxmox or the spec"
        ]
    return None, []
