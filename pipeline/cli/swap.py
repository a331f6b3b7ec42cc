"""``recast swap``: swap faces in a plate sequence and write comp, element and records."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import SequenceError
from recast.pipeline.schema.settings import SwapSettings, absolute_reference_images, settings_cli

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
    add_settings_flags(p)
    p.add_argument("--job", metavar="ID", help="job id recorded in outputs")
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
    frames = plate.select(args.frames) if args.frames else list(plate.frames)
    if not frames:
        raise SequenceError(f"{args.pattern}: no frames to process")
    actors = {name: load_actor(name) for name in args.actor}
    layout = OutputLayout(Path(args.out).resolve(), plate.name, plate.padding)
    engine = Engine(plate, actors, settings, layout, job_id=args.job)
    engine.prepare()  # configuration errors: one clear line before any frame
    # the jobs' pipeline: plates read ahead, frames computed in order, outputs written behind
    stages = Stages(engine.load_frame, engine.compute_frame, engine.write_frame)
    try:
        # only what the summary needs is kept: memory does not grow with the shot's length
        records = [
            {"frame": r["frame"], "status": r["status"], "error": r.get("error")}
            for r in ctx.progress(run_stages(frames, stages), total=len(frames), desc="swap")
        ]
    finally:
        engine.close()
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
