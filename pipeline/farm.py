"""Farm export: an Open Job Description template and an OpenCue job spec for a job.

Both run the same command per chunk, ``recast run-chunk JOB --frames A-B
--take N --job-dir OUT``, which goes through the runner's atomic file protocol:
farm runs and local runs share one truth (the records under ``OUT``), and a
farm node whose store lacks the job indexes it from ``OUT/job.json``.

- OpenJD (``jobtemplate-2023-09``): one step, one task per chunk (a STRING task
  parameter holding the chunk's frame list), a job environment setting
  ``RECAST_HOME`` and ``PYTHONPATH``. Check with ``openjd check``, run locally
  with ``openjd run``.
- OpenCue: an outline built with PyOutline (``opencue-pyoutline`` on PyPI; a
  dev extra) holding one ``Shell`` layer with the job's frame range and the
  chunk size, serialised offline by PyOutline's cue backend into the XML job
  spec it would submit to Cuebot (no Cuebot is contacted). The command uses
  Cue's ``#FRAME_START#``/``#FRAME_END#`` chunk tokens. Where PyOutline is not
  importable the exporter writes the same job spec by hand (``<spec>`` with one
  ``Render`` layer on the ``shell`` service, ``<range>`` and ``<chunk>``), so
  farm export never needs the OpenCue stack at run time.

Chunk size: ``--chunk N`` frames per task; by default the take's ``history_block`` (96
unless the job sets it), with OpenJD tasks cut at the blocks' first frames. A farm task
runs in parallel with the others, so nothing its sibling chunks compute is stored
when it starts: a task starting inside a history block replays the block's earlier
frames (``Engine._bring_history_to``), one starting on a block's first frame only the
``history_frames`` before it (24 of 96: a quarter); the plate's first block has none
before it and reads its first ``history_frames`` ahead instead (``Engine._look_ahead``),
in every task that starts in it. 10-frame tasks over 48-frame blocks (the earlier
default) replayed twice the frames they wrote.

Exporters are plugins (entry point group ``recast.farm``, :data:`FARM_EXPORTERS`):
an exporter has a ``name``, a file ``suffix`` and ``render(store, job_id, opts)``
returning the file's bytes (optionally ``info(opts)``: extra keys for the CLI's
JSON). ``openjd`` and ``opencue`` are the built-ins, declared in pyproject.toml.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import recast
from recast.pipeline.atomic import atomic_write_bytes
from recast.pipeline.errors import JobError, SpecError, os_cause
from recast.pipeline.jobs.store import Store, recast_home
from recast.pipeline.registry import Registry, UnknownBackend
from recast.pipeline.sequence import format_frames

FarmFormat = Literal["openjd", "opencue"]
FORMATS: tuple[str, ...] = ("openjd", "opencue")  # the built-in exporters (FARM_EXPORTERS.names() lists all)
CueWriter = Literal["auto", "pyoutline", "xml"]
CUE_WRITERS: tuple[str, ...] = ("auto", "pyoutline", "xml")
OPENCUE_DTD = "http://localhost:8080/spcue/dtd/cjsl-1.13.dtd"


@dataclass(frozen=True)
class FarmOptions:
    chunk: int | None = None  # frames per task (None: the take's history block, see the module doc)
    take: int = 1
    python: str = sys.executable
    recast_root: Path = Path(recast.__file__).resolve().parent.parent  # folder from which `python -m recast` imports
    recast_home: Path | None = None  # default: this machine's $RECAST_HOME
    show: str = "recast"
    facility: str = "local"
    cores: int = 1
    memory_gb: int = 4
    max_retries: int = 2
    cue_writer: CueWriter = "auto"  # OpenCue: PyOutline when importable ("auto"), PyOutline only, or the hand-written XML


def chunks(frames: list[int], size: int) -> list[list[int]]:
    if size < 1:
        raise SpecError(f"--chunk {size}: must be at least 1")
    return [frames[i : i + size] for i in range(0, len(frames), size)]


@dataclass(frozen=True)
class HistoryGrid:
    """Where the engine's history blocks start: every ``block`` frames from the plate's ``first``."""

    first: int
    block: int


def history_grid(store: Store, job_id: str, take: int) -> HistoryGrid | None:
    """The take's history blocks (engine jobs; None for other processors: nothing is replayed)."""
    from recast.pipeline.jobs.runner import load_job

    job, spec, _layout = load_job(store, job_id)
    if spec.processor != "engine":
        return None
    from recast.pipeline.schema.settings import SwapSettings

    info = next((t for t in job["takes"] if int(t["take"]) == take), None)
    overrides = dict((info or {}).get("overrides") or {})
    settings = SwapSettings.from_dict({**spec.settings, **overrides})
    try:
        from recast.pipeline.sequence import PlateSequence

        first = PlateSequence.open(spec.plate).first  # the engine counts blocks from the first frame on disk
    except Exception:  # noqa: BLE001 - a plate not readable from here: the job's first frame
        frames = [r["frame"] for r in store.frames(job_id, take)]
        first = min(frames) if frames else 1
    return HistoryGrid(first, max(1, int(settings.history_block)))


