"""JobSpec: what a job is — the one definition (JSON on disk, the CLI's spec files, the HTTP body).

A minimal spec is ``{"plate": PATTERN, "actor": NAME, "out": DIR}``; ``frames``,
``shot``, ``actors``, ``selection``, ``settings``, ``owner``, ``priority``,
``reference``, ``processor``, ``chunk``, ``name`` (the output sequence name:
``<out>/comp/<name>.####.exr``) and ``qc`` (``false``: the runner does not
score the job when its frames finish) are optional.

Type and shape errors are pydantic errors (the service answers them 422, with
pydantic's list); ``JobSpec.from_dict`` turns them into one :class:`SpecError`
line naming the field (``spec.priority: 500 is outside 0..100``). What needs
more than a type (frame lists, actor names, defaults from the plate) is checked
once every field has its type, as a ``SpecError`` (the service answers 400).
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from recast.pipeline.errors import RecastError, SpecError
from recast.pipeline.schema._errors import spec_error

JOB_SCHEMA = 1
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
Processor = Literal["engine", "passthrough"]
PROCESSORS: tuple[str, ...] = get_args(Processor)


def check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise SpecError(f"job id {job_id!r}: use letters, digits, '_', '-', '.' (max 80)")
    return job_id


def new_job_id(shot: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", shot).strip("-_")[:40] or "job"
    return f"{stem}-{secrets.token_hex(4)}"


def _out_path(value: Any) -> Any:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("contains a NUL byte")
    return Path(value.strip()).expanduser()


def _frames_shape(value: Any) -> Any:
    """Type check only (a 422 over HTTP); the text is parsed once every field has its type."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ValueError("must be a frame list string ('1001-1100') or a list of integers")


FRAMES_JSON = {
    "anyOf": [
        {"type": "string", "description": "a frame list: 1001-1100, 1001-1100x2, 1001,1005"},
        {"type": "array", "items": {"type": "integer"}},
        {"type": "null"},
    ],
    "default": None,
    "description": "frames to do (default: every frame on disk)",
}
Frames = Annotated[list[int] | None, PlainValidator(_frames_shape), WithJsonSchema(FRAMES_JSON)]
OutPath = Annotated[Path, BeforeValidator(_out_path), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 4096,
                                                                      "description": "output folder"})]


