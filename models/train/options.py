"""Settings of one training run (what the CLI fills in) and its work folder layout."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from recast.pipeline.errors import TrainError

Device = Literal["auto", "cpu", "cuda"]
DEFAULT_DIMS = (64, 256, 64, 22)  # DeepFaceLab SAEHD defaults: encoder, bottleneck, decoder, mask decoder
DEFAULT_RESOLUTION = 128


@dataclass(frozen=True)
class TrainOptions:
    name: str
    footage: str
    plate: str
    consent: Path
    consent_who: str | None = None
    consent_scope: str | None = None
    consent_when: str | None = None
    resolution: int | None = None  # None: 128, or the resumed run's
    dims: tuple[int, int, int, int] | None = None  # None: DEFAULT_DIMS, or the resumed run's
    iterations: int = 20000
    batch: int = 8
    device: Device = "auto"
    resume: bool = False
    force: bool = False
    preview_every: int = 250
    save_every: int = 1000
    keep: int = 3
    lr: float = 2e-4
    seed: int = 0
    threads: int | None = None  # torch CPU threads (None: torch's default)
    footage_frames: list[int] | None = None
    plate_frames: list[int] | None = None
    colorspace: str | None = None
    analyser: str | None = None
    min_face_px: float | None = None
    max_yaw: float = 45.0
    min_sharpness: float = 150.0
    workdir: Path | None = None
    export: bool = True
    progress: bool = False

    def check(self) -> None:
        for name in ("iterations", "batch", "preview_every", "save_every", "keep"):
            if int(getattr(self, name)) < 1:
                raise TrainError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if not self.lr > 0:
            raise TrainError(f"--lr {self.lr}: must be positive")
        if self.device not in ("auto", "cpu", "cuda"):
            raise TrainError(f"--device {self.device}: choose auto, cpu or cuda")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["consent"] = str(self.consent)
        d["workdir"] = None if self.workdir is None else str(self.workdir)
        return d


@dataclass(frozen=True)
class WorkDir:
    """``$RECAST_HOME/train/NAME`` unless --workdir: faces cache, checkpoints, previews, export."""

    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def preview(self) -> Path:
        return self.root / "preview.png"

    @property
    def faces(self) -> Path:
        return self.root / "faces"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def log(self) -> Path:
        return self.root / "train.log"


def default_workdir(name: str) -> Path:
    from recast.pipeline.jobs.store import recast_home

    return recast_home() / "train" / name
