"""Score a job's output directory: records + plate/comp crops + element matte.

Reads ``<out>/records/*.json`` (take 1) or ``<out>/takes/tNNN/records`` for a
later take, scores every swapped face on crops (never whole frames), adds the
temporal metrics along tracks, applies the rules and writes
``<out>/qc/scores.json`` (``scores_tNNN.json`` for later takes) atomically.
With a store it also indexes the scores and replaces the job's auto flags.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipeline.atomic import atomic_write_json
from pipeline.errors import QCError
from qc.cropio import Box, ImageInfo, clamp_box, image_info, read_region
from qc.display import BakedDisplay, guess_space
from qc.identity import FaceProbe, actor_embedding, face_from_record
from qc.lpips_metric import LpipsOptions
from qc.metrics import METRICS, SEQUENCE_METRICS, Direction, Metric, MetricContext, MetricInfo, MetricResult, run_metric
from qc.rules import Rules, evaluate, worst
from qc.temporal import FaceFeatures, FrameFeatures, TemporalOptions, temporal_scores

SCHEMA = 1
AUTO_FLAG_SOURCE = "auto"


class ScoreStore(Protocol):
    """The slice of ``pipeline.jobs.Store`` that QC writes to."""

    def put_scores(self, job_id: str, frame: int, take: int, scores: dict[str, float | None]) -> None: ...
    def add_flag(self, job_id: str, frame: int, source: str, reason: str, note: str | None = None, author: str | None = None) -> int: ...
    def clear_auto_flags(self, job_id: str, frames: list[int] | None = None) -> None: ...


@dataclass(frozen=True)
class QCOptions:
    thresholds: Path | None = None  # None: qc/thresholds.toml
    take: int = 1
    margin: float = 0.25  # the crop is the face box grown by this fraction on each side
    metrics: tuple[str, ...] | None = None  # crop metrics to run (None: all registered)
    identity: bool = True  # embeddings + landmark refit through pipeline.faces
    lpips: LpipsOptions = field(default_factory=LpipsOptions)
    temporal: TemporalOptions = field(default_factory=TemporalOptions)


def take_dir(out: Path, take: int) -> Path:
    return out if take == 1 else out / "takes" / f"t{take:03d}"


def scores_path(out: Path, take: int = 1) -> Path:
    return out / "qc" / ("scores.json" if take == 1 else f"scores_t{take:03d}.json")


def load_records(out: Path, take: int = 1) -> dict[int, dict[str, Any]]:
    rdir = take_dir(out, take) / "records"
    if not rdir.is_dir():
        raise QCError(f"{rdir}: no records directory (is {out} a job output folder?)")
    records: dict[int, dict[str, Any]] = {}
    for p in sorted(rdir.glob("*.json")):
        if p.name.startswith("."):
            continue  # temp files of an interrupted write
        try:
            rec = json.loads(p.read_text())
            frame = int(rec["frame"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise QCError(f"{p}: not a frame record ({type(exc).__name__}: {exc})") from None
        records[frame] = rec
    if not records:
        raise QCError(f"{rdir}: no frame records")
    return records


def _grow(box: list[float], margin: float, bounds: Box) -> Box:
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return clamp_box((int(np.floor(x0 - mx)), int(np.floor(y0 - my)), int(np.ceil(x1 + mx)), int(np.ceil(y1 + my))), bounds)


@dataclass
class _Job:
    """Per-run state: display transform, probe, metrics, actor embeddings (no globals)."""

    options: QCOptions
    metrics: list[Metric]
    probe: FaceProbe | None
    display: BakedDisplay | None = None
    actor_emb: dict[str, tuple[np.ndarray | None, str | None]] = field(default_factory=dict)


def _make_metrics(options: QCOptions) -> list[Metric]:
    names = options.metrics if options.metrics is not None else tuple(METRICS.names())
    out: list[Metric] = []
    for n in names:
        out.append(METRICS.create(n, options.lpips) if n == "lpips" else METRICS.create(n))
    return out


def _score_face(job: _Job, rec: dict[str, Any], face: dict[str, Any], plate_info: ImageInfo) -> tuple[dict[str, MetricResult], FaceFeatures]:
    crop_box = _grow(face["box"], job.options.margin, plate_info.display_window)
    if crop_box[2] - crop_box[0] < 8 or crop_box[3] - crop_box[1] < 8:
        raise QCError(f"frame {rec['frame']}: face box {face['box']} is outside the plate")
    plate_raw = read_region(rec["plate"], crop_box, plate_info.rgb)
    comp_info = image_info(rec["comp"])
    out_raw = read_region(rec["comp"], crop_box, comp_info.rgb)
    if rec.get("element") and Path(rec["element"]).is_file():
        einfo = image_info(rec["element"])
        a = einfo.alpha
        matte = read_region(rec["element"], crop_box, (a,))[..., 0] if a is not None else np.zeros(out_raw.shape[:2], np.float32)
    else:  # no element: the matte box is the best we know
        matte = np.zeros(out_raw.shape[:2], np.float32)
        mb = face.get("matte_box")
        if mb:
            x0, y0, x1, y1 = (int(round(v)) for v in mb)
            matte[max(0, y0 - crop_box[1]) : max(0, y1 - crop_box[1]), max(0, x0 - crop_box[0]) : max(0, x1 - crop_box[0])] = 1.0
    assert job.display is not None
    plate_d, out_d = job.display(plate_raw), job.display(out_raw)
    fb = face["box"]
    fx0, fy0 = int(round(fb[0])) - crop_box[0], int(round(fb[1])) - crop_box[1]
    fx1, fy1 = int(round(fb[2])) - crop_box[0], int(round(fb[3])) - crop_box[1]
    h, w = plate_d.shape[:2]
    face_box = (max(0, fx0), max(0, fy0), min(w, fx1), min(h, fy1))
    finite = plate_raw[np.isfinite(plate_raw)]
    plate_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    actor = str(face.get("actor") or rec.get("actor") or "")
    if actor and actor not in job.actor_emb and job.probe is not None:
        job.actor_emb[actor] = actor_embedding(actor, job.probe)
    act_emb, act_reason = job.actor_emb.get(actor, (None, "record names no actor"))
    ctx = MetricContext(
        matte=matte, face_box=face_box, face=face, crop_origin=(crop_box[0], crop_box[1]),
        plate_range=plate_range, out_raw=out_raw, actor_embedding=act_emb, probe=job.probe,
    )
    ctx.cache["actor_reason"] = act_reason
    results = {m.name: run_metric(m, plate_d, out_d, ctx) for m in job.metrics}
    # features for the temporal metrics
    pf, cf = ctx.face_slice(plate_d), ctx.face_slice(out_d)
    colour = (cf.reshape(-1, 3).mean(0) - pf.reshape(-1, 3).mean(0)).astype(np.float64) if pf.size else None
    residual = None
    if job.probe is not None:
        try:
            plate_face = face_from_record(face, ctx.crop_origin)
            comp_face = job.probe.fit_landmarks(out_d, plate_face.box)
            ref_pts = plate_face.landmarks if plate_face.landmarks is not None else plate_face.kps5
            pts = comp_face.landmarks if plate_face.landmarks is not None else comp_face.kps5
            if pts is not None and np.shape(pts) == np.shape(ref_pts):
                residual = (np.asarray(pts, np.float64) - ref_pts) / max(plate_face.size, 1.0)
        except Exception:  # noqa: BLE001 - a refit failure only leaves jitter unavailable
            residual = None
    track = str(face.get("track_id") if face.get("track_id") is not None else face.get("_index", 0))
    return results, FaceFeatures(track, residual, colour)


def _aggregate(directions: dict[str, Direction], faces: list[dict[str, MetricResult]]) -> dict[str, MetricResult]:
    """Frame value per metric = the worst face's."""
    out: dict[str, MetricResult] = {}
    for name in {n for f in faces for n in f}:
        vals = [f[name] for f in faces if name in f]
        good = [r for r in vals if r.value is not None and np.isfinite(r.value)]
        if not good:
            out[name] = vals[0] if vals else MetricResult(None, "no face scored")
            continue
        pick = min if directions.get(name, "higher") == "higher" else max
        out[name] = MetricResult(pick(r.value for r in good))  # type: ignore[type-var]
    return out


