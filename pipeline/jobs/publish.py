"""Approve, reject and publish immutable versions ``<out>/publish/vNNN``.

A version number is reserved in the store (two publishers never get the same
number; a reservation of a dead publisher is reclaimed). The version is built
in a hidden ``publish/.vNNN.tmp-<pid>-<rand>`` folder: copies of the approved
takes' comp and element frames (read-only, fsynced) and ``manifest.json``, then
renamed to ``vNNN`` as the last step (never replacing anything). A visible
``vNNN`` is therefore always complete; a crash leaves only a hidden folder,
swept by the next publish and by ``recast publish --repair``. Reviewer decisions are mirrored to ``<out>/review/approvals.json`` so
the store can be rebuilt from the files.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import Any, Literal

from recast.pipeline.atomic import TMP_MARK, atomic_write_json, fsync_dir
from recast.pipeline.errors import JobError, SpecError, os_cause
from recast.pipeline.jobs.reprocess import current_takes
from recast.pipeline.jobs.runner import default_worker, load_job
from recast.pipeline.jobs.store import Store, now_iso
from recast.pipeline.jobs.takes import JobLayout, remove_tree, frame_state, read_json, sweep_temp_dirs, worker_alive

Fill = Literal["plate", "none"]
VERSION_RE = re.compile(r"^v(\d{3,})$")


def approvals_file(layout: JobLayout) -> Path:
    return layout.approvals_file


def set_approval(
    store: Store, job_id: str, frames: list[int] | None, by: str, state: str = "approved", take: int | None = None
) -> dict[int, int]:
    """Approve/reject ``frames`` (None: every frame with a result) at ``take`` or each frame's current take."""
    _job, _spec, layout = load_job(store, job_id)
    base = sorted(r["frame"] for r in store.frames(job_id, 1))
    wanted = base if frames is None else sorted(set(frames))
    outside = [f for f in wanted if f not in set(base)]
    if outside:
        raise JobError(f"job {job_id}: frame {outside[0]} is not one of its frames")
    if take is not None:
        picks = {f: take for f in wanted}
        missing = [f for f in wanted if frame_state(layout, take, f)[0] != "done"]
    else:
        current = current_takes(store, job_id, layout, wanted) if state == "approved" else {}
        picks = {f: current.get(f, _latest_take(layout, store, job_id, f)) for f in wanted}
        missing = [f for f in wanted if state == "approved" and f not in current]
    if missing and state == "approved":
        if frames is None:
            picks = {f: t for f, t in picks.items() if f not in set(missing)}
        else:
            raise JobError(f"job {job_id}: frame {missing[0]} has no finished result to approve")
    if not picks:
        raise JobError(f"job {job_id}: no finished frames to {state[:-1]}")
    store.set_approval(job_id, picks, state, by)
    _mirror_approvals(store, job_id, layout)
    return picks


def _latest_take(layout: JobLayout, store: Store, job_id: str, frame: int) -> int:
    takes = [r["take"] for r in store.frames(job_id) if r["frame"] == frame]
    return max(takes) if takes else 1


def _mirror_approvals(store: Store, job_id: str, layout: JobLayout) -> None:
    ap = store.approvals(job_id)
    atomic_write_json(approvals_file(layout), {"schema": 1, "job": job_id, "frames": {str(k): v for k, v in ap.items()}})


def _disk_numbers(root: Path) -> set[int]:
    """Version numbers visible under ``publish/`` (complete or not: never reused)."""
    if not root.is_dir():
        return set()
    return {int(m.group(1)) for p in root.iterdir() if (m := VERSION_RE.match(p.name))}


def _reservation_stale(worker: str) -> bool:
    return not worker_alive(worker)


