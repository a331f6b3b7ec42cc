"""JobSpec (kept import path): the definition lives in :mod:`recast.pipeline.schema.job`."""

from __future__ import annotations

from recast.pipeline.schema.job import JOB_ID_RE, NAME_RE, PROCESSORS, JobSpec, check_job_id, new_job_id

__all__ = ["JOB_ID_RE", "NAME_RE", "PROCESSORS", "JobSpec", "check_job_id", "new_job_id"]
