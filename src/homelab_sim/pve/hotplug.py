"""CPU and memory hotplug into a running VM, as qemu-server's ``vmconfig_hotplug_pending`` does.

Facts (qemu-server ``PVE/QemuServer.pm``, ``PVE/QemuServer/Memory.pm``):

- ``hotplug`` (format ``pve-hotplug-features``): a list of network, disk, cpu, memory, usb,
  cloudinit; ``1`` (and unset) is the default network,disk,usb, ``0`` none. A change of it on a
  running VM stays pending when the old or the new value names cpu or memory (QEMU must be
  started with them); other changes of it apply at once.
- ``vcpus`` is hot-pluggable with ``cpu``: up to sockets*cores of the running config (``cores``
  and ``sockets`` themselves always stay pending); above, the key fails with "you can't add
  more vcpus than maxcpus". An unplug asks the guest and, here, the guest lets CPUs go.
- ``memory`` is hot-pluggable with ``memory``: DIMMs of 512 MiB above the 1024 MiB the VM
  boots with (32 of each size, the size doubling), so a growth lands on the next DIMM boundary;
  below 1024 MiB or above the maximum (512 GiB with the default CPU type's 40 address bits) the
  key fails. An unplug needs the guest to give its DIMMs back: a Linux guest onlines hot-added
  memory in the kernel's zone and keeps it, so the unplug fails ("error unplug memory
  module") after PVE's retries and the value stays pending.
- A VM with memory hotplug starts only with NUMA and at least 1024 MiB.
- A key that fails is collected as "hotplug problem - <text>" and the update answers 400
  ``Parameter verification failed.`` once every other key was written; the value stays pending.
"""

from __future__ import annotations

import re

from homelab_sim.pve.state import ConfigValue, Vm

__all__ = ["HotplugProblem", "features", "plug", "start_refusal"]

DEFAULT = "network,disk,usb"
FEATURES = ("network", "disk", "cpu", "memory", "usb", "cloudinit")
STATIC_MIB = 1024  # Memory.pm $STATICMEM
MAX_MEM_MIB = 1 << (40 - 21)  # get_max_mem: 40 address bits for a non-host CPU type
MEMORY_CANT_BE_LOWER = f"memory can't be lower than {STATIC_MIB} MB"
MAX_MEM = f"you cannot add more memory than max mem {MAX_MEM_MIB} MB!"
MAX_CPUS = "you can't add more vcpus than maxcpus"
NUMA_NEEDED = "NUMA needs to be enabled for memory hotplug"
MIN_MEMORY = f"minimum memory must be {STATIC_MIB}MB"
_CPU_OR_MEMORY = re.compile(r"cpu|memory")


class HotplugProblem(Exception):
    """A key qemu-server could not hotplug: its text, without the "hotplug problem - "."""


def features(value: ConfigValue | None) -> frozenset[str]:
    """``parse_hotplug_features``: unset or ``1`` is the default, ``0`` none."""
    text = DEFAULT if value is None or str(value) == "1" else str(value)
    if text == "0":
        return frozenset()
    return frozenset(p for p in re.split(r"[,;\s]+", text) if p)


def memory_mib(value: ConfigValue | None) -> int:
    raw = str(value if value is not None else 512).split(",")[0]
    return int(raw.split("=", 1)[1] if "=" in raw else raw)


def plug(vm: Vm, key: str, value: ConfigValue) -> ConfigValue | None:
    """The value ``key`` runs with after hotplugging ``value`` into the running VM, or None
    when it stays pending; HotplugProblem when qemu-server fails the key."""
    have = features(vm.config.get("hotplug"))
    if key == "hotplug":
        old = str(vm.config.get("hotplug", ""))
        return None if _CPU_OR_MEMORY.search(f"{value} {old}") else value
    if key == "vcpus" and "cpu" in have:
        maxcpus = int(vm.config.get("sockets", 1)) * int(vm.config.get("cores", 1))
        if int(value) > maxcpus:
            raise HotplugProblem(MAX_CPUS)
        return value
    if key == "memory" and "memory" in have:
        return _plug_memory(vm, memory_mib(value))
    return None


def dimm_boundaries(limit: int) -> list[int]:
    """Memory.pm ``foreach_dimm``: the sizes after each DIMM, up to the first >= ``limit``."""
    sizes, dimm = [STATIC_MIB], 512
    while sizes[-1] < limit:
        for _ in range(32):
            sizes.append(sizes[-1] + dimm)
            if sizes[-1] >= limit:
                break
        dimm *= 2
    return sizes


def _plug_memory(vm: Vm, new: int) -> str:
    old = memory_mib(vm.config.get("memory"))
    if new == old:
        return str(new)
    if new < STATIC_MIB:
        raise HotplugProblem(MEMORY_CANT_BE_LOWER)
    if new > MAX_MEM_MIB:
        raise HotplugProblem(MAX_MEM)
    if new > old:
        return str(dimm_boundaries(new)[-1])  # PVE writes the config after each DIMM
    last = len(dimm_boundaries(old)) - 2  # the highest DIMM plugged: dimm0 .. dimmN
    raise HotplugProblem(
        f"400 Parameter verification failed.\ndimm{last}: error unplug memory module"
    )


def start_refusal(vm: Vm) -> str | None:
    """Why QEMU cannot be started with this config's memory hotplug (Memory.pm ``config``)."""
    if "memory" not in features(vm.config.get("hotplug")):
        return None
    if not int(vm.config.get("numa", 0) or 0):
        return NUMA_NEEDED
    if memory_mib(vm.config.get("memory")) > MAX_MEM_MIB:
        return f"Total memory is bigger than {MAX_MEM_MIB}MB"
    if memory_mib(vm.config.get("memory")) < STATIC_MIB:
        return MIN_MEMORY
    return None
