"""Host-agnostic steps: plan the plate export, build and submit a job spec, poll, pick versions.

A host adapter describes what it has (:class:`PlateSource`, :class:`SwapKnobs`) and
does the host-side work (render, create a Read); everything decided here is plain
data, so each step is tested without a host.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from .client import Client
from .errors import BridgeError, WaitTimeout

DIRECT_EXTS = ("exr", "png", "dpx")  # formats the service reads straight from disk
TERMINAL = ("done", "failed", "cancelled")
SELECTION_MODES = ("all", "largest", "reference")  # the service's vocabulary (refreshed from /bridge/info)
COLOUR_METHODS = ("rct", "lct", "none")
BLEND_METHODS = ("alpha", "laplacian", "poisson")
ACTOR_BACKEND = "actor default"  # backend pulldown entry: the actor's own backend

_PRINTF = re.compile(r"%0?(\d*)d")
_HASHES = re.compile(r"#+")


# -- sequences ------------------------------------------------------------------------


def hash_pattern(path: str) -> str:
    """``shot.%04d.exr`` / ``shot.####.exr`` / ``shot.@@@@.exr`` -> ``shot.####.exr`` (the service's form)."""
    m = _PRINTF.search(path)
    if m:
        return path[: m.start()] + "#" * max(1, int(m.group(1) or 1)) + path[m.end() :]
    if "@" in os.path.basename(path):
        return re.sub(r"@+", lambda a: "#" * len(a.group(0)), path)
    return path


def printf_pattern(path: str) -> str:
    """``shot.####.exr`` -> ``shot.%04d.exr`` (Nuke's and Resolve's import form)."""
    return _HASHES.sub(lambda m: f"%0{len(m.group(0))}d", hash_pattern(path), count=1)


def frame_path(pattern: str, frame: int) -> str:
    p = hash_pattern(pattern)
    m = _HASHES.search(p)
    if not m:
        return p
    width = len(m.group(0))
    num = f"{frame:0{width}d}" if frame >= 0 else f"-{-frame:0{width}d}"
    return p[: m.start()] + num + p[m.end() :]


def frames_on_disk(pattern: str) -> List[int]:
    """Frame numbers whose file exists for ``pattern`` (a single file: [])."""
    p = hash_pattern(pattern)
    m = _HASHES.search(os.path.basename(p))
    folder = os.path.dirname(p) or "."
    if not m or not os.path.isdir(folder):
        return []
    base = os.path.basename(p)
    rx = re.compile(re.escape(base[: m.start()]) + r"(-?\d+)" + re.escape(base[m.end() :]) + "$")
    found = []
    for name in os.listdir(folder):
        hit = rx.match(name)
        if hit:
            found.append(int(hit.group(1)))
    return sorted(found)


def sequence_in_folder(folder: str, prefix: str, ext: str = "exr") -> Optional[str]:
    """The one ``PREFIX<digits>.EXT`` sequence a renderer wrote in ``folder``, as a #### pattern."""
    rx = re.compile(re.escape(prefix) + r"([._]?)(\d+)\." + re.escape(ext) + "$", re.IGNORECASE)
    hits = [(m.group(1), len(m.group(2)), name) for name in sorted(os.listdir(folder)) if (m := rx.match(name))]
    if not hits:
        return None
    sep, width, name = hits[0]
    return os.path.join(folder, f"{prefix}{sep}{'#' * width}.{name.rsplit('.', 1)[1]}")


def frames_text(frames: List[int]) -> str:
    """[1, 2, 3, 7] -> ``1-3,7`` (the service's frame list)."""
    out: List[str] = []
    run: List[int] = []
    for f in sorted(set(frames)):
        if run and f == run[-1] + 1:
            run.append(f)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [f]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


# -- plate export ---------------------------------------------------------------------


@dataclass
class PlateSource:
    """What feeds the host's plate input, as the adapter found it."""

    first: int
    last: int
    file_pattern: Optional[str] = None  # set when the input is a file reader (Nuke Read)
    changed_upstream: List[str] = field(default_factory=list)  # nodes between reader and us that change pixels
    colorspace: Optional[str] = None  # the reader's declared colourspace (None: default/auto)


@dataclass
class ExportPlan:
    direct: bool  # True: the reader's files are the plate; False: render to ``pattern``
    pattern: str  # the plate pattern the job uses (#### form)
    first: int
    last: int
    reason: str  # why (shown in the status line)
    colorspace: Optional[str] = None


