"""Rendering a lab into files: cloud-init seeds per VM and the cluster's addon manifests.

Pure and deterministic: the same spec and secrets give byte-identical files. Entry point:
``homelab.core.render.lab.render_lab``.
"""
