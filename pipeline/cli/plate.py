"""``recast plate info | check | import``: look at, validate and create plates."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import PlateError
from recast.pipeline.sequence import PlateSequence, format_frames, parse_frames

if TYPE_CHECKING:  # OIIO/OCIO load only when a plate command runs (keeps `recast --help` quick)
    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import PlateHeader

INFO_KEYS = (
    "pattern",
    "frames",
    "missing",
    "width",
    "height",
    "data_window",
    "display_window",
    "channels",
    "pixel_type",
    "compression",
    "colorspace",
    "parts",
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    plate = sub.add_parser("plate", help="inspect, check and import plates", parents=[common])
    actions = plate.add_subparsers(dest="plate_action", metavar="ACTION")

    info = actions.add_parser("info", parents=[common], help="frames, size, channels, colourspace of a plate")
    info.add_argument("pattern", help="shot.####.exr, shot.%%04d.exr, shot.@@@@.exr, a file or a directory")
    info.add_argument("--part", default=None, help="multipart EXR: part index or name (default: the first "
                      "part with colour channels, the one swap reads)")
    info.add_argument("--colorspace", default=None, help="override the plate's colourspace")
    info.set_defaults(func=cmd_info)

    check = actions.add_parser("check", parents=[common], help="decode every frame; report damage, NaN/Inf, mismatches")
    check.add_argument("pattern")
    check.add_argument("--part", default=None, help="multipart EXR: part index or name (default: the first "
                       "part with colour channels, the one swap reads)")
    check.add_argument("--frames", default=None, help="only these frames, e.g. 1001-1100 or 1001,1005")
    check.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to decode one frame (default 300)")
    check.set_defaults(func=cmd_check)

    imp = actions.add_parser("import", parents=[common], help="decode a movie into an EXR or PNG plate")
    imp.add_argument("movie", help="movie file (anything FFmpeg/PyAV reads)")
    imp.add_argument("--out", required=True, help="output pattern, e.g. plates/shot.####.exr or .png")
    imp.add_argument("--colorspace", default=None, help="the movie's colourspace (default: from its transfer)")
    imp.add_argument("--start", type=int, default=1001, help="first frame number (default 1001)")
    imp.add_argument("--frames", default=None, help="only these output frames, e.g. 1001-1010")
    imp.add_argument("--compression", default="zip", help="EXR compression (default zip)")
    imp.set_defaults(func=cmd_import)

    plate.set_defaults(func=lambda args, ctx: _usage(plate))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _part(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _printable(text: str) -> str:
    """File-derived text may hold undecodable bytes (surrogates): show them escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# -- info -------------------------------------------------------------------------------------
def plate_info(
    pattern: str, part: int | str | None = None, colorspace: str | None = None, color: ColorContext | None = None
) -> dict[str, Any]:
    """The ``plate info`` record (keys :data:`INFO_KEYS`) from the first frame's header."""
    return _info_and_header(pattern, part, colorspace, color)[0]


def _info_and_header(
    pattern: str, part: int | str | None, colorspace: str | None, color: ColorContext | None
) -> tuple[dict[str, Any], PlateHeader]:
    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import pixel_type_of, read_header

    seq = PlateSequence.open(pattern)
    first = seq.path(seq.first)
    hdr = read_header(first, part)
    spec = hdr.spec
    cc = color or ColorContext()
    info = {
        "pattern": seq.pattern,
        "frames": seq.frames,
        "missing": seq.missing,
        "width": int(spec.full_width),
        "height": int(spec.full_height),
        "data_window": [int(spec.x), int(spec.y), int(spec.width), int(spec.height)],
        "display_window": [int(spec.full_x), int(spec.full_y), int(spec.full_width), int(spec.full_height)],
        "channels": [_printable(str(c)) for c in spec.channelnames],
        "pixel_type": pixel_type_of(spec),
        "compression": _printable(str(spec.getattribute("compression") or "none")),
        "colorspace": cc.space_for(spec, first, colorspace),
        "parts": hdr.parts,
    }
    return info, hdr


def _part_text(hdr: PlateHeader) -> str:
    if hdr.parts == 1:
        return "1"
    name = f" {_printable(hdr.part_name)!r}" if hdr.part_name else ""
    return f"{hdr.parts} (showing part {hdr.part}{name})"