@dataclass
class JobFolders:
    root: str  # <work>/<shot>_<stamp>
    plate: str  # rendered plate pattern
    holdout: str  # rendered holdout matte pattern
    out: str  # the job's output folder
    preview: str  # one-frame previews


def job_folders(work_dir: str, shot: str, stamp: Optional[str] = None) -> JobFolders:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", shot).strip("_") or "shot"
    stamp = stamp or datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
    root = os.path.join(os.path.abspath(work_dir), f"{safe}_{stamp}")
    n = 1
    while stamp != "preview" and os.path.exists(root):  # two submits within a second never share a folder
        n += 1
        root = os.path.join(os.path.abspath(work_dir), f"{safe}_{stamp}_{n}")
    return JobFolders(
        root=root,
        plate=os.path.join(root, "plate", f"{safe}.####.exr"),
        holdout=os.path.join(root, "holdout", f"{safe}_holdout.####.exr"),
        out=os.path.join(root, "out"),
        preview=os.path.join(os.path.abspath(work_dir), "preview"),
    )


def plan_export(source: PlateSource, render_pattern: str) -> ExportPlan:
    """Use the reader's files when they are an on-disk EXR/PNG/DPX sequence nothing changes; else render."""
    first, last = int(source.first), int(source.last)
    if last < first:
        raise BridgeError(f"frame range {first}-{last}: last frame before the first")

    def render(reason: str) -> ExportPlan:
        return ExportPlan(False, hash_pattern(render_pattern), first, last, reason)

    if not source.file_pattern:
        return render("the input is not a file Read: rendering it")
    if source.changed_upstream:
        return render(f"{', '.join(source.changed_upstream)} changes pixels: rendering")
    pattern = hash_pattern(source.file_pattern)
    ext = pattern.rsplit(".", 1)[-1].lower() if "." in os.path.basename(pattern) else ""
    if ext not in DIRECT_EXTS:
        return render(f"{ext or 'no extension'} is not EXR/PNG/DPX: rendering to EXR")
    on_disk = set(frames_on_disk(pattern)) if "#" in pattern else ({first} if os.path.isfile(pattern) else set())
    missing = [f for f in range(first, last + 1) if f not in on_disk] if "#" in pattern else ([] if on_disk else [first])
    if missing:
        return render(f"frame {missing[0]} of {os.path.basename(pattern)} is not on disk: rendering")
    return ExportPlan(True, pattern, first, last, "the Read's files are used directly", source.colorspace)


# -- the job spec ---------------------------------------------------------------------


@dataclass
class SwapKnobs:
    """The artist's choices (gizmo knobs / CLI flags), in the service's vocabulary."""

    actor: str
    selection: str = "all"
    reference_frame: Optional[int] = None
    face_index: int = 0
    backend: Optional[str] = None  # None: the actor's own backend
    mask_erode: Optional[float] = None
    mask_blur: Optional[float] = None
    color: Optional[str] = None
    blend: Optional[str] = None
    auto_holdout: bool = False  # objects in front of the face (a microphone, a cup) keep the plate

    def settings(self) -> Dict[str, Any]:
        s: Dict[str, Any] = {}
        if self.backend and self.backend != ACTOR_BACKEND:
            s["backend"] = self.backend
        if self.selection:
            s["selection"] = self.selection
        if self.selection == "reference":
            if self.reference_frame is None:
                raise BridgeError("selection 'reference' needs a reference frame")
            s["reference"] = f"{int(self.reference_frame)}:{int(self.face_index)}"
        for key in ("mask_erode", "mask_blur"):
            value = getattr(self, key)
            if value is not None:
                s[key] = float(value)
        if self.color:
            s["color"] = self.color
        if self.blend:
            s["blend"] = self.blend
        if self.auto_holdout:
            s["auto_holdout"] = True
        return s


@dataclass
class SpecResult:
    spec: Dict[str, Any]
    notes: List[str]  # things the artist should know (e.g. holdout not sent)


