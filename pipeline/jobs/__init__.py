"""Jobs: spec, SQLite index, crash-safe runner, takes, reprocess, publish.

Files under a job's ``out`` folder are the truth; :class:`Store` is an index of
them that ``recast job reindex DIR`` can rebuild at any time.
"""

from __future__ import annotations

from recast.pipeline.jobs.store import Store, default_db_path, recast_home

__all__ = ["Store", "default_db_path", "recast_home"]
