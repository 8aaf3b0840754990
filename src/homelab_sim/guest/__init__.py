"""Simulated guests: what a VM does when it boots with a cidata seed.

``model`` holds the ``GuestModel`` protocol and ``CidataGuest`` (agent and addresses);
``cluster_guest.ClusterGuest`` (the simulator's default) runs each seeded VM as a ``machine``:
``cloudinit`` (schema check, modules in stage order) over a ``system`` (files, kernel, units,
``apt``), runcmd through a small ``shell`` and its ``commands``, and ``kubeadm`` init/join/
reset against the clusters of ``clusters`` and ``homelab_sim.kube``.
"""
