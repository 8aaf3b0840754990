"""Fault injection: a profile of rules that make matching requests misbehave.

A profile is JSON (``PUT /_sim/faults``) or YAML (``homelab sim serve --faults FILE``)::

    seed: 42                    # optional: makes probabilities reproducible
    rules:
      - method: POST            # HTTP method, or "*" (default)
        path: /nodes/*/qemu/*/clone   # glob over the path after /api2/json ("*" = one or more
                                      # characters, including "/")
        count: 1                # fire on the first N matches ...
        # probability: 0.25     # ... or on each match with this probability (exactly one)
        fault: http_error       # http_error | lock_timeout | reset | lost_response |
                                # slow_task | task_failure | agent_timeout | apt_lock | malformed
        status: 500             # http_error only (default 500)
        message: "storage 'local-lvm' is not online"   # http_error and task_failure
        factor: 10              # slow_task only: the task takes factor times longer
        seconds: 300            # apt_lock only: how long the guest's apt is busy at boot

Kinds: ``http_error`` answers ``status`` with ``message`` as reason (PVE's error format);
``lock_timeout`` answers 500 ``can't lock file '/var/lock/qemu-server/lock-<vmid>.conf' - got
timeout`` (vmid from the path, else 0); ``reset`` drops the connection without a response
(the request has no effect); ``lost_response`` carries the request out, then drops the
connection before the answer (the client cannot tell whether it happened);
``slow_task`` multiplies the latency of the task the request starts; ``task_failure`` lets the
task run and end with ``TASK ERROR: <message>``; ``agent_timeout`` (``/agent/*`` requests only)
answers, after PVE's own checks (agent configured, VM running), 500 ``VM <vmid> qmp command
'guest-<command>' failed - got timeout``: what qemu-server's ``Agent.pm`` says while
qemu-guest-agent is still starting (BEHAVIOUR-DAY2 §1); ``apt_lock`` (``POST
.../status/start`` only) lets the start go through, and the booted guest finds apt-daily and
unattended-upgrades holding apt's and dpkg's locks for ``seconds`` of virtual time (a stock
Ubuntu's first boot; ``GuestSystem.hold_apt_at_boot``); ``malformed`` carries the request out and
answers 200 with ``data`` of the wrong type (a list for an object, an object for anything
else), as a broken proxy or an incompatible API version might. Faults apply after
authentication and schema validation, before the handler runs; a rule whose count is used up
stays listed, inert.
"""

from __future__ import annotations

import fnmatch
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from homelab_sim.errors import SimError
from homelab_sim.guest.system import APT_BUSY
from homelab_sim.pve.state import Task

FaultKind = Literal[
    "http_error",
    "lock_timeout",
    "reset",
    "lost_response",
    "slow_task",
    "task_failure",
    "agent_timeout",
    "apt_lock",
    "malformed",
]


class FaultRule(BaseModel):
    model_config = {"extra": "forbid"}

    method: str = "*"
    path: str
    fault: FaultKind
    count: int | None = Field(default=None, ge=0)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    status: int = Field(default=500, ge=400, le=599)
    message: str = "simulated failure"
    factor: float = Field(default=10.0, gt=0)
    seconds: float = Field(default=300.0, gt=0)
    fired: int = 0

    @model_validator(mode="after")
    def _one_trigger(self) -> FaultRule:
        if (self.count is None) == (self.probability is None):
            raise ValueError("give exactly one of 'count' or 'probability'")
        return self

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)


class FaultProfile(BaseModel):
    model_config = {"extra": "forbid"}

    seed: int | None = None
    rules: list[FaultRule] = Field(default_factory=list)


class Fault:
    """A fault that fired for one request."""

    def __init__(self, rule: FaultRule, path: str) -> None:
        self.rule = rule
        self.path = path

    @property
    def kind(self) -> str:
        return self.rule.fault

    def vmid(self) -> int:
        match = re.search(r"/qemu/(\d+)", self.path)
        return int(match.group(1)) if match else 0

    def agent_command(self) -> str:
        """The QMP command an ``/agent/<command>`` request runs (``guest-ping``...)."""
        match = re.search(r"/agent/([\w-]+)", self.path)
        return f"guest-{match.group(1) if match else 'ping'}"

    def shape_task(self, task: Task) -> None:
        """Apply a task-level fault to the task the request started."""
        if self.kind == "slow_task":
            task.end_v = task.start_v + (task.end_v - task.start_v) * self.rule.factor
        elif self.kind == "task_failure":
            task.fail = self.rule.message
        elif self.kind == "apt_lock":
            task.args[APT_BUSY] = self.rule.seconds


def agent_timeout_text(vmid: int, command: str) -> str:
    """qemu-server's reply when a QMP call to the guest agent times out."""
    return f"VM {vmid} qmp command '{command}' failed - got timeout"


class FaultInjector:
    """Holds the active profile and decides, per request, whether a rule fires."""

    def __init__(self, profile: FaultProfile | None = None) -> None:
        self.set_profile(profile or FaultProfile())

    def set_profile(self, profile: FaultProfile) -> None:
        self.profile = profile
        self._rng = random.Random(profile.seed)  # noqa: S311 - simulation, not crypto

    def pick(self, method: str, path: str) -> Fault | None:
        for rule in self.profile.rules:
            if not rule.matches(method, path):
                continue
            if rule.count is not None:
                if rule.fired >= rule.count:
                    continue
            elif self._rng.random() >= (rule.probability or 0.0):
                continue
            rule.fired += 1
            return Fault(rule, path)
        return None


def parse_profile(data: Any, *, source: str) -> FaultProfile:
    """Validate a profile (already decoded from JSON/YAML); SimError names the problem."""
    if data is None:
        return FaultProfile()
    try:
        return FaultProfile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'profile'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SimError(
            f"invalid fault profile in {source}: {problems}",
            hint="see `homelab sim serve --help` for the profile format",
        ) from exc
