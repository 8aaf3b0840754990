"""Backups in the pure core: PVE's calendar events and retention rules, checked and computed."""
