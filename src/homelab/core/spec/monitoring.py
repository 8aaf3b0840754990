"""The ``monitoring:`` section of a lab spec (off by default).

What the lab's monitoring stack keeps and whom it tells: retention and storage of Prometheus,
where Grafana's admin password comes from, Alertmanager receivers, extra scrape targets, and
the thresholds of the lab's own alerts. Secrets are never written in the spec: a receiver's
password or a webhook URL that carries a token is named by the environment variable holding it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

# Prometheus's duration syntax (model.ParseDuration): units from largest to smallest, each once.
DURATION_RE = r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$"
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
ENV_NAME_RE = r"^[A-Z_][A-Z0-9_]*$"
RECEIVER_NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
HOST_PORT_RE = r"^[A-Za-z0-9.-]+:\d{1,5}$"


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration such as ``36h`` or ``1d12h``."""
    match = re.fullmatch(DURATION_RE, text)
    if match is None or not text:
        raise ValueError(
            f"{text!r} is not a duration: a number and a unit (ms, s, m, h, d, w, y), "
            "largest unit first, such as 36h or 1d12h"
        )
    numbers = match.groups()[1::2]
    return sum(int(n) * unit for n, unit in zip(numbers, _UNIT_SECONDS, strict=True) if n)


def _check_duration(text: str) -> str:
    if duration_seconds(text) <= 0:
        raise ValueError(f"{text!r} is not a positive duration such as 36h or 1d12h")
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_RE, "description": "a Prometheus duration: 36h"}
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class EmailReceiver(_Model):
    """Mail through an SMTP relay (STARTTLS required unless ``require_tls: false``)."""

    to: Annotated[str, Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")]
    sender: Annotated[str, Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")]
    smarthost: Annotated[str, Field(pattern=HOST_PORT_RE, description="host:port of the relay")]
    username: str | None = None
    password_env: Annotated[str | None, Field(pattern=ENV_NAME_RE)] = None
    require_tls: bool = True

    @model_validator(mode="after")
    def _login_pairs(self) -> EmailReceiver:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("username and password_env go together (SMTP AUTH needs both)")
        return self


class WebhookReceiver(_Model):
    """Alertmanager's webhook JSON POSTed to a URL, given in the spec or, when it holds a
    token, by the environment variable ``url_env``."""

    url: Annotated[str | None, Field(pattern=r"^https?://\S+$")] = None
    url_env: Annotated[str | None, Field(pattern=ENV_NAME_RE)] = None

    @model_validator(mode="after")
    def _one_url(self) -> WebhookReceiver:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self


class ReceiverSpec(_Model):
    name: Annotated[str, Field(pattern=RECEIVER_NAME_RE)]
    email: EmailReceiver | None = None
    webhook: WebhookReceiver | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ReceiverSpec:
        if sum(k is not None for k in (self.email, self.webhook)) != 1:
            raise ValueError("a receiver is exactly one of email or webhook")
        return self


class ScrapeSpec(_Model):
    pve_nodes: bool = True
    opnsense_node_exporter: Annotated[
        str | None, Field(pattern=HOST_PORT_RE, description="host:port of OPNsense's exporter")
    ] = None
    homelab_exporter: Annotated[
        str | None,
        Field(
            pattern=HOST_PORT_RE,
            description="host:port where `homelab metrics --listen` runs (beside the state "
            "store): the lab's own facts for its alerts and the lab dashboard",
        ),
    ] = None


class AlertThresholds(_Model):
    backup_max_age: Duration = "36h"
    etcd_snapshot_max_age: Duration = "26h"
    certificate_warning: Duration = "30d"
    disk_free_ratio: Annotated[float, Field(gt=0, lt=1, strict=False)] = 0.10
    drift_for: Duration = "1h"


class MonitoringSpec(_Model):
    enabled: bool = False
    retention: Duration = "15d"
    storage_size: Annotated[str, Field(pattern=r"^\d+(Mi|Gi|Ti)$")] = "20Gi"
    grafana_admin_password_env: Annotated[str, Field(pattern=ENV_NAME_RE)] = (
        "HOMELAB_GRAFANA_PASSWORD"  # noqa: S105  (the name of a variable, not a password)
    )
    receivers: list[ReceiverSpec] = Field(default_factory=list)
    scrape: ScrapeSpec = ScrapeSpec()
    alerts: AlertThresholds = AlertThresholds()

    @model_validator(mode="after")
    def _unique_receivers(self) -> MonitoringSpec:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receiver names must be unique: {', '.join(dupes)}")
        return self

    def secret_envs(self) -> list[str]:
        """Every environment variable the stack's secrets come from, in spec order."""
        names = [self.grafana_admin_password_env]
        for receiver in self.receivers:
            if receiver.email and receiver.email.password_env:
                names.append(receiver.email.password_env)
            if receiver.webhook and receiver.webhook.url_env:
                names.append(receiver.webhook.url_env)
        return names
