"""Simulated guests: what a VM does when it boots (reads its cidata seed, brings its agent up).

``model.GuestModel`` is the extension point where the cluster-bootstrap work plugs in the
cloud-init / kubeadm guest model; ``model.CidataGuest`` is the default.
"""
