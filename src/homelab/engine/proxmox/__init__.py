"""The Proxmox VE API client: the only code in homelab that speaks to Proxmox.

    config      ConnectionSettings, resolve_settings (spec + PROXMOX_VE_* environment)
    tls         SSLContext: pinned fingerprint, CA bundle or system store
    errors      the ProxmoxError subtree and the reply classifier
    retry       RetryPolicy: backoff with jitter, idempotency rules
    tasks       TaskWaits, TaskResult, waiting for a task to stop
    wire        httpx glue: client construction, encoding, map_httpx_errors
    session     PveSession: requests with retries (the client's transport)
    client      PveClient: has a session; the typed calls, the only place API paths are built

Replies are read by the pure core (homelab.core.pve_reply), which raises MalformedReply for a
reply it cannot read; this package raises the ProxmoxError subtree for failures on the wire.

Never imports homelab.sim (the other side of the wire).
"""
