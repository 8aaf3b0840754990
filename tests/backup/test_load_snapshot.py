"""``restore cluster --etcd``'s snapshot argument: latest, a sealed file, a plain file."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.errors import LabError
from homelab.verbs.etcd import load_snapshot
from homelab.verbs.lab import prepare_lab
from homelab.verbs.metrics import etcd_dir
from tests.up.simlab import copy_example


def test_latest_sealed_and_plain_files(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    ctx = prepare_lab(spec)
    try:
        with pytest.raises(LabError, match="no etcd snapshot of the lab home-lab is kept"):
            load_snapshot(ctx, "latest")
        folder = etcd_dir(ctx.spec_path, ctx.lab)
        folder.mkdir(parents=True)
        for stamp, body in (("20261201T000000Z", b"old"), ("20261202T000000Z", b"new")):
            name = f"{stamp}.db.sealed"
            (folder / name).write_bytes(ctx.store.cipher.seal(ctx.lab, f"etcd/{name}", body))
        path, data = load_snapshot(ctx, "latest")
        assert (path.name, data) == ("20261202T000000Z.db.sealed", b"new")
        older = folder / "20261201T000000Z.db.sealed"
        assert load_snapshot(ctx, str(older))[1] == b"old"
        plain = tmp_path / "snapshot.db"
        plain.write_bytes(b"plain bytes")
        assert load_snapshot(ctx, str(plain)) == (plain, b"plain bytes")
        with pytest.raises(LabError, match="no such snapshot file"):
            load_snapshot(ctx, str(tmp_path / "missing.db"))
    finally:
        ctx.close()
