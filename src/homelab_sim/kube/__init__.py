"""The simulated Kubernetes API: one API server per simulated cluster, on loopback.

``KubeRegistry`` holds the clusters that simulated ``kubeadm init`` runs create
(``SimCluster``), serves each over HTTPS on 127.0.0.1 with a certificate signed by the cluster's
CA, and maps lab addresses (``10.0.20.10:6443``) to those loopback URLs. ``manifest`` is the
mirror of addon install manifests (the releases of ``homelab_sim.catalogue``).
"""

from homelab_sim.kube.cluster import KubeRegistry, SimCluster
from homelab_sim.kube.manifests import manifest

__all__ = ["KubeRegistry", "SimCluster", "manifest"]
