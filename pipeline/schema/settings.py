"""Swap settings: the one typed, validated definition of every knob of the swap stage.

:class:`SwapSettings` is a frozen pydantic model. Everything else derives from
it: the ``recast swap`` flags (names, help, defaults: :mod:`recast.pipeline.cli.swap`
builds them from :data:`SwapSettings.model_fields` and the :class:`Cli` notes
below), the job spec's and the service's ``settings`` object, the frame
record's ``settings`` and ``recast schema settings``.

``SwapSettings.from_dict`` is the entry for settings from a JobSpec, the CLI or
a frame record; every bad value raises :class:`SpecError` naming the field
(``settings.mask_blur: -1.0 is outside 0..128``). ``to_dict`` round-trips.
Constructing ``SwapSettings(**values)`` validates the same way.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from recast.pipeline.errors import SpecError
from recast.pipeline.schema._errors import spec_error

SETTINGS_SCHEMA = 1

SelectionMode = Literal["all", "largest", "reference"]
ColourMethod = Literal["rct", "lct", "none"]
MatteSource = Literal["auto", "union", "intersect", "hull", "model"]
BlendMethod = Literal["alpha", "laplacian", "poisson"]

SELECTION_MODES: tuple[str, ...] = get_args(SelectionMode)
COLOUR_METHODS: tuple[str, ...] = get_args(ColourMethod)
BLEND_METHODS: tuple[str, ...] = get_args(BlendMethod)
MASK_SOURCES: tuple[str, ...] = get_args(MatteSource)


@dataclass(frozen=True)
class Cli:
    """How a setting appears on the ``recast swap`` command line (kept next to the field).

    The flag is ``--<field-name-with-dashes>`` (booleans: ``--x/--no-x``);
    ``aliases`` are extra flags kept for older spellings, each setting the value
    given (``{"--commercial-only": False}``; ``None``: takes an argument like
    the main flag). ``value`` names a CLI-side conversion: ``path`` (made
    absolute against the working folder), ``reference`` (its image paths made
    absolute), ``enhancer`` (KIND, FILE or KIND=FILE).
    """

    metavar: str | None = None
    aliases: tuple[tuple[str, Any], ...] = ()
    value: Literal["plain", "path", "reference", "enhancer", "holdout"] = "plain"


# -- value types (lenient where JSON/CLI text is common, never silently wrong) ----------------


def _opt_text(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


OptText = Annotated[str | None, BeforeValidator(_opt_text)]
Text = Annotated[str, BeforeValidator(_text)]
Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number)]


class SwapSettings(BaseModel):
    """Everything the engine needs to know about *how* to swap.

    Pixel sizes (``mask_erode``, ``mask_blur``) are given for a face
    ``MATTE_REFERENCE_SIZE`` (256) pixels across and scale with the face, so one
    setting means the same on an HD and a 4K plate. Negative erode dilates.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, title="RecastSwapSettings",
        json_schema_extra={"x-recast-schema": SETTINGS_SCHEMA},
    )
    SCHEMA: ClassVar[int] = SETTINGS_SCHEMA

    backend: Annotated[OptText, Cli("NAME")] = Field(None, description="swapper backend (default: the actor's own)")
    analyser: Annotated[Text, Cli("NAME")] = Field("dlib", description="face analyser backend")
    analyser_models: Annotated[OptText, Cli("DIR", value="path")] = Field(
        None, description="analyser model directory (insightface: the pack, e.g. buffalo_l)")
    allow_noncommercial_models: Annotated[bool, Cli(aliases=(("--commercial-only", False),))] = Field(
        True, description="allow models trained on non-commercial data (dlib's 68-point predictor); "
        "--commercial-only: 5-point landmarks only, and backends that need the 68 points (warp) refuse")
    selection: SelectionMode = Field("all", description="which faces to swap")
    reference: Annotated[OptText, Cli("FRAME:INDEX|IMAGE", value="reference")] = Field(
        None, description="reference face for selection 'reference': FRAME:INDEX (faces counted left to right) or an "
        "image (its main face; IMAGE:INDEX for another); several actors: ACTOR=FRAME:INDEX,ACTOR=IMAGE")
    full_scan_every: Annotated[Int, Cli("N")] = Field(
        1, ge=1, le=1000, description="whole-frame face detection every N frames and at cuts; windows around tracks in between")
    embed_every: Annotated[Int, Cli("N")] = Field(
        0, ge=0, le=1000, description="re-embed each track every N frames (0: once per track segment)")
    min_face: Annotated[Int, Cli("PX")] = Field(
        48, ge=0, le=4096, description="smallest face (plate px, box height) full scans look for, by a pyramid of "
        "tiles over the detection downscale (0: the downscale only)")
    detect_size: Annotated[Int, Cli("PX")] = Field(
        1024, ge=64, le=8192, description="long side of the whole-frame face detection downscale")
    tile_scan_every: Annotated[Int, Cli("N")] = Field(
        8, ge=1, le=1000, description="run the small-face tiles every N frames and at cuts; the downscale and "
        "windows around tracks in between")
    history_block: Annotated[Int, Cli("N")] = Field(
        96, ge=1, le=100000, description="temporal state (tracks, smoothing, colour statistics) restarts every N frames "
        "counted from the plate's first frame, after replaying --history-frames before the block: a frame's result "
        "depends only on the plate, not on where a run, resume or farm chunk started")
    history_frames: Annotated[Int, Cli("N")] = Field(
        24, ge=0, le=1000, description="frames before each history block replayed (not written) to warm the tracker, "
        "smoothing and open-eye references up; the plate's first block, with none before it, reads as many ahead")
    crop_scale: Annotated[Float, Cli("X")] = Field(2.0, ge=1.2, le=6.0, description="swap crop side = face size x this")
    mask_erode: Annotated[Float, Cli("PX")] = Field(4.0, ge=-64.0, le=64.0, description="matte erode at a 256 px face (negative dilates)")
    mask_blur: Annotated[Float, Cli("PX")] = Field(12.0, ge=0.0, le=128.0, description="matte feather at a 256 px face")
    mask_forehead: Annotated[Float, Cli("0..0.6")] = Field(
        0.22, ge=0.0, le=0.6, description="matte reach above the brows, x face height (0 = brows)")
    mask_source: MatteSource = Field(
        "union", description="matte: union (landmark hull + the model's mask), auto (the model's own matte when it gives "
        "one, else the hull), intersect, hull, model")
    color: ColourMethod = Field("rct", description="colour match: rct, lct, none")
    color_strength: Annotated[Float, Cli("0..1")] = Field(1.0, ge=0.0, le=1.0, description="colour match strength")
    color_smoothing: Annotated[Float, Cli("0..0.95")] = Field(
        0.6, ge=0.0, le=0.95, description="running average of the colour match along a track (0 = off)")
    blend: BlendMethod = Field("alpha", description="blend: alpha, laplacian, poisson")
    grain: bool = Field(True, description="regrain the swapped face")
    element_grain: Annotated[bool, Cli(aliases=(("--clean-element", False),))] = Field(
        True, description="write the face element regrained (--clean-element: without the added grain)")
    highlights: bool = Field(True, description="restore the plate's out-of-range values on the face")
    enhancer: Annotated[OptText, Cli("KIND|FILE|KIND=FILE", value="enhancer")] = Field(
        None, description="face restoration on the swapped crop: an installed enhancer (gfpgan, codeformer; "
        "`recast actor enhancer`) or a GFPGAN/CodeFormer-class ONNX file (needs --enhancer-licence)")
    enhancer_model: Annotated[OptText, Cli("FILE", value="path")] = Field(
        None, description="use this enhancer ONNX instead of the installed one (needs its licence)")
    enhancer_licence: Annotated[OptText, Cli("TEXT")] = Field(None, description="licence of an enhancer model file")
    enhancer_blend: Annotated[Float, Cli("0..1")] = Field(1.0, ge=0.0, le=1.0, description="enhancer mix (1 = fully restored)")
    holdout: Annotated[OptText, Cli("PATTERN[:CHANNEL]", value="holdout")] = Field(
        None, description="holdout matte sequence (EXR/PNG; channel default alpha): where it is 1 the plate pixel is "
        "kept (hands, glasses, hair rotoscoped over the face); the element's alpha includes it")
    auto_holdout: bool = Field(
        False, description="keep the plate's pixels over things in front of the face that come from beyond it and "
        "are not skin-coloured (a microphone, a cup, a pen; faces with 68 points or the mesh; a hand is skin: roto it "
        "for --holdout)")
    colorspace: Annotated[OptText, Cli("NAME")] = Field(
        None, description="plate colourspace (else metadata, else the format's default: EXR = scene-linear)")
    seed: Annotated[Int, Cli("N")] = Field(0, description="grain noise seed (mixed with the frame number)")

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, "settings", SwapSettings, "setting") from None

    # ----------------------------------------------------------------- dict I/O
    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SwapSettings:
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise SpecError(f"settings: expected an object, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.model_fields))
        if unknown:  # the first unknown key, alphabetically, as before
            raise SpecError(f"settings.{unknown[0]}: unknown setting (known: {', '.join(sorted(cls.model_fields))})")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def replace(self, **overrides: Any) -> SwapSettings:
        """A copy with ``overrides`` applied (validated like ``from_dict``)."""
        return SwapSettings.from_dict({**self.to_dict(), **overrides})

    def _validated(self) -> SwapSettings:
        """Kept for callers of the former dataclass: a model is validated when built."""
        return self

    # ---------------------------------------------------------------- checks
    @model_validator(mode="after")
    def _cross_checks(self) -> SwapSettings:
        if 0 < self.min_face < 8:
            raise SpecError(f"settings.min_face: {self.min_face} is neither 0 (off) nor in 8..4096 px")
        if self.selection == "reference" and not self.reference:
            raise SpecError("settings.reference: selection 'reference' needs reference FRAME:INDEX or an image")
        if self.reference:
            parse_reference_items(self.reference)
        if self.holdout:
            from recast.pipeline.composite.holdout import parse_holdout

            parse_holdout(self.holdout)
        if self.enhancer_model and not self.enhancer:
            raise SpecError("settings.enhancer: enhancer_model is set but no enhancer kind is named")
        if self.enhancer_model and not self.enhancer_licence:
            raise SpecError(f"settings.enhancer_licence: enhancer model {self.enhancer_model} needs its licence")
        return self


def settings_cli(name: str) -> Cli:
    """The :class:`Cli` note of a settings field (a default one when the field has none)."""
    for m in SwapSettings.model_fields[name].metadata:
        if isinstance(m, Cli):
            return m
    return Cli()


# -- the grammar of ``settings.reference`` ------------------------------------------------------


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
