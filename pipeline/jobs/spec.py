"""JobSpec: what a job is, validated field by field (JSON on disk and over HTTP).

A minimal spec is ``{"plate": PATTERN, "actor": NAME, "out": DIR}``; ``frames``,
``shot``, ``actors``, ``selection``, ``settings``, ``owner``, ``priority``,
``reference``, ``processor``, ``chunk``, ``name`` (the output sequence
name: ``<out>/comp/<name>.####.exr``) and ``qc`` (``false``: the runner does
not score the job when its frames finish; default ``true``) are optional. Every error is a
:class:`SpecError` naming the field (``spec.frames: ...``).
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.pipeline.errors import RecastError, SpecError

JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PROCESSORS: tuple[str, ...] = ("engine", "passthrough")
_KNOWN = {
    "plate",
    "actor",
    "actors",
    "out",
    "frames",
    "shot",
    "selection",
    "settings",
    "owner",
    "priority",
    "reference",
    "processor",
    "chunk",
    "name",
    "qc",
}


def check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise SpecError(f"job id {job_id!r}: use letters, digits, '_', '-', '.' (max 80)")
    return job_id


def new_job_id(shot: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", shot).strip("-_")[:40] or "job"
    return f"{stem}-{secrets.token_hex(4)}"


def _str_field(d: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = d.get(key)
    if value is None:
        if required:
            raise SpecError(f"spec.{key}: required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"spec.{key}: must be a non-empty string, got {type(value).__name__}")
    if "\x00" in value:
        raise SpecError(f"spec.{key}: contains a NUL byte")
    return value.strip()


def _actor_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise SpecError(f"spec.{key}: {value!r} is not a valid actor name (letters, digits, '_', '-', '.')")
    return value


@dataclass(frozen=True)
class JobSpec:
    plate: str
    out: Path
    actors: dict[str, str]  # selection label -> actor name; "default" for the single-actor form
    frames: list[int] | None = None  # None: every frame on disk
    shot: str = ""
    selection: str | None = None  # face selection mode; overrides settings.selection
    settings: dict[str, Any] = field(default_factory=dict)
    owner: str = ""
    priority: int = 50
    reference: int | None = None
    processor: str = "engine"
    chunk: int = 10
    name: str | None = None  # output sequence name (<name>.####.exr); default: the plate's
    qc: bool = True  # score each take (qc.scoring) when its frames finish

    @property
    def actor(self) -> str:
        """The primary actor (the single-actor form's name)."""
        return self.actors.get("default") or next(iter(self.actors.values()))

    @classmethod
    def from_dict(cls, d: Any) -> JobSpec:
        if not isinstance(d, dict):
            raise SpecError(f"spec: expected a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - _KNOWN)
        if unknown:
            raise SpecError(f"spec.{unknown[0]}: unknown field (known: {', '.join(sorted(_KNOWN))})")
        plate = _str_field(d, "plate", required=True)
        out = _str_field(d, "out", required=True)
        assert plate is not None and out is not None
        actors: dict[str, str] = {}
        if d.get("actors") is not None:
            raw = d["actors"]
            if not isinstance(raw, dict) or not raw:
                raise SpecError("spec.actors: must be a non-empty object of label -> actor name")
            for label, name in raw.items():
                if not isinstance(label, str) or not label:
                    raise SpecError(f"spec.actors: label {label!r} must be a non-empty string")
                actors[label] = _actor_name(f"actors.{label}", name)
        if d.get("actor") is not None:
            actors = {"default": _actor_name("actor", d["actor"]), **{k: v for k, v in actors.items() if k != "default"}}
        if not actors:
            raise SpecError("spec.actor: required (or spec.actors)")
        frames = _frames_field(d.get("frames"))
        shot = _str_field(d, "shot") or _shot_from_plate(plate)
        owner = _str_field(d, "owner") or _whoami()
        priority = d.get("priority", 50)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
            raise SpecError(f"spec.priority: {priority!r} must be an integer 0-100")
        settings = d.get("settings") or {}
        if not isinstance(settings, dict):
            raise SpecError(f"spec.settings: must be an object, got {type(settings).__name__}")
        reference = d.get("reference")
        if reference is not None and (isinstance(reference, bool) or not isinstance(reference, int)):
            raise SpecError(f"spec.reference: {reference!r} must be a frame number")
        processor = d.get("processor", "engine")
        if processor not in PROCESSORS:
            raise SpecError(f"spec.processor: {processor!r} is not one of {', '.join(PROCESSORS)}")
        chunk = d.get("chunk", 10)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= 100000:
            raise SpecError(f"spec.chunk: {chunk!r} must be a positive integer")
        selection = d.get("selection")
        if selection is not None and (not isinstance(selection, str) or not selection.strip()):
            raise SpecError(f"spec.selection: must be a selection mode name (e.g. all, largest, reference), got {selection!r}")
        name = d.get("name")
        if name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
            raise SpecError(f"spec.name: {name!r} must be letters, digits, '_', '-', '.' (the output sequence name)")
        qc = d.get("qc", True)
        if not isinstance(qc, bool):
            raise SpecError(f"spec.qc: {qc!r} must be true or false")
        try:
            json.dumps(settings)
            json.dumps(selection)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"spec.settings: not JSON-serialisable ({exc})") from None
        return cls(
            plate=plate,
            out=Path(out).expanduser(),
            actors=actors,
            frames=frames,
            shot=shot,
            selection=selection,
            settings=dict(settings),
            owner=owner,
            priority=priority,
            reference=reference,
            processor=str(processor),
            chunk=chunk,
            name=name,
            qc=qc,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"plate": self.plate, "out": str(self.out)}
        if set(self.actors) == {"default"}:
            d["actor"] = self.actors["default"]
        else:
            d["actors"] = dict(self.actors)
        d.update(
            {
                "frames": self.frames,
                "shot": self.shot,
                "selection": self.selection,
                "settings": self.settings,
                "owner": self.owner,
                "priority": self.priority,
                "reference": self.reference,
                "processor": self.processor,
                "chunk": self.chunk,
                "name": self.name,
                "qc": self.qc,
            }
        )
        return d

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


def _frames_field(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        from recast.pipeline.sequence import parse_frames

        try:
            frames = parse_frames(value)
        except RecastError as exc:
            raise SpecError(f"spec.frames: {exc}") from None
    elif isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        frames = list(value)
    else:
        raise SpecError("spec.frames: must be a frame list string ('1001-1100') or a list of integers")
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
