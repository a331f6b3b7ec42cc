"""Warp swapper: speed per face, and identity over an actor x plate matrix (one run).

Speed: a one-image actor (skimage's astronaut) swapped onto a t1.jpg face
(insightface package data) resized to each crop size; milliseconds per face plus
the ratios between sizes and against fitting 68 points inside the swap.
Landmarks are given (as the engine does), so timings are the swapper's own work.

Identity (``--identity``): every actor onto every other plate face among the
package faces (astronaut, Tom Hanks, the six t1.jpg faces, two lfw_subset faces
upscaled), judged by dlib's 128-D embedding (``dlib_face_recognition_resnet_model_v1``,
not used by the swapper). Prints mean distances to actor and plate and their ratio
for the default target (actor's shape in the plate's pose) and for the
texture-only control (``target_shape="plate"``), plus how many pairs read as the
actor (distance to actor < distance to plate).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recast.models.base import ActorModel
from recast.models.swappers.warp import WarpActorBuilder, WarpSwapper
from recast.models.swappers.warp_landmarks import Landmarker
from recast.pipeline.types import Face

SIZES = (256, 512, 1024)
REPEAT = 10


def _t1_face() -> np.ndarray:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None
    bgr = cv2.imread(str(Path(spec.origin).parent / "data" / "images" / "t1.jpg"))
    if bgr is None:
        raise SystemExit("insightface's t1.jpg is missing")
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return img[150:480, 620:950]  # one face with room around it


def _time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (bank images load on first use)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> int:
    lmk = Landmarker()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        astro = data.astronaut().astype(np.float32) / 255.0
        t0 = time.perf_counter()
        WarpActorBuilder(landmarker=lmk).build(root, [(Path("astronaut.png"), astro)], {})
        build_s = time.perf_counter() - t0
        actor = ActorModel(name="bench", root=root, manifest={"backend": "warp"})
        swapper = WarpSwapper(landmarker=lmk)
        base = _t1_face()
        rows = []
        for size in SIZES:
            crop = np.ascontiguousarray(cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1))
            box, lm, score = lmk.detect(crop)[0]
            face = Face(box=box, score=score, kps5=np.zeros((5, 2)), landmarks=lm, landmark_kind="dlib68")
            kps_only = Face(box=box, score=score, kps5=np.zeros((5, 2)))
            swap_s = _time(partial(swapper.swap, crop, face, actor), REPEAT)
            fit_s = _time(partial(swapper.swap, crop, kps_only, actor), REPEAT)
            rows.append((size, swap_s, fit_s))
    print(f"bank build (1 image, 2 views): {build_s * 1000:.0f} ms")
    print(f"{'crop px':>8} {'swap ms':>9} {'+fit68 ms':>10}")
    for size, swap_s, fit_s in rows:
        print(f"{size:>8} {swap_s * 1000:>9.1f} {fit_s * 1000:>10.1f}")
    small, large = rows[0], rows[-1]
    print(
        f"ratio {large[0]}px / {small[0]}px swap time: {large[1] / small[1]:.2f}x "
        f"(pixel ratio {(large[0] / small[0]) ** 2:.0f}x)"
    )
    for size, swap_s, fit_s in rows:
        print(f"ratio fitting 68 points inside the swap / given landmarks at {size}px: {fit_s / swap_s:.2f}x")
    return 0


def _faces(lmk: Landmarker) -> dict[str, np.ndarray]:
    """Loose 320 px crops of the package faces (the judge's detector finds them)."""
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None
    images = Path(spec.origin).parent / "data" / "images"

    def load(name: str) -> np.ndarray:
        bgr = cv2.imread(str(images / name))
        if bgr is None:
            raise SystemExit(f"insightface's {name} is missing")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

    def crop(img: np.ndarray, box: np.ndarray, out: int = 320) -> np.ndarray:
        c = (box[:2] + box[2:]) / 2
        half = 1.3 * max(box[2] - box[0], box[3] - box[1])
        k = out / (2 * half)
        m = np.array([[k, 0, out / 2 - c[0] * k], [0, k, out / 2 - c[1] * k]])
        return cv2.warpAffine(img, m, (out, out), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE).clip(0, 1)

    out: dict[str, np.ndarray] = {}
    astro = data.astronaut().astype(np.float32) / 255.0
    out["astronaut"] = crop(astro, lmk.detect(astro)[0][0])
    hanks = load("Tom_Hanks_54745.png")
    out["hanks"] = crop(hanks, lmk.detect(hanks)[0][0])
    t1 = load("t1.jpg")
    for i, (box, _, _) in enumerate(sorted(lmk.detect(t1), key=lambda d: float(d[0][0]))):
        out[f"t1_{i}"] = crop(t1, box)
    lfw = data.lfw_subset()
    for i in (0, 20):
        big = cv2.copyMakeBorder(
            cv2.resize(lfw[i].astype(np.float32), (200, 200), interpolation=cv2.INTER_CUBIC),
            60, 60, 60, 60, cv2.BORDER_REPLICATE,
        )  # fmt: skip
        out[f"lfw_{i}"] = np.repeat(np.clip(big, 0, 1)[..., None], 3, axis=2)
    return out


def identity() -> None:
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    assert spec is not None and spec.submodule_search_locations
    dat = Path(next(iter(spec.submodule_search_locations))) / "models"
    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(dat / "shape_predictor_68_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(dat / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(img: np.ndarray) -> np.ndarray | None:
        u8 = np.ascontiguousarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
        rects = det(u8, 1)
        if not rects:
            return None
        return np.array(net.compute_face_descriptor(u8, sp(u8, max(rects, key=lambda r: r.area()))))

    lmk = Landmarker()
    faces = _faces(lmk)
    emb = {k: embed(v) for k, v in faces.items()}
    modes = {
        "actor shape (default)": WarpSwapper(landmarker=lmk),
        "texture only (control)": WarpSwapper({"target_shape": "plate"}, landmarker=lmk),
    }
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    misses: list[str] = []
    lost: dict[str, int] = dict.fromkeys(modes, 0)
    with tempfile.TemporaryDirectory() as tmp:
        actors = {}
        for name in ("astronaut", "hanks", "t1_0", "t1_3", "lfw_0"):
            root = Path(tmp) / name
            WarpActorBuilder(landmarker=lmk).build(root, [(Path(f"{name}.png"), faces[name])], {})
            actors[name] = ActorModel(name=name, root=root, manifest={"backend": "warp"})
        for a, actor in actors.items():
            for p, plate in faces.items():
                ea, ep = emb[a], emb[p]
                if p == a or ea is None or ep is None:
                    continue
                box, lm, score = lmk.detect(plate)[0]
                face = Face(box=box, score=score, kps5=np.zeros((5, 2)), landmarks=lm, landmark_kind="dlib68")
                for mode, sw in modes.items():
                    res = sw.swap(plate, face, actor)
                    assert res.matte is not None
                    alpha = res.matte[..., None]
                    e = embed(res.rgb * alpha + plate * (1 - alpha))
                    if e is None:
                        lost[mode] += 1
                        continue
                    da, dp = float(np.linalg.norm(e - ea)), float(np.linalg.norm(e - ep))
                    results[mode].append((da, dp))
                    if mode == "actor shape (default)" and da >= dp:
                        misses.append(f"{a} onto {p} (dist to actor {da:.3f}, to plate {dp:.3f})")
    for mode, rows in results.items():
        arr = np.array(rows)
        wins = int((arr[:, 0] < arr[:, 1]).sum())
        print(
            f"{mode:>24}: pairs {len(arr)}, reads as actor {wins}/{len(arr)}, "
            f"mean dist to actor {arr[:, 0].mean():.3f} (range {arr[:, 0].min():.2f}-{arr[:, 0].max():.2f}), "
            f"to plate {arr[:, 1].mean():.3f}, ratio actor/plate {arr[:, 0].mean() / arr[:, 1].mean():.2f}, "
            f"judge found no face {lost[mode]}"
        )
    default, texture = np.array(results["actor shape (default)"]), np.array(results["texture only (control)"])
    print(f"ratio mean dist to actor, default / texture-only: {default[:, 0].mean() / texture[:, 0].mean():.2f}")
    for miss in misses:
        print(f"default reads as the plate: {miss}")


if __name__ == "__main__":
    code = main()
    if "--identity" in sys.argv[1:]:
        identity()
    raise SystemExit(code)
