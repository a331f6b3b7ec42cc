"""Comp write per frame: spliced (the plate file's chunks copied, only the face rows' chunks
encoded; pipeline.exrsplice) against the whole encode of the same pixels, side by side.

Plate: the throughput bench's plate (demo face, grain, glint; default 3840x2160 half RGBA),
in the compression asked for. One ``recast swap`` run gives the real comps and the rows each
frame changed (its faces' matte boxes). Then, per round, every frame's comp is written both
ways (A B A B, in this process, one frame after another, as the writer thread does) and the
spliced file is checked to decode like the whole encode (bit-exact for lossless codecs).
Prints seconds per frame for each way, their ratio, and chunks encoded / chunks. No target.
Usage: python benchmarks/diag_splice.py [--frames N] [--rounds R] [--compression piz]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import common


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--compression", default="piz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="recast-diag-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        pattern = common.make_plate(root, args.frames, args.width, args.height, compression=args.compression)
        from recast.pipeline.cli import main as recast
        from recast.pipeline.demo import DemoPlate, reference_for
        from recast.pipeline.plateio import read_plate, same_pixels, write_plate

        reference = reference_for(DemoPlate(pattern, (args.width * 0.36, args.height * 0.46)))
        swap_out = root / "swap"
        with contextlib.redirect_stdout(io.StringIO()):
            rc = recast(["swap", pattern, "--actor", actor.name, "--out", str(swap_out), "--selection", "reference",
                         "--reference", reference, "--json"])
        if rc != 0:
            raise SystemExit(f"recast swap failed with exit code {rc}")
        frames = []
        for rec_path in sorted((swap_out / "records").glob("*.json")):
            rec = json.loads(rec_path.read_text())
            plate = read_plate(rec["plate"])
            comp = read_plate(rec["comp"]).pixels
            dy = plate.data_window[1]
            rows = [(f["matte_box"][1] - dy, f["matte_box"][3] - dy) for f in rec["faces"] if f.get("matte_box")]
            frames.append((plate, comp, rows))
        out = root / "out"
        reports = []

        def spliced() -> None:
            reports.clear()
            for plate, comp, rows in frames:
                reports.append(write_plate(out / f"s_{plate.path.name}", plate, comp, attrs={"job": "diag"}, changed_rows=rows))

        def whole() -> None:
            for plate, comp, _ in frames:
                write_plate(out / f"w_{plate.path.name}", plate, comp, attrs={"job": "diag"})

        t = common.interleaved({"splice": spliced, "encode": whole}, args.rounds)
        lossless = args.compression.split(":")[0] in ("none", "rle", "zips", "zip", "piz")
        for plate, _, _ in frames:
            a, b = read_plate(out / f"s_{plate.path.name}").pixels, read_plate(out / f"w_{plate.path.name}").pixels
            if lossless and not same_pixels(a, b):
                raise SystemExit(f"{plate.path.name}: spliced comp differs from the whole encode")
    n = len(frames)
    if not n or any(r.method != "splice" for r in reports):
        raise SystemExit(f"not spliced: {[r.reason for r in reports if r.method != 'splice']}")
    encoded, chunks = sum(r.encoded for r in reports), sum(r.chunks for r in reports)
    size = f"{args.width}x{args.height} half RGBA {args.compression}"
    common.emit("comp_write_splice_s", f"{t['splice'] / n:.3f} per frame ({size}, {encoded}/{chunks} chunks encoded)",
                "no target", None)
    common.emit("comp_write_encode_s", f"{t['encode'] / n:.3f} per frame (whole encode, same pixels)", "no target", None)
    common.emit("comp_write_ratio", f"{t['splice'] / t['encode']:.2f} (splice / whole encode, median of {args.rounds} rounds)",
                "no target", None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
