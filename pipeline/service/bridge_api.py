"""Routes the host bridge (``recast_bridge``) needs beyond the job routes.

* ``GET /bridge/info``: the vocabularies a host UI offers (selection modes, colour
  methods, blends, swap backends) and the setting names this service accepts, so a
  gizmo fills its pulldowns from the service and sends ``holdout`` only where the
  settings know it.
* ``GET /jobs/{job}/versions/{version}``: one published version (``vNNN`` or
  ``latest``) as a host loads it: the comp sequence pattern, first/last frame and
  the plate colourspace (read from the published comp's header, the job's
  ``colorspace`` setting first), plus who/what from its manifest.
* ``POST /preview``: one frame swapped with the given actor and settings, written
  under ``out`` (inside the roots). No job, nothing in the store, nothing published.
  The face analyser, the swappers and the colour context are loaded once per service
  and kept warm (a swapper's per-sequence state is reset before each preview).

Kept in its own module so the shared ``app.py`` only calls :func:`add_bridge_routes`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from recast.pipeline.errors import SpecError
from recast.pipeline.jobs.store import Store
from recast.pipeline.schema.job import JOB_ID_RE, NAME_RE
from recast.pipeline.schema.layout import OutputLayout
from recast.pipeline.service.security import check_files_inside, check_setting_paths, inside_roots

if TYPE_CHECKING:
    from recast.models.base import Swapper, SwapperContext
    from recast.pipeline.color import ColorContext
    from recast.pipeline.faces.base import FaceAnalyser
    from recast.pipeline.schema.settings import SwapSettings
    from recast.pipeline.service.app import ServiceConfig
    from recast.pipeline.service.preview_cache import MemoryHistory

JobId = Annotated[str, PathParam(pattern=JOB_ID_RE.pattern, max_length=80)]
VersionName = Annotated[str, PathParam(pattern=r"^(v\d{3,}|latest)$", max_length=16)]
_VERSION_RE = re.compile(r"^v(\d{3,})$")


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: str = Field(min_length=1, max_length=4096, description="plate sequence pattern (or one file)")
    frame: int = Field(ge=-(10**9), le=10**9)
    actor: str = Field(min_length=1, max_length=64)
    out: str = Field(min_length=1, max_length=4096, description="folder for the preview's comp/element/record")
    settings: dict[str, Any] | None = None
    name: str | None = Field(default=None, max_length=64, description="output file name (default 'preview')")


class _Warm:
    """What a preview keeps between requests (one per app; previews run one at a time): loaded
    analysers and swappers, the colour context, verified actors, detection results and decoded
    plate frames (``preview_cache``), each bounded and each giving what a cold preview would."""

    def __init__(self, history_bytes: int = 128 * 1024 * 1024) -> None:
        from recast.models.actor import actor_dir, load_actor
        from recast.pipeline.service.preview_cache import ActorCache, Lru, MemoryHistory, PlateCache

        self.lock = threading.Lock()
        self._color: ColorContext | None = None
        self._models: dict[tuple[str, str | None, bool], FaceAnalyser] = {}  # one model load per backend/folder
        self._analysers: Lru[FaceAnalyser] = Lru(8)  # per detection options, sharing those models
        self._swappers: dict[tuple[str, bool], Swapper] = {}
        self.actors = ActorCache(load_actor, actor_dir)
        self.history = MemoryHistory(history_bytes)
        self.plates = PlateCache()
        self._code: str | None = None

    def swapper(self, backend: str, context: SwapperContext) -> Swapper:
        """The backend's swapper, loaded once (its own landmarker, banks); per-sequence state reset."""
        key = (backend, context.allow_noncommercial_models)
        if key not in self._swappers:
            from recast.models.base import SWAPPERS

            self._swappers[key] = SWAPPERS.create(backend, context=context)
        swapper = self._swappers[key]
        reset = getattr(swapper, "reset_sequence", None)
        if callable(reset):
            reset()
        return swapper

    def color(self) -> ColorContext:
        if self._color is None:
            from recast.pipeline.color import ColorContext

            self._color = ColorContext()
        return self._color

    def analyser(self, settings: SwapSettings) -> FaceAnalyser:
        """The analyser ``Engine`` would create for ``settings`` (same options: detect_size and
        min_face change what a scan finds), sharing one load of the backend's model files."""
        from recast.pipeline.faces import AnalyserOptions, create_analyser

        s = settings
        base = (s.analyser, s.analyser_models, s.allow_noncommercial_models)
        key = (*base, s.detect_size, s.min_face)
        found = self._analysers.get(key)
        if found is not None:
            return found
        opts = AnalyserOptions(
            models_dir=Path(s.analyser_models) if s.analyser_models else None,
            allow_noncommercial_models=s.allow_noncommercial_models,
            detect_size=s.detect_size,
            min_face=s.min_face,
        )
        loaded = self._models.get(base)
        made = loaded.derive(opts, _quiet) if loaded is not None else None
        if made is None:
            made = create_analyser(s.analyser, opts, _quiet)
            self._models.setdefault(base, made)
        self._analysers.put(key, made)
        return made

    def history_for(self, settings: SwapSettings) -> MemoryHistory:
        """The detection-result store seen through ``settings``' detection key."""
        from recast.pipeline.jobs import history as stored

        if self._code is None:
            self._code = stored.code_digest()  # the code cannot change under a running service
        return self.history.bind(stored.history_key(settings.to_dict(), code=self._code))


