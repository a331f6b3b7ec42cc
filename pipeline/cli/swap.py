"""``recast swap``: swap faces in a plate sequence and write comp, element and records."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.composite.settings import (
    BLEND_METHODS,
    COLOUR_METHODS,
    MASK_SOURCES,
    SELECTION_MODES,
    absolute_reference_images,
)
from recast.pipeline.errors import SequenceError

if TYPE_CHECKING:
    from recast.pipeline.outputs import OutputLayout


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "swap",
        help="swap faces in a plate sequence (comp + face element + records)",
        parents=[common],
        description="Swap the selected faces of PATTERN with an actor model; writes "
        "<out>/comp/<plate>.####.exr, <out>/element/<plate>_face.####.exr and <out>/records/<frame>.json.",
    )
    p.add_argument("pattern", metavar="PATTERN", help="plate sequence: shot.####.exr, shot.%%04d.exr, a file or a folder")
    p.add_argument("--actor", required=True, action="append", metavar="NAME", help="actor model (repeat for several actors)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--frames", metavar="RANGE", help="frames to do, e.g. 1001-1100, 1001-1100x2, 1001,1005 (default: all)")
    p.add_argument("--selection", choices=SELECTION_MODES, help="which faces to swap (default: all)")
    p.add_argument(
        "--reference",
        metavar="FRAME:INDEX|IMAGE",
        help="reference face for --selection reference: FRAME:INDEX (faces counted left to right) or an image "
        "(its main face; IMAGE:INDEX for another); several actors: ACTOR=FRAME:INDEX,ACTOR=IMAGE",
    )
    p.add_argument("--backend", help="swapper backend (default: the actor's own)")
    p.add_argument("--analyser", help="face analyser backend (default: dlib)")
    p.add_argument(
        "--analyser-models", metavar="DIR", help="analyser model directory (insightface: the pack, e.g. buffalo_l)"
    )
    p.add_argument(
        "--commercial-only",
        action="store_true",
        help="use only models cleared for commercial use (dlib: 5-point landmarks; the warp backend then refuses)",
    )
    p.add_argument(
        "--enhancer",
        metavar="KIND|FILE|KIND=FILE",
        help="face restoration on the swapped crop: an installed enhancer (gfpgan, codeformer; "
        "`recast actor enhancer`) or a GFPGAN/CodeFormer-class ONNX file (needs --enhancer-licence)",
    )
    p.add_argument("--enhancer-blend", type=float, metavar="0..1", help="enhancer mix (default 1 = fully restored)")
    p.add_argument("--enhancer-licence", metavar="TEXT", help="licence of an --enhancer FILE")
    p.add_argument("--mask-erode", type=float, metavar="PX", help="matte erode at a 256 px face (negative dilates)")
    p.add_argument("--mask-blur", type=float, metavar="PX", help="matte feather at a 256 px face")
    p.add_argument(
        "--mask-source",
        choices=MASK_SOURCES,
        help="matte: union (default: landmark hull + the model's mask), auto (the model's own matte when it gives one, "
        "else the hull), intersect, hull, model",
    )
    p.add_argument("--mask-forehead", type=float, metavar="0..0.6", help="matte reach above the brows, x face height")
    p.add_argument("--color", choices=COLOUR_METHODS, help="colour match: rct (default), lct, none")
    p.add_argument("--color-strength", type=float, metavar="0..1", help="colour match strength (default 1)")
    p.add_argument(
        "--color-smoothing", type=float, metavar="0..0.95", help="running average of the match along a track (default 0.6)"
    )
    p.add_argument("--blend", choices=BLEND_METHODS, help="blend: alpha (default), laplacian, poisson")
    p.add_argument("--no-grain", action="store_true", help="do not regrain the swapped face")
    p.add_argument("--clean-element", action="store_true", help="write the face element without the added grain")
    p.add_argument("--no-highlights", action="store_true", help="do not restore the plate's out-of-range values on the face")
    p.add_argument("--colorspace", metavar="NAME", help="plate colourspace (else metadata, else EXR = scene-linear)")
    p.add_argument("--full-scan-every", type=int, metavar="N",
                   help="whole-frame face detection every N frames and at cuts; windows around tracks in between (default 1)")
    p.add_argument("--embed-every", type=int, metavar="N", help="re-embed each track every N frames (default 0: once per segment)")
    p.add_argument("--job", metavar="ID", help="job id recorded in outputs")
    p.set_defaults(func=run_swap_cli)


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """CLI flags -> SwapSettings fields (only the ones given)."""
    pairs = {
        "selection": args.selection,
        "reference": None if args.reference is None else absolute_reference_images(args.reference, Path.cwd()),
        "backend": args.backend,
        "analyser": args.analyser,
        "analyser_models": None if args.analyser_models is None else str(Path(args.analyser_models).resolve()),
        "enhancer_blend": args.enhancer_blend,
        "enhancer_licence": args.enhancer_licence,
        "mask_erode": args.mask_erode,
        "mask_blur": args.mask_blur,
        "mask_forehead": args.mask_forehead,
        "mask_source": args.mask_source,
        "color": args.color,
        "color_strength": args.color_strength,
        "color_smoothing": args.color_smoothing,
        "blend": args.blend,
        "colorspace": args.colorspace,
        "full_scan_every": args.full_scan_every,
        "embed_every": args.embed_every,
    }
    out = {k: v for k, v in pairs.items() if v is not None}
    if args.enhancer is not None:
        out.update(enhancer_settings(args.enhancer))
    if args.commercial_only:
        out["allow_noncommercial_models"] = False
    if args.no_grain:
        out["grain"] = False
    if args.clean_element:
        out["element_grain"] = False
    if args.no_highlights:
        out["highlights"] = False
    return out


def enhancer_settings(value: str) -> dict[str, str]:
    """``--enhancer`` -> settings: KIND (installed), FILE (an ONNX; named gfpgan, the
    family's common implementation finds CodeFormer's fidelity input itself) or KIND=FILE."""
    kind, sep, file = value.partition("=")
    if sep:
        return {"enhancer": kind.strip(), "enhancer_model": str(Path(file.strip()).resolve())}
    path = Path(value)
    if path.suffix.lower() == ".onnx" or path.is_file():
        return {"enhancer": "gfpgan", "enhancer_model": str(path.resolve())}
    return {"enhancer": value.strip()}


def run_swap_cli(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.actor import load_actor
    from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
    from recast.pipeline.sequence import PlateSequence

    settings = SwapSettings.from_dict(settings_overrides(args))
    plate = PlateSequence.open(args.pattern)
    frames = plate.select(args.frames) if args.frames else list(plate.frames)
    if not frames:
        raise SequenceError(f"{args.pattern}: no frames to process")
    actors = {name: load_actor(name) for name in args.actor}
    layout = OutputLayout(Path(args.out).resolve(), plate.name, plate.padding)
    engine = Engine(plate, actors, settings, layout, job_id=args.job)
    records: list[dict[str, Any]] = []
    for frame in ctx.progress(frames, total=len(frames), desc="swap"):
        records.extend(engine.run([frame]))
    return report(ctx, layout, records)


def report(ctx: CliContext, layout: OutputLayout, records: list[dict[str, Any]]) -> int:
    counts = Counter(r["status"] for r in records)
    failed = [r for r in records if r["status"] == "failed"]
    summary = {
        "frames": len(records),
        "done": counts.get("done", 0),
        "passthrough": counts.get("passthrough", 0),
        "failed": counts.get("failed", 0),
        "comp": layout.comp_pattern,
        "element": layout.element_pattern,
        "records": str(Path(layout.root) / "records"),
        "errors": [{"frame": r["frame"], "error": r["error"]} for r in failed],
    }
    lines = [
        f"swapped {summary['done']} of {summary['frames']} frame(s); "
        f"{summary['passthrough']} passed through (no face to swap), {summary['failed']} failed",
        f"comp:    {summary['comp']}",
        f"element: {summary['element']}",
        f"records: {summary['records']}",
    ]
    lines += [f"frame {e['frame']} failed: {e['error']}" for e in summary["errors"][:10]]
    ctx.emit(summary, "\n".join(lines))
    return 1 if failed else 0