def metric_infos(metrics: list[Metric]) -> list[MetricInfo]:
    return [MetricInfo(m.name, m.direction, m.label) for m in metrics] + list(SEQUENCE_METRICS)


def score_job(out: str | Path, options: QCOptions | None = None, job_id: str | None = None, store: ScoreStore | None = None) -> dict[str, Any]:
    """Score every frame of a take; write and return the scores document."""
    options = options or QCOptions()
    out = Path(out)
    t_start = time.perf_counter()
    rules = Rules.load(options.thresholds)
    records = load_records(out, options.take)
    metrics = _make_metrics(options)
    first = records[min(records)]
    probe = FaceProbe(str((first.get("settings") or {}).get("analyser") or "dlib")) if options.identity else None
    job = _Job(options, metrics, probe)
    infos = metric_infos(metrics)
    directions: dict[str, Direction] = {i.name: i.direction for i in infos}

    frame_results: dict[int, dict[str, MetricResult]] = {}
    frame_faces: dict[int, list[dict[str, Any]]] = {}
    frame_errors: dict[int, list[str]] = {}
    features: list[FrameFeatures] = []
    plate_info: ImageInfo | None = None
    all_frames = list(range(min(records), max(records) + 1))
    for frame in all_frames:
        rec = records.get(frame)
        errors: list[str] = []
        frame_faces[frame] = []
        if rec is None:
            frame_errors[frame] = [f"frame {frame}: no record (missing frame)"]
            continue
        if rec.get("status") == "failed":
            errors.append(f"frame {frame}: swap failed: {rec.get('error') or 'no reason recorded'}")
        elif not rec.get("comp") or not Path(rec["comp"]).is_file():
            errors.append(f"frame {frame}: comp file missing ({rec.get('comp')})")
        elif not rec.get("plate") or not Path(rec["plate"]).is_file():
            errors.append(f"frame {frame}: plate file missing ({rec.get('plate')})")
        stats = rec.get("stats") or {}
        if int(stats.get("nan", 0) or 0) or int(stats.get("inf", 0) or 0):
            errors.append(f"frame {frame}: comp has {stats.get('nan', 0)} NaN and {stats.get('inf', 0)} Inf pixels")
        feats = FrameFeatures(frame)
        face_results: list[dict[str, MetricResult]] = []
        if not any(e for e in errors if "missing" in e or "failed" in e):
            if plate_info is None:
                plate_info = image_info(rec["plate"])
                src = guess_space(plate_info.attributes, True, (rec.get("settings") or {}).get("colorspace"))
                job.display = BakedDisplay(src)
            for i, face in enumerate(rec.get("faces") or []):
                if not face.get("swapped"):
                    continue
                face = dict(face, _index=i)
                try:
                    res, ff = _score_face(job, rec, face, plate_info)
                except QCError as exc:
                    errors.append(str(exc))
                    continue
                face_results.append(res)
                feats.faces.append(ff)
                frame_faces[frame].append({"track_id": face.get("track_id"), "box": face.get("box"), "actor": face.get("actor"),
                                           "metrics": {k: v.to_json() for k, v in res.items()}})
            feats.swapped = len(face_results)
        features.append(feats)
        frame_results[frame] = _aggregate(directions, face_results) if face_results else {
            m.name: MetricResult(None, "no swapped face on this frame") for m in metrics}
        frame_errors[frame] = errors

    for frame, seq in temporal_scores(features, options.temporal).items():
        for name, (value, reason) in seq.items():
            frame_results[frame][name] = MetricResult(value, reason)

    values = {f: {n: r.value for n, r in frame_results.get(f, {}).items()} for f in all_frames}
    verdicts = evaluate(rules, directions, values)
    frames_doc: list[dict[str, Any]] = []
    for frame in all_frames:
        res = frame_results.get(frame, {})
        v = verdicts.get(frame, {})
        reasons = list(frame_errors.get(frame, []))
        metrics_doc: dict[str, Any] = {}
        for info in infos:
            r = res.get(info.name, MetricResult(None, "frame not scored"))
            vd = v.get(info.name)
            status = vd.status if vd else "na"
            metrics_doc[info.name] = dict(r.to_json(), status=status)
            if vd and vd.status in ("warn", "fail") and vd.reason:
                metrics_doc[info.name]["rule"] = vd.reason
                reasons.append(vd.reason)
        statuses = [m["status"] for m in metrics_doc.values()] + (["fail"] if frame_errors.get(frame) else [])
        status = worst(statuses)
        rec = records.get(frame) or {}
        frames_doc.append({
            "frame": frame, "take": options.take, "status": "pass" if status == "na" else status,
            "reasons": reasons, "record_status": rec.get("status", "missing"),
            "plate": rec.get("plate"), "comp": rec.get("comp"), "element": rec.get("element"),
            "metrics": metrics_doc, "faces": frame_faces.get(frame, []),
        })
    counts = {s: sum(1 for f in frames_doc if f["status"] == s) for s in ("pass", "warn", "fail")}
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "job": job_id if job_id is not None else first.get("job"),
        "out": str(out.resolve()),
        "take": options.take,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "thresholds": rules.source,
        "metrics": {i.name: {"direction": i.direction, "label": i.label, "kind": i.kind} for i in infos},
        "job_info": {k: first.get(k) for k in ("actor", "backend", "model_sha256", "consent_id", "settings", "plate")},
        "summary": dict(frames=len(frames_doc), **counts, flagged=[f["frame"] for f in frames_doc if f["status"] == "fail"]),
        "qc_seconds": round(time.perf_counter() - t_start, 3),
        "frames": frames_doc,
    }
    doc["job_info"]["lpips_trunk"] = "random (test only)" if options.lpips.trunk == "random" else options.lpips.trunk or "torch hub cache"
    atomic_write_json(scores_path(out, options.take), doc)
    if store is not None and doc["job"]:
        index_scores(store, str(doc["job"]), doc)
    return doc


def index_scores(store: ScoreStore, job_id: str, doc: dict[str, Any]) -> None:
    """Put every frame's scores into the store and replace its auto flags."""
    frames = [f["frame"] for f in doc["frames"]]
    for f in doc["frames"]:
        store.put_scores(job_id, f["frame"], int(doc["take"]), {k: m["value"] for k, m in f["metrics"].items()})
    store.clear_auto_flags(job_id, frames)
    for f in doc["frames"]:
        if f["status"] == "fail":
            store.add_flag(job_id, f["frame"], AUTO_FLAG_SOURCE, "; ".join(f["reasons"]) or "QC fail")


def read_scores(out: str | Path, take: int = 1) -> dict[str, Any]:
    p = scores_path(Path(out), take)
    if not p.is_file():
        raise QCError(f"{p}: no QC scores yet (run `recast qc scores` first)")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise QCError(f"{p}: corrupt scores file ({exc})") from None
