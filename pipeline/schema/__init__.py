"""The one typed, versioned schema of Recast's contracts.

- :mod:`.settings` — :class:`SwapSettings` (swap/job settings);
- :mod:`.job` — :class:`JobSpec` (what a job is; JSON on disk and the HTTP body);

Every model validates to one-line :class:`~recast.pipeline.errors.SpecError`
naming the field. ``recast schema NAME --json`` prints their JSON Schemas.
"""

from __future__ import annotations

from recast.pipeline.schema.job import JOB_SCHEMA, JobSpec
from recast.pipeline.schema.settings import SETTINGS_SCHEMA, SwapSettings

__all__ = ["JOB_SCHEMA", "SETTINGS_SCHEMA", "JobSpec", "SwapSettings"]