def chunk_size(store: Store, job_id: str, opts: FarmOptions) -> int:
    """``opts.chunk``, else the take's history block (10 for jobs without history)."""
    if opts.chunk is not None:
        if opts.chunk < 1:
            raise SpecError(f"--chunk {opts.chunk}: must be at least 1")
        return opts.chunk
    grid = history_grid(store, job_id, opts.take)
    return grid.block if grid is not None else 10


def task_chunks(frames: list[int], size: int, grid: HistoryGrid | None) -> list[list[int]]:
    """Chunks of at most ``size`` frames. When ``size`` is a multiple of the history block,
    a chunk never crosses a block edge it does not start on (frames are grouped by
    ``(frame - first) // size``), so each task replays only ``history_frames``."""
    if size < 1:
        raise SpecError(f"--chunk {size}: must be at least 1")
    if grid is None or size % grid.block:
        return chunks(frames, size)
    out: list[list[int]] = []
    key: int | None = None
    for f in frames:
        k = (f - grid.first) // size
        if k != key or len(out[-1]) >= size:
            out.append([])
            key = k
        out[-1].append(f)
    return out


def _job_frames(store: Store, job_id: str, take: int) -> tuple[dict[str, Any], list[int]]:
    job = store.get_job(job_id)
    if take not in [t["take"] for t in job["takes"]]:
        raise JobError(f"job {job_id}: no take {take}")
    return job, [r["frame"] for r in store.frames(job_id, take)]


def _command_args(job_id: str, frames_token: str, take: int, job_dir: str) -> list[str]:
    return ["-m", "recast", "run-chunk", job_id, "--frames", frames_token, "--take", str(take), "--job-dir", job_dir, "--json"]


def openjd_template(store: Store, job_id: str, opts: FarmOptions) -> dict[str, Any]:
    job, frames = _job_frames(store, job_id, opts.take)
    size = chunk_size(store, job_id, opts)
    ranges = [format_frames(c) for c in task_chunks(frames, size, history_grid(store, job_id, opts.take))]
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": f"recast {job_id} take {opts.take}",
        "description": f"Recast face replacement of shot {job['shot']} ({len(frames)} frames, {len(ranges)} chunks)",
        "parameterDefinitions": [
            {"name": "Python", "type": "STRING", "default": opts.python, "description": "Python with Recast's dependencies"},
            {"name": "RecastRoot", "type": "STRING", "default": str(opts.recast_root), "description": "folder from which python -m recast imports"},
            {"name": "RecastHome", "type": "STRING", "default": str(opts.recast_home or recast_home()), "description": "RECAST_HOME on the worker"},
            {"name": "JobDir", "type": "STRING", "default": str(job["out"]), "description": "the job's output folder"},
        ],
        "jobEnvironments": [
            {
                "name": "Recast",
                "variables": {"RECAST_HOME": "{{Param.RecastHome}}", "PYTHONPATH": "{{Param.RecastRoot}}"},
            }
        ],
        "steps": [
            {
                "name": "RecastFrames",
                "parameterSpace": {"taskParameterDefinitions": [{"name": "Frames", "type": "STRING", "range": ranges}]},
                "script": {
                    "actions": {
                        "onRun": {
                            "command": "{{Param.Python}}",
                            "args": _command_args(job_id, "{{Task.Param.Frames}}", opts.take, "{{Param.JobDir}}"),
                        }
                    }
                },
            }
        ],
    }


