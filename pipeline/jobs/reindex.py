"""Rebuild a job's index from its files (``recast job reindex DIR``).

Reads ``job.json``, every ``takes/tNNN/take.json``, each frame's record,
``review/approvals.json`` and ``publish/vNNN/manifest.json``; the store rows of
that job are replaced by what they say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import JobError
from pipeline.jobs.publish import approvals_file, published_versions
from pipeline.jobs.store import Store
from pipeline.jobs.takes import (
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
    approvals = (read_json(approvals_file(layout)) or {}).get("frames") or {}
    by_state: dict[tuple[str, str], dict[int, int]] = {}
    for f, a in approvals.items():
        by_state.setdefault((a["state"], a["by"]), {})[int(f)] = int(a["take"])
    for (state, by), picks in by_state.items():
        store.set_approval(job_id, picks, state, by)
    versions = published_versions(layout)
    for m in versions:
        store.add_version(job_id, str(m["version"]), Path(m["path"]), m, by=m.get("by"))
    return {
        "job": job_id,
        "status": status,
        "takes": len(takes),
        "frames": {s: sum(1 for r in rows if r["status"] == s) for s in ("done", "failed", "pending")},
        "versions": [m["version"] for m in versions],
    }
