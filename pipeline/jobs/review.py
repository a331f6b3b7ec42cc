"""Review decisions the app and the service share: reviewer flags with notes and strokes, QC overview.

A reviewer flag can carry freehand **strokes** drawn on the frame: a list of
``{"points": [[x, y], ...], "color": "#rrggbb", "width": px}`` in the plate's
image pixel space (the EXR's coordinates, like the record's face boxes), so
they land on the same pixels at any zoom or proxy size. Flags live in the
store; every change is mirrored to ``<out>/review/flags.json`` (files are the
truth) where the QC report finds the notes and strokes to draw beside the
frame.

:func:`qc_overview` condenses a take's ``qc/scores*.json`` into what a review
timeline needs: per frame its pass/warn/fail status, reasons and metric values,
plus each metric's direction, label and thresholds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from recast.pipeline.atomic import atomic_write_json
from recast.pipeline.errors import JobError, SpecError
from recast.pipeline.jobs.store import Store
from recast.pipeline.jobs.takes import read_json

FLAGS_FILE = Path("review") / "flags.json"
MAX_STROKES = 200
MAX_POINTS = 5000
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def flags_file(out: Path) -> Path:
    return Path(out) / FLAGS_FILE


def validate_strokes(strokes: Any) -> list[dict[str, Any]]:
    """Strokes in the documented shape (SpecError naming the bad field); ``None`` -> []."""
    if strokes is None:
        return []
    if not isinstance(strokes, list):
        raise SpecError("strokes: expected a list of {points, color, width}")
    if len(strokes) > MAX_STROKES:
        raise SpecError(f"strokes: at most {MAX_STROKES} strokes per flag")
    out: list[dict[str, Any]] = []
    for i, s in enumerate(strokes):
        where = f"strokes[{i}]"
        if not isinstance(s, dict) or set(s) - {"points", "color", "width"}:
            raise SpecError(f"{where}: expected an object with points, color, width")
        pts = s.get("points")
        if not isinstance(pts, list) or not pts or len(pts) > MAX_POINTS:
            raise SpecError(f"{where}.points: expected 1..{MAX_POINTS} [x, y] pairs")
        clean: list[list[float]] = []
        for p in pts:
            if (
                not isinstance(p, (list, tuple))
                or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
                or not all(abs(float(v)) < 1e7 for v in p)
            ):
                raise SpecError(f"{where}.points: {p!r} is not an [x, y] pair of numbers")
            clean.append([round(float(p[0]), 2), round(float(p[1]), 2)])
        color = s.get("color", "#ff3b30")
        if not isinstance(color, str) or not COLOR_RE.match(color):
            raise SpecError(f"{where}.color: {color!r} is not #rrggbb")
        width = s.get("width", 3.0)
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0.5 <= float(width) <= 200:
            raise SpecError(f"{where}.width: {width!r} is not a number of pixels in 0.5..200")
        out.append({"points": clean, "color": color.lower(), "width": float(width)})
    return out


def _job_out(store: Store, job_id: str) -> Path:
    return Path(store.get_job(job_id)["out"])


def base_frames(store: Store, job_id: str) -> list[int]:
    return [int(r["frame"]) for r in store.frames(job_id, 1)]


def add_reviewer_flags(
    store: Store,
    job_id: str,
    frames: list[int],
    by: str,
    note: str | None = None,
    strokes: Any = None,
    take: int | None = None,
) -> list[int]:
    """Flag ``frames`` for ``by`` with a note; strokes go on the first frame's flag. Returns the flag ids."""
    if not by or not str(by).strip():
        raise SpecError("by: a reviewer name is required")
    if not frames:
        raise SpecError("frames: selects no frames")
    marks = validate_strokes(strokes)
    have = set(base_frames(store, job_id))
    outside = [f for f in frames if f not in have]
    if outside:
        raise JobError(f"job {job_id}: frame {outside[0]} is not one of its frames")
    text = (note or "").strip()
    reason = text.splitlines()[0][:200] if text else "reviewer flag"
    ids = [
        store.add_flag(job_id, f, "reviewer", reason, text or None, by, take=take, strokes=marks if i == 0 else None)
        for i, f in enumerate(sorted(set(frames)))
    ]
    mirror_flags(store, job_id)
    return ids


