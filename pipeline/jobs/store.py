"""SQLite index of jobs, frames, takes, scores, flags, approvals and versions.

One file per project root (``$RECAST_HOME/recast.db``), WAL mode so readers
never block the runner. Every write runs in a transaction; frame claims use
``BEGIN IMMEDIATE`` so two workers never claim the same frame. The store is an
index: the frame records under a job's ``out`` folder are the truth and
:func:`pipeline.jobs.reindex.reindex` rebuilds the store from them.

A connection is opened per call, so one :class:`Store` is safe to share
between threads (service workers, read-ahead threads).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from recast.pipeline.errors import JobError, SpecError, os_cause

FrameStatus = Literal["pending", "running", "done", "failed"]
FRAME_STATUSES: tuple[str, ...] = ("pending", "running", "done", "failed")
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
FLAG_SOURCES: tuple[str, ...] = ("auto", "reviewer")
APPROVAL_STATES: tuple[str, ...] = ("approved", "rejected")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    shot TEXT NOT NULL,
    owner TEXT,
    priority INTEGER NOT NULL DEFAULT 50,
    out TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled')),
    error TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS takes (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    take INTEGER NOT NULL,
    reference_frame INTEGER,
    overrides TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (job_id, take)
);
CREATE TABLE IF NOT EXISTS frames (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    take INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker TEXT,
    record TEXT,
    updated TEXT NOT NULL,
    PRIMARY KEY (job_id, frame, take)
);
CREATE TABLE IF NOT EXISTS scores (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    take INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    updated TEXT NOT NULL,
    PRIMARY KEY (job_id, frame, take, metric)
);
CREATE TABLE IF NOT EXISTS flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('auto','reviewer')),
    reason TEXT NOT NULL,
    note TEXT,
    author TEXT,
    created TEXT NOT NULL,
    take INTEGER,
    strokes TEXT
);
CREATE TABLE IF NOT EXISTS reference_frames (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    set_by TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (job_id, frame)
);
CREATE TABLE IF NOT EXISTS approvals (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    take INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('approved','rejected')),
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (job_id, frame)
);
CREATE TABLE IF NOT EXISTS versions (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    created TEXT NOT NULL,
    by TEXT,
    manifest TEXT NOT NULL,
    PRIMARY KEY (job_id, version)
);
CREATE TABLE IF NOT EXISTS version_reservations (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    worker TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (job_id, version)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    job_id TEXT,
    action TEXT NOT NULL,
    who TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS frames_by_status ON frames (job_id, take, status);
CREATE INDEX IF NOT EXISTS flags_by_job ON flags (job_id, frame);
"""


def recast_home() -> Path:
    """``$RECAST_HOME`` or ``~/.recast``."""
    env = os.environ.get("RECAST_HOME")
    return Path(env).expanduser() if env else Path.home() / ".recast"


def default_db_path() -> Path:
    return recast_home() / "recast.db"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _one_line(text: str | None) -> str | None:
    return None if text is None else " ".join(str(text).split())[:2000]


def _migrate(con: sqlite3.Connection) -> None:
    """Bring a store made by an older version up to this schema (idempotent)."""
    cols = {r[1] for r in con.execute("PRAGMA table_info(flags)")}
    if "take" not in cols:  # flags gained a take (auto flags belong to the take QC scored)
        con.execute("ALTER TABLE flags ADD COLUMN take INTEGER")
    if "strokes" not in cols:  # reviewer flags gained freehand strokes (JSON list, plate pixel coordinates)
        con.execute("ALTER TABLE flags ADD COLUMN strokes TEXT")


