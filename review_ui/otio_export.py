"""Review decisions as OpenTimelineIO markers on an image-sequence clip (for editorial).

One timeline, one video track, one clip whose media is the job's comp sequence
(take 1, ``ImageSequenceReference``) over the job's frames at ``rate``. Markers,
one frame long, at the frame they are about (media time = frame number):

- ``flag`` — RED for QC auto flags, YELLOW for reviewer flags; name = the note or reason;
- ``reference`` — CYAN;
- ``approved`` GREEN / ``rejected`` PINK, naming the take chosen;
- ``take N`` — BLUE, on frames with more than one finished take.

Every marker's ``metadata["recast"]`` holds the decision as data (kind, frame,
take, author, note, strokes count, time) so a pipeline tool can read it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recast.pipeline.errors import JobError
from recast.review_ui.client import ReviewClient


def build_timeline(client: ReviewClient, job_id: str, rate: float = 24.0) -> Any:
    import opentimelineio as otio

    job = client.job(job_id)
    state = client.state(job_id)
    frames = [int(f) for f in state["frames"]]
    if not frames:
        raise JobError(f"job {job_id}: no frames to export")
    out = Path(job["out"])
    rec = client.record(job_id, frames[0], 1) or {}
    comp = Path(str(rec.get("comp") or ""))
    stem, _, pad = (comp.stem.rpartition(".") if comp.name else ("plate", "", "0000"))
    first, last = frames[0], frames[-1]

    def t(frame: float) -> Any:
        return otio.opentime.RationalTime(frame, rate)

    ref = otio.schema.ImageSequenceReference(
        target_url_base=str((comp.parent if comp.name else out / "comp")) + "/",
        name_prefix=f"{stem}.",
        name_suffix=comp.suffix or ".exr",
        start_frame=first,
        frame_step=1,
        rate=rate,
        frame_zero_padding=len(pad) if pad.isdigit() else 4,
        missing_frame_policy=otio.schema.ImageSequenceReference.MissingFramePolicy.hold,
        available_range=otio.opentime.TimeRange(t(first), t(last - first + 1)),
    )
    clip = otio.schema.Clip(name=str(job.get("shot") or job_id), media_reference=ref,
                            source_range=otio.opentime.TimeRange(t(first), t(last - first + 1)))
    clip.metadata["recast"] = {"job": job_id, "shot": job.get("shot"), "out": str(out), "frames": [first, last]}

    def mark(frame: int, name: str, colour: str, data: dict[str, Any]) -> None:
        m = otio.schema.Marker(name=name, marked_range=otio.opentime.TimeRange(t(frame), t(1)), color=colour)
        m.metadata["recast"] = {"frame": frame, **data}
        clip.markers.append(m)

    M = otio.schema.MarkerColor
    for fl in state.get("flags") or []:
        auto = fl["source"] == "auto"
        mark(int(fl["frame"]), f"flag: {fl.get('note') or fl['reason']}"[:200], M.RED if auto else M.YELLOW,
             {"kind": "flag", "source": fl["source"], "take": fl.get("take"), "author": fl.get("author"),
              "reason": fl["reason"], "note": fl.get("note"), "strokes": len(fl.get("strokes") or []), "created": fl.get("created")})
    for f in state.get("references") or []:
        mark(int(f), "reference", M.CYAN, {"kind": "reference"})
    for f, ap in sorted((state.get("approvals") or {}).items(), key=lambda kv: int(kv[0])):
        mark(int(f), f"{ap['state']} take {ap['take']}", M.GREEN if ap["state"] == "approved" else M.PINK,
             {"kind": ap["state"], "take": int(ap["take"]), "by": ap["by"], "at": ap["at"]})
    for f, takes in sorted((state.get("takes") or {}).items(), key=lambda kv: int(kv[0])):
        if len(takes) > 1:
            mark(int(f), f"take {max(takes)} (takes {', '.join(map(str, takes))})", M.BLUE, {"kind": "takes", "takes": list(takes)})
    track = otio.schema.Track(name="recast", kind=otio.schema.TrackKind.Video)
    track.append(clip)
    timeline = otio.schema.Timeline(name=f"recast review {job_id}")
    timeline.tracks.append(track)
    timeline.metadata["recast"] = {"job": job_id, "versions": [v["version"] for v in state.get("versions") or []]}
    return timeline


def export_otio(client: ReviewClient, job_id: str, path: Path, rate: float = 24.0) -> dict[str, Any]:
    import opentimelineio as otio

    timeline = build_timeline(client, job_id, rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json")
        tmp.replace(path)
    except OSError as exc:
        raise JobError(f"{path}: cannot write ({exc.strerror})") from None
    clip = timeline.tracks[0][0]
    return {"otio": str(path), "job": job_id, "markers": len(clip.markers)}
