"""Planning: desired (spec + rendered seed digests) vs observed (Proxmox) -> ordered actions.

Everything here is pure: ``build.plan_lab`` is a function of its arguments, and the text and JSON
forms of a plan are deterministic, so a saved plan can be applied exactly as written.
"""
