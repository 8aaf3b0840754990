"""Applying a plan to Proxmox: per-VM chains of journaled steps under bounded concurrency.

runtime     Runtime: the client, journal, clock, limits and allocator one apply shares
vmids       VmidAllocator: VMIDs from the lab's range, shared by all chains
progress    ProgressEvent and the ProgressSink Protocol (the display is in homelab.cli.progress)
steps       one function per side effect (clone, verify, configure, seed, resize, start...)
chains      the per-action sequences of steps (create, update, replace, destroy)
executor    runs the chains of a plan in a thread pool, per-node and per-storage limits
reconcile   resolves the journal a crashed run left behind, before planning anew
"""
