"""``recast swap``: swap faces in a plate sequence and write comp, element and records."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import EXIT_FRAMES_FAILED, EXIT_NO_SWAP, SequenceError
from recast.pipeline.schema.settings import SwapSettings, absolute_reference_images, settings_cli
from recast.pipeline.sequence import format_frames

if TYPE_CHECKING:
    from recast.pipeline.outputs import OutputLayout

MISSING_POLICIES = ("fail", "skip", "black")


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
    add_settings_flags(p)
    p.add_argument("--job", metavar="ID", help="job id recorded in outputs")
    p.add_argument(
        "--missing",
        choices=MISSING_POLICIES,
        default="fail",
        help="frames missing on disk between the first and last (or asked for by --frames): fail them (default; "
        "the exit is then non-zero), skip them, or write black frames (like Nuke's Read)",
    )
    p.add_argument(
        "--allow-passthrough",
        action="store_true",
        help=f"exit 0 even when no face was swapped in any frame (default: exit {EXIT_NO_SWAP})",
    )
    p.set_defaults(func=run_swap_cli)


def add_settings_flags(p: argparse.ArgumentParser) -> None:
    """One flag per field of :class:`SwapSettings` (names, help, choices and defaults from
    the schema): ``--mask-blur PX``, booleans as ``--grain/--no-grain``, plus the
    aliases the schema keeps for older spellings (``--commercial-only``, ``--clean-element``).
    Unset flags stay ``None``, so only what was given overrides a job's settings."""
    group = p.add_argument_group("swap settings (`recast schema settings`)")
    for name, info in SwapSettings.model_fields.items():
        cli = settings_cli(name)
        flag = "--" + name.replace("_", "-")
        default = info.default
        help_text = (info.description or name) + ("" if default is None else f" (default: {_shown(default)})")
        help_text = help_text.replace("%", "%%")
        kind, choices = _kind(info.annotation)
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=name, default=None, type=kind, choices=choices,
                               metavar=None if choices else (cli.metavar or name.upper()), help=help_text)
        for alias, const in cli.aliases:
            if const is None:
                group.add_argument(alias, dest=name, default=None, type=kind, help=f"same as {flag}")
            else:
                group.add_argument(alias, dest=name, action="store_const", const=const, default=None,
                                   help=f"same as {flag} {_shown(const)}")


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _kind(annotation: Any) -> tuple[Any, tuple[str, ...] | None]:
    """(argparse type, choices) of a settings field's annotation."""
    args = [annotation] if get_origin(annotation) is Literal else [a for a in get_args(annotation) if a is not type(None)]
    first = args[0] if args else annotation
    if get_origin(first) is Literal:
        return str, tuple(get_args(first))
    if first is bool:
        return bool, None
    if first in (int, float):
        return first, None
    return str, None


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """CLI flags -> SwapSettings fields (only the ones given), with the schema's CLI-side
    conversions: paths made absolute, reference images made absolute, ``--enhancer`` split."""
    out: dict[str, Any] = {}
    for name in SwapSettings.model_fields:
        value = getattr(args, name, None)
        if value is None:
            continue
        conv = settings_cli(name).value
        if conv == "enhancer":
            out = {**enhancer_settings(value), **out}  # an explicit --enhancer-model wins over a FILE here
        elif conv == "path":
            out[name] = str(Path(value).resolve())
        elif conv == "holdout":
            from recast.pipeline.composite.holdout import absolute_holdout

            out[name] = absolute_holdout(value, Path.cwd())
        elif conv == "reference":
            out[name] = absolute_reference_images(value, Path.cwd())
        else:
            out[name] = value
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
    from recast.pipeline.engine import Engine, OutputLayout
    from recast.pipeline.jobs.stages import Stages, run_stages
    from recast.pipeline.sequence import PlateSequence

    settings = SwapSettings.from_dict(settings_overrides(args))
    plate = PlateSequence.open(args.pattern)
    frames, absent = frames_to_do(plate, args.frames, args.missing)
    if not frames:
        raise SequenceError(f"{args.pattern}: no frames to process")
    actors = {name: load_actor(name) for name in args.actor}
    layout = OutputLayout(Path(args.out).resolve(), plate.name, plate.padding)
    engine = Engine(plate, actors, settings, layout, job_id=args.job)
    engine.prepare()  # configuration errors (a plate without colour channels): one clear line before any frame
    black = sorted(absent) if args.missing == "black" else []
    # the jobs' pipeline: plates read ahead, frames computed in order, outputs written behind
    stages = Stages(engine.load_frame, engine.compute_frame, engine.write_frame)
    todo = [f for f in frames if f not in set(black)]
    try:
        # only what the summary needs is kept: memory does not grow with the shot's length
        records = [
            {"frame": r["frame"], "status": r["status"], "error": r.get("error")}
            for r in ctx.progress(run_stages(todo, stages), total=len(todo), desc="swap")
        ]
        for f in black:
            r = engine.black_frame(f)
            records.append({"frame": r["frame"], "status": r["status"], "error": r.get("error"), "missing": r.get("missing")})
    finally:
        engine.close()
    records.sort(key=lambda r: r["frame"])
    skipped = sorted(absent) if args.missing == "skip" else []
    return report(ctx, layout, records, skipped=skipped, allow_passthrough=args.allow_passthrough)


