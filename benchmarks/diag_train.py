"""Actor training speed on this machine: iterations per second of the real training step
(augmented batch + forward + masked L1/SSIM loss + AdamW step) at several resolutions.

Faces: skimage's astronaut, aligned with the dfm backend's whole-face geometry (one src
and one dst face; the speed does not depend on the pictures). Widths: the defaults
(64,256,64,22), batch 8, as `recast actor train` runs without options.

Prints it/s per resolution and the cost ratio against the smallest resolution measured
in the same run (the floor), plus the hours 20k iterations would take. Target: none for
CPU (CPU training is for smoke tests and tiny previews); on a GPU, the README's figures.

Run: .venv/bin/python benchmarks/diag_train.py [RES ...] [--iters N] [--threads N] [--dims E,AE,D,M] [--batch N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from skimage import data  # noqa: E402

from recast.models.train.augment import AugmentOptions  # noqa: E402
from recast.models.train.dataset import TrainData  # noqa: E402
from recast.models.train.extract import ExtractOptions, FaceSet, align_face  # noqa: E402
from recast.models.train.net import DFModel, NetConfig  # noqa: E402
from recast.models.train.options import DEFAULT_DIMS  # noqa: E402
from recast.models.train.trainer import make_batch, train_step  # noqa: E402
from recast.pipeline.faces import create_analyser  # noqa: E402


def faces_at(res: int, image: np.ndarray, face: object) -> FaceSet:
    rgb, mask, parts = align_face(image, face, ExtractOptions(res))  # type: ignore[arg-type]
    return FaceSet(rgb[None], mask[None], parts[None], [{}])


def rate(res: int, dims: tuple[int, ...], iters: int, batch: int, device: torch.device, image: np.ndarray, face: object) -> float:
    fs = faces_at(res, image, face)
    td = TrainData(fs, fs, {}, [])
    torch.manual_seed(0)
    model = DFModel(NetConfig(res, *dims)).to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.5, 0.999), weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    rng = np.random.default_rng(0)
    aug = AugmentOptions()
    train_step(model, optim, scaler, make_batch(td, rng, batch, aug, device))  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        train_step(model, optim, scaler, make_batch(td, rng, batch, aug, device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return iters / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("res", nargs="*", type=int, default=[64, 128])
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--dims", default=",".join(map(str, DEFAULT_DIMS)), help="E,AE,D,M widths")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dims = tuple(int(v) for v in args.dims.split(","))
    image = data.astronaut().astype(np.float32) / 255.0
    face = create_analyser("dlib").analyse(image, embed=False)[0]
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"device: {name}; widths {dims}, batch {args.batch}, {args.iters} timed iterations each")
    floor = None
    for res in args.res:
        r = rate(res, dims, args.iters, args.batch, device, image, face)
        floor = floor or r
        print(f"{res:4d} px: {r:8.3f} it/s  ({1 / r:7.2f} s/it; 20k iterations = {20000 / r / 3600:7.1f} h); cost x{floor / r:.1f} vs {args.res[0]} px")


if __name__ == "__main__":
    main()
