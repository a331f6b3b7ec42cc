"""The one typed, versioned schema of Recast's contracts.

- :mod:`.settings` — :class:`SwapSettings` (swap/job settings; ``recast swap`` flags derive from it);
- :mod:`.job` — :class:`JobSpec` (what a job is; JSON on disk and the service's ``POST /jobs`` body);
- :mod:`.layout` — :class:`OutputLayout` / :class:`JobLayout` (every output path; padding from the plate);
- :mod:`.record` — :class:`FrameRecord` (``records/<frame>.json``; schema 2, schema 1 still reads);
- :mod:`.scores` — :class:`QCScores` (``qc/scores.json``);
- :mod:`.export` — their JSON Schemas (``recast schema settings|job|record|scores --json``).

Every model validates to one-line :class:`~recast.pipeline.errors.SpecError`
naming the field (``settings.mask_blur: ...``, ``spec.frames: ...``, ``record.status: ...``).
"""

from __future__ import annotations

from recast.pipeline.schema.job import JOB_SCHEMA, JobSpec
from recast.pipeline.schema.layout import JobLayout, OutputLayout, frame_token
from recast.pipeline.schema.record import RECORD_SCHEMA, ColorspaceInfo, FrameRecord, read_record, upgrade_record
from recast.pipeline.schema.scores import SCORES_SCHEMA, QCScores
from recast.pipeline.schema.settings import SETTINGS_SCHEMA, SwapSettings

__all__ = [
    "JOB_SCHEMA", "RECORD_SCHEMA", "SCORES_SCHEMA", "SETTINGS_SCHEMA", "ColorspaceInfo", "FrameRecord", "JobLayout",
    "JobSpec", "OutputLayout", "QCScores", "SwapSettings", "frame_token", "read_record", "upgrade_record",
]
