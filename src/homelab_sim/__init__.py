"""The built-in simulator: Proxmox VE, its guests and their Kubernetes clusters, and an OPNsense
firewall, on loopback.

It is the other side of the wire and a package of its own: it imports nothing from ``homelab``
(the tool), so what it accepts is what upstream accepts (``catalogue``), not what the tool
renders. Its layers, outside in (an import-linter contract holds them):

    server | transport   HTTPS (uvicorn) and in-process (httpx) adapters of the PVE API
    tls                  the self-signed certificate the server presents
    pve | opnsense       the Proxmox VE API: state, tasks, schema, the /_sim/ control API;
                         the OPNsense API (26.1 and 26.7): CRUD, filter rules and their
                         evaluation, savepoint/rollback, configuration backups, DHCP servers
    guest                what a VM does when it boots: cloud-init, apt, kubeadm
    kube                 the Kubernetes API of each cluster a guest's kubeadm created
    catalogue | clock | errors | secret
                         the releases the simulated world has, the virtual clock,
                         ``SimError``, ``Secret``

The tool starts it where it opens a simulated connection and translates ``SimError`` into
its own ``SimulatorError`` there.
"""