def _rename_noreplace(src: Path, dst: Path) -> None:
    """``rename(2)`` that never replaces ``dst`` (``renameat2(RENAME_NOREPLACE)`` where the kernel has it)."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        fn = None
    if fn is not None:
        at_fdcwd, noreplace = -100, 1
        if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), noreplace) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err), str(dst))
    if dst.exists():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def _copy_readonly(src: Path, dst: Path) -> None:
    """Copy into the hidden version folder (nobody sees it until the rename), fsync, read-only."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(dst, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _seal(vdir: Path) -> None:
    """Make a finished version's folders read-only (files already are)."""
    ro_dir = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for sub in sorted((p for p in vdir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        fsync_dir(sub)
        os.chmod(sub, ro_dir)
    fsync_dir(vdir)
    os.chmod(vdir, ro_dir)


def repair_publish(store: Store, job_id: str) -> dict[str, Any]:
    """Sweep what interrupted publishes left: hidden temp folders and reservations of dead
    publishers; visible ``vNNN`` folders without a manifest (made by older versions) are
    moved aside to hidden ``.vNNN.broken-<time>`` folders; complete versions the store
    lacks (a publish killed after its rename) are indexed."""
    _job, _spec, layout = load_job(store, job_id)
    root = layout.publish_root
    removed = [str(p) for p in sweep_temp_dirs(root)]
    released = [r["version"] for r in store.version_reservations(job_id) if _reservation_stale(r["worker"])]
    for v in released:
        store.release_version(job_id, v)
    hidden: list[str] = []
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if VERSION_RE.match(p.name) and p.is_dir() and not (p / "manifest.json").is_file():
                dst = root / f".{p.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}"
                os.rename(p, dst)
                hidden.append(f"{p.name} -> {dst.name}")
    indexed = _index_unknown_versions(store, job_id, layout)
    return {"job": job_id, "removed": removed, "released": released, "hidden": hidden, "indexed": indexed}


def _index_unknown_versions(store: Store, job_id: str, layout: JobLayout) -> list[str]:
    known = {v["version"] for v in store.versions(job_id)}
    added = []
    for m in published_versions(layout):
        if m.get("version") not in known and m.get("job") == job_id:
            store.add_version(job_id, str(m["version"]), Path(m["path"]), m, by=m.get("by"))
            added.append(str(m["version"]))
    return added


def publish(store: Store, job_id: str, fill: Fill = "plate", by: str | None = None) -> dict[str, Any]:
    """Write the next free version of the approved frames; returns the manifest.

    The version is built in a hidden ``publish/.vNNN.tmp-<pid>-<rand>`` folder (its
    number reserved in the store), manifest included, and renamed to ``vNNN`` as the
    last step: a visible version is always complete. A crash leaves only the hidden
    folder and a reservation of a dead process, both swept by the next publish or
    ``recast publish --repair``.
    """
    if fill not in ("plate", "none"):
        raise SpecError(f"--fill: {fill!r} is not one of plate, none")
    from recast.pipeline.sequence import PlateSequence

    _job, spec, layout = load_job(store, job_id)
    base = sorted(r["frame"] for r in store.frames(job_id, 1))
    approvals = {f: a for f, a in store.approvals(job_id).items() if a["state"] == "approved"}
    if not approvals:
        raise JobError(f"job {job_id}: no approved frames to publish (run `recast approve {job_id} --frames ... --by NAME`)")
    for f, ap in approvals.items():
        if frame_state(layout, int(ap["take"]), f)[0] != "done":
            raise JobError(f"job {job_id}: approved frame {f} take {ap['take']} has no finished output on disk")
    plate = PlateSequence.open(spec.plate) if fill == "plate" else None
    root = layout.publish_root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JobError(f"{root}: cannot create the publish folder ({os_cause(exc)})") from None
    sweep_temp_dirs(root)
    _index_unknown_versions(store, job_id, layout)
    n = store.reserve_version(job_id, _disk_numbers(root), default_worker(), _reservation_stale)
    version = f"v{n:03d}"
    vdir = root / version
    tmp = root / f".{version}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(tmp)
        manifest = _build_version(job_id, spec, layout, base, approvals, plate, fill, by, version, vdir, tmp)
        _seal(tmp)
        _rename_noreplace(tmp, vdir)
        fsync_dir(root)
    except BaseException as exc:
        if tmp.exists():
            remove_tree(tmp)
        store.release_version(job_id, version)
        if isinstance(exc, OSError):
            raise JobError(f"publish {version} of job {job_id}: {os_cause(exc)}") from None
        raise
    store.add_version(job_id, version, vdir, manifest, by=by or spec.owner)
    return manifest


def _build_version(
    job_id: str,
    spec: Any,
    layout: JobLayout,
    base: list[int],
    approvals: dict[int, dict[str, Any]],
    plate: Any,
    fill: str,
    by: str | None,
    version: str,
    vdir: Path,
    tmp: Path,
) -> dict[str, Any]:
    """Fill the hidden folder ``tmp`` (paths in the manifest name ``vdir``, where it will be)."""
    vlayout = JobLayout(out=vdir, plate_name=layout.plate_name, padding=layout.padding)
    tlayout = JobLayout(out=tmp, plate_name=layout.plate_name, padding=layout.padding)
    entries: list[dict[str, Any]] = []
    hashes: set[str] = set()
    consents: set[str] = set()
    for f in base:
        a = approvals.get(f)
        if a is not None:
            take = int(a["take"])
            rec: dict[str, Any] = read_json(layout.record_path(take, f)) or {}
            src = Path(rec.get("comp") or layout.comp_path(take, f))
            if not src.is_file():
                src = layout.comp_path(take, f)
            _copy_readonly(src, tlayout.comp_path(1, f))
            element = None
            el_src = rec.get("element")
            if el_src and Path(el_src).is_file():
                element = vlayout.element_path(1, f)
                _copy_readonly(Path(el_src), tlayout.element_path(1, f))
            if rec.get("model_sha256"):
                hashes.add(str(rec["model_sha256"]))
            if rec.get("consent_id"):
                consents.add(str(rec["consent_id"]))
            entries.append(
                {
                    "frame": f,
                    "source": "approved",
                    "take": take,
                    "approved_by": a["by"],
                    "approved_at": a["at"],
                    "comp": str(vlayout.comp_path(1, f)),
                    "element": str(element) if element else None,
                    "model_sha256": rec.get("model_sha256"),
                    "consent_id": rec.get("consent_id"),
                }
            )
        elif plate is not None and f in set(plate.frames):
            _copy_readonly(plate.path(f), tlayout.comp_path(1, f))
            entries.append({"frame": f, "source": "plate", "take": None, "comp": str(vlayout.comp_path(1, f)), "element": None})
    manifest = {
        "schema": 1,
        "job": job_id,
        "version": version,
        "shot": spec.shot,
        "plate": spec.plate,
        "actor": spec.actor,
        "fill": fill,
        "created": now_iso(),
        "by": by or spec.owner,
        "frames": entries,
        "approved": sum(1 for e in entries if e["source"] == "approved"),
        "filled": sum(1 for e in entries if e["source"] == "plate"),
        "model_sha256": sorted(hashes),
        "consent_ids": sorted(consents),
        "path": str(vdir),
    }
    atomic_write_json(tmp / "manifest.json", manifest)
    os.chmod(tmp / "manifest.json", stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return manifest


def published_versions(layout: JobLayout) -> list[dict[str, Any]]:
    """Complete versions on disk (folders with a manifest), oldest first."""
    root = layout.publish_root
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if VERSION_RE.match(p.name):
            m = read_json(p / "manifest.json")
            if m is not None:
                out.append({**m, "path": str(p)})  # where it is now, even if the job folder moved
    return out
