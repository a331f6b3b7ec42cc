"""False faces and recall of the default detection (no targets: a diagnostic).

Prints, per analyser (dlib 68-point default, dlib commercial, mediapipe):
- false faces on skimage's photographs without a face, each scaled into an 18 % grey
  1920x1080 half EXR at full and half height and read back through the OCIO display map
  (bench_preview's layout), plus the astronaut plate's faces beyond its one;
- recall: bench_look's small-face cases (astronaut and t1 faces pasted at 48-108 px in
  720p-UHD), t1.jpg's six faces, skimage's lfw_subset (100, upscaled), t1 faces cut by the
  left frame edge (20-40 % off, 90 and 160 px).

``--no-check`` turns the second opinion on weak candidates off (pipeline/faces/verify.py):
the figures before it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from _faces_fixtures import astronaut, hd_plate, lfw_faces, skimage_rgb, t1  # noqa: E402
from test_faces_small import paste  # noqa: E402

from recast.pipeline.faces import AnalyserOptions, create_analyser  # noqa: E402

NEGATIVES = (
    "brick", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
    "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text", "stereo_motorcycle", "cell",
    "shepp_logan_phantom",
)  # fmt: skip


def _quiet(_text: str) -> None:
    pass


def false_faces(an, tmp: Path) -> int:
    count = 0
    for name in ("astronaut", *NEGATIVES):
        for height in (1080, 540):
            rgb, display = hd_plate(tmp / f"{name}.{height}.exr", skimage_rgb(name), height)
            faces = an.analyse(rgb, to_display=display, embed=False)
            extra = len(faces) - (name == "astronaut")
            if extra:
                print(f"    {name}@{height}: " + ", ".join(f"{np.round(f.box).astype(int).tolist()} score {f.score:.2f}" for f in faces))
            count += max(0, extra)
    return count


def recall(an, judge) -> dict[str, str]:
    sources = [(img, f.box) for img in (astronaut(), t1()) for f in judge.analyse(img, embed=False)]
    hits = total = 0
    for shape, px in (((720, 1280), 48), ((1080, 1920), 72), ((1080, 1920), 48), ((2160, 3840), 108)):
        for k, (img, box) in enumerate(sources):  # bench_look's placement
            h, w = shape
            at = (int((0.1 + 0.7 * ((k * 0.37) % 1.0)) * w), int((0.2 + 0.5 * ((k * 0.61) % 1.0)) * h))
            faces = an.analyse(paste(img, box, px, shape, at), embed=False)
            total += 1
            hits += any(0.6 * px < f.size < 2.0 * px and abs(f.box[0] - at[0]) < px for f in faces)
    six = len(an.analyse(t1(), embed=False))
    lfw = sum(bool(an.analyse(x, embed=False)) for x in lfw_faces())
    img = t1()
    box = judge.analyse(img, embed=False)[0].box
    edge = sum(
        any(f.box[0] < 10 for f in an.analyse(paste(img, box, px, (1080, 1920), (-int(frac * px), 400)), embed=False))
        for frac in (0.2, 0.3, 0.4)
        for px in (90, 160)
    )
    return {"small": f"{hits}/{total}", "t1": f"{six}/6", "lfw": f"{lfw}/100", "edge": f"{edge}/6"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-check", action="store_true", help="without the presence check on weak candidates")
    p.add_argument("--skip-recall", action="store_true")
    args = p.parse_args()
    analysers = {
        "dlib": create_analyser("dlib", AnalyserOptions(), notify=_quiet),
        "dlib commercial": create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False), notify=_quiet),
        "mediapipe": create_analyser("mediapipe", AnalyserOptions(), notify=_quiet),
    }
    if args.no_check:
        for an in analysers.values():
            an._presence = lambda *_a: None  # type: ignore[method-assign]
    judge = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False, min_face=0), notify=_quiet)
    with tempfile.TemporaryDirectory(prefix="recast-falsefaces-") as tmp:
        for name, an in analysers.items():
            t0 = time.perf_counter()
            fp = false_faces(an, Path(tmp))
            print(f"false_faces[{name}]: {fp} on {2 * (1 + len(NEGATIVES))} HD plates ({time.perf_counter() - t0:.0f} s)", flush=True)
            if not args.skip_recall:
                r = recall(an, judge)
                print(f"recall[{name}]: " + ", ".join(f"{k} {v}" for k, v in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