def _quiet(_text: str) -> None:
    """Notices of the service's own loads are not printed per preview."""


def bridge_info() -> dict[str, Any]:
    from recast.models.base import SWAPPERS
    from recast.pipeline import __version__
    from recast.pipeline.composite.settings import BLEND_METHODS, COLOUR_METHODS, SELECTION_MODES, SwapSettings

    names = list(SwapSettings.model_fields)
    return {
        "version": __version__,
        "settings": names,
        "selection_modes": list(SELECTION_MODES),
        "colour_methods": list(COLOUR_METHODS),
        "blend_methods": list(BLEND_METHODS),
        "backends": sorted(SWAPPERS.names()),
        "holdout": "holdout" in names,
        "preview": True,
    }


def version_info(store: Store, job_id: str, version: str, color: Callable[[], ColorContext]) -> dict[str, Any]:
    """One published version of ``job_id`` (``latest``: the newest) as a host loads it."""
    from recast.pipeline.jobs.runner import load_job
    from recast.pipeline.jobs.takes import read_json
    from recast.pipeline.plateio import read_header

    rows = store.versions(job_id)
    if not rows:
        raise HTTPException(status_code=404, detail=f"job {job_id}: nothing published yet")
    if version == "latest":
        row = max(rows, key=lambda r: int(_VERSION_RE.match(r["version"]).group(1)))  # type: ignore[union-attr]
    else:
        found = [r for r in rows if r["version"] == version]
        if not found:
            raise HTTPException(status_code=404, detail=f"job {job_id}: no version {version}")
        row = found[0]
    vdir = Path(row["path"])
    manifest = read_json(vdir / "manifest.json")
    if manifest is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} {row['version']}: {vdir / 'manifest.json'} is missing")
    _job, spec, layout = load_job(store, job_id)
    entries = [e for e in manifest.get("frames", []) if e.get("comp")]
    if not entries:
        raise HTTPException(status_code=404, detail=f"job {job_id} {row['version']}: the version holds no frames")
    frames = sorted(int(e["frame"]) for e in entries)
    version_layout = OutputLayout(vdir, layout.plate_name, layout.padding)  # a version is laid out like take 1
    pattern, element = version_layout.comp_pattern, version_layout.element_pattern
    first = next(e for e in entries if int(e["frame"]) == frames[0])
    colorspace, source = _record_colorspace(layout, first)
    if colorspace is None:  # a plate-filled frame or a schema-1 record: resolve it as the engine does
        raw_space = spec.settings.get("colorspace")
        job_space = raw_space if isinstance(raw_space, str) and raw_space else None
        first_comp = Path(first["comp"])
        colorspace = color().space_for(read_header(first_comp).spec, first_comp, job_space)
        source = "settings" if job_space else "comp header"
    return {
        "job": job_id,
        "version": row["version"],
        "path": str(vdir),
        "pattern": pattern,
        "element_pattern": element if any(e.get("element") for e in entries) else None,
        "first": frames[0],
        "last": frames[-1],
        "frames": len(frames),
        "colorspace": colorspace,
        "colorspace_source": source,
        "actor": manifest.get("actor"),
        "shot": manifest.get("shot"),
        "approved": manifest.get("approved"),
        "filled": manifest.get("filled"),
        "created": manifest.get("created"),
        "by": manifest.get("by"),
    }


