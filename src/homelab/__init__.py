"""homelab: one declarative file to a Proxmox VE + kubeadm home lab, and its day-2 life."""

__version__ = "0.1.0"

__all__ = ["__version__"]
