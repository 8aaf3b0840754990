"""The guest agent's exec and file calls, as qemu-server's ``API2/Qemu/Agent.pm`` serves them.

- ``POST .../agent/exec`` (``command``: an array; ``input-data``: stdin, at most 64 KiB) runs
  the command in the simulated guest and answers ``{"pid": N}`` at once; the command's effects
  land now, and it "runs" for the virtual seconds it takes.
- ``GET .../agent/exec-status?pid=`` answers ``{"exited": 0}`` while it runs, then ``exited``,
  ``exitcode``, ``out-data``, ``err-data`` (decoded, as PVE decodes QGA's base64); an unknown pid
  is QGA's ``Invalid parameter 'pid'``.
- ``GET .../agent/file-read?file=`` answers ``content`` (one character per byte), ``bytes-read``
  and ``truncated`` past 16 MiB; a missing file is QGA's open error.
- ``POST .../agent/file-write`` writes ``content`` (``encode=0``: it is base64 already).

Each first passes PVE's agent checks (configured, running, answering: ``qemu_power.agent_vm``); the
privileges (VM.Monitor on PVE 8, VM.GuestAgent.Unrestricted / .FileRead / .FileWrite on 9) are
the schema's, checked for every request by the simulator.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail
from homelab_sim.pve.qemu_power import agent_vm

MAX_INPUT = 64 * 1024
MAX_READ = 16 * 1024 * 1024
_EXEC = "agent-exec"  # per VM, in vm.guest: pid -> the command's outcome
_FIRST_PID = 1000


def agent_exec(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = agent_vm(ctx, p)
    command = p.get("command")
    argv = (
        [str(c) for c in command]
        if isinstance(command, list)
        else ([str(command)] if command else [])
    )
    stdin = str(p.get("input-data") or "")
    if not argv and not stdin:
        raise fail("command or input-data (or both) required")
    if len(stdin) > MAX_INPUT:
        raise fail(f"input-data is too long (maximum {MAX_INPUT} bytes)")
    outcome = ctx.guest.agent_exec(vm, argv, stdin.encode("utf-8"))
    if outcome is None:
        raise fail("QEMU guest agent is not running")
    status, out, err, seconds = outcome
    runs: dict[str, Any] = vm.guest.setdefault(_EXEC, {})
    pid = _FIRST_PID + len(runs)
    runs[str(pid)] = {
        "done_at": ctx.now() + seconds,
        "exitcode": status,
        "out": out,
        "err": err,
    }
    ctx.changed = True
    return {"pid": pid}


def agent_exec_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = agent_vm(ctx, p)
    run = (vm.guest.get(_EXEC) or {}).get(str(p.get("pid")))
    if run is None:
        raise fail("Agent error: Invalid parameter 'pid'")
    if ctx.now() < float(run["done_at"]):
        return {"exited": 0}
    reply: dict[str, Any] = {"exited": 1, "exitcode": int(run["exitcode"])}
    if run["out"]:
        reply["out-data"] = run["out"]
    if run["err"]:
        reply["err-data"] = run["err"]
    return reply


def agent_file_read(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = agent_vm(ctx, p)
    path = str(p["file"])
    data = ctx.guest.agent_file(vm, path)
    if data is None:
        raise fail(f"Agent error: Failed to open file '{path}': No such file or directory")
    reply: dict[str, Any] = {
        "content": data[:MAX_READ].decode("latin-1"),
        "bytes-read": min(len(data), MAX_READ),
    }
    if len(data) > MAX_READ:
        reply["truncated"] = 1
    return reply


def agent_file_write(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = agent_vm(ctx, p)
    content = str(p.get("content", ""))
    if str(p.get("encode", 1)) in ("0", "False", "false"):
        try:
            data = base64.b64decode(content, validate=True)
        except binascii.Error:
            raise fail("Agent error: Invalid parameter 'buf-b64'") from None
    else:
        data = content.encode("utf-8")
    if not ctx.guest.agent_write(vm, str(p["file"]), data):
        raise fail("QEMU guest agent is not running")
    ctx.changed = True
    return None


ROUTES = {
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/exec"): agent_exec,
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/exec-status"): agent_exec_status,
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/file-read"): agent_file_read,
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/file-write"): agent_file_write,
}
