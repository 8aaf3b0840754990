"""The Proxmox VE API client: the only code in homelab that speaks to Proxmox.

    config      ConnectionSettings, resolve_settings (spec + PROXMOX_VE_* environment)
    tls         SSLContext: pinned fingerprint, CA bundle or system store
    errors      the ProxmoxError subtree and the reply classifier
    retry       RetryPolicy: backoff with jitter, idempotency rules
    tasks       Upid, TaskResult, waiting for tasks
    resources   typed, tolerant views of API replies
    wire        httpx glue: client construction, encoding, map_httpx_errors
    session     PveSession: requests with retries, request hooks, task waits
    client      PveClient(PveSession): the typed calls the engine uses

Never imports homelab_sim (the other side of the wire).
"""