def _cue_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "x"


@dataclass(frozen=True)
class CueJob:
    """What an OpenCue job spec for one take of a job says (both writers take it from here)."""

    name: str
    facility: str
    show: str
    shot: str
    user: str
    priority: int
    env: dict[str, str]
    command: str
    frame_range: str
    chunk: int
    cores: int
    memory: str
    max_retries: int


def cue_job(store: Store, job_id: str, opts: FarmOptions) -> CueJob:
    job, frames = _job_frames(store, job_id, opts.take)
    size = chunk_size(store, job_id, opts)
    show, shot, user = _cue_name(opts.show), _cue_name(job["shot"] or "shot"), _cue_name(job["owner"] or "recast")
    cmd = [opts.python, *_command_args(job_id, "#FRAME_START#-#FRAME_END#", opts.take, str(job["out"]))]
    return CueJob(
        name=f"{show}-{shot}-{user}_{_cue_name(job_id)}_t{opts.take}",
        facility=opts.facility,
        show=show,
        shot=shot,
        user=user,
        priority=int(job.get("priority") or 0),
        env={"RECAST_HOME": str(opts.recast_home or recast_home()), "PYTHONPATH": str(opts.recast_root)},
        command=" ".join(_shell_quote(c) for c in cmd),
        frame_range=format_frames(frames),
        chunk=size,
        cores=opts.cores,
        memory=f"{opts.memory_gb}g",
        max_retries=opts.max_retries,
    )


def pyoutline_available() -> bool:
    try:
        import outline  # noqa: F401
        from outline.backend import cue  # noqa: F401
        from outline.modules.shell import Shell  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure of the OpenCue stack means "not available"
        return False
    return True


def opencue_spec_pyoutline(cj: CueJob) -> bytes:
    """The job spec PyOutline's cue backend would submit: an Outline with one Shell layer, serialised offline."""
    try:
        import outline
        from outline import cuerun
        from outline.backend import cue
        from outline.modules.shell import Shell
    except Exception as exc:  # noqa: BLE001 - report why, in one line
        raise JobError(f"opencue: PyOutline is not importable ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    ol = outline.Outline(cj.name, shot=cj.shot, show=cj.show, user=cj.user, facility=cj.facility)
    for key, value in cj.env.items():
        ol.set_env(key, value, pre=True)  # "pre": the env goes into the job spec, not only the frame's shell
    ol.add_layer(
        Shell("recast", command=cj.command, range=cj.frame_range, chunk=cj.chunk, cores=cj.cores, memory=cj.memory, service="shell")
    )
    launcher = cuerun.OutlineLauncher(
        ol, pause=False, priority=cj.priority, maxretries=cj.max_retries, autoeat=False, nomail=True, user=cj.user
    )
    return (cue.serialize_simple(launcher) + "\n").encode()  # "simple": the layer runs our command, no pycuerun wrapper


def opencue_spec_xml(cj: CueJob) -> bytes:
    """The same job spec written by hand (no OpenCue packages needed)."""
    spec = ET.Element("spec")
    for tag, value in (("facility", cj.facility), ("show", cj.show), ("shot", cj.shot), ("user", cj.user)):
        ET.SubElement(spec, tag).text = value
    jel = ET.SubElement(spec, "job", name=cj.name)
    ET.SubElement(jel, "paused").text = "False"
    ET.SubElement(jel, "priority").text = str(cj.priority)
    ET.SubElement(jel, "maxretries").text = str(cj.max_retries)
    ET.SubElement(jel, "autoeat").text = "False"
    env = ET.SubElement(jel, "env")
    for key, value in cj.env.items():
        ET.SubElement(env, "key", name=key).text = value
    layers = ET.SubElement(jel, "layers")
    layer = ET.SubElement(layers, "layer", name="recast", type="Render")
    ET.SubElement(layer, "cmd").text = cj.command
    ET.SubElement(layer, "range").text = cj.frame_range
    ET.SubElement(layer, "chunk").text = str(cj.chunk)
    ET.SubElement(layer, "cores").text = f"{float(cj.cores):0.1f}"
    ET.SubElement(layer, "memory").text = cj.memory
    services = ET.SubElement(layer, "services")
    ET.SubElement(services, "service").text = "shell"
    ET.SubElement(spec, "depends")
    ET.indent(spec)
    body = ET.tostring(spec, encoding="unicode")
    head = f'<?xml version="1.0"?>\n<!DOCTYPE spec PUBLIC "SPI Cue Specification Language" "{OPENCUE_DTD}">\n'
    return (head + body + "\n").encode()


def resolve_cue_writer(writer: str) -> str:
    """``auto`` -> ``pyoutline`` when PyOutline imports, else ``xml``; other names are checked and kept."""
    if writer not in CUE_WRITERS:
        raise SpecError(f"--cue-writer {writer!r}: use one of {', '.join(CUE_WRITERS)}")
    if writer == "auto":
        return "pyoutline" if pyoutline_available() else "xml"
    return writer


def opencue_spec(store: Store, job_id: str, opts: FarmOptions) -> bytes:
    """The OpenCue job spec: PyOutline's when importable (``cue_writer`` "auto"), else the hand-written one."""
    writer = resolve_cue_writer(opts.cue_writer)
    cj = cue_job(store, job_id, opts)
    return opencue_spec_pyoutline(cj) if writer == "pyoutline" else opencue_spec_xml(cj)


def _shell_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./#:=+-]+", text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


class FarmExporter(Protocol):
    """Writes one take of a job as a farm's job description."""

    name: str
    suffix: str  # file name ending after ``<job>.tNNN.`` (e.g. "openjd.json")

    def render(self, store: Store, job_id: str, opts: FarmOptions) -> bytes: ...


FARM_EXPORTERS: Registry[FarmExporter] = Registry("farm exporter", "recast.farm")


class OpenJDExporter:
    """``recast.farm`` entry point ``openjd``: an Open Job Description template (JSON)."""

    name = "openjd"
    suffix = "openjd.json"

    def render(self, store: Store, job_id: str, opts: FarmOptions) -> bytes:
        return (json.dumps(openjd_template(store, job_id, opts), indent=2) + "\n").encode()


class OpenCueExporter:
    """``recast.farm`` entry point ``opencue``: an OpenCue job spec (XML)."""

    name = "opencue"
    suffix = "opencue.xml"

    def render(self, store: Store, job_id: str, opts: FarmOptions) -> bytes:
        return opencue_spec(store, job_id, opts)

    def info(self, opts: FarmOptions) -> dict[str, Any]:
        return {"writer": resolve_cue_writer(opts.cue_writer)}


def exporter(fmt: str) -> FarmExporter:
    """The exporter named ``fmt`` (SpecError listing the installed ones when unknown)."""
    try:
        return FARM_EXPORTERS.create(fmt)
    except UnknownBackend:
        raise SpecError(f"--format {fmt!r}: use one of {', '.join(FARM_EXPORTERS.names())}") from None


def export(store: Store, job_id: str, fmt: str, opts: FarmOptions, output: Path | None = None) -> Path:
    """Write the job description of exporter ``fmt`` (default ``<out>/farm/<job>.tNNN.<suffix>``); returns its path."""
    exp = exporter(fmt)
    job = store.get_job(job_id)
    data = exp.render(store, job_id, replace(opts, chunk=chunk_size(store, job_id, opts)))
    name = f"{job_id}.t{opts.take:03d}.{exp.suffix}"
    path = output or Path(job["out"]) / "farm" / name
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise JobError(f"{path}: cannot write farm template ({os_cause(exc)})") from None
    return path