def _record_colorspace(layout: Any, entry: dict[str, Any]) -> tuple[str | None, str | None]:
    """The plate colourspace the engine resolved for a published frame, from its frame record."""
    from recast.pipeline.jobs.takes import read_json

    if entry.get("source") != "approved" or not entry.get("take"):
        return None, None
    rec = read_json(layout.record_path(int(entry["take"]), int(entry["frame"]))) or {}
    cs = rec.get("colorspace")
    if isinstance(cs, dict) and isinstance(cs.get("plate"), str):
        return cs["plate"], f"record ({cs.get('source')})"
    return None, None


def run_preview(body: PreviewBody, warm: _Warm, roots: list[Path]) -> dict[str, Any]:
    """Swap one frame of ``body.plate`` into ``body.out`` (paths already checked): the same
    engine, settings and history window as ``recast swap`` of that frame, so the same comp."""
    from recast.pipeline.schema.settings import SwapSettings
    from recast.pipeline.engine import Engine
    from recast.pipeline.sequence import PlateSequence

    name = body.name or "preview"
    if not NAME_RE.match(name):
        raise SpecError(f"name: {name!r} must be letters, digits, '_', '-', '.'")
    settings = SwapSettings.from_dict(body.settings or {})
    plate = PlateSequence.open(body.plate)
    if body.frame not in plate.frames:
        raise SpecError(f"frame {body.frame}: not on disk in {body.plate}")
    check_files_inside([plate.path(body.frame)], roots, "preview.plate")
    t0 = time.perf_counter()
    with warm.lock:
        actor = warm.actors.get(body.actor)
        layout = OutputLayout(root=Path(body.out), plate_name=name, padding=plate.padding)
        engine = Engine(plate, {"default": actor}, settings, layout, analyser=warm.analyser(settings), color=warm.color(),
                        swapper_factory=warm.swapper, history=warm.history_for(settings), embeddings_sidecar=False,
                        plate_reader=warm.plates.read)
        engine.prepare()
        rec = engine.process_frame(body.frame)
    faces = rec.get("faces") or []
    return {
        "frame": body.frame,
        "status": rec.get("status"),
        "error": rec.get("error"),
        "path": rec.get("comp"),
        "element": rec.get("element"),
        "swapped": sum(1 for f in faces if f.get("swapped")),
        "faces": len(faces),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def add_bridge_routes(app: FastAPI, config: ServiceConfig, store: Store, auth: Callable[..., None]) -> None:
    deps = [Depends(auth)]
    warm = _Warm()

    @app.get("/bridge/info", dependencies=deps)
    def info() -> dict[str, Any]:
        return bridge_info()

    @app.get("/jobs/{job_id}/versions/{version}", dependencies=deps)
    def version(job_id: JobId, version: VersionName) -> dict[str, Any]:
        if not store.has_job(job_id):
            raise HTTPException(status_code=404, detail=f"job {job_id!r}: no such job")
        inside_roots(str(store.get_job(job_id)["out"]), config.roots, f"job {job_id} out")
        return version_info(store, job_id, version, warm.color)

    @app.post("/preview", dependencies=deps)
    def preview(body: PreviewBody) -> dict[str, Any]:
        inside_roots(body.plate, config.roots, "preview.plate")
        out = inside_roots(body.out, config.roots, "preview.out")
        check_setting_paths(body.settings, config.roots, "preview.settings")
        return run_preview(body.model_copy(update={"out": str(out)}), warm, config.roots)