def cmd_info(args: argparse.Namespace, ctx: CliContext) -> int:
    info, hdr = _info_and_header(args.pattern, _part(args.part), args.colorspace, None)
    n = len(info["frames"])
    text = "\n".join(
        [
            f"pattern        {_printable(info['pattern'])}",
            f"frames         {format_frames(info['frames'])} ({n} frame{'s' if n != 1 else ''})",
            f"missing        {format_frames(info['missing']) or 'none'}",
            f"resolution     {info['width']}x{info['height']}",
            f"data window    {info['data_window']}",
            f"display window {info['display_window']}",
            f"channels       {', '.join(info['channels'])}",
            f"pixel type     {info['pixel_type']}",
            f"compression    {info['compression']}",
            f"colourspace    {info['colorspace']}",
            f"parts          {_part_text(hdr)}",
        ]
    )
    ctx.emit(info, text)
    return 0


# -- check ------------------------------------------------------------------------------------
def probe_frame(path: str, part: int | str) -> dict[str, Any]:
    """Decode one frame fully; return a small summary (never pixels) or the one-line error."""
    from recast.pipeline.plateio import count_nonfinite, read_plate

    try:
        plate = read_plate(path, part)
    except PlateError as exc:
        return {"ok": False, "error": str(exc)}
    except MemoryError:
        return {"ok": False, "error": f"{path}: out of memory decoding the frame"}
    counts = count_nonfinite(plate.pixels)
    return {"ok": True, "width": plate.width, "height": plate.height, "channels": plate.channel_names, **counts}


def decoder_address_space() -> int:
    """Address-space cap (bytes) of the decoder child: room for the largest frame
    :data:`~pipeline.plateio.DEFAULT_LIMITS` admits three times over (native buffer, float32
    copy, NaN/Inf scan) plus 8 GiB for libraries and thread stacks; a runaway decoder gets
    MemoryError or dies, it cannot take the machine's memory."""
    from recast.pipeline.plateio import DEFAULT_LIMITS

    return 3 * DEFAULT_LIMITS.max_bytes + (8 << 30)


