"""Approve, reject and publish immutable versions ``<out>/publish/vNNN``.

A version folder is reserved with an exclusive ``mkdir`` (two publishers can
never get the same number, nothing is ever overwritten), filled with copies of
the approved takes' comp and element frames (atomic, then read-only), and
closed by ``manifest.json`` written last. A folder without a manifest is an
interrupted publish: it is left alone and the next publish takes the next
number. Reviewer decisions are mirrored to ``<out>/review/approvals.json`` so
the store can be rebuilt from the files.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any, Literal

from recast.pipeline.atomic import atomic_path, atomic_write_json
from recast.pipeline.errors import JobError, SpecError
from recast.pipeline.jobs.reprocess import current_takes
from recast.pipeline.jobs.runner import load_job
from recast.pipeline.jobs.store import Store, now_iso
from recast.pipeline.jobs.takes import JobLayout, frame_state, read_json

Fill = Literal["plate", "none"]
VERSION_RE = re.compile(r"^v(\d{3,})$")


def approvals_file(layout: JobLayout) -> Path:
    return layout.out / "review" / "approvals.json"


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


def _reserve_version(root: Path) -> tuple[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    nums = [int(m.group(1)) for p in root.iterdir() if (m := VERSION_RE.match(p.name))]
    n = max(nums, default=0) + 1
    while True:
        name = f"v{n:03d}"
        path = root / name
        try:
            os.mkdir(path)  # exclusive: fails if another publish took it
            return name, path
        except FileExistsError:
            n += 1


def _copy_readonly(src: Path, dst: Path) -> None:
    if dst.exists():
        raise JobError(f"{dst}: already exists; published versions are never overwritten")
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    os.chmod(dst, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _seal(vdir: Path) -> None:
    """Make a finished version's folders read-only (files already are)."""
    ro_dir = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for sub in sorted((p for p in vdir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        os.chmod(sub, ro_dir)
    os.chmod(vdir, ro_dir)


def publish(store: Store, job_id: str, fill: Fill = "plate", by: str | None = None) -> dict[str, Any]:
    """Write the next free version of the approved frames; returns the manifest."""
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
    version, vdir = _reserve_version(layout.publish_root)
    vlayout = JobLayout(out=vdir, plate_name=layout.plate_name, padding=layout.padding)
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
            _copy_readonly(src, vlayout.comp_path(1, f))
            element = None
            el_src = rec.get("element")
            if el_src and Path(el_src).is_file():
                element = vlayout.element_path(1, f)
                _copy_readonly(Path(el_src), element)
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
            _copy_readonly(plate.path(f), vlayout.comp_path(1, f))
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
    atomic_write_json(vdir / "manifest.json", manifest)
    os.chmod(vdir / "manifest.json", stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    _seal(vdir)
    store.add_version(job_id, version, vdir, manifest, by=by or spec.owner)
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
