"""Ubuntu 24.04's pending updates as the simulator knows them (noble-updates), beside the
archive's versions (``catalogue.UBUNTU_ARCHIVE``) and the cloud image's (``system``).

The cloud image boots the GA kernel ``6.8.0-45-generic`` (package ``linux-image-6.8.0-45-generic``
6.8.0-45.45, pulled by the ``linux-image-generic`` metapackage); noble-updates carries the
metapackage at 6.8.0-51.52, which depends on the new ``linux-image-6.8.0-51-generic``, and
userland fixes (openssl 3.0.13-0ubuntu3.4, systemd 255.4-1ubuntu8.5).
"""

from __future__ import annotations

STOCK_KERNEL = "6.8.0-45-generic"
KERNEL_META = "linux-image-generic"
#: noble-updates: package -> version (newer than the cloud image's)
NOBLE_UPDATES: dict[str, str] = {
    KERNEL_META: "6.8.0-51.52",
    "linux-image-6.8.0-51-generic": "6.8.0-51.52",
    "openssl": "3.0.13-0ubuntu3.4",
    "systemd": "255.4-1ubuntu8.5",
}
