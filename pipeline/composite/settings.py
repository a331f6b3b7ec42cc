"""Swap settings: one typed, validated object for every knob of the swap stage.

``SwapSettings.from_dict`` is the single entry for settings coming from a JobSpec,
the CLI or a frame record; every bad value raises :class:`SpecError` naming the
field. ``to_dict`` round-trips through ``from_dict``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pipeline.errors import SpecError

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
    reference: str | None = None  # "FRAME:INDEX" or "ACTOR=FRAME:INDEX,..." for selection "reference"
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
                raise SpecError("settings.reference: selection 'reference' needs reference FRAME:INDEX")
            parse_references(self.reference)
        elif self.reference:
            parse_references(self.reference)
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


def parse_references(text: str) -> list[tuple[str | None, int, int]]:
    """``"1001:0"`` or ``"alice=1001:0,bob=1001:1"`` -> [(actor or None, frame, index), ...]."""
    out: list[tuple[str | None, int, int]] = []
    for item in str(text).split(","):
        actor, sep, ref = item.strip().rpartition("=")
        if not ref:
            raise SpecError(f"settings.reference: empty item in {text!r}")
        frame, index = parse_reference(ref)
        out.append(((actor.strip() or None) if sep else None, frame, index))
    return out


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
