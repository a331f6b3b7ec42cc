"""Score a job's output directory: records + plate/comp crops + element matte.

Reads ``<out>/records/*.json`` (take 1) or ``<out>/takes/tNNN/records`` for a
later take, scores every swapped face on crops (never whole frames) through
:class:`qc.frame_scoring.FrameScorer` (cached per frame), adds the temporal
metrics along tracks, applies the rules and writes ``<out>/qc/scores.json``
(``scores_tNNN.json`` for later takes) atomically. With a store it also
indexes the scores and replaces that take's auto flags (other takes' auto
flags and every reviewer flag are kept).

The frames a take should have come from the job's files: ``<out>/job.json``
for take 1, ``<out>/takes/tNNN/take.json`` for a later take (a reprocess of
a few frames). Only an output with neither (a plain ``recast swap`` folder)
falls back to every frame between its first and last record, so a gap there
is a missing frame.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recast.pipeline.atomic import atomic_write_json
from recast.pipeline.errors import QCError, SpecError
from recast.pipeline.progress import NoProgress, Progress
from recast.pipeline.schema.layout import JobLayout
from recast.pipeline.schema.record import upgrade_record
from recast.pipeline.schema.scores import SCORES_SCHEMA, check_scores
from recast.qc.frame_scoring import FrameScore, FrameScorer, QCOptions, take_dir
from recast.qc.metrics import FRAME_METRICS, SEQUENCE_METRICS, Direction, Metric, MetricInfo, MetricResult, record_metrics
from recast.qc.rules import Rules, evaluate, worst
from recast.qc.temporal import temporal_scores

__all__ = ["QCOptions", "ScoreStore", "index_scores", "load_records", "read_scores", "score_job", "scores_path", "take_dir"]

SCHEMA = SCORES_SCHEMA
AUTO_FLAG_SOURCE = "auto"


class ScoreStore(Protocol):
    """The slice of ``pipeline.jobs.Store`` that QC writes to."""

    def put_scores(self, job_id: str, frame: int, take: int, scores: dict[str, float | None]) -> None: ...
    def add_flag(self, job_id: str, frame: int, source: str, reason: str, note: str | None = None, author: str | None = None, *,
                 take: int | None = None, created: str | None = None) -> int: ...
    def clear_auto_flags(self, job_id: str, frames: list[int] | None = None, *, take: int | None = None) -> None: ...


def job_shot(out: Path) -> str | None:
    """The job's shot name from ``<out>/job.json`` (None for a plain swap folder)."""
    try:
        meta = json.loads((out / "job.json").read_text())
        shot = (meta.get("spec") or {}).get("shot") if isinstance(meta, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return shot.strip() if isinstance(shot, str) and shot.strip() else None


def scores_path(out: Path, take: int = 1) -> Path:
    return JobLayout(Path(out)).scores_path(take)


def load_record_files(out: Path, take: int = 1) -> dict[int, tuple[Path, dict[str, Any]]]:
    """frame -> (record path, record); QCError naming the file for a bad record."""
    rdir = JobLayout(Path(out)).records_dir(take)
    if not rdir.is_dir():
        raise QCError(f"{rdir}: no records directory (is {out} a job output folder?)")
    records: dict[int, tuple[Path, dict[str, Any]]] = {}
    for p in sorted(rdir.glob("*.json")):
        if p.name.startswith("."):
            continue  # temp files of an interrupted write
        try:
            rec = upgrade_record(json.loads(p.read_text()))  # schema 1 or 2, every key of the current schema
            frame = int(rec["frame"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise QCError(f"{p}: not a frame record ({type(exc).__name__}: {exc})") from None
        except SpecError as exc:
            raise QCError(f"{p}: not a frame record ({exc})") from None
        records[frame] = (p, rec)
    if not records:
        raise QCError(f"{rdir}: no frame records")
    return records


def expected_frames(out: Path, take: int, recorded: list[int]) -> list[int]:
    """The frames take ``take`` of the output ``out`` should have (see the module doc), plus any recorded."""
    lay = JobLayout(Path(out))
    meta = lay.job_file if take == 1 else lay.take_file(take)
    listed: list[int] | None = None
    try:
        raw = json.loads(meta.read_text())
        frames = raw.get("frames") if isinstance(raw, dict) else None
        if isinstance(frames, list) and frames and all(isinstance(f, int) and not isinstance(f, bool) for f in frames):
            listed = frames
    except FileNotFoundError:
        listed = None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QCError(f"{meta}: cannot read the take's frame list ({type(exc).__name__}: {exc})") from None
    if listed is None:
        return list(range(min(recorded), max(recorded) + 1)) if recorded else []
    return sorted(set(listed) | set(recorded))


def load_records(out: Path, take: int = 1) -> dict[int, dict[str, Any]]:
    return {f: rec for f, (_, rec) in load_record_files(out, take).items()}


def _aggregate(directions: dict[str, Direction], faces: list[dict[str, MetricResult]]) -> dict[str, MetricResult]:
    """Frame value per metric = the worst face's."""
    out: dict[str, MetricResult] = {}
    for name in {n for f in faces for n in f}:
        vals = [f[name] for f in faces if name in f]
        good = [r.value for r in vals if r.value is not None and np.isfinite(r.value)]
        if not good:
            out[name] = vals[0]
            continue
        out[name] = MetricResult(min(good) if directions.get(name, "higher") == "higher" else max(good))
    return out


PREFERRED_ORDER = ("ssim_face", "lpips", "id_actor", "id_plate", "landmark_jitter", "flicker", "missing_faces", "pose_uncovered",
                   "ssim_outside", "out_of_range", "nonfinite", "det_score", "propagated")


def metric_infos(metrics: list[Metric]) -> list[MetricInfo]:
    infos = [MetricInfo(m.name, m.direction, m.label) for m in metrics] + list(SEQUENCE_METRICS) + list(FRAME_METRICS)
    rank = {n: i for i, n in enumerate(PREFERRED_ORDER)}
    return sorted(infos, key=lambda i: (rank.get(i.name, len(rank)), i.name))


def score_job(out: str | Path, options: QCOptions | None = None, job_id: str | None = None, store: ScoreStore | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Score every frame of a take; write and return the scores document (``progress``: frames scored)."""
    options = options or QCOptions()
    out = Path(out)
    t_start = time.perf_counter()
    rules = Rules.load(options.thresholds)
    files = load_record_files(out, options.take)
    first = files[min(files)][1]
    scorer = FrameScorer(out, options, str((first.get("settings") or {}).get("analyser") or "dlib"))
    infos = metric_infos(scorer.metrics)
    directions: dict[str, Direction] = {i.name: i.direction for i in infos}

    all_frames = expected_frames(out, options.take, sorted(files))
    scores: dict[int, FrameScore] = {}
    bar = progress or NoProgress()
    bar.start(len(all_frames), f"QC take {options.take}")
    def one(frame: int) -> FrameScore:
        if frame not in files:
            return FrameScore(frame, [f"frame {frame}: no record (missing frame)"], [])
        path, rec = files[frame]
        return scorer.score_cached(rec, path)

    # frames are scored on a few threads: reading EXR regions, OCIO, OpenCV and dlib release
    # the GIL, so the cores overlap one frame's decoding with another's metrics
    workers = max(1, min(options.workers or (os.cpu_count() or 1), 8, len(all_frames)))
    try:
        if workers == 1:
            for frame in all_frames:
                scores[frame] = one(frame)
                bar.advance()
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recast-qc") as pool:
                for frame, sc in zip(all_frames, pool.map(one, all_frames), strict=True):
                    scores[frame] = sc
                    bar.advance()
    finally:
        bar.close()
    results: dict[int, dict[str, MetricResult]] = {}
    for frame, sc in scores.items():
        face_res = [f.results for f in sc.faces]
        results[frame] = _aggregate(directions, face_res) if face_res else {
            m.name: MetricResult(None, sc.errors[0] if sc.errors else "no swapped face on this frame") for m in scorer.metrics}
    present = [scores[f].features for f in all_frames if f in files]
    for frame, seq in temporal_scores(present, options.temporal).items():
        for name, (value, reason) in seq.items():
            results[frame][name] = MetricResult(value, reason)

    for frame in all_frames:  # read from the record itself: faces faded out are not swapped
        results[frame].update(record_metrics(files[frame][1] if frame in files else {}))
    values = {f: {n: r.value for n, r in results[f].items()} for f in all_frames}
    verdicts = evaluate(rules, directions, values)
    frames_doc: list[dict[str, Any]] = []
    for frame in all_frames:
        rec = files[frame][1] if frame in files else {}
        reasons = list(scores[frame].errors)
        metrics_doc: dict[str, Any] = {}
        for info in infos:
            r = results[frame].get(info.name, MetricResult(None, "frame not scored"))
            vd = verdicts[frame].get(info.name)
            metrics_doc[info.name] = dict(r.to_json(), status=vd.status if vd else "na")
            if vd and vd.status in ("warn", "fail") and vd.reason:
                metrics_doc[info.name]["rule"] = vd.reason
                reasons.append(vd.reason)
        status = worst([m["status"] for m in metrics_doc.values()] + (["fail"] if scores[frame].errors else []))
        frames_doc.append({
            "frame": frame, "take": options.take, "status": "pass" if status == "na" else status,
            "reasons": reasons, "record_status": rec.get("status", "missing"),
            "plate": rec.get("plate"), "comp": rec.get("comp"), "element": rec.get("element"),
            "colorspace": rec.get("colorspace"),  # the engine's plate colour: reports show the frame through it
            "metrics": metrics_doc, "faces": [{k: v for k, v in f.to_json().items() if k != "residual"} for f in scores[frame].faces],
        })
    counts = {s: sum(1 for f in frames_doc if f["status"] == s) for s in ("pass", "warn", "fail")}
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "job": job_id if job_id is not None else first.get("job"),
        "out": str(out.resolve()),
        "shot": job_shot(out),
        "take": options.take,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "thresholds": rules.source,
        "metrics": {i.name: {"direction": i.direction, "label": i.label, "kind": i.kind} for i in infos},
        "job_info": {k: first.get(k) for k in ("actor", "backend", "model_sha256", "consent_id", "settings", "plate")},
        "summary": dict(frames=len(frames_doc), **counts, flagged=[f["frame"] for f in frames_doc if f["status"] == "fail"]),
        "qc_seconds": round(time.perf_counter() - t_start, 3),
        "frames_scored": scorer.computed,
        "frames": frames_doc,
    }
    doc["job_info"]["lpips_trunk"] = "random (test only)" if options.lpips.trunk == "random" else options.lpips.trunk or "torch hub cache"
    atomic_write_json(scores_path(out, options.take), check_scores(doc))
    if store is not None and doc["job"]:
        index_scores(store, str(doc["job"]), doc)
    return doc


def index_scores(store: ScoreStore, job_id: str, doc: dict[str, Any]) -> None:
    """Put every frame's scores into the store and replace the auto flags of that take."""
    take = int(doc["take"])
    frames = [f["frame"] for f in doc["frames"]]
    many = getattr(store, "put_many_scores", None)  # one transaction for the take (pipeline.jobs.Store)
    if callable(many):
        many(job_id, take, {f["frame"]: {k: m["value"] for k, m in f["metrics"].items()} for f in doc["frames"]})
    else:
        for f in doc["frames"]:
            store.put_scores(job_id, f["frame"], take, {k: m["value"] for k, m in f["metrics"].items()})
    store.clear_auto_flags(job_id, frames, take=take)
    for f in doc["frames"]:
        if f["status"] == "fail":
            store.add_flag(job_id, f["frame"], AUTO_FLAG_SOURCE, "; ".join(f["reasons"]) or "QC fail", take=take, created=doc.get("created"))


def read_scores(out: str | Path, take: int = 1) -> dict[str, Any]:
    p = scores_path(Path(out), take)
    if not p.is_file():
        raise QCError(f"{p}: no QC scores yet (run `recast qc scores` first)")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise QCError(f"{p}: corrupt scores file ({exc})") from None
