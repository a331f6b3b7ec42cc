"""``recast demo``: the whole path on the embedded default, from package-shipped faces.

The steps, in order (each usable on its own):

1. :func:`make_actor` — an actor from one real face (scikit-image's astronaut
   sample, a NASA public-domain portrait) with a consent file written here and
   labelled as a DEMO consent (it grants nothing outside this demo).
2. :func:`make_plate` — a short scene-linear half-float EXR plate (1920x1080) of
   ANOTHER real face (the face nearest the centre of insightface's ``t1.jpg``
   sample), the camera pushing in so the face moves and grows across the frame,
   with sensor grain and a specular above 1.0 on the nose.
3. :func:`run_job` — the plate is submitted as a job to the job store
   (``$RECAST_HOME/recast.db``) and run by the same runner the service and the
   farm use: comp, element and a record per frame, only the followed face
   swapped (reference selection, :func:`reference_for`).
4. :func:`run_qc` — every frame scored (scores and auto-flags in the store),
   the HTML + PDF dailies report and the side-by-side preview movie.
5. :func:`summary` — where things are, per-frame status, QC counts and an
   identity check (dlib 128-D distance of the comp's face to the actor and to
   the plate face).

The demo folder is the demo's own: a rerun into it replaces the previous demo's
files (it carries a marker file); a folder without the marker that already
holds anything is refused.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.pipeline.errors import ActorError, PlateError, SpecError
from recast.pipeline.progress import Progress

DEMO_ACTOR = "demo-astronaut"
PLATE_NAME = "demo_plate"
FIRST_FRAME = 1001
DEMO_SHOT = "demo"
MARKER = ".recast-demo"
# what a previous demo left in its folder (cleared before a rerun)
_DEMO_ENTRIES = ("inputs", "plate", "comp", "element", "records", "qc", "takes", "publish", "job.json")


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("demo_out")
    frames: int = 10
    width: int = 1920
    height: int = 1080
    grain: float = 0.006  # scene-linear noise std
    specular: float = 2.5  # peak scene-linear value added on the nose tip
    seed: int = 7


@dataclass
class DemoResult:
    out: Path
    actor: str
    plate_pattern: str
    comp_pattern: str = ""
    element_pattern: str = ""
    records_dir: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    identity: list[dict[str, Any]] = field(default_factory=list)
    job: str | None = None
    qc: dict[str, Any] | None = None


# ---------------------------------------------------------------- source faces
def actor_image() -> np.ndarray:
    """The actor's face: scikit-image's astronaut (float32 sRGB [0, 1])."""
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


def plate_source_image() -> np.ndarray:
    """The plate's face: insightface's ``t1.jpg`` sample (float32 sRGB [0, 1])."""
    spec = importlib.util.find_spec("insightface")
    if spec is None or spec.origin is None:
        raise ActorError("demo: the insightface package (for its t1.jpg sample face) is not installed")
    path = Path(spec.origin).parent / "data" / "images" / "t1.jpg"
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PlateError(f"{path}: cannot read the demo plate's source image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


# ---------------------------------------------------------------- step 1: actor
def make_actor(out: Path, name: str = DEMO_ACTOR) -> Any:
    """Build (or rebuild) the demo actor; returns the loaded ActorModel."""
    from recast.models.actor import build_actor

    inputs = out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    image = inputs / "astronaut.png"
    rgb8 = (np.clip(actor_image(), 0, 1) * 255 + 0.5).astype(np.uint8)
    cv2.imwrite(str(image), cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR))
    consent = inputs / "DEMO_CONSENT.json"
    consent.write_text(
        json.dumps(
            {
                "demo": True,
                "label": "DEMO CONSENT - not a real consent record; valid for `recast demo` only",
                "who": "demo: scikit-image 'astronaut' sample (NASA public-domain portrait)",
                "scope": "DEMO ONLY: recast demo output on a synthetic plate; no other use",
                "when": "2026-01-01",
            },
            indent=2,
        )
        + "\n"
    )
    return build_actor(name, [image], consent, backend="warp", options={"force": True})


# ---------------------------------------------------------------- step 2: plate
def _plate_face_centre(src: np.ndarray) -> tuple[float, float, float, tuple[float, float]]:
    """Centre (x, y), size and nose tip of the face nearest the source image's centre."""
    from recast.pipeline.faces import create_analyser

    faces = create_analyser("dlib").analyse(src, embed=False)
    if not faces:
        raise PlateError("demo: no face found in the plate's source image")
    mid = np.array([src.shape[1] / 2.0, src.shape[0] / 2.0])
    best = min(faces, key=lambda f: float(np.hypot(*((f.box[:2] + f.box[2:]) / 2.0 - mid))))
    x0, y0, x1, y1 = (float(v) for v in best.box)
    nose = best.kps5[2]
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, best.size, (float(nose[0]), float(nose[1]))


