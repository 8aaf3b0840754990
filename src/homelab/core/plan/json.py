"""A plan as a stable JSON document (``plan --json``, saved plan files) and back.

``plan_to_dict``/``plan_from_dict`` round-trip exactly: a saved plan is applied as written. The
document carries ``format_version`` (readers refuse versions they do not know), the spec digest
and the observed fingerprints the plan was made against (see ``freshness``), and a summary.
Keys are sorted when dumped, so the same plan always gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from homelab.core.backup.jobs import JobAction
from homelab.core.backup.storage import StorageAction
from homelab.core.desired import DesiredVm
from homelab.core.plan.actions import (
    Action,
    AdoptVm,
    Change,
    CreateVm,
    DestroyVm,
    EtcdPeer,
    NoOp,
    Plan,
    ReplaceVm,
    TemplateSource,
    UpdateVm,
    kind_of,
)
from homelab.core.plan.components import Component, ComponentChange
from homelab.core.plan.upgrade import step_from_dict
from homelab.errors import LabError

FORMAT_VERSION = 3  # 3: backup_jobs


class PlanFileError(LabError):
    """A saved plan cannot be read: not JSON, another format version, or damaged."""


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    data = _plan_fields(plan)
    if plan.upgrades:  # the rolling Kubernetes upgrade, in the order it runs
        data["summary"]["upgrade"] = len(plan.upgrades)
        data["upgrades"] = [step.to_dict() for step in plan.upgrades]
    if plan.key_pushes:  # running nodes whose SSH keys apply pushes
        data["key_pushes"] = list(plan.key_pushes)
    if plan.components:  # what `up` would install or move in the cluster
        data["components"] = [change.to_dict() for change in plan.components]
    return data


def _plan_fields(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "lab": plan.lab,
        "final": plan.is_final,
        "exit_code": plan.detailed_exit_code,
        "summary": {
            "add": plan.count(CreateVm),
            "change": plan.count(UpdateVm),
            "replace": plan.count(ReplaceVm),
            "destroy": plan.count(DestroyVm),
            "adopt": plan.count(AdoptVm),
            "no_op": plan.count(NoOp),
            "backup_jobs": len(plan.job_changes),
        },
        "actions": [action_to_dict(action) for action in plan.actions],
        "backup_jobs": [job.to_dict() for job in plan.jobs],
        "backup_storage": plan.storage.to_dict() if plan.storage is not None else None,
        "backup_jobs_digest": plan.jobs_digest,
        "errors": list(plan.errors),
        "warnings": list(plan.warnings),
        "needs_configs": list(plan.needs_configs),
        "spec_digest": plan.spec_digest,
        "observed_digests": {str(vmid): digest for vmid, digest in plan.observed_digests},
    }


def action_to_dict(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": kind_of(action), "vm": action.vm, "node": action.node}
    data["reason"] = action.reason
    if isinstance(action, UpdateVm | ReplaceVm | DestroyVm | AdoptVm | NoOp):
        data["vmid"] = action.vmid
    if isinstance(action, DestroyVm | NoOp):
        data["role"] = action.role
    if isinstance(action, UpdateVm | ReplaceVm | DestroyVm):
        data["drain"] = action.drain
    if isinstance(action, DestroyVm) and action.etcd_peer is not None:
        data["etcd_peer"] = vars(action.etcd_peer).copy()
    if isinstance(action, UpdateVm):
        data["changes"] = [vars(change).copy() for change in action.changes]
        data["reseed"] = action.reseed
        data["restart"] = action.restart
        data["config_digest"] = action.config_digest
    if isinstance(action, AdoptVm):
        data["config_digest"] = action.config_digest
        data["tags_before"] = action.tags_before
        data["tags_after"] = action.tags_after
    if isinstance(action, CreateVm | UpdateVm | ReplaceVm | AdoptVm):
        data["desired"] = action.desired.to_dict()
    if isinstance(action, CreateVm | ReplaceVm):
        data["source"] = vars(action.source).copy() if action.source else None
    return data


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false, not {value!r}")
    return value


def source_from(data: Mapping[str, Any]) -> TemplateSource | None:
    source = data["source"]
    return TemplateSource(int(source["vmid"]), str(source["node"])) if source else None


def plan_to_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, sort_keys=True) + "\n"


def plan_from_json(text: str) -> Plan:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"the plan file is not JSON: {exc}") from exc
    return plan_from_dict(data)


def plan_from_dict(data: Any) -> Plan:
    """Read a plan document back; PlanFileError names what is wrong with it."""
    if not isinstance(data, Mapping):
        raise PlanFileError("the plan file does not hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise PlanFileError(
            f"the plan file has format_version {version!r}; this homelab reads {FORMAT_VERSION}",
            hint="make the plan again with this version of homelab",
        )
    try:
        return Plan(
            lab=str(data["lab"]),
            actions=tuple(action_from_dict(item) for item in data["actions"]),
            errors=tuple(str(e) for e in data["errors"]),
            warnings=tuple(str(w) for w in data["warnings"]),
            needs_configs=tuple(str(n) for n in data["needs_configs"]),
            spec_digest=str(data["spec_digest"]),
            observed_digests=tuple(
                sorted((int(vmid), str(d)) for vmid, d in data["observed_digests"].items())
            ),
            jobs=tuple(JobAction.from_dict(item) for item in data["backup_jobs"]),
            storage=StorageAction.from_dict(data["backup_storage"])
            if data["backup_storage"] is not None
            else None,
            jobs_digest=str(data["backup_jobs_digest"]),
            upgrades=tuple(step_from_dict(item) for item in data.get("upgrades", ())),
            components=tuple(component_change_from_dict(c) for c in data.get("components", ())),
            key_pushes=tuple(str(vm) for vm in data.get("key_pushes", ())),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(f"the plan file is damaged ({type(exc).__name__}: {exc})") from exc


def component_change_from_dict(data: Mapping[str, Any]) -> ComponentChange:
    def one(part: Any) -> Component | None:
        if part is None:
            return None
        return Component(str(part["name"]), str(part["version"]), str(part["config"]))

    return ComponentChange(str(data["name"]), one(data["before"]), one(data["after"]))


def action_from_dict(data: Mapping[str, Any]) -> Action:
    kind, vm, node, reason = data["kind"], data["vm"], data["node"], data["reason"]
    if kind == "create":
        return CreateVm(vm, node, reason, DesiredVm.from_dict(data["desired"]), source_from(data))
    if kind == "update":
        return UpdateVm(
            vm=vm,
            node=node,
            reason=reason,
            vmid=int(data["vmid"]),
            changes=tuple(Change(**change) for change in data["changes"]),
            reseed=bool(data["reseed"]),
            desired=DesiredVm.from_dict(data["desired"]),
            config_digest=str(data["config_digest"]),
            drain=_flag(data, "drain"),
        )
    if kind == "replace":
        desired = DesiredVm.from_dict(data["desired"])
        return ReplaceVm(
            vm, node, reason, int(data["vmid"]), desired, source_from(data), _flag(data, "drain")
        )
    if kind == "destroy":
        peer = data.get("etcd_peer")
        return DestroyVm(
            vm,
            node,
            reason,
            int(data["vmid"]),
            str(data["role"]),
            _flag(data, "drain"),
            EtcdPeer(str(peer["vm"]), str(peer["node"]), int(peer["vmid"])) if peer else None,
        )
    if kind == "adopt":
        return AdoptVm(
            vm=vm,
            node=node,
            reason=reason,
            vmid=int(data["vmid"]),
            desired=DesiredVm.from_dict(data["desired"]),
            config_digest=str(data["config_digest"]),
            tags_before=str(data["tags_before"]),
            tags_after=str(data["tags_after"]),
        )
    if kind == "no-op":
        return NoOp(vm, node, reason, int(data["vmid"]), str(data["role"]))
    raise ValueError(f"unknown action kind {kind!r}")
