"""The backup storage in the plan: checked when it exists, added when it is a new PBS (pure)."""

from __future__ import annotations

from typing import Any

from homelab.core.backup.storage import StorageAction, plan_storage
from homelab.core.storage_facts import StorageFacts
from tests.plan.labs import make_spec, spec_data

FP = ":".join(["ab"] * 32)
PBS: dict[str, Any] = {
    "id": "pbs-lab",
    "server": "10.0.10.5",
    "datastore": "homelab",
    "namespace": "home-lab",
    "fingerprint": FP,
    "token_id": "pve@pbs!homelab",
}


def spec(storage: dict[str, Any]) -> Any:
    data = spec_data()
    data["backup"] = {"storage": storage}
    return make_spec(data)


def pbs_facts(**changes: str) -> StorageFacts:
    settings = {
        "server": "10.0.10.5",
        "datastore": "homelab",
        "namespace": "home-lab",
        "username": "pve@pbs!homelab",
        "fingerprint": FP.upper(),
        **changes,
    }
    return StorageFacts(
        "pbs-lab", frozenset({"backup"}), True, type="pbs", pbs=tuple(settings.items())
    )


def test_a_missing_pbs_storage_is_added_with_pves_settings() -> None:
    action, errors = plan_storage(spec({"pbs": PBS}), {})
    assert errors == []
    assert action == StorageAction(
        "pbs-lab",
        tuple(
            sorted(
                {
                    "type": "pbs",
                    "server": "10.0.10.5",
                    "port": "8007",
                    "datastore": "homelab",
                    "namespace": "home-lab",
                    "username": "pve@pbs!homelab",
                    "fingerprint": FP.upper(),
                    "content": "backup",
                }.items()
            )
        ),
        "HOMELAB_PBS_TOKEN",
    )
    assert StorageAction.from_dict(action.to_dict()) == action


def test_the_same_pbs_storage_is_left_alone_and_another_one_stops_the_plan() -> None:
    assert plan_storage(spec({"pbs": PBS}), {"pbs-lab": pbs_facts()}) == (None, [])
    _, errors = plan_storage(spec({"pbs": PBS}), {"pbs-lab": pbs_facts(datastore="other")})
    assert errors == [
        "backup storage pbs-lab exists with other settings (datastore other -> homelab): "
        "homelab does not change a storage that holds backups; change it in Proxmox or the spec"
    ]
    dir_storage = StorageFacts("pbs-lab", frozenset({"backup"}), type="dir")
    _, errors = plan_storage(spec({"pbs": PBS}), {"pbs-lab": dir_storage})
    assert errors == [
        "backup storage pbs-lab exists on Proxmox as a dir storage: give the PBS storage another id"
    ]


def test_an_existing_storage_must_be_there_and_hold_backups() -> None:
    _, errors = plan_storage(spec({"existing": "nas"}), {})
    assert errors and errors[0].startswith("backup storage nas does not exist on Proxmox")
    isos = StorageFacts("nas", frozenset({"iso", "images"}))
    _, errors = plan_storage(spec({"existing": "nas"}), {"nas": isos})
    assert errors == [
        "backup storage nas does not hold backups (content images,iso): add 'backup' to its content"
    ]
    ok = StorageFacts("nas", frozenset({"backup"}))
    assert plan_storage(spec({"existing": "nas"}), {"nas": ok}) == (None, [])
