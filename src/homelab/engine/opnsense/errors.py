"""The errors of talking to OPNsense (drawn under OpnsenseError in homelab/errors.py)."""

from __future__ import annotations

from homelab.errors import LabError


class OpnsenseError(LabError):
    """Talking to the OPNsense API failed. ``transient``: asking again later may succeed."""

    transient: bool = False


class OpnsenseSettingsError(OpnsenseError):
    """The connection settings are missing or malformed (no secret, unreadable CA bundle)."""


class OpnsenseApiError(OpnsenseError):
    """The API answered with an error: 401, 403, 404, a 500 ``errorMessage``, or a refusal."""

    def __init__(self, message: str, *, status: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class OpnsenseValidationError(OpnsenseApiError):
    """An add/set came back ``{"result": "failed", "validations": {...}}`` (HTTP 200)."""

    def __init__(
        self,
        message: str,
        validations: dict[str, object],
        *,
        module: str | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(message, status=200)
        self.validations = validations
        self.module = module
        self.label = label


class OpnsenseTransportError(OpnsenseError):
    """The connection failed or was dropped before an answer."""

    transient = True


class OpnsenseTlsError(OpnsenseError):
    """The firewall's certificate is not the pinned one, or not trusted by the CA bundle."""


class UnsupportedFirewall(OpnsenseError):
    """The OPNsense version (or its DHCP server) is one homelab cannot manage."""


class LockoutRefused(OpnsenseError):
    """A firewall plan would close homelab's own path to the API, and --force was not given."""


class FirewallRolledBack(OpnsenseError):
    """The post-apply probe failed: the firewall went back to the rules before the apply."""


class FirewallUnreachable(OpnsenseError):
    """The post-apply probe failed and the previous configuration could not be restored."""
