"""OPNsense over its REST API: settings, TLS trust, the httpx client, observation and apply."""
