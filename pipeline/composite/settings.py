"""Swap settings: one typed, validated object for every knob of the swap stage.

``SwapSettings.from_dict`` is the single entry for settings coming from a JobSpec,
the CLI or a frame record; every bad value raises :class:`SpecError` naming the
field. ``to_dict`` round-trips through ``from_dict``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from recast.pipeline.errors import SpecError

SelectionMode = Literal["all", "largest", "reference"]
ColourMethod = Literal["rct", "lct", "none"]
MatteSource = Literal["auto", "union", "intersect", "hull", "model"]
BlendMethod = Literal["alpha", "laplacian", "poisson"]

SELECTION_MODES: tuple[str, ...] = get_args(SelectionMode)
COLOUR_METHODS: tuple[str, ...] = get_args(ColourMethod)
BLEND_METHODS: tuple[str, ...] = get_args(BlendMethod)
MASK_SOURCES: tuple[str, ...] = get_args(MatteSource)


@dataclass(frozen=True)
class SwapSettings:
    """Everything the engine needs to know about *how* to swap.

    Pixel sizes (``mask_erode``, ``mask_blur``) are given for a face
    ``MATTE_REFERENCE_SIZE`` (256) pixels across and scale with the face, so one
    setting means the same on an HD and a 4K plate. Negative erode dilates.
    """

    backend: str | None = None  # None: the actor's own backend
    analyser: str = "dlib"
    analyser_models: str | None = None  # model directory for non-embedded analysers
    # models trained on non-commercial data (dlib's 68-point predictor) allowed; false:
    # 5-point landmarks only, and backends that need the 68 points (warp) refuse
    allow_noncommercial_models: bool = True
    selection: SelectionMode = "all"
    # selection "reference": "FRAME:INDEX", "IMAGE[:INDEX]" or "ACTOR=FRAME:INDEX,ACTOR=IMAGE,..."
    reference: str | None = None
    # detection: 1 = the whole (downscaled) frame every frame; N = every N frames and at cuts,
    # in between only windows around each track's predicted box, at higher resolution
    full_scan_every: int = 1
    embed_every: int = 0  # 0 = one embedding per track segment; N = re-embed every N frames
    crop_scale: float = 2.0  # crop side = face size * crop_scale
    mask_erode: float = 4.0
    mask_blur: float = 12.0
    mask_forehead: float = 0.22  # hull raised above the brows by this x face height (0 = brows)
    mask_source: MatteSource = "union"  # landmark hull ∪ model matte; "auto": the model's matte when given
    color: ColourMethod = "rct"
    color_strength: float = 1.0
    color_smoothing: float = 0.6  # per-track running average of the match statistics (0 = off)
    blend: BlendMethod = "alpha"
    grain: bool = True
    element_grain: bool = True  # element written regrained (True) or clean (False)
    highlights: bool = True  # restore the plate's out-of-range energy on the face
    enhancer: str | None = None  # installed enhancer kind (`recast actor enhancer`), off when None
    enhancer_model: str | None = None  # use this ONNX instead of the installed one (needs its licence)
    enhancer_licence: str | None = None
    enhancer_blend: float = 1.0
    colorspace: str | None = None  # plate colour space override (else metadata/default)
    seed: int = 0  # grain noise seed (mixed with the frame number)

    # ----------------------------------------------------------------- dict I/O
    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SwapSettings:
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise SpecError(f"settings: expected an object, got {type(d).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise SpecError(f"settings.{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for name, value in d.items():
            values[name] = _coerce(name, value, getattr(cls(), name))
        return cls(**values)._validated()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **overrides: Any) -> SwapSettings:
        """A copy with ``overrides`` applied (validated like ``from_dict``)."""
        merged = self.to_dict()
        merged.update({k: v for k, v in overrides.items()})
        return SwapSettings.from_dict(merged)

    # ---------------------------------------------------------------- checks
    def _validated(self) -> SwapSettings:
        _choice("selection", self.selection, SELECTION_MODES)
        _choice("color", self.color, COLOUR_METHODS)
        _choice("blend", self.blend, BLEND_METHODS)
        _choice("mask_source", self.mask_source, MASK_SOURCES)
        if self.selection == "reference":
            if not self.reference:
                raise SpecError("settings.reference: selection 'reference' needs reference FRAME:INDEX or an image")
            parse_reference_items(self.reference)
        elif self.reference:
            parse_reference_items(self.reference)
        if not 1 <= self.full_scan_every <= 1000:
            raise SpecError(f"settings.full_scan_every: {self.full_scan_every} is outside 1..1000")
        if not 0 <= self.embed_every <= 1000:
            raise SpecError(f"settings.embed_every: {self.embed_every} is outside 0..1000")
        if not 1.2 <= self.crop_scale <= 6.0:
            raise SpecError(f"settings.crop_scale: {self.crop_scale} is outside 1.2..6.0")
        if not -64.0 <= self.mask_erode <= 64.0:
            raise SpecError(f"settings.mask_erode: {self.mask_erode} px is outside -64..64")
        if not 0.0 <= self.mask_blur <= 128.0:
            raise SpecError(f"settings.mask_blur: {self.mask_blur} px is outside 0..128")
        if not 0.0 <= self.mask_forehead <= 0.6:
            raise SpecError(f"settings.mask_forehead: {self.mask_forehead} is outside 0..0.6")
        if not 0.0 <= self.color_smoothing <= 0.95:
            raise SpecError(f"settings.color_smoothing: {self.color_smoothing} is outside 0..0.95")
        for name in ("color_strength", "enhancer_blend"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise SpecError(f"settings.{name}: {v} is outside 0..1")
        if self.enhancer_model and not self.enhancer:
            raise SpecError("settings.enhancer: enhancer_model is set but no enhancer kind is named")
        if self.enhancer_model and not self.enhancer_licence:
            raise SpecError(f"settings.enhancer_licence: enhancer model {self.enhancer_model} needs its licence")
        return self


def parse_reference(text: str) -> tuple[int, int]:
    """``"1001:0"`` -> (1001, 0): frame and face index in that frame (faces left to right)."""
    frame, sep, index = str(text).strip().partition(":")
    try:
        return (int(frame), int(index)) if sep else (int(frame), 0)
    except ValueError:
        raise SpecError(f"settings.reference: {text!r} is not FRAME:INDEX (e.g. 1001:0)") from None


@dataclass(frozen=True)
class ReferenceItem:
    """One item of ``settings.reference``: a face in a plate frame, or in an image file."""

    actor: str | None  # None: the job's (first) actor
    frame: int | None = None
    index: int | None = 0  # face index, faces counted left to right; None (images): the largest face
    image: str | None = None  # path of a reference image (instead of a frame)

    def to_text(self) -> str:
        ref = f"{self.frame}:{self.index or 0}" if self.image is None else self.image
        if self.image is not None and self.index is not None:
            ref += f":{self.index}"
        return ref if self.actor is None else f"{self.actor}={ref}"


_ACTOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # models.actor's actor names
_FRAME_RE = re.compile(r"^-?\d+(:\d+)?$")
_IMAGE_INDEX_RE = re.compile(r"^(?P<path>.+):(?P<index>\d+)$")


def parse_reference_items(text: str) -> list[ReferenceItem]:
    """``"1001:0"``, ``"ref.png"``, ``"ref.png:1"`` or ``"alice=1001:0,bob=faces/bob.jpg"``.

    An item is a frame (FRAME[:INDEX]) or a path to an image (known image
    extension; its largest face, or with ``:INDEX`` its INDEX-th face left to
    right), with an optional ``ACTOR=`` in front. Paths may not contain commas.
    """
    from recast.models.images import IMAGE_EXTS

    out: list[ReferenceItem] = []
    for raw in str(text).split(","):
        item = raw.strip()
        head, sep, tail = item.partition("=")
        actor: str | None = None
        if sep and _ACTOR_RE.match(head.strip()):
            actor, item = head.strip(), tail.strip()
        if not item:
            raise SpecError(f"settings.reference: empty item in {text!r}")
        if _FRAME_RE.match(item):
            frame, index = parse_reference(item)
            out.append(ReferenceItem(actor, frame=frame, index=index))
            continue
        path, index = item, None
        m = _IMAGE_INDEX_RE.match(item)
        if m and Path(m["path"]).suffix.lower() in IMAGE_EXTS:
            path, index = m["path"], int(m["index"])
        if Path(path).suffix.lower() not in IMAGE_EXTS:
            raise SpecError(
                f"settings.reference: {item!r} is neither FRAME:INDEX (e.g. 1001:0) "
                f"nor an image path ({', '.join(sorted(IMAGE_EXTS))})"
            )
        out.append(ReferenceItem(actor, index=index, image=path))
    return out


def parse_references(text: str) -> list[tuple[str | None, int, int]]:
    """Frame references only: ``"1001:0"`` or ``"alice=1001:0,bob=1001:1"`` ->
    [(actor or None, frame, index), ...]; an image item is a SpecError (see ``parse_reference_items``)."""
    out: list[tuple[str | None, int, int]] = []
    for item in parse_reference_items(text):
        if item.frame is None:
            raise SpecError(f"settings.reference: {item.to_text()!r} is an image, expected FRAME:INDEX")
        out.append((item.actor, item.frame, item.index or 0))
    return out


def absolute_reference_images(text: str, base: Path) -> str:
    """``text`` with relative reference image paths made absolute against ``base``
    (so a record or job says which file was meant wherever it is read)."""
    items = parse_reference_items(text)
    fixed = [
        item if item.image is None or Path(item.image).is_absolute()
        else dataclasses.replace(item, image=str((base / item.image).resolve()))
        for item in items
    ]
    return ",".join(i.to_text() for i in fixed)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SpecError(f"settings.{name}: {value!r} is not one of {', '.join(choices)}")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Coerce JSON-ish values to the field's type; SpecError naming the field otherwise."""
    optional_str = {"backend", "analyser_models", "reference", "enhancer", "enhancer_model", "enhancer_licence", "colorspace"}
    if name in optional_str:
        if value is None or value == "":
            return None
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise SpecError(f"settings.{name}: expected text, got {type(value).__name__}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
            return value.lower() in {"true", "1", "yes", "on"}
        raise SpecError(f"settings.{name}: expected true/false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SpecError(f"settings.{name}: expected an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            f = float(value)
            if f != f or f in (float("inf"), float("-inf")):
                raise SpecError(f"settings.{name}: {value!r} is not a finite number")
            return f
        if isinstance(value, str):
            try:
                return _coerce(name, float(value), default)
            except ValueError:
                pass
        raise SpecError(f"settings.{name}: expected a number, got {value!r}")
    if isinstance(value, str):
        return value
    raise SpecError(f"settings.{name}: expected text, got {type(value).__name__}")