def build_spec(
    plan: ExportPlan,
    knobs: SwapKnobs,
    out: str,
    shot: str,
    info: Optional[Mapping[str, Any]] = None,
    holdout: Optional[str] = None,
    owner: Optional[str] = None,
) -> SpecResult:
    """The job spec for ``plan`` (absolute paths); ``holdout`` goes in only where the service knows it."""
    if not knobs.actor or knobs.actor.startswith("("):
        raise BridgeError("pick an actor first (Refresh fills the list from the service)")
    settings = knobs.settings()
    notes: List[str] = []
    if plan.colorspace:
        settings["colorspace"] = plan.colorspace
    if holdout:
        if info is not None and info.get("holdout"):
            settings["holdout"] = holdout
        else:
            notes.append("holdout matte rendered but not sent: this service has no 'holdout' setting yet")
    if settings.get("auto_holdout") and info is not None and "auto_holdout" not in (info.get("settings") or ()):
        del settings["auto_holdout"]
        notes.append("auto holdout not sent: this service has no 'auto_holdout' setting yet")
    spec: Dict[str, Any] = {
        "plate": os.path.abspath(plan.pattern),
        "out": os.path.abspath(out),
        "actor": knobs.actor,
        "frames": f"{plan.first}-{plan.last}",
        "shot": shot,
        "settings": settings,
    }
    if owner:
        spec["owner"] = owner
    return SpecResult(spec, notes)


# -- progress -------------------------------------------------------------------------


def finished(job: Mapping[str, Any]) -> bool:
    return job.get("status") in TERMINAL and not job.get("busy", False)


def status_line(job: Mapping[str, Any]) -> str:
    """``job sh010-1a2b: running, 3/10 frames done`` (one line for a status knob)."""
    counts = job.get("frames") or {}
    total = sum(int(v) for v in counts.values()) if isinstance(counts, dict) else 0
    done = int(counts.get("done", 0)) if isinstance(counts, dict) else 0
    failed = int(counts.get("failed", 0)) if isinstance(counts, dict) else 0
    text = f"job {job.get('id')}: {job.get('status')}, {done}/{total} frames done"
    if failed:
        text += f", {failed} failed"
    versions = job.get("versions") or []
    if versions:
        text += f", published {versions[-1]['version']}"
    if job.get("error"):
        text += f" ({job['error']})"
    return text


def wait(client: Client, job_id: str, timeout: Optional[float] = None, interval: float = 0.5,
         on_update: Optional[Callable[[Dict[str, Any]], None]] = None,
         stop: Optional[threading.Event] = None) -> Dict[str, Any]:
    """Poll until the job finishes (done/failed/cancelled, no task running); returns the job."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = client.job(job_id)
        if on_update is not None:
            on_update(job)
        if finished(job):
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(f"job {job_id}: still {job.get('status')} after {timeout:g}s")
        if stop is not None:
            if stop.wait(interval):
                return job
        else:
            time.sleep(interval)


class Poller:
    """Polls a job on a background thread; ``dispatch`` runs each callback on the host's UI thread."""

    def __init__(
        self,
        client: Client,
        job_id: str,
        on_update: Callable[[Dict[str, Any]], None],
        on_error: Callable[[str], None],
        dispatch: Callable[..., None],
        interval: float = 1.0,
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.on_update = on_update
        self.on_error = on_error
        self.dispatch = dispatch
        self.interval = interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"recast-poll-{job_id}", daemon=True)

    def start(self) -> "Poller":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()

    def _run(self) -> None:
        try:
            wait(self.client, self.job_id, None, self.interval,
                 on_update=lambda job: self.dispatch(self.on_update, job), stop=self.stop_event)
        except BridgeError as exc:
            self.dispatch(self.on_error, str(exc))


# -- versions -------------------------------------------------------------------------


def latest_version(client: Client, job_id: str) -> Dict[str, Any]:
    """The newest published version as a host loads it: version, path, pattern, first, last, colorspace..."""
    return client.version(job_id, "latest")


def version_label(version: Mapping[str, Any]) -> str:
    return f"{version.get('job')}\n{version.get('version')}\n{version.get('actor') or ''}".rstrip()


def open_review(
    job: Mapping[str, Any],
    recast_command: Optional[List[str]] = None,
    server: Optional[str] = None,
    opener: Callable[[str], Any] = webbrowser.open,
    launch: Callable[..., Any] = subprocess.Popen,
) -> str:
    """Open the job in the review app (``recast review JOB --server URL``) when a recast
    executable is configured (RECAST_SERVE), else its QC report; returns what was opened."""
    job_id = str(job.get("id"))
    if recast_command:
        argv = list(recast_command) + ["review", job_id] + (["--server", server] if server else [])
        try:
            launch(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise BridgeError(f"cannot start `{' '.join(argv[:2])}`: {exc.strerror or exc}") from None
        return " ".join(argv)
    out = str(job.get("out") or "")
    report = os.path.join(out, "qc", "report", "index.html")
    if not os.path.isfile(report):
        raise BridgeError(
            f"job {job_id}: no review report yet at {report} (run `recast qc report {job_id}`, "
            "or set RECAST_SERVE to a recast executable to open the review app)"
        )
    opener("file://" + report)
    return report