def frames_to_do(plate: Any, frames_arg: str | None, missing: str) -> tuple[list[int], set[int]]:
    """The frames to process and which of them are missing on disk.

    Without ``--frames``: every frame from the first to the last on disk, gaps included
    (``--missing`` says what becomes of them; by default they fail). With ``--frames``:
    those frames; ones missing on disk are an error unless ``--missing skip|black``.
    """
    from recast.pipeline.sequence import parse_frames

    have = set(plate.frames)
    if frames_arg:
        if missing == "fail":
            wanted = plate.select(frames_arg)  # SequenceError names frames not on disk
        else:
            wanted = parse_frames(frames_arg)
    else:
        wanted = list(range(plate.first, plate.last + 1)) if plate.frames else []
    absent = {f for f in wanted if f not in have}
    if missing == "skip":
        wanted = [f for f in wanted if f not in absent]
    return wanted, absent


def report(
    ctx: CliContext,
    layout: OutputLayout,
    records: list[dict[str, Any]],
    *,
    skipped: list[int] | None = None,
    allow_passthrough: bool = False,
) -> int:
    """Print the summary; exit 1 when a frame failed, EXIT_NO_SWAP when no face was swapped
    in any frame (unless ``allow_passthrough``), else 0."""
    counts = Counter(r["status"] for r in records)
    failed = [r for r in records if r["status"] == "failed"]
    no_swap = bool(records) and not failed and counts.get("done", 0) == 0
    summary = {
        "frames": len(records),
        "done": counts.get("done", 0),
        "passthrough": counts.get("passthrough", 0),
        "failed": counts.get("failed", 0),
        "failed_frames": [r["frame"] for r in failed],
        "skipped_missing": list(skipped or []),
        "black": [r["frame"] for r in records if r.get("missing") == "black"],
        "no_swap": no_swap,
        "comp": layout.comp_pattern,
        "element": layout.element_pattern,
        "records": str(layout.records_dir),
        "errors": [{"frame": r["frame"], "error": r["error"]} for r in failed],
    }
    lines = [
        f"swapped {summary['done']} of {summary['frames']} frame(s); "
        f"{summary['passthrough']} passed through (no face to swap), {summary['failed']} failed",
        f"comp:    {summary['comp']}",
        f"element: {summary['element']}",
        f"records: {summary['records']}",
    ]
    if failed:
        lines.append(f"failed frames: {format_frames(summary['failed_frames'])}")
    if summary["skipped_missing"]:
        lines.append(f"skipped (missing on disk): {format_frames(summary['skipped_missing'])}")
    if summary["black"]:
        lines.append(f"black (missing on disk): {format_frames(summary['black'])}")
    lines += [f"frame {e['frame']} failed: {e['error']}" for e in summary["errors"][:10]]
    if no_swap and not allow_passthrough:
        lines.append(f"no face was swapped in any frame (exit {EXIT_NO_SWAP}; --allow-passthrough accepts this)")
    ctx.emit(summary, "\n".join(lines))
    if failed:
        return EXIT_FRAMES_FAILED
    return EXIT_NO_SWAP if no_swap and not allow_passthrough else 0
