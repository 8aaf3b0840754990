"""The rolling Kubernetes upgrade of a running lab (``homelab.core.plan.upgrade`` plans it)."""
