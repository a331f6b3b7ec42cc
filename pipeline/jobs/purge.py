"""``recast job purge JOB``: delete a job's biometric data, keep its outputs.

The engine keeps what it knows of faces beside each take's records, in the take's
embeddings folder (``<take>/embeddings/``, see ``OutputLayout.embeddings_dir``): per frame
the identity embeddings of the plate faces it tracked and QC's comp-face features
(``<frame>.json``, ``qc.comp_features``), the actors' reference embeddings
(``actors.json``), the tracking history a reprocess seeds its frames from
(``history/``, ``pipeline.jobs.history``) and the temporal state a chunk or resume starts
from (``state/``: tracks with their embeddings). Records, scores and reports hold no
embeddings. Purging removes every take's embeddings folder; QC, reprocess, chunks and
resumes still work afterwards (they compute what they need themselves, slower). Deleting the job's output folder deletes
them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from recast.pipeline.errors import JobError
from recast.pipeline.jobs.store import Store


def purge_embeddings(store: Store, job_id: str) -> dict[str, Any]:
    """Delete the embeddings of every take of ``job_id``; returns what was removed."""
    from recast.pipeline.jobs.runner import load_job

    if store.job_status(job_id) == "running":
        raise JobError(f"job {job_id} is running; cancel it or wait before purging its embeddings")
    job, _spec, layout = load_job(store, job_id)
    removed: list[str] = []
    files = 0
    for t in job["takes"]:
        folder = Path(layout.take(int(t["take"])).embeddings_dir)
        if folder.is_dir():
            files += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
            removed.append(str(folder))
    return {"job": job_id, "removed": removed, "files": files}
