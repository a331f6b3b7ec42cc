"""``recast faces PATTERN``: detect, track and list the faces of a plate, per frame."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import SequenceError, SpecError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("faces", parents=[common], help="detect and track the faces of a plate")
    p.add_argument("pattern", help="shot.####.exr, shot.%%04d.exr, a file or a directory")
    p.add_argument("--frames", default=None, help="only these frames, e.g. 1001-1100 or 1001,1005")
    p.add_argument("--backend", default="dlib", help="face analyser: dlib (default, embedded) or insightface")
    p.add_argument("--models", default=None, help="model directory (insightface: the pack, e.g. buffalo_l)")
    p.add_argument("--colorspace", default=None, help="the plate's colourspace (default: metadata, else format default)")
    p.add_argument("--upsample", type=int, default=0, help="dlib: upsample the detection image N times for small faces")
    p.add_argument("--commercial-only", action="store_true", help="use only models cleared for commercial use (dlib: 5-point)")
    p.add_argument("--full-scan-every", type=int, default=1, metavar="N",
                   help="scan the whole frame every N frames (and at cuts); in between only windows around each track (default 1)")
    p.add_argument("--embed-every", type=int, default=0, metavar="N",
                   help="re-embed each track every N frames (default 0: once per track segment)")
    p.add_argument("--min-face", type=int, default=48, metavar="PX",
                   help="smallest face (plate px, box height) full scans look for, by a pyramid of tiles (default 48; 0: downscale only)")
    p.add_argument("--detect-size", type=int, default=1024, metavar="PX", help="long side of the detection downscale (default 1024)")
    p.add_argument("--tile-scan-every", type=int, default=8, metavar="N",
                   help="run the small-face tiles every N frames and at cuts; windows around tracks in between (default 8)")
    p.add_argument("--overlay", default=None, metavar="DIR", help="write PNG proxies with boxes, landmarks and ids here")
    p.set_defaults(func=cmd_faces)


def _face_record(face: Any) -> dict[str, Any]:
    rec = face.to_json()
    rec.pop("landmarks", None)  # dense points stay out of the listing (the overlay shows them)
    rec["source"] = rec.pop("landmarks_source")
    return rec


def cmd_faces(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.color import ColorContext
    from recast.pipeline.engine import one_line_error
    from recast.pipeline.faces import AnalyserOptions, create_analyser
    from recast.pipeline.faces.overlay import write_overlay
    from recast.pipeline.faces.stream import FaceStream, StreamOptions
    from recast.pipeline.plateio import read_plate
    from recast.pipeline.sequence import PlateSequence

    if not 64 <= args.detect_size <= 8192:
        raise SpecError(f"--detect-size: {args.detect_size} is not in 64..8192")
    if not (args.min_face == 0 or 8 <= args.min_face <= 4096):
        raise SpecError(f"--min-face: {args.min_face} is neither 0 (off) nor in 8..4096")
    if not 1 <= args.tile_scan_every <= 1000:
        raise SpecError(f"--tile-scan-every: {args.tile_scan_every} is not in 1..1000")
    if not 0 <= args.upsample <= 3:
        raise SpecError(f"--upsample: {args.upsample} is not in 0..3")
    if not 1 <= args.full_scan_every <= 1000:
        raise SpecError(f"--full-scan-every: {args.full_scan_every} is not in 1..1000")
    if not 0 <= args.embed_every <= 1000:
        raise SpecError(f"--embed-every: {args.embed_every} is not in 0..1000")
    options = AnalyserOptions(
        detect_size=args.detect_size,
        min_face=args.min_face,
        upsample=args.upsample,
        models_dir=None if args.models is None else Path(args.models),
        allow_noncommercial_models=not args.commercial_only,
    )
    color = ColorContext()
    if args.colorspace:
        color.resolve(args.colorspace)  # a wrong name fails once, up front (ColorError names it)
    seq = PlateSequence.open(args.pattern)
    frames = seq.select(args.frames)
    from recast.pipeline.engine import SequenceShape

    shape = SequenceShape.of(seq)  # a plate without colour channels (a depth-only EXR): one line, as swap says
    if not args.frames and seq.frames:  # first to last on disk: a gap is a failed frame, named (as swap)
        frames = list(range(seq.first, seq.last + 1))
    on_disk = set(seq.frames)
    analyser = create_analyser(args.backend, options)  # UnknownBackend / FaceModelError: one line
    stream = FaceStream(analyser, StreamOptions(
        embed_every=args.embed_every, full_scan_every=args.full_scan_every, tile_scan_every=args.tile_scan_every
    ))
    overlay_dir = None if args.overlay is None else Path(args.overlay)
    records: list[dict[str, Any]] = []
    failed = 0
    for frame in ctx.progress(frames, total=len(frames), desc="faces"):
        try:
            if frame not in on_disk:
                raise SequenceError(f"frame {frame}: missing on disk ({seq.path(frame)})")
            plate = read_plate(seq.path(frame))
            shape.check(frame, plate)  # a frame whose size or channels differ from the sequence's
            to_display = color.display_fn(color.plate_space(plate, args.colorspace))
            rgb = _analysis_pixels(plate)
            faces = stream.process(frame, rgb, to_display=to_display)
            if overlay_dir is not None:
                write_overlay(overlay_dir / f"{seq.name}.{frame:0{seq.padding}d}.png", rgb, faces, to_display=to_display)
        except Exception as exc:  # noqa: BLE001 - one frame's failure (cv2, OS, model) never kills the run
            failed += 1
            error = one_line_error(exc)
            records.append({"frame": frame, "error": error, "faces": []})
            if not ctx.json:
                print(f"{frame}  error: {error}")
            continue
        listed = [_face_record(f) for f in faces]
        records.append({"frame": frame, "error": None, "faces": listed})
        if not ctx.json:
            print(_text_line(frame, listed))
    tracks = _track_summary(records)
    summary: dict[str, Any] = {
        "pattern": seq.pattern,
        "backend": analyser.name,
        "frames": records,
        "cuts": list(stream.tracker.cuts),
        "tracks": tracks,
        "licences": analyser.licences(),
        "failed_frames": failed,
    }
    if ctx.json:
        ctx.emit(summary)
    else:
        print(f"{len(frames)} frame(s), {len(tracks)} track(s), cuts at {summary['cuts'] or 'none'}, {failed} failed")
    return 1 if failed else 0


def _analysis_pixels(plate: Any) -> Any:
    """RGB when the plate has it; a greyscale plate (Y, or one unnamed channel) as luminance."""
    if plate.rgb_indices is not None:
        return plate.rgb()
    names = [n.lower() for n in plate.channel_names]
    index = names.index("y") if "y" in names else 0
    return plate.pixels[:, :, index : index + 1]


def _text_line(frame: int, faces: list[dict[str, Any]]) -> str:
    if not faces:
        return f"{frame}  no faces"
    parts = []
    for f in faces:
        box = ",".join(f"{v:.0f}" for v in f["box"])
        parts.append(f"track {f['track_id']} box {box} score {f['score']:.2f} {f['source']}")
    return f"{frame}  " + " | ".join(parts)


def _track_summary(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    tracks: dict[str, dict[str, Any]] = {}
    for rec in records:
        for f in rec["faces"]:
            new = {"first": rec["frame"], "last": rec["frame"], "detected": 0, "propagated": 0}
            t = tracks.setdefault(str(f["track_id"]), new)
            t["last"] = rec["frame"]
            t[f["source"]] = t.get(f["source"], 0) + 1
    return tracks
