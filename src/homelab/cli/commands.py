"""Imports every command module so that its commands register on the app.

One line per module, so that branches adding commands merge without conflicts.
"""

import homelab.cli.backup
import homelab.cli.ci
import homelab.cli.diagram
import homelab.cli.doctor
import homelab.cli.guest
import homelab.cli.import_
import homelab.cli.init
import homelab.cli.lab
import homelab.cli.metrics
import homelab.cli.monitoring
import homelab.cli.net
import homelab.cli.patch
import homelab.cli.render
import homelab.cli.restore
import homelab.cli.sim
import homelab.cli.state
import homelab.cli.up
import homelab.cli.validate
import homelab.cli.version  # noqa: F401