class Store:
    """The job index. ``Store(path)`` creates the schema on first use."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                _migrate(con)
                con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '1')")
        except sqlite3.DatabaseError as exc:
            raise JobError(f"{self.path}: cannot open job store ({exc})") from None
        except OSError as exc:
            raise JobError(f"{self.path}: cannot create job store ({os_cause(exc)})") from None

    @classmethod
    def open_default(cls) -> Store:
        return cls(default_db_path())

    # -- plumbing -----------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys=ON")
            con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            yield con
        finally:
            con.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken with BEGIN IMMEDIATE (one writer at a time)."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _require_job(self, con: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError(f"job {job_id!r}: no such job in {self.path}")
        return row

    @staticmethod
    def _audit(con: sqlite3.Connection, job_id: str | None, action: str, who: str | None, detail: dict[str, Any]) -> None:
        con.execute(
            "INSERT INTO audit(at, job_id, action, who, detail) VALUES (?, ?, ?, ?, ?)",
            (now_iso(), job_id, action, who, json.dumps(detail, default=str)),
        )

    # -- jobs ---------------------------------------------------------------

    def create_job(self, job_id: str, spec: dict[str, Any], frames: list[int], *, status: JobStatus = "queued") -> None:
        """Insert a job, its take 1 and one pending row per frame."""
        ts = now_iso()
        with self._tx() as con:
            if con.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone():
                raise JobError(f"job {job_id!r}: already exists in {self.path}")
            con.execute(
                "INSERT INTO jobs(id, shot, owner, priority, out, spec, status, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    str(spec.get("shot") or ""),
                    spec.get("owner"),
                    int(spec.get("priority", 50)),
                    str(spec["out"]),
                    json.dumps(spec, sort_keys=True),
                    status,
                    ts,
                    ts,
                ),
            )
            con.execute(
                "INSERT INTO takes(job_id, take, reference_frame, overrides, created, created_by) VALUES (?, 1, NULL, '{}', ?, ?)",
                (job_id, ts, spec.get("owner")),
            )
            con.executemany(
                "INSERT INTO frames(job_id, frame, take, status, updated) VALUES (?, ?, 1, 'pending', ?)",
                [(job_id, int(f), ts) for f in frames],
            )
            self._audit(con, job_id, "submit", spec.get("owner"), {"frames": len(frames)})

    def has_job(self, job_id: str) -> bool:
        with self._connect() as con:
            return con.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None

    def _job_dict(self, con: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        job_id = row["id"]
        takes: list[dict[str, Any]] = []
        for t in con.execute("SELECT * FROM takes WHERE job_id = ? ORDER BY take", (job_id,)):
            counts = {s: 0 for s in FRAME_STATUSES}
            for c in con.execute(
                "SELECT status, COUNT(*) AS n FROM frames WHERE job_id = ? AND take = ? GROUP BY status", (job_id, t["take"])
            ):
                counts[c["status"]] = c["n"]
            takes.append(
                {
                    "take": t["take"],
                    "reference_frame": t["reference_frame"],
                    "overrides": json.loads(t["overrides"]),
                    "created": t["created"],
                    "created_by": t["created_by"],
                    "frames": counts,
                }
            )
        base = takes[0]["frames"] if takes else {s: 0 for s in FRAME_STATUSES}
        return {
            "id": job_id,
            "shot": row["shot"],
            "owner": row["owner"],
            "priority": row["priority"],
            "out": row["out"],
            "status": self._shown_status(con, row),
            "error": row["error"],
            "created": row["created"],
            "updated": row["updated"],
            "spec": json.loads(row["spec"]),
            "frames": dict(base),
            "takes": takes,
        }

    @staticmethod
    def _shown_status(con: sqlite3.Connection, row: sqlite3.Row) -> str:
        """The job's status as people should see it: ``interrupted`` for a job marked
        ``running`` whose runner (and every worker holding its frames) is gone (kill -9,
        a crash, a power cut); ``recast job resume`` or a restarted ``recast serve``
        continues it."""
        status = str(row["status"])
        if status != "running":
            return status
        from recast.pipeline.jobs.takes import worker_alive

        workers = {
            str(r["worker"])
            for r in con.execute("SELECT DISTINCT worker FROM frames WHERE job_id = ? AND status = 'running'", (row["id"],))
            if r["worker"]
        }
        last = con.execute(
            "SELECT who FROM audit WHERE job_id = ? AND action = 'status:running' ORDER BY id DESC LIMIT 1", (row["id"],)
        ).fetchone()
        if last is not None and last["who"]:
            workers.add(str(last["who"]))
        if workers and not any(worker_alive(w) for w in workers):
            return "interrupted"
        return status

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job with its spec, status and per-take frame counts (JobError if unknown)."""
        with self._connect() as con:
            return self._job_dict(con, self._require_job(con, job_id))

    def list_jobs(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Jobs newest first; ``since`` keeps those updated at or after it."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM jobs ORDER BY created DESC, id DESC").fetchall()
            out = [self._job_dict(con, r) for r in rows]
        if since is not None:
            ref = since if since.tzinfo else since.replace(tzinfo=UTC)
            out = [j for j in out if datetime.fromisoformat(j["updated"]) >= ref]
        return out

    def set_job_status(self, job_id: str, status: JobStatus, error: str | None = None, *, who: str | None = None) -> None:
        if status not in JOB_STATUSES:
            raise SpecError(f"job status: {status!r} is not one of {', '.join(JOB_STATUSES)}")
        with self._tx() as con:
            self._require_job(con, job_id)
            con.execute(
                "UPDATE jobs SET status = ?, error = ?, updated = ? WHERE id = ?", (status, _one_line(error), now_iso(), job_id)
            )
            self._audit(con, job_id, f"status:{status}", who, {"error": _one_line(error)})

    def job_status(self, job_id: str) -> str:
        with self._connect() as con:
            return str(self._require_job(con, job_id)["status"])

    def cancel_job(self, job_id: str, *, who: str | None = None) -> str:
        """Mark a job cancelled; a runner sees it between frames and stops. Returns the new status."""
        with self._tx() as con:
            row = self._require_job(con, job_id)
            if row["status"] in ("done",):
                return str(row["status"])
            con.execute("UPDATE jobs SET status = 'cancelled', updated = ? WHERE id = ?", (now_iso(), job_id))
            self._audit(con, job_id, "cancel", who, {})
        return "cancelled"

    # -- takes and frames ---------------------------------------------------

    def add_take(
        self,
        job_id: str,
        frames: list[int],
        *,
        reference_frame: int | None = None,
        overrides: dict[str, Any] | None = None,
        who: str | None = None,
        take: int | None = None,
    ) -> int:
        """Create the next take (or ``take``) of ``frames``, all pending; returns its number."""
        ts = now_iso()
        with self._tx() as con:
            self._require_job(con, job_id)
            if take is None:
                take = int(con.execute("SELECT COALESCE(MAX(take), 0) + 1 FROM takes WHERE job_id = ?", (job_id,)).fetchone()[0])
            con.execute(
                "INSERT OR REPLACE INTO takes(job_id, take, reference_frame, overrides, created, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, take, reference_frame, json.dumps(overrides or {}, sort_keys=True), ts, who),
            )
            con.executemany(
                "INSERT OR IGNORE INTO frames(job_id, frame, take, status, updated) VALUES (?, ?, ?, 'pending', ?)",
                [(job_id, int(f), take, ts) for f in frames],
            )
            self._audit(con, job_id, "take", who, {"take": take, "frames": len(frames), "reference": reference_frame})
        return take

    def takes(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.get_job(job_id)["takes"])

    def frames(self, job_id: str, take: int | None = None) -> list[dict[str, Any]]:
        """Frame rows (frame, take, status, attempts, error, worker, record), ordered."""
        with self._connect() as con:
            self._require_job(con, job_id)
            if take is None:
                rows = con.execute("SELECT * FROM frames WHERE job_id = ? ORDER BY take, frame", (job_id,)).fetchall()
            else:
                rows = con.execute(
                    "SELECT * FROM frames WHERE job_id = ? AND take = ? ORDER BY frame", (job_id, take)
                ).fetchall()
        return [
            {
                "frame": r["frame"],
                "take": r["take"],
                "status": r["status"],
                "attempts": r["attempts"],
                "error": r["error"],
                "worker": r["worker"],
                "record": r["record"],
                "updated": r["updated"],
            }
            for r in rows
        ]

    def claim_frames(
        self, job_id: str, take: int, frames: Iterable[int], worker: str, *, retry_failed: bool = False
    ) -> list[int]:
        """Atomically mark the pending (or failed, with ``retry_failed``) ones of ``frames`` running for ``worker``."""
        wanted = [int(f) for f in frames]
        states = ("pending", "failed") if retry_failed else ("pending",)
        claimed: list[int] = []
        ts = now_iso()
        with self._tx() as con:
            self._require_job(con, job_id)
            for f in wanted:
                cur = con.execute(
                    f"UPDATE frames SET status = 'running', worker = ?, error = NULL, updated = ?"
                    f" WHERE job_id = ? AND take = ? AND frame = ? AND status IN ({','.join('?' * len(states))})",
                    (worker, ts, job_id, take, f, *states),
                )
                if cur.rowcount:
                    claimed.append(f)
        return claimed

    def finish_frame(
        self,
        job_id: str,
        frame: int,
        take: int,
        status: FrameStatus,
        *,
        error: str | None = None,
        attempts: int = 1,
        record: str | None = None,
    ) -> None:
        """Record a frame's outcome (status from its record file) and add ``attempts``."""
        if status not in FRAME_STATUSES:
            raise SpecError(f"frame status: {status!r} is not one of {', '.join(FRAME_STATUSES)}")
        with self._tx() as con:
            con.execute(
                "INSERT INTO frames(job_id, frame, take, status, attempts, error, worker, record, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT(job_id, frame, take) DO UPDATE SET status = excluded.status,"
                " attempts = frames.attempts + excluded.attempts, error = excluded.error, worker = NULL,"
                " record = excluded.record, updated = excluded.updated",
                (job_id, int(frame), int(take), status, int(attempts), _one_line(error), record, now_iso()),
            )

    def release_frames(self, job_id: str, take: int, frames: Iterable[int], worker: str | None = None) -> None:
        """Put running frames back to pending (cancel, or a dead worker's leftovers)."""
        with self._tx() as con:
            for f in frames:
                if worker is None:
                    con.execute(
                        "UPDATE frames SET status = 'pending', worker = NULL WHERE job_id = ? AND take = ? AND frame = ? AND status = 'running'",
                        (job_id, take, int(f)),
                    )
                else:
                    con.execute(
                        "UPDATE frames SET status = 'pending', worker = NULL"
                        " WHERE job_id = ? AND take = ? AND frame = ? AND status = 'running' AND worker = ?",
                        (job_id, take, int(f), worker),
                    )

    def running_workers(self, job_id: str) -> list[str]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT DISTINCT worker FROM frames WHERE job_id = ? AND status = 'running' AND worker IS NOT NULL", (job_id,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    # -- scores and flags (called by QC) ------------------------------------

    def put_scores(self, job_id: str, frame: int, take: int, scores: dict[str, float | None]) -> None:
        """Upsert one frame/take's metric values; ``None`` (or NaN) means "not available"."""
        self.put_many_scores(job_id, take, {frame: scores})

    def put_many_scores(self, job_id: str, take: int, frames: dict[int, dict[str, float | None]]) -> None:
        """:meth:`put_scores` for many frames of one take, in one transaction."""
        rows: list[tuple[Any, ...]] = []
        ts = now_iso()
        for frame, scores in frames.items():
            rows += self._score_rows(job_id, frame, take, scores, ts)
        with self._tx() as con:
            self._require_job(con, job_id)
            con.executemany(
                "INSERT INTO scores(job_id, frame, take, metric, value, updated) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(job_id, frame, take, metric) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                rows,
            )

    @staticmethod
    def _score_rows(job_id: str, frame: int, take: int, scores: dict[str, float | None], ts: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for name, value in scores.items():
            if not isinstance(name, str) or not name:
                raise SpecError(f"scores: metric name {name!r} must be a non-empty string")
            if value is None:
                v: float | None = None
            else:
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    raise SpecError(f"scores.{name}: {value!r} is not a number") from None
                if not math.isfinite(v):
                    v = None
            rows.append((job_id, int(frame), int(take), name, v, ts))
        return rows

    def scores(self, job_id: str, take: int | None = None) -> dict[tuple[int, int], dict[str, float | None]]:
        """``{(frame, take): {metric: value}}``."""
        with self._connect() as con:
            self._require_job(con, job_id)
            q = "SELECT frame, take, metric, value FROM scores WHERE job_id = ?"
            args: tuple[Any, ...] = (job_id,)
            if take is not None:
                q += " AND take = ?"
                args += (take,)
            out: dict[tuple[int, int], dict[str, float | None]] = {}
            for r in con.execute(q + " ORDER BY frame, take, metric", args):
                out.setdefault((r["frame"], r["take"]), {})[r["metric"]] = r["value"]
        return out

    def add_flag(
        self,
        job_id: str,
        frame: int,
        source: str,
        reason: str,
        note: str | None = None,
        author: str | None = None,
        *,
        take: int | None = None,
        created: str | None = None,
        strokes: list[dict[str, Any]] | None = None,
    ) -> int:
        """Add a flag (``source`` auto|reviewer) on ``frame`` (of ``take``, when known); returns its id.

        ``strokes``: a reviewer's freehand marks on the frame (see ``pipeline.jobs.review``).
        """
        if source not in FLAG_SOURCES:
            raise SpecError(f"flag source: {source!r} is not one of {', '.join(FLAG_SOURCES)}")
        if not reason or not str(reason).strip():
            raise SpecError("flag reason: must not be empty")
        with self._tx() as con:
            self._require_job(con, job_id)
            cur = con.execute(
                "INSERT INTO flags(job_id, frame, source, reason, note, author, created, take, strokes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    int(frame),
                    source,
                    _one_line(reason),
                    note,
                    author,
                    created or now_iso(),
                    None if take is None else int(take),
                    json.dumps(strokes) if strokes else None,
                ),
            )
            if source == "reviewer":
                detail: dict[str, Any] = {"frame": int(frame), "reason": _one_line(reason)}
                if strokes:
                    detail["strokes"] = len(strokes)
                self._audit(con, job_id, "flag", author, detail)
            return int(cur.lastrowid or 0)

    def clear_auto_flags(self, job_id: str, frames: list[int] | None = None, *, take: int | None = None) -> None:
        """Remove auto flags (of ``frames``, or all; of ``take``, or every take); reviewer flags are never touched.

        Auto flags indexed before flags had a take (``take`` NULL) count as take 1's.
        """
        where = "job_id = ? AND source = 'auto'"
        args: tuple[Any, ...] = (job_id,)
        if take is not None:
            where += " AND COALESCE(take, 1) = ?"
            args += (int(take),)
        with self._tx() as con:
            self._require_job(con, job_id)
            if frames is None:
                con.execute(f"DELETE FROM flags WHERE {where}", args)
            else:
                con.executemany(f"DELETE FROM flags WHERE {where} AND frame = ?", [(*args, int(f)) for f in frames])

    def remove_flag(self, job_id: str, flag_id: int, who: str | None = None) -> dict[str, Any]:
        """Delete one reviewer flag (auto flags belong to QC and change only when it rescores); returns it."""
        with self._tx() as con:
            self._require_job(con, job_id)
            row = con.execute("SELECT * FROM flags WHERE job_id = ? AND id = ?", (job_id, int(flag_id))).fetchone()
            if row is None:
                raise JobError(f"job {job_id}: no flag {flag_id}")
            if row["source"] != "reviewer":
                raise JobError(f"job {job_id}: flag {flag_id} is a QC auto flag; only reviewer flags can be removed")
            con.execute("DELETE FROM flags WHERE id = ?", (int(flag_id),))
            self._audit(con, job_id, "unflag", who, {"frame": int(row["frame"]), "flag": int(flag_id)})
            return self._flag_dict(row)

    @staticmethod
    def _flag_dict(r: sqlite3.Row) -> dict[str, Any]:
        d = {k: r[k] for k in ("id", "frame", "take", "source", "reason", "note", "author", "created")}
        d["strokes"] = json.loads(r["strokes"]) if r["strokes"] else []
        return d

    def flags(self, job_id: str) -> list[dict[str, Any]]:
        with self._connect() as con:
            self._require_job(con, job_id)
            rows = con.execute("SELECT * FROM flags WHERE job_id = ? ORDER BY frame, id", (job_id,)).fetchall()
        return [self._flag_dict(r) for r in rows]

    # -- reference frames, approvals, versions, audit -----------------------

    def set_reference(self, job_id: str, frame: int, by: str | None = None) -> None:
        with self._tx() as con:
            self._require_job(con, job_id)
            con.execute(
                "INSERT OR REPLACE INTO reference_frames(job_id, frame, set_by, created) VALUES (?, ?, ?, ?)",
                (job_id, int(frame), by, now_iso()),
            )
            self._audit(con, job_id, "reference", by, {"frame": int(frame)})

    def references(self, job_id: str) -> list[int]:
        with self._connect() as con:
            self._require_job(con, job_id)
            return [int(r[0]) for r in con.execute("SELECT frame FROM reference_frames WHERE job_id = ? ORDER BY frame", (job_id,))]

    def set_approval(self, job_id: str, picks: dict[int, int], state: str, by: str) -> None:
        """Approve or reject frames: ``picks`` maps frame -> take."""
        if state not in APPROVAL_STATES:
            raise SpecError(f"approval state: {state!r} is not one of {', '.join(APPROVAL_STATES)}")
        if not by or not by.strip():
            raise SpecError("by: a reviewer name is required")
        ts = now_iso()
        with self._tx() as con:
            self._require_job(con, job_id)
            con.executemany(
                "INSERT OR REPLACE INTO approvals(job_id, frame, take, state, by, at) VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, int(f), int(t), state, by, ts) for f, t in sorted(picks.items())],
            )
            self._audit(con, job_id, state, by, {"frames": sorted(picks)})

    def restore_approvals(self, job_id: str, approvals: dict[int, dict[str, Any]]) -> None:
        """Index approvals read back from the files (reindex), keeping the take, who and when they say."""
        rows: list[tuple[Any, ...]] = []
        for f, a in sorted(approvals.items()):
            if a.get("state") not in APPROVAL_STATES:
                raise SpecError(f"approval of frame {f}: state {a.get('state')!r} is not one of {', '.join(APPROVAL_STATES)}")
            if not isinstance(a.get("by"), str) or not a["by"].strip():
                raise SpecError(f"approval of frame {f}: a reviewer name is required")
            rows.append((job_id, int(f), int(a["take"]), a["state"], a["by"], str(a.get("at") or now_iso())))
        with self._tx() as con:
            self._require_job(con, job_id)
            con.executemany("INSERT OR REPLACE INTO approvals(job_id, frame, take, state, by, at) VALUES (?, ?, ?, ?, ?, ?)", rows)
            if rows:
                self._audit(con, job_id, "reindex:approvals", None, {"frames": [r[1] for r in rows]})

    def approvals(self, job_id: str) -> dict[int, dict[str, Any]]:
        with self._connect() as con:
            self._require_job(con, job_id)
            rows = con.execute("SELECT * FROM approvals WHERE job_id = ? ORDER BY frame", (job_id,)).fetchall()
        return {int(r["frame"]): {"take": r["take"], "state": r["state"], "by": r["by"], "at": r["at"]} for r in rows}

    def add_version(self, job_id: str, version: str, path: Path, manifest: dict[str, Any], by: str | None = None) -> None:
        with self._tx() as con:
            self._require_job(con, job_id)
            con.execute(
                "INSERT OR REPLACE INTO versions(job_id, version, path, created, by, manifest) VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, version, str(path), str(manifest.get("created") or now_iso()), by, json.dumps(manifest, default=str)),
            )
            con.execute("DELETE FROM version_reservations WHERE job_id = ? AND version = ?", (job_id, version))
            self._audit(con, job_id, "publish", by, {"version": version})

    def reserve_version(self, job_id: str, taken: Iterable[int], worker: str, is_stale: Any) -> int:
        """Reserve the next free version number of a job; returns it.

        Free: not published in the store, not in ``taken`` (numbers on disk), not reserved
        by a live publisher. A reservation whose worker ``is_stale(worker)`` (a publish that
        died) is dropped first, so a crashed publish does not lose its number.
        """
        with self._tx() as con:
            self._require_job(con, job_id)
            for r in con.execute("SELECT version, worker FROM version_reservations WHERE job_id = ?", (job_id,)).fetchall():
                if is_stale(r["worker"]):
                    con.execute("DELETE FROM version_reservations WHERE job_id = ? AND version = ?", (job_id, r["version"]))
            used = set(taken)
            for table in ("versions", "version_reservations"):
                for r in con.execute(f"SELECT version FROM {table} WHERE job_id = ?", (job_id,)):  # noqa: S608 - fixed names
                    if str(r["version"])[1:].isdigit():
                        used.add(int(str(r["version"])[1:]))
            n = max(used, default=0) + 1
            con.execute(
                "INSERT INTO version_reservations(job_id, version, worker, created) VALUES (?, ?, ?, ?)",
                (job_id, f"v{n:03d}", worker, now_iso()),
            )
        return n

    def release_version(self, job_id: str, version: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM version_reservations WHERE job_id = ? AND version = ?", (job_id, version))

    def version_reservations(self, job_id: str) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM version_reservations WHERE job_id = ? ORDER BY version", (job_id,)).fetchall()
        return [{"version": r["version"], "worker": r["worker"], "created": r["created"]} for r in rows]

    def versions(self, job_id: str) -> list[dict[str, Any]]:
        with self._connect() as con:
            self._require_job(con, job_id)
            rows = con.execute("SELECT * FROM versions WHERE job_id = ? ORDER BY version", (job_id,)).fetchall()
        return [{"version": r["version"], "path": r["path"], "created": r["created"], "by": r["by"]} for r in rows]

    def audit_log(self, job_id: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            if job_id is None:
                rows = con.execute("SELECT * FROM audit ORDER BY id").fetchall()
            else:
                rows = con.execute("SELECT * FROM audit WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
        return [
            {"at": r["at"], "job": r["job_id"], "action": r["action"], "who": r["who"], "detail": json.loads(r["detail"])}
            for r in rows
        ]

    def log(self, job_id: str | None, action: str, who: str | None = None, detail: dict[str, Any] | None = None) -> None:
        with self._tx() as con:
            self._audit(con, job_id, action, who, detail or {})

    # -- rebuild from files -------------------------------------------------

    def replace_index(
        self,
        job_id: str,
        spec: dict[str, Any],
        status: JobStatus,
        takes: list[dict[str, Any]],
        frames: list[dict[str, Any]],
        *,
        created: str | None = None,
    ) -> None:
        """Replace a job's jobs/takes/frames rows with what the files say (used by reindex).

        Scores, flags, approvals and versions already indexed are kept.
        """
        ts = now_iso()
        with self._tx() as con:
            exists = con.execute("SELECT created FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if exists:
                con.execute(
                    "UPDATE jobs SET shot = ?, owner = ?, priority = ?, out = ?, spec = ?, status = ?, updated = ? WHERE id = ?",
                    (
                        str(spec.get("shot") or ""),
                        spec.get("owner"),
                        int(spec.get("priority", 50)),
                        str(spec["out"]),
                        json.dumps(spec, sort_keys=True),
                        status,
                        ts,
                        job_id,
                    ),
                )
            else:
                con.execute(
                    "INSERT INTO jobs(id, shot, owner, priority, out, spec, status, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        str(spec.get("shot") or ""),
                        spec.get("owner"),
                        int(spec.get("priority", 50)),
                        str(spec["out"]),
                        json.dumps(spec, sort_keys=True),
                        status,
                        created or ts,
                        ts,
                    ),
                )
            con.execute("DELETE FROM frames WHERE job_id = ?", (job_id,))
            con.execute("DELETE FROM takes WHERE job_id = ?", (job_id,))
            con.executemany(
                "INSERT INTO takes(job_id, take, reference_frame, overrides, created, created_by) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        job_id,
                        int(t["take"]),
                        t.get("reference_frame"),
                        json.dumps(t.get("overrides") or {}, sort_keys=True),
                        t.get("created") or ts,
                        t.get("created_by"),
                    )
                    for t in takes
                ],
            )
            con.executemany(
                "INSERT INTO frames(job_id, frame, take, status, attempts, error, worker, record, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                [
                    (
                        job_id,
                        int(f["frame"]),
                        int(f["take"]),
                        f["status"],
                        int(f.get("attempts", 0)),
                        _one_line(f.get("error")),
                        f.get("record"),
                        ts,
                    )
                    for f in frames
                ],
            )
            self._audit(con, job_id, "reindex", None, {"frames": len(frames), "takes": len(takes)})
