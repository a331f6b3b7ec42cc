"""Detection cost in CPU seconds (not wall: the machines are shared) on the 4K benchmark plate.

Makes the throughput benchmark's 3840x2160 half RGBA PIZ plate (N frames, default 8) and runs
the engine's analysis path on it: one analyser load, then ``FaceStream.process`` on each
frame's analysis pixels with the analysis view (the first frame runs the small-face tile
pyramid, the others the downscale + windows around the tracks). Prints CPU seconds; no target.
Usage: python benchmarks/diag_detect.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import common


def main() -> None:
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    from recast.pipeline.color import ColorContext
    from recast.pipeline.composite.paste import PlateChannels
    from recast.pipeline.engine import analysis_pixels, analysis_view
    from recast.pipeline.faces import AnalyserOptions, create_analyser
    from recast.pipeline.faces.stream import FaceStream, StreamOptions
    from recast.pipeline.plateio import read_plate
    from recast.pipeline.sequence import PlateSequence

    with tempfile.TemporaryDirectory(prefix="recast-diag-") as tmp:
        seq = PlateSequence.open(common.make_plate(Path(tmp), frames, 3840, 2160))
        color = ColorContext()
        t = time.process_time()
        analyser = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
        load = time.process_time() - t
        stream = FaceStream(analyser, StreamOptions())
        per: list[float] = []
        found = 0
        for frame in seq.frames:
            plate = read_plate(seq.path(frame))
            view = analysis_view(color, color.plate_space(plate))
            pixels = analysis_pixels(PlateChannels.of(plate), plate.pixels, True)
            t = time.process_time()
            found = len(stream.process(frame, pixels, to_display=view))
            per.append(time.process_time() - t)
    print(f"analyser_load_cpu_s: {load:.2f}")
    print(f"tiled_scan_frame_cpu_s: {per[0]:.2f}")
    if len(per) > 1:
        print(f"other_frames_median_cpu_s: {statistics.median(per[1:]):.3f}")
    print(f"detection_total_cpu_s: {sum(per):.2f} ({len(per)} frames, {found} faces on the last)")


if __name__ == "__main__":
    main()
