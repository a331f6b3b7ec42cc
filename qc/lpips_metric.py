"""LPIPS (AlexNet, v0.1 linear layers) between plate and comp face crops.

Uses the real ``lpips`` package. Its linear layers ship inside the package;
the AlexNet trunk is torchvision's ImageNet checkpoint, read from the torch hub
cache (``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``) and never
downloaded here: when it is absent the metric is unavailable with that reason.
``recast models fetch lpips`` puts it there on a machine with internet.

``LpipsOptions(trunk="random")`` builds a randomly initialised trunk: only for
testing the code path; its numbers mean nothing and results say so.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.qc.metrics import Direction, MetricContext, Unavailable
from recast.models.hashing import sha256_file  # noqa: F401 - install_trunk (models_cmd) reads it from here

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
# sha256 of torchvision's alexnet-owt-7be5be79.pth (torchvision names checkpoints by its first 8 hex digits)
ALEXNET_SHA256 = "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"
ALEXNET_SHA256_PREFIX = ALEXNET_SHA256[:8]
INPUT_SIZE = 128  # face crops are resized to this square before LPIPS


def torch_home() -> Path:
    env = os.environ.get("TORCH_HOME")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "torch"


def trunk_path() -> Path:
    return torch_home() / "hub" / "checkpoints" / ALEXNET_FILE



@dataclass(frozen=True)
class LpipsOptions:
    trunk: str | None = None  # None: the torch hub cache; "random": test-only random trunk; else a file path
    device: str = "cpu"


class LpipsScorer:
    """Loads the network once per scorer; ``distance`` takes two [0, 1] RGB crops."""

    def __init__(self, options: LpipsOptions | None = None) -> None:
        self.options = options or LpipsOptions()
        self._net: Any = None
        self._error: str | None = None

    @property
    def random_trunk(self) -> bool:
        return self.options.trunk == "random"

    def _load(self) -> Any:
        if self._net is not None or self._error is not None:
            return self._net
        trunk = None if self.random_trunk else Path(self.options.trunk) if self.options.trunk else trunk_path()
        if trunk is not None and not trunk.is_file():
            self._error = f"LPIPS AlexNet trunk not found at {trunk} (run `recast models fetch lpips`)"
            return None
        try:
            import lpips  # type: ignore[import-untyped]
            import torch
        except ImportError as exc:
            self._error = f"LPIPS needs the lpips and torch packages ({exc.name} not installed)"
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        if trunk is not None:
            try:
                state = torch.load(trunk, map_location="cpu", weights_only=True)
                for sl in (net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5):
                    for idx, module in sl.named_children():
                        sub = {k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"features.{idx}.")}
                        if sub:
                            module.load_state_dict(sub)
            except Exception as exc:  # noqa: BLE001 - torch raises many kinds
                self._error = f"{trunk}: not a usable AlexNet checkpoint ({str(exc).splitlines()[0]})"
                return None
        self._net = net.eval().to(self.options.device)
        return self._net

    def unavailable_reason(self) -> str | None:
        self._load()
        return self._error

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        net = self._load()
        if net is None:
            raise Unavailable(self._error or "LPIPS unavailable")
        import torch

        def prep(img: np.ndarray) -> Any:
            img = cv2.resize(np.ascontiguousarray(img[..., :3], np.float32), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
            t = torch.from_numpy(img).permute(2, 0, 1)[None]
            return (t * 2.0 - 1.0).to(self.options.device)

        with torch.no_grad():
            return float(net(prep(a), prep(b)).item())


class LPIPSMetric:
    name: str = "lpips"
    direction: Direction = "lower"
    label: str = "LPIPS plate vs comp face (AlexNet)"

    def __init__(self, options: LpipsOptions | None = None) -> None:
        self.scorer = LpipsScorer(options)

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        a, b = ctx.face_slice(plate_crop), ctx.face_slice(out_crop)
        if min(a.shape[:2]) < 8:
            raise Unavailable("face box too small for LPIPS")
        return self.scorer.distance(a, b)


