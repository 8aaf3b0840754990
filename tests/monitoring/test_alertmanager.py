"""Alertmanager's configuration, judged by the real ``amtool`` (Debian's alertmanager 0.25)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from homelab.core.monitoring.alertmanager import (
    MASKED_PASSWORD,
    MissingSecret,
    alertmanager_config,
    masked,
)
from homelab.core.spec.monitoring import MonitoringSpec
from tests.support.tools import needs, require

TWO = MonitoringSpec.model_validate(
    {
        "enabled": True,
        "receivers": [
            {
                "name": "mail",
                "email": {
                    "to": "me@example.org",
                    "sender": "lab@example.org",
                    "smarthost": "smtp.example.org:587",
                    "username": "lab",
                    "password_env": "HOMELAB_SMTP_PASSWORD",
                },
            },
            {"name": "phone", "webhook": {"url_env": "HOMELAB_ALERT_WEBHOOK"}},
        ],
    }
)


def _amtool(tmp: Path, config: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(
        [require("amtool"), *args, f"--config.file={path}"]
        if args and args[0] == "config"
        else [require("amtool"), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs("amtool")
@pytest.mark.parametrize(
    "spec",
    [MonitoringSpec(), TWO],
    ids=["no-receiver", "mail-and-webhook"],
)
def test_amtool_accepts_the_rendered_config(tmp_path: Path, spec: MonitoringSpec) -> None:
    done = _amtool(tmp_path, alertmanager_config(spec, masked(spec)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs("amtool")
def test_every_receiver_gets_an_alert_and_the_watchdog_goes_nowhere(tmp_path: Path) -> None:
    config = alertmanager_config(TWO, masked(TWO))
    routed = _amtool(
        tmp_path, config, "config", "routes", "test", "alertname=VmBackupTooOld", "lab=home"
    )
    assert routed.returncode == 0, routed.stdout + routed.stderr
    assert routed.stdout.split() == ["mail,phone"]
    watchdog = _amtool(tmp_path, config, "config", "routes", "test", "alertname=Watchdog")
    assert watchdog.stdout.split() == ["null"]


@needs("amtool")
def test_one_receiver_is_the_default_route(tmp_path: Path) -> None:
    spec = MonitoringSpec.model_validate(
        {"receivers": [{"name": "hook", "webhook": {"url": "https://hooks.example.org/x"}}]}
    )
    config = alertmanager_config(spec, {})
    routed = _amtool(tmp_path, config, "config", "routes", "test", "alertname=LabDrift")
    assert routed.stdout.split() == ["hook"]


def test_secrets_come_from_the_given_values_and_are_required() -> None:
    real = {"HOMELAB_SMTP_PASSWORD": "s3cr3t-pw", "HOMELAB_ALERT_WEBHOOK": "https://h.example/t0k"}
    config = alertmanager_config(TWO, real)
    mail = config["receivers"][1]["email_configs"][0]
    assert mail["auth_password"] == "s3cr3t-pw"
    assert config["receivers"][2]["webhook_configs"][0]["url"] == "https://h.example/t0k"
    planned = yaml.safe_dump(alertmanager_config(TWO, masked(TWO)))
    assert "s3cr3t" not in planned and "t0k" not in planned
    assert MASKED_PASSWORD in planned
    with pytest.raises(MissingSecret, match="HOMELAB_ALERT_WEBHOOK"):
        alertmanager_config(TWO, {"HOMELAB_SMTP_PASSWORD": "x"})


@pytest.mark.parametrize(
    ("receiver", "text"),
    [
        ({"name": "x"}, "exactly one of email or webhook"),
        ({"name": "x", "webhook": {}}, "exactly one of url and url_env"),
        (
            {
                "name": "x",
                "email": {
                    "to": "a@b.c",
                    "sender": "d@e.f",
                    "smarthost": "h:25",
                    "username": "u",
                },
            },
            "username and password_env go together",
        ),
    ],
)
def test_receivers_are_checked(receiver: dict[str, object], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        MonitoringSpec.model_validate({"receivers": [receiver]})


def test_duplicate_receiver_names_are_refused() -> None:
    hook = {"webhook": {"url": "https://x.example/"}}
    with pytest.raises(ValueError, match="unique: a"):
        MonitoringSpec.model_validate({"receivers": [{"name": "a", **hook}, {"name": "a", **hook}]})


def test_secret_envs_lists_every_variable() -> None:
    assert TWO.secret_envs() == [
        "HOMELAB_GRAFANA_PASSWORD",
        "HOMELAB_SMTP_PASSWORD",
        "HOMELAB_ALERT_WEBHOOK",
    ]
