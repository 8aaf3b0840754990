"""How long each simulated operation takes, in virtual seconds (one table, one place).

The figures are the order of magnitude seen on a small PVE 8 host with LVM-thin on SSD:

| operation                         | latency                                   |
| --------------------------------- | ----------------------------------------- |
| full clone                        | 2 s per GiB of disk (min 2 s): 32 GiB ~1 min |
| linked clone                      | 3 s                                       |
| create (POST /qemu)               | 2 s                                       |
| config update (POST /config)      | 1 s                                       |
| resize                            | 2 s                                       |
| start (QEMU running)              | 3 s                                       |
| boot to a responding guest agent  | 30 s after the start task ends            |
| shutdown                          | 10 s (stop: 2 s; reboot: shutdown + start)|
| destroy                           | 3 s                                       |
| template conversion               | 5 s                                       |
| upload / volume copy              | 1 s + 0.05 s per MiB                      |
| volume delete                     | 1 s                                       |
| vzdump                            | 5 s + 4 s per GiB of disk                 |

``--time-scale`` compresses all of them at once (see clock.py).
"""

from __future__ import annotations

# the guest's boot is the guest model's; listed here with the rest of the table
from homelab_sim.guest.model import BOOT_TO_AGENT as BOOT_TO_AGENT

GIB = 1024**3
MIB = 1024**2

LINKED_CLONE = 3.0
CREATE = 2.0
CONFIG = 1.0
RESIZE = 2.0
START = 3.0
SHUTDOWN = 10.0
STOP = 2.0
DESTROY = 3.0
TEMPLATE = 5.0
IMGDEL = 1.0
# PVE's clone takes the flock on its source with a 1 s timeout (BEHAVIOUR §6).
CLONE_LOCK_WAIT = 1.0
# Most other operations wait 10 s for the flock.
CONFIG_LOCK_WAIT = 10.0


def full_clone(disk_bytes: int) -> float:
    return max(2.0, 2.0 * disk_bytes / GIB)


def upload(size_bytes: int) -> float:
    return 1.0 + 0.05 * size_bytes / MIB


def vzdump(disk_bytes: int) -> float:
    return 5.0 + 4.0 * disk_bytes / GIB


def reboot() -> float:
    return SHUTDOWN + START
