"""Onboarding: specs written from what exists (a Proxmox VE cluster, a Terraform state). Pure."""
