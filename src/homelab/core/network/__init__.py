"""The lab's firewall side (OPNsense), pure: desired objects, ownership, plan, verdicts."""
