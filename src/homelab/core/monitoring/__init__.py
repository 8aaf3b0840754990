"""The lab's monitoring, as the pure core renders it: the tool's own metric names, the alert
rules (with their promtool unit tests) and the Alertmanager configuration."""
