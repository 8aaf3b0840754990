"""Imports every command module so that its commands register on the app."""

import homelab.cli.render
import homelab.cli.validate  # noqa: F401
from homelab.cli import version  # noqa: F401
