"""Imports every command module so that its commands register on the app."""

from homelab.cli import version  # noqa: F401
