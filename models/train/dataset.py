"""The run's training data: resolve inputs, hash them, extract faces once, cache them.

The cache (``faces/src.npz``, ``faces/dst.npz``, ``faces/data.json``) is keyed by the
sha256 of every input file plus the extraction settings, so a resumed run trains on the
very faces it started with, and changed inputs are caught instead of silently mixed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recast.models.hashing import sha256_file
from recast.models.train.extract import ExtractOptions, FaceSet, extract_faces
from recast.models.train.options import TrainOptions, WorkDir
from recast.models.train.sources import ResolvedInput, iter_frames, resolve_footage, resolve_plate
from recast.pipeline.atomic import atomic_write_json
from recast.pipeline.color import ColorContext
from recast.pipeline.errors import TrainError

Notify = Callable[[str], None]


@dataclass
class TrainData:
    src: FaceSet
    dst: FaceSet
    record: dict[str, Any]  # inputs (files + sha256), extraction reports, face-set hashes
    src_images: list[Path]  # source frames holding the kept actor faces (for the actor build)


def _key(src: list[dict[str, Any]], dst: list[dict[str, Any]], ex: ExtractOptions, analyser: str) -> str:
    blob = json.dumps({"src": [f["sha256"] for f in src], "dst": [f["sha256"] for f in dst], "extract": ex.__dict__, "analyser": analyser}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _progress(enabled: bool, label: str, total: int) -> Callable[[Any], Any] | None:
    if not enabled:
        return None
    from tqdm import tqdm

    return lambda items: tqdm(items, total=total, desc=f"extract {label}", unit="frame", leave=False)


def prepare_data(opts: TrainOptions, work: WorkDir, resolution: int, color: ColorContext, notify: Notify) -> TrainData:
    from recast.models.sourcefaces import make_analyser

    src_in: ResolvedInput = resolve_footage(opts.footage, work.root, opts.footage_frames, color)
    dst_in: ResolvedInput = resolve_plate(opts.plate, opts.plate_frames)
    src_files, dst_files = src_in.hashes(), dst_in.hashes()
    analyser_name = str(opts.analyser or "dlib")
    ex_src = ExtractOptions(resolution, min_face_px=opts.min_face_px, max_yaw=opts.max_yaw, min_sharpness=opts.min_sharpness, largest_only=True)
    ex_dst = ExtractOptions(resolution, min_face_px=opts.min_face_px, max_yaw=opts.max_yaw, min_sharpness=opts.min_sharpness, largest_only=False)
    key = _key(src_files, dst_files, ex_src, analyser_name)
    meta_path = work.faces / "data.json"
    if meta_path.is_file():
        saved = json.loads(meta_path.read_text())
        if saved.get("key") == key and (work.faces / "src.npz").is_file() and (work.faces / "dst.npz").is_file():
            notify(f"faces: reusing the extracted set ({saved['src']['report']['kept']} src, {saved['dst']['report']['kept']} dst)")
            return TrainData(FaceSet.load(work.faces / "src.npz"), FaceSet.load(work.faces / "dst.npz"), saved, [Path(p) for p in saved["src_images"]])
        if opts.resume:
            raise TrainError(f"{opts.name}: the footage, plates or extraction settings differ from the run being resumed; give the same inputs, or --force to start over")
    elif opts.resume:
        raise TrainError(f"{work.root}: no extracted faces to resume with; start the run again with --force")
    analyser = make_analyser({"analyser": analyser_name})
    src, src_rep = extract_faces(iter_frames(src_in, color, None), analyser, ex_src, "src", _progress(opts.progress, "src", len(src_in.frames)))
    notify(src_rep.line())
    dst, dst_rep = extract_faces(iter_frames(dst_in, color, opts.colorspace), analyser, ex_dst, "dst", _progress(opts.progress, "dst", len(dst_in.frames)))
    notify(dst_rep.line())
    work.faces.mkdir(parents=True, exist_ok=True)
    src.save(work.faces / "src.npz")
    dst.save(work.faces / "dst.npz")
    seen: list[str] = []
    for o in src.origins:
        if o["path"] not in seen:
            seen.append(o["path"])
    record = {
        "key": key,
        "analyser": analyser_name,
        "face_type": ex_src.face_type,
        "src": {"spec": src_in.spec, "kind": src_in.kind, "files": src_files, "report": src_rep.to_json(), "faces_sha256": sha256_file(work.faces / "src.npz")},
        "dst": {"spec": dst_in.spec, "kind": dst_in.kind, "files": dst_files, "report": dst_rep.to_json(), "faces_sha256": sha256_file(work.faces / "dst.npz")},
        "src_images": seen[:4],
    }
    atomic_write_json(meta_path, record)
    return TrainData(src, dst, record, [Path(p) for p in record["src_images"]])
