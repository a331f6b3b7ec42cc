"""Reprocess a subset of frames as a new take, anchored to a reference frame.

The new take records the reference frame and the ``--set`` overrides in
``<out>/takes/tNNN/take.json`` (and the store); the engine receives them as
``reference_frame`` (target identity, colour statistics and fallback landmarks
from the frame the reviewer liked) and ``SwapSettings.replace(**overrides)``.
Only the listed frames are touched; earlier takes stay on disk.
"""

from __future__ import annotations

import json
from typing import Any

from recast.pipeline.errors import JobError, SpecError
from recast.pipeline.jobs.runner import Runner, RunSummary, load_job
from recast.pipeline.jobs.store import Store, now_iso
from recast.pipeline.jobs.takes import JobLayout, frame_state, list_takes, write_take_file


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["mask_blur=4", "color=false", "selection=\"left\""]`` -> typed values (JSON, else text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"--set {item!r}: expected key=value")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def validate_overrides(spec_settings: dict[str, Any], overrides: dict[str, Any], processor: str) -> None:
    """Overrides must be valid swap settings (SpecError names the field)."""
    if not overrides or processor != "engine":
        return
    from recast.pipeline.engine import SwapSettings

    SwapSettings.from_dict({**spec_settings, **overrides})


def current_takes(store: Store, job_id: str, layout: JobLayout, frames: list[int]) -> dict[int, int]:
    """Frame -> the take to show/publish: the approved take, else the newest done take."""
    approvals = store.approvals(job_id)
    takes = sorted(list_takes(layout), reverse=True)
    picks: dict[int, int] = {}
    for f in frames:
        ap = approvals.get(f)
        if ap is not None and ap["state"] == "approved":
            picks[f] = int(ap["take"])
            continue
        for t in takes:
            if frame_state(layout, t, f)[0] == "done":
                picks[f] = t
                break
    return picks


def create_take(
    store: Store,
    job_id: str,
    frames: list[int],
    reference: int | None,
    overrides: dict[str, Any],
    who: str | None = None,
) -> int:
    """Write ``take.json`` for the next take and index it; returns the take number."""
    job, spec, layout = load_job(store, job_id)
    base = {r["frame"] for r in store.frames(job_id, 1)}
    if not frames:
        raise SpecError("--frames: selects no frames")
    outside = [f for f in frames if f not in base]
    if outside:
        raise JobError(f"job {job_id}: frame {outside[0]} is not one of its frames")
    if reference is not None:
        if reference not in base:
            raise JobError(f"--reference {reference}: not a frame of job {job_id}")
        if reference not in current_takes(store, job_id, layout, [reference]):
            raise JobError(f"--reference {reference}: that frame has no finished result to anchor to")
    validate_overrides(spec.settings, overrides, spec.processor)
    take = max([t["take"] for t in job["takes"]] + list_takes(layout)) + 1
    info = {
        "frames": sorted(frames),
        "reference_frame": reference,
        "overrides": overrides,
        "created": now_iso(),
        "created_by": who,
    }
    write_take_file(layout, take, info)
    store.add_take(job_id, sorted(frames), reference_frame=reference, overrides=overrides, who=who, take=take)
    if reference is not None:
        store.set_reference(job_id, reference, by=who)
    return take


def reprocess(
    store: Store,
    runner: Runner,
    job_id: str,
    frames: list[int],
    reference: int | None,
    overrides: dict[str, Any],
    who: str | None = None,
) -> RunSummary:
    """Create a take of ``frames`` and run it now."""
    take = create_take(store, job_id, frames, reference, overrides, who)
    return runner.run_take(job_id, take)
