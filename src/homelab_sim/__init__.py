"""The built-in simulator: a Proxmox VE API (and later guests and Kubernetes) on loopback.

It is the other side of the wire: it may import homelab.core, never homelab.engine.
"""
