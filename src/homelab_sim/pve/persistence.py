"""``--state DIR``: the simulated cluster on disk, so it survives restarts.

Layout: ``state.json`` (the ClusterState, including virtual time), ``secrets.json`` (token
secrets and the ticket signing key, mode 0600) and ``blobs/<sha256>`` (uploaded file bytes,
content-addressed, written once). Every write goes to a temporary file in the same directory
and is renamed into place, so a crash leaves the previous snapshot intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from homelab_sim.errors import SimError
from homelab_sim.pve.state import ClusterState
from homelab_sim.secret import Secret


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._written_secrets: bytes | None = None
        try:
            (directory / "blobs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SimError(f"cannot create the state directory {directory}: {exc}") from exc

    @property
    def _state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def _secrets_file(self) -> Path:
        return self.dir / "secrets.json"

    def load(self) -> tuple[ClusterState, dict[str, Secret]] | None:
        """The saved state and secrets; None if the directory holds none yet."""
        if not self._state_file.exists():
            return None
        try:
            state = ClusterState.model_validate_json(self._state_file.read_bytes())
            raw = json.loads(self._secrets_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, ValidationError) as exc:
            raise SimError(
                f"the simulator state in {self.dir} is unreadable: {type(exc).__name__}",
                hint="move the directory away to start from a fresh cluster",
            ) from exc
        return state, {key: Secret(str(value)) for key, value in raw.items()}

    def load_blobs(self, keys: set[str]) -> dict[str, bytes]:
        out = {}
        for key in keys:
            path = self.dir / "blobs" / key
            if path.exists():
                out[key] = path.read_bytes()
        return out

    def save(
        self, state: ClusterState, secrets: Mapping[str, Secret], blobs: Mapping[str, bytes]
    ) -> None:
        try:
            for key, data in blobs.items():
                path = self.dir / "blobs" / key
                if not path.exists():
                    _write_atomic(path, data, 0o600)
            _write_atomic(self._state_file, state.model_dump_json().encode(), 0o600)
            payload = json.dumps({key: value.reveal() for key, value in secrets.items()}).encode()
            if payload != self._written_secrets:  # they rarely change: spare the fsync
                _write_atomic(self._secrets_file, payload, 0o600)
                self._written_secrets = payload
        except OSError as exc:
            raise SimError(f"cannot write the simulator state to {self.dir}: {exc}") from exc


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
