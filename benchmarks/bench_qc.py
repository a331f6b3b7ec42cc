"""QC cost, measured in one run on the Megamind clip (RECAST_TEST_MEDIA, default ../shared/data).

A. A 200-frame job (720x528, built by qc.sample_job): scoring cold (with and
   without identity), scoring again from the per-frame cache, the HTML+PDF
   report and the preview movie. Budget: the report for 200 frames in <= 30 s.
B. The real engine on 4K plates (Megamind upscaled to 3840x2816, Tom Hanks
   warp actor): QC's per-frame cost as a fraction of the engine's own
   per-frame time from the records. Budget: <= 15 %.

Prints ratios; run: .venv/bin/python benchmarks/bench_qc.py [--frames 200] [--skip-4k] [--skip-200]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def media() -> Path:
    p = Path(os.environ.get("RECAST_TEST_MEDIA") or REPO.parent / "shared" / "data") / "Megamind.avi"
    if not p.is_file():
        sys.exit(f"bench_qc: {p} not found (set RECAST_TEST_MEDIA)")
    return p


def timed(fn, *a, **k):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    r = fn(*a, **k)
    return r, time.perf_counter() - t


def part_a(root: Path, frames: int) -> None:
    from recast.qc.movie import write_movie
    from recast.qc.report import write_report
    from recast.qc.sample_job import SampleJobSpec, build_sample_job, decode_frames
    from recast.qc.scoring import QCOptions, score_job

    out = root / "job200"
    clip = decode_frames(media(), 30, min(frames, 240))  # the clip opens without a face
    _, t_build = timed(build_sample_job, clip, SampleJobSpec(out, glitches={1050: "shift", 1100: "colour", 1150: "missing"}))
    doc, t_cold = timed(score_job, out, QCOptions())
    _, t_noid = timed(score_job, out, QCOptions(identity=False))
    doc2, t_warm = timed(score_job, out, QCOptions(identity=False))
    _, t_report = timed(write_report, doc, root / "report", True)
    _, t_movie = timed(write_movie, out, root / "preview.mp4")
    n = len(doc["frames"])
    print(f"A. {n} frames 720x528 (sample job built in {t_build:.1f} s), flagged {doc['summary']['flagged']}")
    print(f"   score cold, identity on : {t_cold:7.2f} s  ({t_cold / n * 1000:.0f} ms/frame)")
    print(f"   score cold, identity off: {t_noid:7.2f} s  ({t_noid / n * 1000:.0f} ms/frame)  identity share {1 - t_noid / t_cold:.0%}")
    print(f"   score from cache        : {t_warm:7.2f} s  (cold/cached = {t_cold / max(t_warm, 1e-9):.0f}x), frames rescored {doc2['frames_scored']}")
    print(f"   HTML+PDF report         : {t_report:7.2f} s")
    print(f"   preview movie (h264)    : {t_movie:7.2f} s")
    total = t_cold + t_report
    print(f"   ratio (cold scores + report) / 30 s budget = {total / 30:.2f}; (cached + report) / 30 s = {(t_warm + t_report) / 30:.2f}")


def part_b(root: Path) -> None:
    import cv2
    import numpy as np
    import OpenImageIO as oiio

    from recast.models.actor import build_actor
    from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
    from recast.pipeline.plateio import write_image
    from recast.pipeline.sequence import PlateSequence
    from recast.qc.frame_scoring import FrameScorer, QCOptions
    from recast.qc.sample_job import decode_frames, srgb_to_linear

    os.environ["RECAST_MODELS"] = str(root / "models")
    spec_i = importlib.util.find_spec("insightface")
    assert spec_i is not None and spec_i.origin is not None
    hanks = Path(spec_i.origin).parent / "data" / "images" / "Tom_Hanks_54745.png"
    consent = root / "consent.json"
    consent.write_text(json.dumps({"who": "benchmark (package sample image)", "scope": "benchmark only"}))
    actor = build_actor("hanks", [hanks], consent, backend="warp", options={"force": True})
    plates = root / "plate4k"
    for i, rgb8 in enumerate(decode_frames(media(), 150, 4)):
        big = cv2.resize(rgb8, (3840, 2816), interpolation=cv2.INTER_CUBIC)
        spec = oiio.ImageSpec(3840, 2816, 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        write_image(plates / f"shot.{1001 + i:04d}.exr", srgb_to_linear(big.astype(np.float32) / 255.0), spec)
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    out = root / "out4k"
    records = Engine(seq, {actor.name: actor}, SwapSettings(), OutputLayout(out, seq.name, seq.padding)).run(seq.frames)
    done = [r for r in records if r["status"] == "done"]
    if not done:
        sys.exit("bench_qc: the engine swapped no 4K frame")
    engine_s = [float(r["timings"]["total"]) for r in done]
    scorer = FrameScorer(out, QCOptions(cache=False))
    scorer.score(done[0])  # warm-up: loads the face models and embeds the actor once per run
    qc_s = [timed(scorer.score, r)[1] for r in done]
    e, q = float(np.median(engine_s)), float(np.median(qc_s))
    print(f"B. 4K (3840x2816) real engine, {len(done)} swapped frames (medians): engine {e:.2f} s/frame, QC {q:.3f} s/frame")
    print(f"   ratio QC / engine per frame = {q / e:.3f} (budget 0.15)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--skip-4k", action="store_true")
    ap.add_argument("--skip-200", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_qc_") as tmp:
        os.environ.setdefault("RECAST_HOME", str(Path(tmp) / "home"))
        if not args.skip_200:
            part_a(Path(tmp), args.frames)
        if not args.skip_4k:
            part_b(Path(tmp))


if __name__ == "__main__":
    main()