def _cover_scale(src_hw: tuple[int, int], centre: tuple[float, float], at: tuple[float, float], out_hw: tuple[int, int]) -> float:
    """Smallest scale at which the frame, with ``centre`` placed ``at``, stays inside the source."""
    sh, sw = src_hw
    cx, cy = centre
    px, py = at
    h, w = out_hw
    return max(px / max(cx, 1.0), (w - px) / max(sw - cx, 1.0), py / max(cy, 1.0), (h - py) / max(sh - cy, 1.0))


@dataclass(frozen=True)
class DemoPlate:
    pattern: str
    target: tuple[float, float]  # where the target face's centre is in the first frame


def make_plate(out: Path, opts: DemoOptions = DemoOptions()) -> DemoPlate:
    """Write the demo plate ``<out>/plate/demo_plate.####.exr`` (the camera follows one face)."""
    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import new_spec, write_image

    src = plate_source_image()
    cx, cy, size, nose = _plate_face_centre(src)
    colour = ColorContext()
    rng = np.random.default_rng(opts.seed)
    pattern_dir = out / "plate"
    w, h = opts.width, opts.height
    spec = new_spec(w, h, ["R", "G", "B"], "half", "zip", attrs={"recast/colorspace": colour.scene_linear, "recast/demo": 1})
    n = max(int(opts.frames), 1)
    target = (0.0, 0.0)
    for i in range(n):
        t = i / max(n - 1, 9)  # the move's speed is a short shot's: a 3-frame demo is its first 3 frames
        face_px = h * (0.22 + 0.10 * t)  # the face grows by ~half over the shot
        px, py = w * (0.36 + 0.28 * t), h * (0.46 + 0.06 * t)  # and moves left to right
        s = max(face_px / size, _cover_scale(src.shape[:2], (cx, cy), (px, py), (h, w)))
        m = np.array([[s, 0.0, px - s * cx], [0.0, s, py - s * cy]], dtype=np.float64)
        if i == 0:
            target = (px, py)
        frame = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        lin = colour.from_working(np.clip(frame, 0, 1), colour.scene_linear)
        nx, ny = m @ np.array([nose[0], nose[1], 1.0])
        _add_glint(lin, (float(nx), float(ny)), 0.012 * face_px, opts.specular)
        lin = lin + rng.normal(0.0, opts.grain, lin.shape).astype(np.float32)
        write_image(pattern_dir / f"{PLATE_NAME}.{FIRST_FRAME + i:04d}.exr", lin.astype(np.float32), spec)
    return DemoPlate(str(pattern_dir / f"{PLATE_NAME}.####.exr"), target)


def reference_for(plate: DemoPlate) -> str:
    """``FRAME:INDEX`` of the target face in the first frame (other people stay untouched)."""
    from recast.pipeline.color import ColorContext
    from recast.pipeline.engine import analysis_view
    from recast.pipeline.faces import create_analyser
    from recast.pipeline.plateio import read_plate
    from recast.pipeline.sequence import PlateSequence

    seq = PlateSequence.open(plate.pattern)
    first = read_plate(seq.path(seq.frames[0]))
    colour = ColorContext()
    view = analysis_view(colour, colour.plate_space(first))(np.nan_to_num(first.rgb()))
    faces = create_analyser("dlib").analyse(view, embed=False)  # ordered left to right
    if not faces:
        raise PlateError(f"{seq.path(seq.frames[0])}: demo plate has no detectable face")
    tx, ty = plate.target
    index = min(range(len(faces)), key=lambda k: float(np.hypot(*((faces[k].box[:2] + faces[k].box[2:]) / 2.0 - (tx, ty)))))
    return f"{seq.frames[0]}:{index}"


def _add_glint(lin: np.ndarray, centre: tuple[float, float], sigma: float, peak: float) -> None:
    """Add a Gaussian specular (scene-linear ``peak`` above the skin) in place."""
    h, w = lin.shape[:2]
    r = int(4 * sigma) + 1
    x0, x1 = max(int(centre[0]) - r, 0), min(int(centre[0]) + r + 1, w)
    y0, y1 = max(int(centre[1]) - r, 0), min(int(centre[1]) + r + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    g = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2.0 * sigma**2)).astype(np.float32)
    lin[y0:y1, x0:x1] += peak * g[..., None]


