"""Storage: /nodes/{node}/storage (status, content, volume delete, upload).

Uploads are multipart with the file in the ``filename`` part, content ``iso``, ``vztmpl`` or
``import`` only (the schema refuses ``snippets``, as PVE does), into file-based storages that
enable the content. The bytes are kept (content-addressed) so a started VM can read a cidata
seed ISO; the volume appears when the ``imgcopy`` task ends.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from homelab_sim.pve import drives, latency, qemu_perms
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError, fail, param_fail
from homelab_sim.pve.state import StorageDef, Task, Volume
from homelab_sim.pve.tasks import TaskFailed, completion, finish_task, start_task
from homelab_sim.pve.volumes import add_volume, check_storage, find_volume, free_volume

_FILE_BASED = {"dir", "nfs", "cifs", "cephfs", "glusterfs", "btrfs"}
# pve-storage's ISO_EXT_RE_0, VZTMPL_EXT_RE_1 and SAFE_CHAR_CLASS_RE + UPLOAD_IMPORT_EXT_RE_1,
# as API2::Storage::Status::upload applies them (after normalize_content_filename)
_EXTENSIONS = {
    "iso": re.compile(r"[^/]+\.(?:iso|img)$", re.IGNORECASE),
    "vztmpl": re.compile(r"[^/]+\.(?:tar(?!\.)|tar\.(?:gz|xz|zst|bz2))$", re.IGNORECASE),
    "import": re.compile(r"[a-zA-Z0-9\-.+=_]+\.(ova|qcow2|raw|vmdk)$"),
}


def _status(ctx: Ctx, node: str, storage: StorageDef) -> dict[str, Any]:
    used = sum(v.size for v in ctx.state.volumes_on(node, storage.storage))
    return {
        "storage": storage.storage,
        "type": storage.type,
        "content": ",".join(storage.content),
        "active": 1,
        "enabled": 1,
        "shared": int(storage.shared),
        "total": storage.total,
        "used": used,
        "avail": storage.total - used,
        "used_fraction": used / storage.total,
    }


def storage_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    node = p["node"]
    ctx.node(node)
    wanted = [c for c in re.split(r"[,;\s]+", str(p.get("content", ""))) if c]
    out = []
    for storage in ctx.state.storages:
        if not storage.on_node(node) or ("storage" in p and storage.storage != p["storage"]):
            continue
        if wanted and not set(wanted) & set(storage.content):
            continue
        if p.get("target") and p["target"] != node and not storage.shared:
            continue
        path = f"/storage/{storage.storage}"
        if ctx.can(path, "Datastore.Audit") or ctx.can(path, "Datastore.AllocateSpace"):
            out.append(_status(ctx, node, storage))
    return out


def storage_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    return _status(ctx, p["node"], check_storage(ctx, p["node"], p["storage"]))


def content_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    check_storage(ctx, p["node"], p["storage"])
    vols = sorted(ctx.state.volumes_on(p["node"], p["storage"]), key=lambda v: v.volid)
    out = []
    for vol in vols:
        if ("content" in p and vol.content != p["content"]) or (
            "vmid" in p and vol.vmid != p["vmid"]
        ):
            continue
        if not _readable(ctx, vol.volid):  # listed only where check_volume_access passes
            continue
        item: dict[str, Any] = {
            "volid": vol.volid,
            "content": vol.content,
            "format": vol.format,
            "size": vol.size,
            "ctime": vol.ctime,
        }
        if vol.vmid is not None:
            item["vmid"] = vol.vmid
        if vol.content == "images":
            item["used"] = vol.size
        if vol.base:
            item["parent"] = vol.base.split(":", 1)[1]
        if vol.content == "backup":
            item["subtype"] = "qemu"
            if vol.meta.get("notes"):
                item["notes"] = str(vol.meta["notes"]).split("\n", 1)[0]
            if vol.meta.get("protected"):
                item["protected"] = 1
            if vol.meta.get("encrypted"):
                item["encrypted"] = vol.meta["encrypted"]
            if vol.meta.get("verification"):
                item["verification"] = dict(vol.meta["verification"])
        out.append(item)
    return out


def _readable(ctx: Ctx, volid: str) -> bool:
    try:
        qemu_perms.check_volume_access(ctx, None, volid)
    except ApiError:
        return False
    return True


def content_delete(ctx: Ctx, p: dict[str, Any]) -> Any:
    """DELETE a volume (pve-storage Content.pm ``delete`` -> Storage.pm ``vdisk_free``). PVE
    refuses only a base volume its linked clones use and a protected backup: an ISO that a
    VM's CD-ROM still names is deleted all the same (that VM then no longer starts)."""
    node = p["node"]
    ctx.node(node)
    volid = str(p["volume"])
    if ":" not in volid:
        volid = f"{p.get('storage') or ''}:{volid}"
    storage = check_storage(ctx, node, volid.split(":", 1)[0])
    path = f"/storage/{storage.storage}"
    vtype, owner = qemu_perms.volume_type(drives.split_volid(volid)[1])
    if vtype == "backup" and owner is not None:  # pve-storage Content.pm ``delete``
        ctx.require(path, "Datastore.AllocateSpace")
        ctx.require(f"/vms/{owner}", "VM.Backup")
    else:
        ctx.require(path, "Datastore.Allocate")
    if find_volume(ctx, node, volid) is None:
        raise fail(f"volume '{volid}' does not exist")
    upid = start_task(
        ctx,
        node=node,
        kind="imgdel",
        task_id="",
        duration=latency.IMGDEL,
        done="imgdel",
        args={"volid": volid},
    )
    if p.get("delay"):
        task = next(t for t in ctx.state.tasks if t.upid == upid)
        finish_task(ctx, task)
        return None if task.exitstatus == "OK" else upid
    return upid