def _limit_address_space(cap: int) -> None:
    """Lower RLIMIT_AS of this process to ``cap`` (never raise it; no-op where unsupported)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft == resource.RLIM_INFINITY or soft > cap:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _probe_worker(conn: Any, part: int | str) -> None:
    """Child process loop: path in, summary out (a crash here costs one frame, not the command)."""
    _limit_address_space(decoder_address_space())
    conn.send("ready")
    while True:
        try:
            path = conn.recv()
        except EOFError:
            return
        if path is None:
            return
        conn.send(probe_frame(path, part))


class IsolatedProber:
    """Decodes frames in a child process so a decoder crash or hang is reported, not fatal.

    ``timeout_s`` bounds each decode; on timeout or crash the child is killed and
    restarted for the next frame.
    """

    def __init__(self, part: int | str, timeout_s: float) -> None:
        self.part = part
        self.timeout_s = timeout_s
        self._proc: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # no fork of a process holding decoder threads
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_probe_worker, args=(child, self.part), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(120) or parent.recv() != "ready":
            proc.kill()
            raise PlateError("plate check: the decoder process did not start")
        self._proc, self._conn = proc, parent

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    @property
    def pid(self) -> int | None:
        """The decoder process id (None until the first probe or after a crash)."""
        return None if self._proc is None else int(self._proc.pid)

    def probe(self, path: Path) -> dict[str, Any]:
        if self._proc is None:
            self._start()
        try:
            self._conn.send(str(path))
            if self._conn.poll(self.timeout_s):
                return dict(self._conn.recv())
            self._stop()
            return {"ok": False, "error": f"{path}: decode did not finish within {self.timeout_s:g} s"}
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            proc = self._proc
            if proc is not None:
                proc.join(5)
            code = proc.exitcode if proc is not None else None
            self._stop()
            how = f"signal {-code}" if isinstance(code, int) and code < 0 else f"exit code {code}"
            return {"ok": False, "error": f"{path}: the decoder crashed on this file ({how})"}

    def __enter__(self) -> IsolatedProber:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(None)
        self._stop()


def check_plate(
    seq: PlateSequence, frames: list[int], part: int | str | None, ctx: CliContext, timeout_s: float = 300.0
) -> dict[str, Any]:
    unreadable: list[dict[str, Any]] = []
    nonfinite: list[dict[str, Any]] = []
    mismatched: list[dict[str, Any]] = []
    reference: tuple[int, int, tuple[str, ...]] | None = None
    ref_frame: int | None = None
    with IsolatedProber(part, timeout_s) as prober:
        for frame in ctx.progress(frames, total=len(frames), desc="check"):
            path = seq.path(frame)
            res = prober.probe(path)
            if not res["ok"]:
                unreadable.append({"frame": frame, "path": str(path), "error": res["error"]})
                continue
            if res["nan"] or res["inf"]:
                nonfinite.append({"frame": frame, "path": str(path), "nan": res["nan"], "inf": res["inf"]})
            sig = (int(res["width"]), int(res["height"]), tuple(res["channels"]))
            if reference is None:
                reference, ref_frame = sig, frame
            elif sig != reference:
                reasons = []
                if sig[:2] != reference[:2]:
                    reasons.append(f"resolution {sig[0]}x{sig[1]} != {reference[0]}x{reference[1]}")
                if sig[2] != reference[2]:
                    reasons.append(f"channels {','.join(sig[2])} != {','.join(reference[2])}")
                mismatched.append(
                    {"frame": frame, "path": str(path), "reason": f"{'; '.join(reasons)} (frame {ref_frame})"}
                )
    # a gap counts only inside the checked range: --frames 1001-1010 is not blamed for a hole at 1050
    lo, hi = (min(frames), max(frames)) if frames else (0, -1)
    missing = [f for f in seq.missing if lo <= f <= hi]
    no_colour = None
    if reference is not None:
        from recast.pipeline.plateio import colour_channel_indices, no_colour_reason

        names = list(reference[2])
        alpha = next((names.index(n) for n in ("A", "a", "alpha") if n in names), None)
        if colour_channel_indices(names, alpha) is None:
            no_colour = no_colour_reason(names)
    clean = not (unreadable or nonfinite or mismatched or missing or no_colour)
    return {
        "pattern": seq.pattern,
        "frames": frames,
        "missing": missing,
        "unreadable": unreadable,
        "nonfinite": nonfinite,
        "mismatched": mismatched,
        "no_colour": no_colour,
        "clean": clean,
    }


def cmd_check(args: argparse.Namespace, ctx: CliContext) -> int:
    seq = PlateSequence.open(args.pattern)
    frames = seq.select(parse_frames(args.frames) if args.frames else None)
    if args.timeout <= 0:
        raise PlateError(f"--timeout {args.timeout:g}: must be positive")
    report = check_plate(seq, frames, _part(args.part), ctx, args.timeout)
    for bad in report["unreadable"]:
        print(f"recast: {_printable(bad['error'])}", file=sys.stderr)
    lines = [f"checked {len(frames)} frame(s) of {_printable(seq.pattern)}"]
    if report["missing"]:
        lines.append(f"missing frames: {format_frames(report['missing'])}")
    if report["unreadable"]:
        lines.append(f"unreadable frames: {format_frames([b['frame'] for b in report['unreadable']])}")
    for nf in report["nonfinite"]:
        lines.append(f"frame {nf['frame']}: {nf['nan']} NaN, {nf['inf']} Inf samples")
    for mm in report["mismatched"]:
        lines.append(f"frame {mm['frame']}: {mm['reason']}")
    if report["no_colour"]:
        lines.append(report["no_colour"])
    lines.append("clean" if report["clean"] else "NOT clean")
    ctx.emit(report, "\n".join(lines))
    return 0 if report["clean"] else 1


# -- import -----------------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.color import ColorContext
    from recast.pipeline.movie import ImportOptions, import_movie

    frames = parse_frames(args.frames) if args.frames else None
    options = ImportOptions(
        out_pattern=args.out, colorspace=args.colorspace, start=args.start, frames=frames, compression=args.compression
    )
    color = ColorContext()
    report = import_movie(
        Path(args.movie), options, color, progress=lambda items, total: ctx.progress(items, total=total, desc="import")
    )
    if not report.written:
        causes = [b.error for b in report.bad if b.kind != "absent"] or [b.error for b in report.bad]
        first = causes[0] if causes else "no video frames"
        raise PlateError(f"{report.movie}: no frame could be decoded ({first})")
    for warning in report.warnings:
        print(f"recast: warning: {warning}", file=sys.stderr)
    for bad in report.bad:
        where = f"frame {bad.frame}" if bad.frame is not None else "stream"
        print(f"recast: {report.movie}: {where}: {bad.error}", file=sys.stderr)
    text = (
        f"wrote {len(report.written)} frame(s) {format_frames(report.written)} to {report.out_pattern}"
        f" ({report.width}x{report.height}, {report.source_colorspace} -> {report.colorspace}"
        f"{', ' + report.fps + ' fps' if report.fps else ''}{', TC ' + report.timecode if report.timecode else ''})"
    )
    if report.bad:
        numbered = format_frames([b.frame for b in report.bad if b.frame is not None])
        text += f"\n{len(report.bad)} bad frame(s): {numbered or 'stream errors'}"
    ctx.emit(report.to_json(), text)
    return 0 if report.clean else 1


__all__ = [
    "INFO_KEYS",
    "IsolatedProber",
    "check_plate",
    "decoder_address_space",
    "plate_info",
    "probe_frame",
    "register",
]
