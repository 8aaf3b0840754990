"""The engine: everything with side effects that talks to a real lab (Proxmox, state store, PKI).

May import homelab.core; never homelab.verbs, homelab.cli, homelab_sim or homelab.simulated,
and it shows nothing (no rich: the display is the command line's).
"""