# ---------------------------------------------------------------- step 3: the job
def prepare_folder(out: Path) -> None:
    """Make ``out`` the demo's folder: clear a previous demo's files, refuse anything else."""
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if (out / MARKER).is_file():
        import shutil

        for name in _DEMO_ENTRIES:
            p = out / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    elif any(out.iterdir()):
        raise SpecError(f"--out: {out} is not empty and not a demo folder; choose an empty or new folder")
    (out / MARKER).write_text("written by `recast demo`; a rerun replaces this folder's demo files\n")


def run_job(out: Path, plate_pattern: str, actor: Any, settings: dict[str, Any] | None = None,
            identity: bool = True, progress: Progress | None = None) -> DemoResult:
    """Submit the plate as a job to the store and run it with the job runner (which scores it)."""
    from recast.pipeline.jobs.runner import Runner, RunOptions, submit
    from recast.pipeline.schema.job import JobSpec
    from recast.pipeline.jobs.store import Store
    from recast.pipeline.jobs.takes import layout_for, read_json

    store = Store.open_default()
    spec = JobSpec.from_dict(
        {"plate": plate_pattern, "actor": actor.name, "out": str(out.resolve()), "shot": DEMO_SHOT,
         "settings": settings or {}, "owner": "recast demo"}
    )
    job_id = submit(store, spec)
    Runner(store, RunOptions(qc_options=_qc_options(identity)), progress=progress).run(job_id)
    meta = read_json(out.resolve() / "job.json") or {}
    layout = layout_for(meta)
    records = [rec for f in meta.get("frames", []) if (rec := read_json(layout.record_path(1, int(f)))) is not None]
    return DemoResult(
        out=out.resolve(),
        actor=actor.name,
        plate_pattern=plate_pattern,
        comp_pattern=layout.take(1).comp_pattern,
        element_pattern=layout.take(1).element_pattern,
        records_dir=str(layout.records_dir(1)),
        records=records,
        job=job_id,
    )


# ---------------------------------------------------------------- step 4: QC
def _qc_options(identity: bool) -> Any:
    from recast.qc.scoring import QCOptions

    return QCOptions(identity=identity)


def run_qc(result: DemoResult, identity: bool = True) -> dict[str, Any]:
    """HTML + PDF report and preview movie of the job (the runner's scores, reused from the cache)."""
    from recast.pipeline.jobs.store import Store
    from recast.qc.run import JobQCOptions, run_job_qc

    options = JobQCOptions(qc=_qc_options(identity), pdf=True, make_movie=True)
    return run_job_qc(result.out, job_id=result.job, store=Store.open_default(), options=options)


# ---------------------------------------------------------------- step 5: summary
def identity_check(result: DemoResult, samples: int = 2) -> list[dict[str, Any]]:
    """dlib 128-D distances of the comp's swapped face to the actor and to the plate's face.

    Looks only around the swapped face (its record box, with margin), so the
    other people in the plate do not count.
    """
    from recast.pipeline.color import ColorContext
    from recast.pipeline.engine import analysis_view
    from recast.pipeline.faces import create_analyser
    from recast.pipeline.faces.identity import face_distance
    from recast.pipeline.plateio import read_plate

    analyser = create_analyser("dlib")
    colour = ColorContext()
    actor_faces = analyser.analyse(actor_image())
    if not actor_faces or actor_faces[0].embedding is None:
        return []
    actor_emb = actor_faces[0].embedding
    done = [r for r in result.records if r["status"] == "done" and any(f["swapped"] for f in r["faces"])]
    picks = [done[int(round(k * (len(done) - 1) / max(samples - 1, 1)))] for k in range(min(samples, len(done)))]
    out: list[dict[str, Any]] = []
    for rec in picks:
        face = next(f for f in rec["faces"] if f["swapped"])
        embs: dict[str, np.ndarray | None] = {}
        for key in ("plate", "comp"):
            plate = read_plate(rec[key])
            window = _window_around(plate, face["box"])
            view = analysis_view(colour, colour.plate_space(plate))(window)
            faces = analyser.analyse(view)
            best = max(faces, key=lambda f: f.size) if faces else None
            embs[key] = None if best is None else best.embedding
        if embs["plate"] is None or embs["comp"] is None:
            continue
        out.append(
            {
                "frame": rec["frame"],
                "comp_to_actor": round(face_distance(embs["comp"], actor_emb), 4),
                "comp_to_plate": round(face_distance(embs["comp"], embs["plate"]), 4),
            }
        )
    return out