@completion("imgdel")
def _imgdel_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is None and not free_volume(ctx, task.node, str(task.args["volid"])):
        raise TaskFailed(f"volume '{task.args['volid']}' does not exist")


def upload(ctx: Ctx, p: dict[str, Any]) -> Any:
    """pve-storage ``API2::Storage::Status::upload``: the file name is normalised, its extension
    checked for the content type, then the storage's content; the checksum (when given) is
    verified by the ``imgcopy`` task before anything is copied, as PVE's worker does."""
    node, content = p["node"], str(p["content"])
    ctx.node(node)
    file = ctx.upload
    if file is None:
        raise fail("missing temporary file name")
    storage = check_storage(ctx, node, p["storage"])
    if storage.type not in _FILE_BASED:
        raise fail(f"can't upload to storage type '{storage.type}'")
    name = normalize_content_filename(str(p.get("filename", file.filename)))
    if not _EXTENSIONS[content].search(name):
        raise param_fail(
            {
                "filename": "invalid filename or wrong extension"
                if content == "import"
                else "wrong file extension"
            }
        )
    if content not in storage.content:
        raise fail(f"storage '{storage.storage}' does not support '{content}' content")
    digest = hashlib.sha256(file.data).hexdigest()
    ctx.blobs[digest] = file.data
    folder = {"iso": "iso", "vztmpl": "vztmpl", "import": "import"}[content]
    volid = f"{storage.storage}:{folder}/{name}"
    log = [f"starting file import from: /var/tmp/pveupload-{digest[:32]}"]
    checksum_error = _checksum_error(file.data, p)
    if "checksum-algorithm" in p:
        log.append("calculating checksum..." + ("" if checksum_error else "OK, checksum verified"))
    if checksum_error is None:
        log += [
            f"target node: {node}",
            f"target file: {storage.path or ''}/template/{folder}/{name}",
            f"file size is: {len(file.data)}",
        ]
    upid = start_task(
        ctx,
        node=node,
        kind="imgcopy",
        task_id="",
        duration=latency.upload(len(file.data)),
        done="imgcopy",
        log=log,
        args={
            "volid": volid,
            "storage": storage.storage,
            "content": content,
            "blob": digest,
            "size": len(file.data),
        },
    )
    if checksum_error:
        next(t for t in ctx.state.tasks if t.upid == upid).fail = checksum_error
    return upid


def normalize_content_filename(filename: str) -> str:
    """``PVE::Storage::normalize_content_filename``: the last path component (``/`` or ``\\``),
    every character but ``[a-zA-Z0-9_.-]`` replaced by ``_``."""
    base = re.sub(r"^.*[/\\]", "", filename.removesuffix("\n"))
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", base)


def _checksum_error(data: bytes, p: dict[str, Any]) -> str | None:
    """PVE's worker: ``get_file_hash`` compared case-insensitively with the given checksum
    (the schema already made ``checksum`` and ``checksum-algorithm`` require each other)."""
    algorithm = p.get("checksum-algorithm")
    if algorithm is None:
        return None
    got = hashlib.new(str(algorithm), data).hexdigest()
    expected = str(p["checksum"])
    if got == expected.lower():
        return None
    return f"checksum mismatch: got '{got}' != expect '{expected}'"


@completion("imgcopy")
def _imgcopy_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is not None:
        return
    args = task.args
    add_volume(
        ctx,
        Volume(
            volid=args["volid"],
            storage=args["storage"],
            node=task.node,
            content=args["content"],
            size=int(args["size"]),
            format="iso" if args["content"] == "iso" else "raw",
            ctime=int(ctx.now()),
            blob=args["blob"],
        ),
    )
    task.log.append(f"file '{args['volid']}' copied")


def content_info(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    volid = str(p["volume"])
    if ":" not in volid:
        volid = f"{p['storage']}:{volid}"
    vol = find_volume(ctx, p["node"], volid)
    if vol is None:
        raise fail(f"volume '{volid}' does not exist")
    return {
        "path": f"/dev/pve/{volid.split(':', 1)[1]}" if vol.content == "images" else volid,
        "size": vol.size,
        "used": vol.size,
        "format": vol.format,
    }


ROUTES = {
    ("GET", "/nodes/{node}/storage/{storage}/content/{volume}"): content_info,
    ("GET", "/nodes/{node}/storage"): storage_list,
    ("GET", "/nodes/{node}/storage/{storage}/status"): storage_status,
    ("GET", "/nodes/{node}/storage/{storage}/content"): content_list,
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"): content_delete,
    ("POST", "/nodes/{node}/storage/{storage}/upload"): upload,
}
