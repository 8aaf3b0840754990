"""The simulated Proxmox VE API: schema-driven validation, cluster state, tasks and the wire."""