def _window_around(plate: Any, box: list[float], margin: float = 0.6) -> np.ndarray:
    """RGB of the plate around ``box`` (image coordinates), grown by ``margin`` per side."""
    dx, dy = plate.data_window[:2]
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = plate.pixels.shape[:2]
    xa, ya = max(int(x0 - mx) - dx, 0), max(int(y0 - my) - dy, 0)
    xb, yb = min(int(x1 + mx) - dx, w), min(int(y1 + my) - dy, h)
    return np.nan_to_num(plate.rgb()[ya:yb, xa:xb])


def summary(result: DemoResult) -> dict[str, Any]:
    statuses = [r["status"] for r in result.records]
    return {
        "out": str(result.out),
        "actor": result.actor,
        "plate": result.plate_pattern,
        "comp": result.comp_pattern,
        "element": result.element_pattern,
        "records": result.records_dir,
        "frames": len(statuses),
        "done": statuses.count("done"),
        "passthrough": statuses.count("passthrough"),
        "failed": statuses.count("failed"),
        "errors": [{"frame": r["frame"], "error": r["error"]} for r in result.records if r["status"] == "failed"],
        "identity": result.identity,
        "same_person_threshold": _dlib_threshold(),
        "job": result.job,
        "qc": _qc_summary(result.qc),
    }


def _qc_summary(qc: dict[str, Any] | None) -> dict[str, Any] | None:
    if qc is None:
        return None
    report = [str(p) for p in qc.get("report", [])]
    return {
        "scores": qc.get("scores"),
        "report": next((p for p in report if p.endswith(".html")), None),
        "pdf": next((p for p in report if p.endswith(".pdf")), None),
        "movie": qc.get("movie"),
        **{k: qc["summary"].get(k) for k in ("frames", "pass", "warn", "fail", "flagged")},
    }


def _dlib_threshold() -> float:
    from recast.pipeline.faces.identity import same_person_threshold

    return same_person_threshold("dlib128")


def summary_text(s: dict[str, Any]) -> str:
    lines = [
        f"recast demo: swapped {s['done']} of {s['frames']} frames "
        f"({s['passthrough']} passed through, {s['failed']} failed) with actor {s['actor']!r}",
        f"  plate:   {s['plate']}",
        f"  comp:    {s['comp']}",
        f"  element: {s['element']}",
        f"  records: {s['records']}",
    ]
    if s.get("job"):
        lines.insert(1, f"  job:     {s['job']} (recast job show {s['job']})")
    for e in s["errors"]:
        lines.append(f"  frame {e['frame']} failed: {e['error']}")
    q = s.get("qc")
    if q:
        flagged = ", ".join(str(f) for f in q["flagged"]) or "none"
        lines += [
            f"  QC:      {q['pass']} pass, {q['warn']} warn, {q['fail']} fail; flagged frames: {flagged}",
            f"  report:  {q['report']}",
            f"  pdf:     {q['pdf']}",
            f"  movie:   {q['movie']}",
        ]
    if s["identity"]:
        lines.append(
            f"  identity (dlib cosine distance, lower = more alike; same person below {s['same_person_threshold']:.2f}):"
        )
        for row in s["identity"]:
            lines.append(
                f"    frame {row['frame']}: comp->actor {row['comp_to_actor']:.3f}   "
                f"comp->original plate face {row['comp_to_plate']:.3f}"
            )
    return "\n".join(lines)


def run_demo(opts: DemoOptions = DemoOptions(), check_identity: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """The whole demo; ``progress`` shows the job's frames (the CLI's terminal bar)."""
    out = Path(opts.out).resolve()
    prepare_folder(out)
    actor = make_actor(out)
    plate = make_plate(out, opts)
    # the warp backend's own matte (inset outline, the plate's open mouth kept) gives the
    # cleanest edge; the default union with the landmark hull also pastes its hair fringe
    settings = {"selection": "reference", "reference": reference_for(plate), "mask_source": "auto"}
    result = run_job(out, plate.pattern, actor, settings, identity=check_identity, progress=progress)
    result.qc = run_qc(result, identity=check_identity)
    if check_identity:
        result.identity = identity_check(result)
    return summary(result)
