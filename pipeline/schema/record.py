"""The frame record: the one definition of ``<take root>/records/<frame>.json``.

Written last and atomically for every frame (engine and passthrough alike), so
a frame is done when its record says so. It carries every decision a later
reader needs — the plate and outputs, actors and models, the analyser's
licences, the selection of each face, and (schema 2) the resolved plate
colourspace with the OCIO config it came from — so QC, the review app and the
bridge never decide anything a second time.

Schema history: 1 — the first records (no ``colorspace``; passthrough records
without ``actors``/``licences``/``coords``/``tracks``); 2 — one record shape for
every processor, plus the optional ``colorspace`` object. Schema-1 records read
as schema 2 with the missing keys at their defaults (:func:`read_record`).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from recast.pipeline.errors import SpecError
from recast.pipeline.schema._errors import spec_error

RECORD_SCHEMA = 2
READABLE_SCHEMAS: tuple[int, ...] = (1, 2)
RECORD_STATUSES = ("done", "passthrough", "failed")
RecordStatus = Literal["done", "passthrough", "failed"]
TIMING_KEYS = ("read", "detect", "swap", "composite", "write", "total")


class _Open(BaseModel):
    """Parts that later versions may extend: unknown keys are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class ColorspaceInfo(BaseModel):
    """How the plate's colour was read: the resolved space, what decided it, the OCIO config
    it is defined in, and the working space the face models saw."""

    model_config = ConfigDict(extra="forbid")

    plate: str = Field(description="the plate's resolved colourspace name (in `config`)")
    source: str = Field(description="what decided it: setting (the job's colorspace), attribute (recast/colorspace), metadata, chromaticities or default")
    config: str = Field(description="the OCIO config: a built-in URI such as ocio://cg-config-latest, or a file path ($OCIO)")
    working: str = Field(description="the working space the face models were given")


class Licence(_Open):
    backend: str | None = None
    model: str
    file: str | None = None
    licence: str
    commercial_use: bool


class Selection(_Open):
    actor: str | None = None
    distance: float | None = None
    reason: str


class FaceRecord(_Open):
    """One face found in the frame (swapped or not), in the EXR's pixel space (``coords``)."""

    track_id: int | None = None
    box: list[float] = Field(min_length=4, max_length=4, description="x0, y0, x1, y1")
    score: float | None = None
    kps5: list[list[float]] | None = None
    landmarks: list[list[float]] | None = None
    swapped: bool = False
    label: str | None = None
    actor: str | None = None
    backend: str | None = None
    model_sha256: str | None = None
    consent_id: str | None = None
    matte_box: list[float] | None = None
    color_match: dict[str, Any] | None = None
    swap_info: dict[str, Any] = Field(default_factory=dict)
    selection: Selection | None = None


class Stats(_Open):
    nan: int = 0
    inf: int = 0


class CompWrite(_Open):
    """How the comp file was written."""

    method: Literal["splice", "encode"] = Field(
        description="splice: the plate file's compressed chunks copied where no row changed, only the rest encoded; "
        "encode: every row encoded")
    chunks: int = Field(0, ge=0, description="scanline chunks in the comp (splice)")
    encoded: int = Field(0, ge=0, description="of them, encoded from the comp's pixels (splice)")
    reason: str | None = Field(None, description="why a splice was not done (encode), when one was asked for")


class FrameRecord(_Open):
    """One frame's record. Unknown top-level keys are kept (newer writers may add some)."""

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, title="RecastFrameRecord",
        json_schema_extra={"x-recast-schema": RECORD_SCHEMA},
    )
    SCHEMA: ClassVar[int] = RECORD_SCHEMA

    schema_version: int = Field(RECORD_SCHEMA, alias="schema", ge=1, le=RECORD_SCHEMA, description="record schema version")
    frame: int
    take: int = Field(1, ge=1)
    status: RecordStatus = "failed"
    error: str | None = None
    job: str | None = None
    plate: str = Field(description="the plate frame's file (absolute)")
    comp: str | None = Field(None, description="the comp frame's file (absolute); null when nothing was written")
    element: str | None = Field(None, description="the face element's file (absolute); null without one")
    actor: str | None = Field(None, description="the first swapped face's actor (else the job's first)")
    actors: list[str] = Field(default_factory=list, description="every actor swapped into the frame, in face order")
    backend: str | None = None
    model_sha256: str | None = None
    consent_id: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict, description="the swap settings used (see `recast schema settings`)")
    licences: list[Licence] = Field(default_factory=list, description="the face analyser's models and their licences")
    coords: Literal["image"] = Field("image", description="boxes and landmarks in the EXR's pixel space (data window origin added)")
    faces: list[FaceRecord] = Field(default_factory=list)
    tracks: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-track selection summary")
    detection: Literal["full", "windows"] | None = Field(None, description="whole-frame scan, or windows around the tracks")
    detection_tiles: int = Field(0, ge=0, description="small-face pyramid tiles the frame's scan ran (settings.min_face)")
    holdout: dict[str, Any] | None = Field(
        None, description="the holdout matte frame used (settings.holdout): pattern, channel and file; null without one")
    stats: Stats = Field(default_factory=Stats, description="non-finite pixels in the plate")
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    missing: Literal["black"] | None = Field(
        None, description="black: the plate frame is missing on disk and the comp is a black frame of the "
        "sequence's format (missing: black, like Nuke's Read); status passthrough. Null otherwise")
    comp_write: CompWrite | None = Field(None, description="how the comp file was written; null when none was")
    colorspace: ColorspaceInfo | None = Field(None, description="the plate's resolved colourspace and its OCIO config (schema 2)")
    created: str = Field(description="ISO-8601 UTC time the record was made")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json", exclude_none=False)


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def new_record(frame: int, take: int, job: str | None, plate: Path | str, comp: Path | str | None,
               **fields: Any) -> dict[str, Any]:
    """A record with every key of the current schema (status 'failed' until filled in), as a dict
    the writer fills in; :func:`check_record` validates it before it is written."""
    rec = FrameRecord(frame=int(frame), take=int(take), job=job, plate=str(plate),
                      comp=None if comp is None else str(comp), created=now_iso()).to_json()
    rec["timings"] = {k: 0.0 for k in TIMING_KEYS}
    rec.update(fields)
    return rec


def check_record(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` if it is a valid record of the current schema, else a one-line SpecError (``record.<key>: ...``)."""
    try:
        FrameRecord.model_validate(rec)
    except ValidationError as exc:
        raise spec_error(exc, "record", FrameRecord) from None
    return rec


def read_record(data: Any, where: str = "record") -> FrameRecord:
    """A record of any readable schema (1 or 2) as the current model; SpecError naming the key."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > RECORD_SCHEMA:
        raise SpecError(f"{where}.schema: record schema {version} is newer than this Recast reads ({RECORD_SCHEMA})")
    try:
        return FrameRecord.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, where, FrameRecord) from None


def upgrade_record(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 (or 2) record as a dict with every key of the current schema (``schema`` says what it was written as)."""
    return read_record(data).to_json()
