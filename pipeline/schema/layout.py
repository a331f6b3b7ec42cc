"""Where every output file lives: the one definition of the output/take layout.

One take's outputs (:class:`OutputLayout`, under a take root)::

    <root>/comp/<plate>.<frame>.exr          the comp (the plate's format, plus recast/* attributes)
    <root>/element/<plate>_face.<frame>.exr  the face element (RGBA half, premultiplied)
    <root>/records/<frame>.json              the frame record (:mod:`.record`)

A job (:class:`JobLayout`, under ``out``): take 1's root is ``out`` itself, take N's
``out/takes/tNNN``; ``out/job.json`` (spec, frames, layout), ``out/takes/tNNN/take.json``,
``out/review/approvals.json``, ``out/publish/vNNN/`` (``manifest.json`` inside),
``out/qc/scores.json`` (take 1; ``scores_tNNN.json`` for take N), ``out/qc/frames/tNNN/``
(QC's per-frame cache) and ``out/qc/report/``.

``<frame>`` is the frame number zero-padded to the *plate's* padding (a sign in
front of negative frames); the padding travels in ``job.json``'s ``layout``, and
:meth:`JobLayout.discover` finds it from the files of a folder without one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYOUT_SCHEMA = 1
DEFAULT_PADDING = 4
JOB_FILE = "job.json"
TAKE_FILE = "take.json"
_RECORD_NAME = re.compile(r"^(-?)(\d+)\.json$")
_COMP_NAME = re.compile(r"^(?P<name>.+)\.(?P<num>-?\d+)\.exr$")


def frame_token(frame: int, padding: int) -> str:
    """``1001`` -> ``"1001"``; ``7`` at padding 4 -> ``"0007"``; ``-3`` -> ``"-0003"``."""
    sign = "-" if frame < 0 else ""
    return f"{sign}{abs(int(frame)):0{int(padding)}d}"


def take_dirname(take: int) -> str:
    return f"t{int(take):03d}"


@dataclass(frozen=True)
class OutputLayout:
    """File names of one take's outputs under ``root``."""

    root: Path
    plate_name: str
    padding: int = DEFAULT_PADDING

    def _num(self, frame: int) -> str:
        return frame_token(frame, self.padding)

    @property
    def comp_dir(self) -> Path:
        return Path(self.root) / "comp"

    @property
    def element_dir(self) -> Path:
        return Path(self.root) / "element"

    @property
    def records_dir(self) -> Path:
        return Path(self.root) / "records"

    def comp_path(self, frame: int) -> Path:
        return self.comp_dir / f"{self.plate_name}.{self._num(frame)}.exr"

    def element_path(self, frame: int) -> Path:
        return self.element_dir / f"{self.plate_name}_face.{self._num(frame)}.exr"

    def record_path(self, frame: int) -> Path:
        return self.records_dir / f"{self._num(frame)}.json"

    @property
    def embeddings_dir(self) -> Path:
        """The engine's plate-face embeddings (biometric data, never in records; QC reuses them;
        ``recast job purge`` deletes them): ``<root>/embeddings/<frame>.json`` beside the records."""
        return Path(self.root) / "embeddings"

    def embeddings_path(self, frame: int) -> Path:
        return self.embeddings_dir / f"{self._num(frame)}.json"

    @property
    def comp_pattern(self) -> str:
        return str(self.comp_dir / f"{self.plate_name}.{'#' * self.padding}.exr")

    @property
    def element_pattern(self) -> str:
        return str(self.element_dir / f"{self.plate_name}_face.{'#' * self.padding}.exr")


@dataclass(frozen=True)
class JobLayout:
    """Paths of a job's outputs, every take (take 1 at ``out``, take N at ``out/takes/tNNN``)."""

    out: Path
    plate_name: str = "plate"
    padding: int = DEFAULT_PADDING

    def take_root(self, take: int) -> Path:
        if take < 1:
            from recast.pipeline.errors import JobError

            raise JobError(f"take {take}: takes start at 1")
        return self.out if take == 1 else self.out / "takes" / take_dirname(take)

    def take(self, take: int) -> OutputLayout:
        """The outputs of one take (what the engine writes into)."""
        return OutputLayout(self.take_root(take), self.plate_name, self.padding)

    def comp_path(self, take: int, frame: int) -> Path:
        return self.take(take).comp_path(frame)

    def element_path(self, take: int, frame: int) -> Path:
        return self.take(take).element_path(frame)

    def records_dir(self, take: int) -> Path:
        return self.take(take).records_dir

    def record_path(self, take: int, frame: int) -> Path:
        return self.take(take).record_path(frame)

    @property
    def job_file(self) -> Path:
        return self.out / JOB_FILE

    @property
    def takes_root(self) -> Path:
        return self.out / "takes"

    def take_file(self, take: int) -> Path:
        return self.takes_root / take_dirname(take) / TAKE_FILE

    @property
    def review_dir(self) -> Path:
        return self.out / "review"

    @property
    def approvals_file(self) -> Path:
        return self.review_dir / "approvals.json"

    @property
    def publish_root(self) -> Path:
        return self.out / "publish"

    def version_dir(self, version: str) -> Path:
        return self.publish_root / version

    @property
    def qc_dir(self) -> Path:
        return self.out / "qc"

    def scores_path(self, take: int = 1) -> Path:
        return self.qc_dir / ("scores.json" if take == 1 else f"scores_{take_dirname(take)}.json")

    def qc_cache_path(self, take: int, frame: int) -> Path:
        """QC's per-frame score cache (named by the plain frame number)."""
        return self.qc_dir / "frames" / take_dirname(take) / f"{int(frame)}.json"

    @property
    def report_dir(self) -> Path:
        return self.qc_dir / "report"

    def to_json(self) -> dict[str, Any]:
        """What ``job.json`` keeps under ``layout``."""
        return {"plate_name": self.plate_name, "padding": self.padding}

    @classmethod
    def for_job(cls, job: dict[str, Any]) -> JobLayout:
        """The layout recorded in a job file or store row (``layout.plate_name``, ``layout.padding``, ``out``)."""
        meta = job.get("layout") or {}
        out = Path(job.get("out") or job["spec"]["out"])
        return cls(out=out, plate_name=str(meta.get("plate_name") or "plate"), padding=int(meta.get("padding") or DEFAULT_PADDING))

    @classmethod
    def discover(cls, out: Path) -> JobLayout:
        """The layout of an output folder: ``job.json``'s when there is one, else read off its
        files (record names give the padding, comp names the plate name), else the defaults."""
        out = Path(out)
        try:
            meta = json.loads((out / JOB_FILE).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            meta = None
        if isinstance(meta, dict) and isinstance(meta.get("layout"), dict):
            return cls.for_job({**meta, "out": str(out)})
        padding = DEFAULT_PADDING
        widths: set[int] = set()
        narrow: list[int] = []
        records = out / "records"
        if records.is_dir():
            for p in records.iterdir():
                m = _RECORD_NAME.match(p.name)
                if m:
                    (widths.add(len(m[2])) if m[2].startswith("0") and len(m[2]) > 1 else narrow.append(len(m[2])))
        if widths:
            padding = min(widths)
        elif narrow:
            padding = min(narrow)
        plate_name = "plate"
        comp = out / "comp"
        if comp.is_dir():
            names = sorted(m["name"] for p in comp.iterdir() if (m := _COMP_NAME.match(p.name)))
            if names:
                plate_name = names[0]
        return cls(out=out, plate_name=plate_name, padding=padding)
