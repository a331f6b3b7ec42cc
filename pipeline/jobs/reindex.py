"""Rebuild a job's index from its files (``recast job reindex DIR``).

Reads ``job.json``, every ``takes/tNNN/take.json``, each frame's record,
``review/approvals.json``, ``publish/vNNN/manifest.json`` and the QC scores
(``qc/scores.json``, ``qc/scores_tNNN.json``); the store rows of that job are
replaced by what they say. Times come from the files too: approvals keep
when they were given, auto flags when QC ran, versions when they were
published. A QC scores file that cannot be read is left out (and named in the
result), never a reason to refuse the rest of the index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recast.pipeline.errors import JobError, RecastError
from recast.pipeline.jobs.publish import approvals_file, published_versions
from recast.pipeline.jobs.store import Store
from recast.pipeline.jobs.takes import (
    JobLayout,
    frame_state,
    layout_for,
    list_takes,
    read_json,
)


def reindex(store: Store, out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir).absolute()
    meta = read_json(out_dir / "job.json")
    if meta is None:
        raise JobError(f"{out_dir}: no readable job.json; not a job output folder")
    try:
        job_id = str(meta["id"])
        spec = dict(meta["spec"])
        frames = [int(f) for f in meta["frames"]]
    except (KeyError, TypeError, ValueError):
        raise JobError(f"{out_dir / 'job.json'}: missing id, spec or frames") from None
    spec["out"] = str(out_dir)
    layout: JobLayout = layout_for({**meta, "out": str(out_dir)})
    takes: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for take in list_takes(layout):
        if take == 1:
            info: dict[str, Any] = {"take": 1, "frames": frames, "created": meta.get("created"), "created_by": spec.get("owner")}
        else:
            info = read_json(layout.take_file(take)) or {}
            info["take"] = take
        takes.append(info)
        for f in info.get("frames") or []:
            state, error = frame_state(layout, take, int(f))
            rows.append(
                {
                    "frame": int(f),
                    "take": take,
                    "status": state,
                    "error": error,
                    "attempts": 1 if state != "pending" else 0,
                    "record": str(layout.record_path(take, int(f))) if state != "pending" else None,
                }
            )
    states = {r["status"] for r in rows}
    status = "queued" if "pending" in states else ("failed" if "failed" in states else "done")
    store.replace_index(job_id, spec, status, takes, rows, created=meta.get("created"))  # type: ignore[arg-type]
    store.restore_approvals(job_id, _approvals(layout))
    versions = published_versions(layout)
    for m in versions:
        store.add_version(job_id, str(m["version"]), Path(m["path"]), m, by=m.get("by"))
    qc = _restore_scores(store, job_id, layout, [int(t["take"]) for t in takes])
    reviewer_flags = _restore_reviewer_flags(store, job_id, layout)
    return {
        "job": job_id,
        "status": status,
        "takes": len(takes),
        "frames": {s: sum(1 for r in rows if r["status"] == s) for s in ("done", "failed", "pending")},
        "versions": [m["version"] for m in versions],
        "qc": qc,
        "reviewer_flags": reviewer_flags,
    }


def _restore_reviewer_flags(store: Store, job_id: str, layout: JobLayout) -> int:
    """Index the reviewer flags (notes, strokes) mirrored in ``review/flags.json`` that the store lacks; returns how many."""
    from recast.pipeline.jobs.review import read_reviewer_flags, validate_strokes

    have = {(f["frame"], f["author"], f["created"], f["note"]) for f in store.flags(job_id) if f["source"] == "reviewer"}
    added = 0
    for fl in read_reviewer_flags(layout.out):
        key = (fl["frame"], fl.get("author"), fl.get("created"), fl.get("note"))
        if key in have or not isinstance(fl.get("reason"), str) or not fl["reason"].strip():
            continue
        try:
            strokes = validate_strokes(fl.get("strokes") or None)
        except RecastError:
            strokes = []  # a damaged stroke list never costs the note
        store.add_flag(job_id, int(fl["frame"]), "reviewer", fl["reason"], fl.get("note"), fl.get("author"),
                       take=fl.get("take") if isinstance(fl.get("take"), int) else None,
                       created=fl.get("created") if isinstance(fl.get("created"), str) else None, strokes=strokes or None)
        have.add(key)
        added += 1
    return added


def _approvals(layout: JobLayout) -> dict[int, dict[str, Any]]:
    path = approvals_file(layout)
    raw = (read_json(path) or {}).get("frames") or {}
    out: dict[int, dict[str, Any]] = {}
    if not isinstance(raw, dict):
        raise JobError(f"{path}: 'frames' must be an object of frame -> approval")
    for f, a in raw.items():
        try:
            out[int(f)] = {"take": int(a["take"]), "state": a["state"], "by": a["by"], "at": a.get("at")}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise JobError(f"{path}: frame {f}: an approval needs take, state and by") from None
    return out


def _restore_scores(store: Store, job_id: str, layout: JobLayout, takes: list[int]) -> dict[str, Any]:
    """Index each take's QC scores file (scores and auto flags); returns which takes were restored or skipped."""
    from recast.qc.scoring import index_scores, scores_path

    restored: list[int] = []
    skipped: dict[str, str] = {}
    for take in takes:
        path = scores_path(layout.out, take)
        if not path.is_file():
            continue
        doc = read_json(path)
        try:
            if doc is None or not isinstance(doc.get("frames"), list):
                raise JobError(f"{path}: not a QC scores file")
            if int(doc.get("take", 1)) != take:
                raise JobError(f"{path}: holds take {doc.get('take')}, not {take}")
            index_scores(store, job_id, doc)
        except (RecastError, KeyError, TypeError, ValueError) as exc:
            skipped[str(take)] = " ".join(str(exc).split()) or type(exc).__name__
            continue
        restored.append(take)
    return {"restored": restored, "skipped": skipped}