def remove_reviewer_flags(store: Store, job_id: str, flag_ids: list[int], by: str) -> list[dict[str, Any]]:
    """Remove reviewer flags by id (auto flags refused); returns what was removed."""
    gone = [store.remove_flag(job_id, int(i), by) for i in flag_ids]
    mirror_flags(store, job_id)
    return gone


def mirror_flags(store: Store, job_id: str) -> None:
    """Write the job's reviewer flags (notes, strokes) to ``<out>/review/flags.json``."""
    out = _job_out(store, job_id)
    flags = [f for f in store.flags(job_id) if f["source"] == "reviewer"]
    atomic_write_json(flags_file(out), {"schema": 1, "job": job_id, "flags": flags})


def read_reviewer_flags(out: Path) -> list[dict[str, Any]]:
    """Reviewer flags mirrored under ``out`` (empty when none or unreadable)."""
    doc = read_json(flags_file(Path(out))) or {}
    flags = doc.get("flags")
    return [f for f in flags if isinstance(f, dict) and isinstance(f.get("frame"), int)] if isinstance(flags, list) else []


def qc_overview(out: Path, take: int = 1) -> dict[str, Any]:
    """A take's QC for a timeline: frames -> status/reasons/values, metrics -> direction/label/thresholds.

    ``{"take", "available": False}`` when the take has no scores yet.
    """
    from recast.qc.rules import Rules
    from recast.qc.scoring import scores_path

    doc = read_json(scores_path(Path(out), take))
    if doc is None or not isinstance(doc.get("frames"), list):
        return {"take": take, "available": False, "frames": {}, "metrics": {}, "summary": {}}
    try:
        rules = Rules.load(doc.get("thresholds")) if doc.get("thresholds") and Path(str(doc["thresholds"])).is_file() else Rules.load()
    except Exception:  # noqa: BLE001 - a damaged thresholds file: the timeline still shows statuses
        rules = None
    metrics: dict[str, Any] = {}
    for name, info in (doc.get("metrics") or {}).items():
        rule = rules.metrics.get(name) if rules is not None else None
        metrics[name] = {
            "direction": info.get("direction"),
            "label": info.get("label"),
            "warn": None if rule is None else rule.warn,
            "fail": None if rule is None else rule.fail,
        }
    frames: dict[str, Any] = {}
    for fr in doc["frames"]:
        frames[str(fr["frame"])] = {
            "status": fr.get("status", "na"),
            "reasons": list(fr.get("reasons") or []),
            "values": {k: m.get("value") for k, m in (fr.get("metrics") or {}).items()},
        }
    return {"take": take, "available": True, "frames": frames, "metrics": metrics, "summary": doc.get("summary") or {}}


def done_takes(store: Store, job_id: str) -> dict[int, list[int]]:
    """Frame -> its takes with a finished result, oldest first."""
    out: dict[int, list[int]] = {}
    for r in store.frames(job_id):
        if r["status"] == "done":
            out.setdefault(int(r["frame"]), []).append(int(r["take"]))
    return {f: sorted(t) for f, t in sorted(out.items())}


def review_state(store: Store, job_id: str) -> dict[str, Any]:
    """Everything a review session shows besides pixels: flags, references, approvals, takes per frame, versions."""
    return {
        "job": job_id,
        "frames": base_frames(store, job_id),
        "flags": store.flags(job_id),
        "references": store.references(job_id),
        "approvals": {str(f): a for f, a in store.approvals(job_id).items()},
        "takes": {str(f): t for f, t in done_takes(store, job_id).items()},
        "versions": store.versions(job_id),
    }


def plate_colorspace(record: dict[str, Any] | None, settings: dict[str, Any] | None) -> str | None:
    """The plate colourspace a frame was processed in: the record's ``colorspace.plate``, else the job setting.

    None lets the proxy reader resolve it from the file the way the engine does
    (:meth:`pipeline.color.ColorContext.plate_space`).
    """
    cs = (record or {}).get("colorspace")
    if isinstance(cs, dict) and isinstance(cs.get("plate"), str) and cs["plate"]:
        return str(cs["plate"])
    if isinstance(cs, str) and cs:
        return cs
    value = (settings or {}).get("colorspace")
    return value if isinstance(value, str) and value else None
