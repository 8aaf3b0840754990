"""The Kubernetes side of the engine: the API client, waits, addons and health checks.

kubeconfig.py   admin kubeconfigs: read, write 0600, merge into ~/.kube/config
transport.py    TLS: the lab CA only, the client certificate, tls-server-name (SNI)
errors.py       the error tree (status, reason, transient) and the Status classifier
client.py       KubeApi (lightkube + httpx), errors mapped onto that tree
manifests.py    addon manifests: cache, mirror (HOMELAB_ADDONS_MIRROR / the simulator), URL
addons.py       server-side apply of the addons, CRDs first; what changed
health.py       nodes Ready, system pods Running: a structured report
wait.py         bounded waits for the API server and for health
"""