class JobSpec(BaseModel):
    """A job, validated field by field; ``actors`` always holds the label -> actor map
    (``"default"`` for the single-actor form) and ``actor`` the primary actor."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", title="RecastJobSpec",
        json_schema_extra={"x-recast-schema": JOB_SCHEMA},
    )
    SCHEMA: ClassVar[int] = JOB_SCHEMA

    plate: StrictStr = Field(min_length=1, max_length=4096, description="plate sequence: shot.####.exr, shot.%04d.exr, a file or a folder")
    out: OutPath
    actor: StrictStr | None = Field(None, max_length=64, description="actor model (single-actor form; the primary actor)")
    actors: dict[StrictStr, StrictStr] = Field(default_factory=dict, description="selection label -> actor name (several actors)")
    frames: Frames = None
    shot: StrictStr = Field("", max_length=200, description="shot name (default: from the plate's file name)")
    selection: StrictStr | None = Field(None, max_length=64, description="face selection mode; overrides settings.selection")
    settings: dict[str, Any] = Field(default_factory=dict, description="swap settings (see `recast schema settings`)")
    owner: StrictStr = Field("", max_length=200, description="who owns the job (default: the user)")
    priority: StrictInt = Field(50, ge=0, le=100, description="0-100, higher runs first")
    reference: StrictInt | None = Field(None, description="reference frame for this job's takes")
    processor: Processor = Field("engine", description="engine (swap faces) or passthrough (plumbing check)")
    chunk: StrictInt = Field(10, ge=1, le=100000, description="frames per chunk (farm task)")
    name: StrictStr | None = Field(None, max_length=64, description="output sequence name (<name>.####.exr); default: the plate's")
    qc: StrictBool = Field(True, description="false: do not score the job when its frames finish")
    missing: Literal["fail", "skip", "black"] = Field(
        "fail", description="frames missing on disk between the plate's first and last (no frames given): fail them "
        "(named in the summary, the run exits 1), leave them out of the job, or write black frames of the "
        "sequence's format (like Nuke's Read; with frames given, those not on disk too)")

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        """``null`` means "not given" for every optional field (as the HTTP body always treated it)."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @model_validator(mode="after")
    def _normalise(self) -> JobSpec:
        fix = self.__dict__  # frozen model: normalised once, here, while it is built
        for key in ("plate", "shot", "owner", "selection"):
            value = fix[key]
            if isinstance(value, str):
                if "\x00" in value:
                    raise SpecError(f"spec.{key}: contains a NUL byte")
                if key in ("plate", "selection") and not value.strip():
                    raise SpecError(f"spec.{key}: must be a non-empty string")
                fix[key] = value.strip()
        if "\x00" in str(self.out):
            raise SpecError("spec.out: contains a NUL byte")
        actors: dict[str, str] = {}
        for label, name in self.actors.items():
            if not label:
                raise SpecError(f"spec.actors: label {label!r} must be a non-empty string")
            actors[label] = _actor_name(f"actors.{label}", name)
        if self.actor is not None:
            actors = {"default": _actor_name("actor", self.actor), **{k: v for k, v in actors.items() if k != "default"}}
        if not actors:
            raise SpecError("spec.actor: required (or spec.actors)")
        fix["actors"] = actors
        fix["actor"] = actors.get("default") or next(iter(actors.values()))
        fix["frames"] = _frames_field(self.frames)
        fix["shot"] = fix["shot"] or _shot_from_plate(fix["plate"])
        fix["owner"] = fix["owner"] or _whoami()
        if self.name is not None and not NAME_RE.match(self.name):
            raise SpecError(f"spec.name: {self.name!r} must be letters, digits, '_', '-', '.' (the output sequence name)")
        try:
            json.dumps(self.settings)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"spec.settings: not JSON-serialisable ({exc})") from None
        return self

    # ------------------------------------------------------------------ dict I/O
    @classmethod
    def from_dict(cls, d: Any) -> JobSpec:
        if not isinstance(d, dict):
            raise SpecError(f"spec: expected a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.model_fields))
        if unknown:
            raise SpecError(f"spec.{unknown[0]}: unknown field (known: {', '.join(sorted(cls.model_fields))})")
        try:
            return cls.model_validate(d)
        except ValidationError as exc:
            raise spec_error(exc, "spec", cls) from None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"plate": self.plate, "out": str(self.out)}
        if set(self.actors) == {"default"}:
            d["actor"] = self.actors["default"]
        else:
            d["actors"] = dict(self.actors)
        d.update(
            {
                "frames": self.frames, "shot": self.shot, "selection": self.selection, "settings": self.settings,
                "owner": self.owner, "priority": self.priority, "reference": self.reference,
                "processor": self.processor, "chunk": self.chunk, "name": self.name, "qc": self.qc, "missing": self.missing,
            }
        )
        return d

    def replace(self, **changes: Any) -> JobSpec:
        """A copy with ``changes`` applied, validated like ``from_dict``."""
        return JobSpec.from_dict({**self.to_dict(), **{k: (str(v) if isinstance(v, Path) else v) for k, v in changes.items()}})

    @classmethod
    def load(cls, path: Path) -> JobSpec:
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise SpecError(f"{path}: spec file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: cannot read spec ({exc})") from None
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
        try:
            return cls.from_dict(raw)
        except SpecError as exc:
            raise SpecError(f"{path}: {exc}") from None


def _actor_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise SpecError(f"spec.{key}: {value!r} is not a valid actor name (letters, digits, '_', '-', '.')")
    return value


def _frames_field(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        from recast.pipeline.sequence import parse_frames

        try:
            frames = parse_frames(value)
        except RecastError as exc:
            raise SpecError(f"spec.frames: {exc}") from None
    else:
        frames = list(value)
    frames = sorted(set(frames))
    if not frames:
        raise SpecError("spec.frames: selects no frames")
    if len(frames) > 1_000_000:
        raise SpecError("spec.frames: more than 1,000,000 frames")
    return frames


def _shot_from_plate(plate: str) -> str:
    name = Path(plate).name
    stem = re.split(r"[.#@%]", name, maxsplit=1)[0]
    return stem or "shot"


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
