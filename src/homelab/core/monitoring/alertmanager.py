"""Alertmanager's configuration for the lab: a route to the spec's receivers.

Secrets (an SMTP password, a webhook URL carrying a token) come from the environment at apply
time and are handed in as ``secrets`` (env name -> value). A plan renders with ``MASKED``
stand-ins, which keep the configuration valid (``amtool check-config``) without the values.
Alertmanager 0.25 (Debian bookworm's ``amtool``) reads every field written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homelab.core.spec.monitoring import MonitoringSpec, ReceiverSpec

NULL_RECEIVER = "null"
MASKED_PASSWORD = "<secret>"  # noqa: S105  (a stand-in, not a password)
MASKED_URL = "https://secret.invalid/"


class MissingSecret(LookupError):
    """An environment variable a receiver needs is not set (its name in ``args[0]``)."""


def masked(spec: MonitoringSpec) -> dict[str, str]:
    """Stand-ins for every secret, for plans and checks."""
    values: dict[str, str] = {}
    for receiver in spec.receivers:
        if receiver.email and receiver.email.password_env:
            values[receiver.email.password_env] = MASKED_PASSWORD
        if receiver.webhook and receiver.webhook.url_env:
            values[receiver.webhook.url_env] = MASKED_URL
    return values


def _secret(secrets: Mapping[str, str], name: str) -> str:
    value = secrets.get(name)
    if not value:
        raise MissingSecret(name)
    return value


def _receiver(receiver: ReceiverSpec, secrets: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": receiver.name}
    if receiver.email is not None:
        mail = receiver.email
        config: dict[str, Any] = {
            "to": mail.to,
            "from": mail.sender,
            "smarthost": mail.smarthost,
            "require_tls": mail.require_tls,
            "send_resolved": True,
        }
        if mail.username is not None and mail.password_env is not None:
            config["auth_username"] = mail.username
            config["auth_password"] = _secret(secrets, mail.password_env)
        out["email_configs"] = [config]
    elif receiver.webhook is not None:
        hook = receiver.webhook
        url = hook.url if hook.url is not None else _secret(secrets, str(hook.url_env))
        out["webhook_configs"] = [{"url": url, "send_resolved": True}]
    return out


def alertmanager_config(spec: MonitoringSpec, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The whole ``alertmanager.yml``: alerts grouped per lab and alert, sent to the first
    receiver (every receiver when several are declared), the always-firing ``Watchdog`` of
    kube-prometheus-stack kept away from people. With no receiver, alerts are kept in
    Alertmanager only (the ``null`` receiver)."""
    receivers = [_receiver(r, secrets) for r in spec.receivers]
    names = [r.name for r in spec.receivers]
    routes: list[dict[str, Any]] = [
        {"receiver": NULL_RECEIVER, "matchers": ['alertname="Watchdog"']}
    ]
    if len(names) > 1:  # a child route per receiver, each continuing to the next: all get it
        routes += [
            {"receiver": name, "matchers": ['alertname=~".+"'], "continue": True} for name in names
        ]
    return {
        "route": {
            "receiver": names[0] if names else NULL_RECEIVER,
            "group_by": ["alertname", "lab"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "receivers": [{"name": NULL_RECEIVER}, *receivers],
    }
