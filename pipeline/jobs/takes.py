"""Where a job's files live, per take, and how to read them back.

Take 1 writes ``<out>/comp``, ``<out>/element`` and ``<out>/records``; take N
writes the same folders under ``<out>/takes/tNNN``. ``<out>/job.json`` holds the
spec and frame list, ``<out>/takes/tNNN/take.json`` a take's frames, reference
frame and overrides, ``<out>/publish/vNNN/manifest.json`` a published version.
A frame is done when its record (written last, atomically) says so.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from recast.pipeline.atomic import TMP_MARK, atomic_write_json, is_temp_name
from recast.pipeline.errors import JobError
from recast.pipeline.schema.layout import TAKE_FILE, JobLayout

DONE_STATES = ("done", "passthrough")


def layout_for(job: dict[str, Any]) -> JobLayout:
    """The layout recorded in a job file or store row (``plate_name``, ``padding``, ``out``)."""
    return JobLayout.for_job(job)


def write_job_file(layout: JobLayout, job_id: str, spec: dict[str, Any], frames: list[int], created: str) -> None:
    existing = read_json(layout.job_file)
    if existing is not None and existing.get("id") != job_id:
        raise JobError(f"out: {layout.out} already holds job {existing.get('id')!r}; choose another output folder")
    atomic_write_json(
        layout.job_file,
        {
            "schema": 1,
            "id": job_id,
            "created": created,
            "spec": spec,
            "frames": frames,
            "layout": layout.to_json(),
        },
    )


def write_take_file(layout: JobLayout, take: int, info: dict[str, Any]) -> None:
    atomic_write_json(layout.take_file(take), {"schema": 1, "take": take, **info})


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from disk, or None when missing or unreadable (records are atomic, so rare)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def frame_state(layout: JobLayout, take: int, frame: int) -> tuple[str, str | None]:
    """(``done``|``failed``|``pending``, error) from the frame's record file."""
    rec = read_json(layout.record_path(take, frame))
    if rec is None:
        return "pending", None
    status = rec.get("status")
    if status in DONE_STATES:
        return "done", None
    if status == "failed":
        return "failed", rec.get("error")
    return "pending", None


def list_takes(layout: JobLayout) -> list[int]:
    """Take numbers found on disk (1 plus every ``takes/tNNN`` with a take.json)."""
    found = [1]
    root = layout.takes_root
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.name.startswith("t") and p.name[1:].isdigit() and (p / TAKE_FILE).is_file():
                found.append(int(p.name[1:]))
    return sorted(set(found))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(worker: str) -> bool:
    """Whether a ``host:pid`` worker is a live process on this host (other hosts: assumed alive)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return _pid_alive(int(pid))


def _temp_owner_alive(name: str) -> bool:
    """Whether the process named in a ``.<name>.tmp-<pid>-<rand>`` temp name still runs (not us)."""
    pid_part = name.split(TMP_MARK, 1)[1].split("-", 1)[0]
    return pid_part.isdigit() and int(pid_part) != os.getpid() and _pid_alive(int(pid_part))


def remove_tree(path: Path) -> None:
    """``rm -r`` of a folder that may hold read-only files and folders (a half-built version)."""
    import shutil
    import stat

    for dirpath, dirs, _files in os.walk(path):
        for d in dirs:
            try:
                os.chmod(Path(dirpath) / d, stat.S_IRWXU)
            except OSError:
                pass
    try:
        os.chmod(path, stat.S_IRWXU)
    except OSError:
        pass
    shutil.rmtree(path)


def sweep_temp_dirs(root: Path) -> list[Path]:
    """Remove hidden temp folders (``.vNNN.tmp-<pid>-<rand>``) of dead processes directly under ``root``."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.is_symlink() and is_temp_name(p.name) and not _temp_owner_alive(p.name):
            try:
                remove_tree(p)
                removed.append(p)
            except OSError:
                pass
    return removed


def sweep_temp_files(root: Path) -> list[Path]:
    """Remove atomic-write temp files left by dead processes under ``root``; returns them."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not is_temp_name(name):
                continue
            pid_part = name.split(TMP_MARK, 1)[1].split("-", 1)[0]
            if pid_part.isdigit() and _pid_alive(int(pid_part)) and int(pid_part) != os.getpid():
                continue
            path = Path(dirpath) / name
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed
