"""Farm export: an Open Job Description template and an OpenCue job spec for a job.

Both run the same command per chunk, ``recast run-chunk JOB --frames A-B
--take N --job-dir OUT``, which goes through the runner's atomic file protocol:
farm runs and local runs share one truth (the records under ``OUT``), and a
farm node whose store lacks the job indexes it from ``OUT/job.json``.

- OpenJD (``jobtemplate-2023-09``): one step, one task per chunk (a STRING task
  parameter holding the chunk's frame list), a job environment setting
  ``RECAST_HOME`` and ``PYTHONPATH``. Check with ``openjd check``, run locally
  with ``openjd run``.
- OpenCue: PyOutline is not published on PyPI, so the exporter writes the XML
  job spec that PyOutline's cue backend submits to Cuebot (``<spec>`` with one
  ``Render`` layer on the ``shell`` service, ``<range>`` and ``<chunk>``; the
  command uses Cue's ``#FRAME_START#``/``#FRAME_END#`` chunk tokens).
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pipeline
from pipeline.atomic import atomic_write_bytes
from pipeline.errors import JobError, SpecError
from pipeline.jobs.store import Store, recast_home
from pipeline.sequence import format_frames

FarmFormat = Literal["openjd", "opencue"]
FORMATS: tuple[str, ...] = ("openjd", "opencue")
OPENCUE_DTD = "http://localhost:8080/spcue/dtd/cjsl-1.13.dtd"


@dataclass(frozen=True)
class FarmOptions:
    chunk: int = 10
    take: int = 1
    python: str = sys.executable
    recast_root: Path = Path(pipeline.__file__).resolve().parent.parent  # folder holding the pipeline package
    recast_home: Path | None = None  # default: this machine's $RECAST_HOME
    show: str = "recast"
    facility: str = "local"
    cores: int = 1
    memory_gb: int = 4
    max_retries: int = 2


def chunks(frames: list[int], size: int) -> list[list[int]]:
    if size < 1:
        raise SpecError(f"--chunk {size}: must be at least 1")
    return [frames[i : i + size] for i in range(0, len(frames), size)]


def _job_frames(store: Store, job_id: str, take: int) -> tuple[dict[str, Any], list[int]]:
    job = store.get_job(job_id)
    if take not in [t["take"] for t in job["takes"]]:
        raise JobError(f"job {job_id}: no take {take}")
    return job, [r["frame"] for r in store.frames(job_id, take)]


def _command_args(job_id: str, frames_token: str, take: int, job_dir: str) -> list[str]:
    return ["-m", "pipeline", "run-chunk", job_id, "--frames", frames_token, "--take", str(take), "--job-dir", job_dir, "--json"]


def openjd_template(store: Store, job_id: str, opts: FarmOptions) -> dict[str, Any]:
    job, frames = _job_frames(store, job_id, opts.take)
    ranges = [format_frames(c) for c in chunks(frames, opts.chunk)]
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": f"recast {job_id} take {opts.take}",
        "description": f"Recast face replacement of shot {job['shot']} ({len(frames)} frames, {len(ranges)} chunks)",
        "parameterDefinitions": [
            {"name": "Python", "type": "STRING", "default": opts.python, "description": "Python with Recast's dependencies"},
            {"name": "RecastRoot", "type": "STRING", "default": str(opts.recast_root), "description": "folder holding the pipeline package"},
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


def opencue_spec(store: Store, job_id: str, opts: FarmOptions) -> bytes:
    job, frames = _job_frames(store, job_id, opts.take)
    show, shot, user = _cue_name(opts.show), _cue_name(job["shot"] or "shot"), _cue_name(job["owner"] or "recast")
    spec = ET.Element("spec")
    for tag, value in (("facility", opts.facility), ("show", show), ("shot", shot), ("user", user)):
        ET.SubElement(spec, tag).text = value
    jel = ET.SubElement(spec, "job", name=f"{show}-{shot}-{user}_{_cue_name(job_id)}_t{opts.take}")
    ET.SubElement(jel, "paused").text = "False"
    ET.SubElement(jel, "maxretries").text = str(opts.max_retries)
    ET.SubElement(jel, "autoeat").text = "False"
    env = ET.SubElement(jel, "env")
    ET.SubElement(env, "key", name="RECAST_HOME").text = str(opts.recast_home or recast_home())
    ET.SubElement(env, "key", name="PYTHONPATH").text = str(opts.recast_root)
    layers = ET.SubElement(jel, "layers")
    layer = ET.SubElement(layers, "layer", name="recast", type="Render")
    cmd = [opts.python, *_command_args(job_id, "#FRAME_START#-#FRAME_END#", opts.take, str(job["out"]))]
    ET.SubElement(layer, "cmd").text = " ".join(_shell_quote(c) for c in cmd)
    ET.SubElement(layer, "range").text = format_frames(frames)
    ET.SubElement(layer, "chunk").text = str(opts.chunk)
    ET.SubElement(layer, "cores").text = str(opts.cores)
    ET.SubElement(layer, "memory").text = f"{opts.memory_gb}g"
    services = ET.SubElement(layer, "services")
    ET.SubElement(services, "service").text = "shell"
    ET.SubElement(spec, "depends")
    ET.indent(spec)
    body = ET.tostring(spec, encoding="unicode")
    head = f'<?xml version="1.0"?>\n<!DOCTYPE spec PUBLIC "SPI Cue Specification Language" "{OPENCUE_DTD}">\n'
    return (head + body + "\n").encode()


def _shell_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./#:=+-]+", text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def export(store: Store, job_id: str, fmt: str, opts: FarmOptions, output: Path | None = None) -> Path:
    """Write the template for ``fmt`` (default ``<out>/farm/<job>.<fmt>...``); returns its path."""
    if fmt not in FORMATS:
        raise SpecError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    job = store.get_job(job_id)
    if fmt == "openjd":
        data = (json.dumps(openjd_template(store, job_id, opts), indent=2) + "\n").encode()
        name = f"{job_id}.t{opts.take:03d}.openjd.json"
    else:
        data = opencue_spec(store, job_id, opts)
        name = f"{job_id}.t{opts.take:03d}.opencue.xml"
    path = output or Path(job["out"]) / "farm" / name
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise JobError(f"{path}: cannot write farm template ({exc.strerror or exc})") from None
    return path
