"""Contracts for actor models and swappers (shared by every backend).

- An **actor model** is a folder under ``$RECAST_MODELS`` (default
  ``~/.recast/models``) with ``manifest.json`` plus its files; see
  ``models.actor`` for building, loading and verifying.
- A **swapper** turns a loose, axis-aligned crop of the plate (working colour
  space: display-referred RGB float32 in [0, 1]) and the face in *crop*
  coordinates into a swapped crop of the same size plus an optional matte. Each
  backend does its own alignment inside the crop and pastes its result back.
- Backends are found by name in ``SWAPPERS`` / ``ACTOR_BUILDERS`` /
  ``ENHANCERS``: entry points of the groups ``recast.swappers``,
  ``recast.actor_builders`` and ``recast.enhancers`` (the built-ins are declared
  in pyproject.toml the same way); the engine never imports a backend module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recast.pipeline.registry import Registry
from recast.pipeline.types import Face


@dataclass
class ActorModel:
    name: str
    root: Path  # the actor's folder
    manifest: dict[str, Any]

    @property
    def backend(self) -> str:
        return str(self.manifest["backend"])

    @property
    def consent_id(self) -> str:
        return str(self.manifest["consent"]["id"])

    @property
    def model_sha256(self) -> str | None:
        """sha256 of the primary model file (None for the embedded default)."""
        files = self.manifest.get("model_files") or []
        return files[0]["sha256"] if files else None

    def path(self, rel: str) -> Path:
        return self.root / rel


@dataclass
class SwapResult:
    rgb: np.ndarray  # (H, W, 3) float32, same size as the crop, working space
    matte: np.ndarray | None = None  # (H, W) float32 in [0, 1]: where the model put a face
    info: dict[str, Any] = field(default_factory=dict)  # goes into the frame record
    # (H, W) float32: where the face is skin on both sides (colour is matched there); None: the matte
    skin: np.ndarray | None = None
    # True: ``matte`` bounds the face (the swapper knows where its pixels are the actor's face
    # and not hair, background or clothes): the default "union" matte stays inside it
    matte_bound: bool = False
    # (H, W) float32: pixels already in the plate's own colour (e.g. its mouth interior warped
    # into the actor's mouth): left out of the colour match; None: every pixel is the actor's
    ungraded: np.ndarray | None = None
    # (H, W, 3) float32: the colour of those ungraded pixels, laid over the graded swap by their
    # weight (the plate's own pixels beside the actor's graded ones, no mix of the two graded);
    # None: the ungraded pixels are ``rgb``'s own
    ungraded_rgb: np.ndarray | None = None
    # (y, x) of ``ungraded_rgb``'s top-left pixel in the crop when it covers only a box of it
    # (``rgb``'s own colour elsewhere); None: it is crop size
    ungraded_origin: tuple[int, int] | None = None
    # (68, 2): the plate face's 68 points (crop pixels) the swapper fitted itself when the face
    # came without them (e.g. 5 points and a box): what needs the face's layout after the swap
    # (the auto holdout) reads them; None: the face's own landmarks are all there is
    landmarks68: np.ndarray | None = None


@dataclass(frozen=True)
class SwapperContext:
    """What the engine tells a swapper factory (``SWAPPERS.create(name, context=...)``).

    ``allow_noncommercial_models``: the job's licence policy; a backend that needs
    a model trained on non-commercial data refuses (SpecError naming the setting)
    when it is false. ``notify`` receives one-line notices (None: stderr).
    """

    allow_noncommercial_models: bool = True
    notify: Callable[[str], None] | None = None


class Swapper(Protocol):
    """Optionally a swapper declares ``actor_backends`` (tuple of actor backend names it
    can swap; default: its own ``name``) so a mismatch is refused once, at set-up."""

    name: str

    def swap(self, crop: np.ndarray, face: Face, actor: ActorModel) -> SwapResult: ...


class ActorBuilder(Protocol):
    """Prepares backend-specific files inside a new actor folder.

    ``build`` receives the loaded source images (RGB float32 [0, 1], with their
    paths) and writes what the backend needs under ``root``; returns manifest
    additions (e.g. ``{"bank": {...}}``) and raises ActorError naming an image
    without a face.
    """

    name: str

    def build(self, root: Path, images: list[tuple[Path, np.ndarray]], options: dict[str, Any]) -> dict[str, Any]: ...


class Enhancer(Protocol):
    name: str

    def enhance(self, crop: np.ndarray, face: Face) -> np.ndarray: ...


SWAPPERS: Registry[Swapper] = Registry("swapper", "recast.swappers")
ACTOR_BUILDERS: Registry[ActorBuilder] = Registry("actor builder", "recast.actor_builders")
ENHANCERS: Registry[Enhancer] = Registry("enhancer", "recast.enhancers")
