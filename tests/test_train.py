"""``recast actor train`` on small real face data, CPU, 32 px, a few hundred iterations.

src: skimage's astronaut photograph (a folder of photos). dst: Megamind.avi frames as a
scene-linear EXR plate (RECAST_TEST_MEDIA). One module-scoped run set is shared:

- a reference run, uninterrupted, in-process (its loss curve must fall);
- the same run through the CLI in a subprocess, SIGKILLed after its second checkpoint,
  resumed (SIGINT mid-way: checkpoint on Ctrl-C), resumed again to the end: its loss
  curve must be the reference's, iteration for iteration, and it registers the actor;
- the exported .dfm then swaps faces through `recast swap` and a job.

Tiny widths (--dims 8,32,8,4) keep it to minutes; quality is not the point here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from _faces_fixtures import megamind_frames, write_exr_sequence
from _onnx_standins import astronaut_png, consent_json, insightface_image, write_png

try:
    import safetensors  # noqa: F401
    import torch
except ImportError:
    if os.environ.get("CI"):  # CI installs the train extra: never skip training there
        raise
    pytest.skip("actor training needs the train extra (pip install 'recast[train]')", allow_module_level=True)

from safetensors.torch import load_file  # noqa: E402

from recast.models.train.checkpoint import list_checkpoints, read_meta  # noqa: E402
from recast.models.train.extract import ExtractOptions, extract_faces  # noqa: E402
from recast.models.train.options import TrainOptions  # noqa: E402
from recast.models.train.sources import InputFrame  # noqa: E402
from recast.models.train.trainer import run_training  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RES, ITERS, EVERY = 32, 160, 40
COMMON = ["--resolution", str(RES), "--dims", "8,32,8,4", "--batch", "4", "--lr", "5e-4", "--threads", "1", "--iterations", str(ITERS), "--save-every", str(EVERY), "--preview-every", "20", "--keep", "10"]


@dataclass
class Runs:
    root: Path
    env: dict[str, str]
    photos: Path
    plate: str
    plate_files: list[Path]
    consent: Path
    reference: np.ndarray  # (ITERS, 2) loss history of the uninterrupted run
    work: Path  # the CLI run's work folder
    killed_at: int  # newest checkpoint when the subprocess was killed
    interrupted: dict
    final: dict


def _cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "recast", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen[str], path: Path, timeout: float = 400) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"training exited ({proc.returncode}) before {path.name}: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"no {path.name} after {timeout} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, test_media: Path) -> Runs:
    root = tmp_path_factory.mktemp("train")
    env = {**os.environ, "RECAST_HOME": str(root / "home"), "RECAST_MODELS": str(root / "models"), "PYTHONPATH": str(REPO)}
    photos = root / "photos"
    astronaut_png(photos / "astronaut.png")
    consent = consent_json(root / "consent.json", who="Eileen Collins (stand-in consent for tests)", scope="recast unit tests only")
    plate = write_exr_sequence(megamind_frames(test_media, 8, scale=0.5, start=20), root / "plate")
    plate_files = sorted((root / "plate").glob("*.exr"))

    ref = run_training(
        TrainOptions(
            name="reference", footage=str(photos), plate=plate, consent=consent, resolution=RES, dims=(8, 32, 8, 4), iterations=ITERS, batch=4,
            lr=5e-4, threads=1, save_every=ITERS, preview_every=ITERS, export=False, workdir=root / "ref",
        ),
        notify=lambda _: None,
    )
    reference = load_file(str(ref.checkpoint))["history"].numpy()

    work = root / "home" / "train" / "astro"
    args = ["actor", "train", "astro", "--actor-footage", str(photos), "--plate", plate, "--consent", str(consent), *COMMON]
    proc = _start(args, env)
    _wait_for(proc, work / "checkpoints" / f"iter_{2 * EVERY:08d}.safetensors")
    proc.send_signal(signal.SIGKILL)  # no chance to save: loses at most one interval
    proc.wait(timeout=60)
    killed_at = list_checkpoints(work / "checkpoints")[-1][0]

    proc = _start([*args, "--resume", "--json"], env)
    _wait_for(proc, work / "checkpoints" / f"iter_{3 * EVERY:08d}.safetensors")
    proc.send_signal(signal.SIGINT)  # Ctrl-C: checkpoint + preview at the current iteration
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    interrupted = json.loads(out)

    done = _cli([*args, "--resume", "--json"], env)
    assert done.returncode == 0, done.stderr
    return Runs(root, env, photos, plate, plate_files, consent, reference, work, killed_at, interrupted, json.loads(done.stdout))


def test_loss_falls_substantially(runs: Runs) -> None:
    total = runs.reference.sum(axis=1)
    assert runs.reference.shape == (ITERS, 2) and np.isfinite(total).all()
    first, last = total[:10].mean(), total[-20:].mean()
    assert last < 0.6 * first, f"loss {first:.3f} -> {last:.3f}: it should fall by well over a third in {ITERS} iterations"


def test_resume_after_kill_and_ctrl_c_continues_the_same_curve(runs: Runs) -> None:
    # SIGKILL after the 2nd checkpoint: the resume starts from a checkpoint at most one interval back
    assert runs.killed_at >= 2 * EVERY and runs.killed_at % EVERY == 0
    # Ctrl-C: a checkpoint at the iteration reached, with its preview, exit 130
    it = runs.interrupted["iteration"]
    assert runs.interrupted["status"] == "interrupted" and 3 * EVERY <= it < ITERS
    ck = Path(runs.interrupted["checkpoint"])
    assert ck.name == f"iter_{it:08d}.safetensors" and ck.with_suffix(".png").is_file()
    # the final run continued that count to the end and its loss curve IS the uninterrupted one
    assert runs.final["status"] == "done" and runs.final["iteration"] == ITERS
    final = Path(runs.final["checkpoint"])
    assert read_meta(final)["iteration"] == ITERS
    history = load_file(str(final))["history"].numpy()
    assert history.shape == (ITERS, 2)
    np.testing.assert_allclose(history, runs.reference, rtol=1e-5, atol=1e-6)
    # every checkpoint kept its own preview
    for _, path in list_checkpoints(runs.work / "checkpoints"):
        assert path.with_suffix(".png").is_file()


def test_export_has_the_dfm_signature_and_the_manifest_records_training(runs: Runs) -> None:
    import onnxruntime as ort

    from recast.models.hashing import sha256_file
    from recast.models.swappers.dfm import check_dfm

    actor_root = Path(runs.final["actor"]["root"])
    model = actor_root / "model.dfm"
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape, i.type) for i in sess.get_inputs()] == [("in_face:0", [1, RES, RES, 3], "tensor(float)")]
    outs = {o.name: o.shape for o in sess.get_outputs()}
    assert outs == {"out_face_mask": [1, RES, RES, 1], "out_celeb_face": [1, RES, RES, 3], "out_celeb_face_mask": [1, RES, RES, 1]}
    assert check_dfm(model).resolution == RES
    face = np.load(runs.work / "faces" / "dst.npz")["images"][:1].astype(np.float32)[..., ::-1] / 255.0
    fm, celeb, cm = sess.run(["out_face_mask", "out_celeb_face", "out_celeb_face_mask"], {"in_face:0": np.ascontiguousarray(face)})
    assert all(np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1 for x in (fm, celeb, cm))
    assert cm[0, RES // 2, RES // 2, 0] > 0.5 and cm[0, 0, 0, 0] < 0.5  # the mask head learnt the face, not the corner
    # the file computes what the trained network computes (BGR in and out, NHWC)
    from recast.models.train.net import DFModel, NetConfig

    net = DFModel(NetConfig(**read_meta(Path(runs.final["checkpoint"]))["config"]["net"])).eval()
    weights = load_file(runs.final["checkpoint"])
    net.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("model.")})
    with torch.no_grad():
        t_fm, t_celeb, t_cm = net.swap(torch.from_numpy(np.ascontiguousarray(face[..., ::-1])).permute(0, 3, 1, 2))
    np.testing.assert_allclose(celeb[..., ::-1], t_celeb.permute(0, 2, 3, 1).numpy(), atol=1e-4)
    np.testing.assert_allclose(fm, t_fm.permute(0, 2, 3, 1).numpy(), atol=1e-4)
    np.testing.assert_allclose(cm, t_cm.permute(0, 2, 3, 1).numpy(), atol=1e-4)

    manifest = json.loads((actor_root / "manifest.json").read_text())
    tr = manifest["training"]
    assert manifest["backend"] == "dfm" and manifest["dfm"]["resolution"] == RES and manifest["dfm"]["face_type"] == "whole_face"
    assert tr["iterations"] == ITERS and tr["resolution"] == RES
    assert set(tr["final_losses"]) >= {"src", "dst"} and tr["final_losses"]["src"] > 0
    assert [f["sha256"] for f in tr["data"]["src"]["files"]] == [sha256_file(runs.photos / "astronaut.png")]
    assert [f["sha256"] for f in tr["data"]["dst"]["files"]] == [sha256_file(p) for p in runs.plate_files]
    assert tr["data"]["dst"]["report"]["kept"] >= 3
    assert tr["consent"]["sha256"] == sha256_file(runs.consent) == manifest["consent"]["sha256"]
    assert "Eileen Collins" in tr["consent"]["who"]


def _check_comp(out: Path, plate_files: list[Path], frames: list[int]) -> int:
    """Each swapped frame: the face region differs from the plate; every pixel outside the
    matte (the element's alpha, zero outside its data window) is bit-for-bit the plate."""
    import OpenImageIO as oiio

    from recast.pipeline.plateio import read_plate

    swapped = 0
    by_frame = {int(p.name.split(".")[-2]): p for p in plate_files}
    for f in frames:
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        if not any(face["swapped"] for face in rec["faces"]):
            continue
        swapped += 1
        plate = read_plate(by_frame[f]).pixels
        comp = read_plate(Path(rec["comp"])).pixels
        elem = oiio.ImageBuf(rec["element"])
        roi = elem.roi
        alpha = np.zeros(plate.shape[:2], np.float32)
        alpha[roi.ybegin : roi.yend, roi.xbegin : roi.xend] = elem.get_pixels(oiio.FLOAT)[..., 3]
        outside = alpha == 0
        assert np.array_equal(comp[outside], plate[outside]), f"frame {f}: pixels outside the matte changed"
        inside = alpha > 0.5
        assert inside.sum() > 200
        diff = np.abs(comp[inside][:, :3] - plate[inside][:, :3]).mean()
        assert diff > 0.01, f"frame {f}: the face region barely changed ({diff:.4f})"
    return swapped


def test_trained_actor_swaps_through_the_cli_and_a_job(runs: Runs) -> None:
    with np.load(runs.work / "faces" / "dst.npz") as z:  # plate frames the analyser found a face in
        frames = sorted({int(o["frame"]) for o in json.loads(str(z["origins"]))})[:3]
    assert len(frames) == 3
    wanted = ",".join(map(str, frames))
    out = runs.root / "swap_out"
    proc = _cli(["swap", runs.plate, "--actor", "astro", "--frames", wanted, "--out", str(out), "--json"], runs.env)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((out / "records" / f"{frames[0]}.json").read_text())
    assert rec["backend"] == "dfm" and rec["model_sha256"] == runs.final["actor"]["model_sha256"]
    assert _check_comp(out, runs.plate_files, frames) >= 2

    job_out = runs.root / "job_out"
    spec = runs.root / "job.json"
    spec.write_text(json.dumps({"plate": runs.plate, "actor": "astro", "out": str(job_out), "shot": "mm010", "frames": wanted}))
    job = json.loads(_cli(["submit", str(spec), "--json"], runs.env).stdout)["job"]
    run = _cli(["job", "run", job, "--json"], runs.env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "done"
    assert _check_comp(job_out, runs.plate_files, frames) >= 2


def test_extraction_aligns_whole_faces_and_rejects_blurry_tiny_and_profile(tmp_path: Path) -> None:
    import cv2

    from recast.models.swappers._align import dfl_matrix, warp_in
    from recast.pipeline.faces import create_analyser

    astro = astronaut_png(tmp_path / "astronaut.png")
    from recast.models.images import load_rgb

    sharp = load_rgb(astro)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    small = cv2.resize(sharp, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)  # face ~73 px
    group = insightface_image("t1.jpg")  # six faces, one turned ~50 degrees
    frames = [(InputFrame(Path(n), i, False), im) for i, (n, im) in enumerate([("sharp", sharp), ("blurred", blurred), ("small", small), ("t1", group)])]
    analyser = create_analyser("dlib")
    faces, report = extract_faces(frames, analyser, ExtractOptions(160), "test")  # tiny: < 80 px
    assert report.frames == 4 and report.found == report.kept + sum(report.rejected.values())
    assert all(report.rejected[k] >= 1 for k in ("tiny", "profile", "blurry")), report.line()
    kept_from = [o["path"] for o in faces.origins]
    assert kept_from.count("sharp") == 1 and "blurred" not in kept_from and "small" not in kept_from
    assert kept_from.count("t1") == 5 and report.kept == len(faces) == 6  # t1: the profile face is dropped
    # the crops are the dfm backend's own whole-face alignment of the analyser's face
    face = max(analyser.analyse(sharp, embed=False), key=lambda f: f.size)
    m, used = dfl_matrix(face, 160, "whole_face")
    expected = (np.clip(warp_in(sharp, m, 160), 0, 1) * 255 + 0.5).astype(np.uint8)
    assert used == "dlib68" and np.array_equal(faces.images[0], expected)
    # hull masks cover the face, not the corners; eyes/mouth lie inside the hull
    for mask, parts in zip(faces.masks, faces.parts, strict=True):
        assert mask[80, 80] == 255 and mask[:4, :4].max() == 0 and mask[-4:, -4:].max() == 0
        assert 0.2 < (mask > 0).mean() < 0.8 and 0.02 < (parts > 0).mean() < 0.3
        assert ((parts > 0) & (mask == 0)).sum() < 0.05 * (parts > 0).sum()
    write_png(tmp_path / "faces.png", np.concatenate(list(faces.images), axis=1))


def test_no_torch_says_how_to_add_it_and_no_consent_means_no_training(tmp_path: Path) -> None:
    fake = tmp_path / "shadow" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named torch (hidden for this test)')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'shadow'}{os.pathsep}{REPO}"}
    proc = _cli(["actor", "train", "x", "--actor-footage", str(tmp_path), "--plate", str(tmp_path), "--consent", str(tmp_path / "c.json")], env)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("recast: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr
    assert "pip install 'recast[train]'" in errors[0]

    proc = _cli(["actor", "train", "x", "--actor-footage", str(tmp_path), "--plate", str(tmp_path)], {**os.environ, "PYTHONPATH": str(REPO)})
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("recast: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "no consent record" in errors[0]


def test_movie_footage_goes_through_the_movie_import(tmp_path: Path, test_media: Path) -> None:
    from recast.models.train.sources import iter_frames, resolve_footage
    from recast.pipeline.color import ColorContext
    from recast.pipeline.faces import create_analyser

    color = ColorContext()
    movie = test_media / "Megamind.avi"
    src = resolve_footage(str(movie), tmp_path, [24, 25], color)
    assert src.kind == "movie" and src.originals == [movie] and [f.frame for f in src.frames] == [24, 25]
    pngs = [f.path for f in src.frames]
    assert all(p.is_file() and p.suffix == ".png" for p in pngs)
    stamps = [p.stat().st_mtime_ns for p in pngs]
    again = resolve_footage(str(movie), tmp_path, [24, 25], color)  # same movie + frames: the import is reused
    assert [f.path for f in again.frames] == pngs and [p.stat().st_mtime_ns for p in pngs] == stamps
    faces, report = extract_faces(iter_frames(src, color), create_analyser("dlib"), ExtractOptions(64, largest_only=True), "src")
    assert report.frames == 2 and report.kept == len(faces) >= 1
    assert {o["frame"] for o in faces.origins} <= {24, 25}
