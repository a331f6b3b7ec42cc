"""DaVinci Resolve adapter: the only module of the bridge that calls Resolve's scripting API.

From Resolve's console (or an external script with the scripting modules on the path)::

    from recast_bridge import resolve_host
    host = resolve_host.ResolveHost(resolve)          # `resolve` is given in the console
    job = host.submit_current_item(actor="ada", work_dir="/shows/x/recast")
    host.import_published(job)                        # after review approval and publish
    host.import_when_published(job)                   # or: wait for the next publish, then import it

Submitting renders the current timeline item's range to an EXR sequence through
the render settings (MarkIn/MarkOut/TargetDir/CustomName, AddRenderJob,
StartRendering, polling GetRenderJobStatus), then submits it as a job.
Importing (now, or when the job is next published) puts the version into a "Recast" bin and drops a
timeline marker carrying the job id. Scripting Resolve 21.1 and later needs
Resolve Studio.
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .client import BridgeConfig, Client, ensure_service
from .errors import HostError, WaitTimeout
from .flow import SwapKnobs, build_spec, frames_on_disk, job_folders, plan_export, PlateSource, printf_pattern, sequence_in_folder

BIN = "Recast"
DONE_STATES = ("Complete", "Completed")
FAILED_STATES = ("Failed", "Cancelled", "Canceled")


def pick_exr_codec(codecs: Dict[str, str]) -> str:
    """The EXR codec to render with: half float with ZIP when offered, else any half, else the first."""
    names = list(codecs.values()) if isinstance(codecs, dict) else []
    if not names:
        raise HostError("Resolve offers no EXR render codec (is this Resolve Studio?)")
    for want in (("half", "zip"), ("half",)):
        for name in names:
            if all(w in name.lower() for w in want):
                return name
    return names[0]


class ResolveHost:
    def __init__(
        self,
        resolve: Any,
        config: Optional[BridgeConfig] = None,
        sleep: Callable[[float], None] = time.sleep,
        render_timeout: float = 3600.0,
    ) -> None:
        if resolve is None:
            raise HostError("no Resolve scripting object (scripting Resolve 21.1+ needs Resolve Studio)")
        self.resolve = resolve
        self.config = config or BridgeConfig.from_env()
        self.sleep = sleep
        self.render_timeout = render_timeout

    # -- Resolve objects ---------------------------------------------------------
    def project(self) -> Any:
        project = self.resolve.GetProjectManager().GetCurrentProject()
        if not project:
            raise HostError("Resolve: no project is open")
        return project

    def timeline(self) -> Any:
        timeline = self.project().GetCurrentTimeline()
        if not timeline:
            raise HostError("Resolve: no timeline is open")
        return timeline

    def current_item(self) -> Any:
        item = self.timeline().GetCurrentVideoItem()
        if not item:
            raise HostError("Resolve: put the playhead over a clip (no current video item)")
        return item

    @staticmethod
    def item_range(item: Any) -> Tuple[int, int]:
        """Timeline frames covered by ``item``, last one included."""
        start = int(item.GetStart())
        return start, start + int(item.GetDuration()) - 1

    def client(self) -> Client:
        ensure_service(self.config)
        return Client(self.config)

    # -- render ------------------------------------------------------------------
    def render_range(self, mark_in: int, mark_out: int, target_dir: str, name: str) -> str:
        """Render timeline frames ``mark_in..mark_out`` to ``target_dir`` as EXR; returns the #### pattern."""
        project = self.project()
        os.makedirs(target_dir, exist_ok=True)
        codec = pick_exr_codec(project.GetRenderCodecs("exr"))
        project.SetCurrentRenderMode(1)  # one clip: the range as a single sequence
        if not project.SetCurrentRenderFormatAndCodec("exr", codec):
            raise HostError(f"Resolve refused render format exr / {codec}")
        settings = {
            "SelectAllFrames": False,
            "MarkIn": int(mark_in),
            "MarkOut": int(mark_out),
            "TargetDir": target_dir,
            "CustomName": name,
            "ExportVideo": True,
            "ExportAudio": False,
        }
        if not project.SetRenderSettings(settings):
            raise HostError(f"Resolve refused the render settings (MarkIn {mark_in}, MarkOut {mark_out}, {target_dir})")
        job = project.AddRenderJob()
        if not job:
            raise HostError("Resolve: AddRenderJob failed (check the Deliver page settings)")
        try:
            if not project.StartRendering([job]):
                raise HostError("Resolve: StartRendering failed")
            deadline = time.monotonic() + self.render_timeout
            while True:
                status = project.GetRenderJobStatus(job) or {}
                state = str(status.get("JobStatus", ""))
                if state in DONE_STATES:
                    break
                if state in FAILED_STATES:
                    raise HostError(f"Resolve render {state.lower()}: {status.get('Error') or 'see the render queue'}")
                if time.monotonic() > deadline:
                    project.StopRendering()
                    raise HostError(f"Resolve render still {state or 'queued'} after {self.render_timeout:g}s")
                self.sleep(0.5)
        finally:
            project.DeleteRenderJob(job)
        pattern = sequence_in_folder(target_dir, name, "exr")
        if pattern is None:
            raise HostError(f"Resolve rendered nothing named {name}*.exr into {target_dir}")
        return pattern

    # -- the flow ----------------------------------------------------------------
    def submit_current_item(self, actor: str, work_dir: str, shot: Optional[str] = None, knobs: Optional[SwapKnobs] = None) -> str:
        """Render the current item's range, submit it; returns the job id."""
        item = self.current_item()
        mark_in, mark_out = self.item_range(item)
        shot = shot or str(item.GetName() or "shot").rsplit(".", 1)[0]
        folders = job_folders(work_dir, shot)
        pattern = self.render_range(mark_in, mark_out, os.path.dirname(folders.plate), shot)
        frames = frames_on_disk(pattern)
        if not frames:
            raise HostError(f"Resolve render: no frames found for {pattern}")
        client = self.client()
        plan = plan_export(PlateSource(frames[0], frames[-1], pattern), pattern)  # the render is the plate
        result = build_spec(plan, knobs or SwapKnobs(actor=actor), folders.out, shot, client.info(), owner=getpass.getuser())
        return client.submit(result.spec)

    def import_published(self, job_id: str, version: str = "latest") -> Dict[str, Any]:
        """Import a published version into the "Recast" bin; mark the current item with the job id."""
        v = self.client().version(job_id, version)
        project = self.project()
        pool = project.GetMediaPool()
        root = pool.GetRootFolder()
        folder = next((f for f in (root.GetSubFolderList() or []) if f.GetName() == BIN), None) or pool.AddSubFolder(root, BIN)
        if not folder:
            raise HostError(f"Resolve: cannot create the {BIN!r} bin")
        pool.SetCurrentFolder(folder)
        clips = pool.ImportMedia([{"FilePath": printf_pattern(str(v["pattern"])), "StartIndex": int(v["first"]), "EndIndex": int(v["last"])}])
        if not clips:
            raise HostError(f"Resolve: ImportMedia found nothing at {v['pattern']} ({v['first']}-{v['last']})")
        timeline = self.timeline()
        item = timeline.GetCurrentVideoItem()
        at = (int(item.GetStart()) if item else int(timeline.GetStartFrame())) - int(timeline.GetStartFrame())
        old = (timeline.GetMarkers() or {}).get(float(at)) or (timeline.GetMarkers() or {}).get(at)
        if old and str(old.get("customData", "")).startswith("recast:"):
            timeline.DeleteMarkerAtFrame(at)  # an earlier Recast version's marker on this item
        note = f"job {job_id} {v['version']} actor {v.get('actor') or ''} frames {v['first']}-{v['last']}".strip()
        if not timeline.AddMarker(at, "Green", f"Recast {v['version']}", note, 1, f"recast:{job_id}:{v['version']}"):
            raise HostError(f"Resolve: cannot add a marker at frame {at} (one may already be there)")
        return {**v, "clips": len(clips), "marker": at}

    def import_when_published(
        self, job_id: str, seen: Optional[List[str]] = None, timeout: Optional[float] = None, interval: float = 5.0
    ) -> Dict[str, Any]:
        """Wait until ``job_id`` has a version not in ``seen`` (default: none yet), then import it."""
        client = self.client()
        known = set(seen or [])
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fresh = [v["version"] for v in client.versions(job_id) if v["version"] not in known]
            if fresh:
                return self.import_published(job_id, max(fresh, key=lambda name: int(name[1:])))
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"job {job_id}: nothing new published within {timeout:g}s")
            self.sleep(interval)
