"""The engine: everything with side effects that talks to a real lab (Proxmox, state store, PKI).

May import homelab.core; never homelab.verbs, homelab.cli or homelab_sim.
"""
