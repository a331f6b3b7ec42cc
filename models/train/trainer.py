"""The training run: set up (consent, work folder, data, model), loop, checkpoint, export.

Ctrl-C / SIGTERM ask the loop to stop after the current iteration; it then writes a
checkpoint and its preview and returns ``interrupted``. A second signal aborts at once.
A run killed outright loses at most ``save_every`` iterations: ``resume`` reloads the
newest checkpoint (weights, AdamW state, iteration, torch + numpy RNG, loss curve) and
continues the same sample stream.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recast.models.actor import actor_dir, check_name
from recast.models.consent import read_consent
from recast.models.hashing import sha256_file
from recast.models.train.augment import AugmentOptions, sample_batch
from recast.models.train.checkpoint import TrainState, checkpoint_name, latest_checkpoint, load_checkpoint, prune, read_meta, save_checkpoint
from recast.models.train.dataset import TrainData, prepare_data
from recast.models.train.export import export_dfm, register_actor
from recast.models.train.loss import face_loss
from recast.models.train.net import DFModel, NetConfig
from recast.models.train.options import DEFAULT_DIMS, DEFAULT_RESOLUTION, TrainOptions, WorkDir, default_workdir
from recast.models.train.preview import grid, write_png
from recast.pipeline import __version__
from recast.pipeline.color import ColorContext
from recast.pipeline.errors import ActorError, TrainError

Notify = Callable[[str], None]
LOSS_WINDOW = 50
PREVIEW_ROWS = 4


@dataclass
class TrainResult:
    status: str  # "done" | "interrupted"
    iteration: int
    workdir: Path
    checkpoint: Path | None
    preview: Path | None
    losses: dict[str, float]
    it_per_s: float
    actor: Any = None
    extraction: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "iteration": self.iteration,
            "workdir": str(self.workdir),
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "preview": None if self.preview is None else str(self.preview),
            "losses": self.losses,
            "it_per_s": round(self.it_per_s, 3),
            "actor": None if self.actor is None else {"name": self.actor.name, "root": str(self.actor.root), "model_sha256": self.actor.model_sha256},
            "extraction": self.extraction,
        }


class StopFlag:
    """Set by SIGINT/SIGTERM (main thread only); a second signal raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda: no CUDA device is available to PyTorch here (use --device cpu or auto)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _net_config(opts: TrainOptions, resumed: dict[str, Any] | None) -> NetConfig:
    if resumed is not None:
        cfg = NetConfig(**resumed["net"])
        if opts.resolution is not None and opts.resolution != cfg.resolution:
            raise TrainError(f"--resolution {opts.resolution}: the run being resumed trains at {cfg.resolution}")
        if opts.dims is not None and tuple(opts.dims) != (cfg.e_dims, cfg.ae_dims, cfg.d_dims, cfg.d_mask_dims):
            raise TrainError(f"--dims {','.join(map(str, opts.dims))}: the run being resumed uses {cfg.e_dims},{cfg.ae_dims},{cfg.d_dims},{cfg.d_mask_dims}")
        return cfg
    e, ae, d, m = opts.dims or DEFAULT_DIMS
    return NetConfig(opts.resolution or DEFAULT_RESOLUTION, e, ae, d, m)


def _prepare_workdir(opts: TrainOptions, work: WorkDir) -> Path | None:
    """The checkpoint to resume from (None for a fresh run); refuses to clobber a run by accident."""
    latest = latest_checkpoint(work.checkpoints)
    if opts.resume:
        if latest is None:
            raise TrainError(f"{opts.name}: nothing to resume: no checkpoint under {work.checkpoints}")
        return latest
    if latest is not None:
        if not opts.force:
            it = read_meta(latest)["iteration"]
            raise TrainError(f"{opts.name}: {work.root} holds a run at iteration {it}; pass --resume to continue it or --force to start over")
        for sub in (work.checkpoints, work.faces, work.export):
            shutil.rmtree(sub, ignore_errors=True)
        work.preview.unlink(missing_ok=True)
    return None


def make_batch(data: TrainData, rng: np.random.Generator, n: int, aug: AugmentOptions, device: torch.device) -> tuple[torch.Tensor, ...]:
    s = sample_batch(data.src, rng, n, aug)
    d = sample_batch(data.dst, rng, n, aug)
    arrays = (s.inputs, s.targets, s.masks, s.parts, d.inputs, d.targets, d.masks, d.parts)
    return tuple(torch.from_numpy(a).to(device, non_blocking=True) for a in arrays)


def train_step(model: DFModel, optim: torch.optim.Optimizer, scaler: Any, tensors: tuple[torch.Tensor, ...]) -> tuple[float, float]:
    """One AdamW step on a (src, dst) batch; mixed precision when a CUDA scaler is given. Returns the two losses."""
    ts, tt, tm, tp, ds, dt, dm, dp = tensors
    with torch.autocast(device_type=ts.device.type, dtype=torch.float16, enabled=scaler is not None):
        out = model(ts, ds)
    ps, pms, pd, pmd = (o.float() for o in out)  # losses in float32
    loss_src = face_loss(ps, pms, tt, tm, tp)
    loss_dst = face_loss(pd, pmd, dt, dm, dp)
    loss = loss_src + loss_dst
    optim.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
    else:
        loss.backward()
        optim.step()
    return float(loss_src.detach()), float(loss_dst.detach())


def render_preview(model: DFModel, data: TrainData, device: torch.device) -> np.ndarray:
    """uint8 RGB grid: dst | swapped | dst recon | src | src recon | swap mask (first faces, no augmentation)."""
    n = min(PREVIEW_ROWS, len(data.dst))
    spread = lambda count: np.linspace(0, count - 1, n).round().astype(int)  # noqa: E731 - rows across the whole set
    dst = torch.from_numpy(data.dst.images[spread(len(data.dst))].astype(np.float32) / 255.0).permute(0, 3, 1, 2).to(device)
    src = torch.from_numpy(data.src.images[spread(len(data.src))].astype(np.float32) / 255.0).permute(0, 3, 1, 2).to(device)
    model.eval()
    with torch.no_grad():
        z_dst, z_src = model.latent(dst), model.latent(src)
        swapped, swap_mask = model.decoder_src(z_dst)
        dst_rec, _ = model.decoder_dst(z_dst)
        src_rec, _ = model.decoder_src(z_src)
    model.train()
    nhwc = lambda t: t.float().permute(0, 2, 3, 1).cpu().numpy()  # noqa: E731
    cols = [nhwc(dst), nhwc(swapped), nhwc(dst_rec), nhwc(src), nhwc(src_rec), np.repeat(nhwc(swap_mask), 3, axis=3)]
    return grid(cols)


def _losses(history: np.ndarray) -> dict[str, float]:
    if len(history) == 0:
        return {"src": float("nan"), "dst": float("nan"), "window": 0}
    tail = history[-LOSS_WINDOW:]
    return {"src": round(float(tail[:, 0].mean()), 5), "dst": round(float(tail[:, 1].mean()), 5), "window": int(len(tail))}


def run_training(opts: TrainOptions, notify: Notify, color: ColorContext | None = None) -> TrainResult:
    threads = torch.get_num_threads()
    try:
        return _run(opts, notify, color)
    finally:
        torch.set_num_threads(threads)  # --threads applies to this run only


def _run(opts: TrainOptions, notify: Notify, color: ColorContext | None) -> TrainResult:
    opts.check()
    check_name(opts.name)
    consent = read_consent(Path(opts.consent), opts.consent_who, opts.consent_scope, opts.consent_when)  # no consent, no training
    if opts.export and actor_dir(opts.name).exists() and not opts.force:
        raise ActorError(f"actor {opts.name!r} already exists at {actor_dir(opts.name)}; pass --force to replace it when training ends")
    work = WorkDir(Path(opts.workdir) if opts.workdir else default_workdir(opts.name))
    resume_from = _prepare_workdir(opts, work)
    resumed_cfg = read_meta(resume_from)["config"] if resume_from else None
    net_cfg = _net_config(opts, resumed_cfg)
    device = pick_device(opts.device)
    work.root.mkdir(parents=True, exist_ok=True)
    data = prepare_data(opts, work, net_cfg.resolution, color or ColorContext(), notify)

    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    torch.manual_seed(opts.seed)
    model = DFModel(net_cfg).to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, betas=(0.5, 0.999), weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None  # mixed precision on CUDA only
    batch = int(resumed_cfg["batch"]) if resumed_cfg else opts.batch
    config = {"net": net_cfg.to_json(), "batch": batch, "lr": opts.lr, "seed": opts.seed, "face_type": data.record["face_type"], "data_key": data.record["key"], "recast_version": __version__}
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optim, scaler, device)
        notify(f"resuming {opts.name!r} from {resume_from.name} (iteration {state.iteration})")
        if batch != opts.batch:
            notify(f"batch {batch} kept from the run being resumed (--batch {opts.batch} ignored)")
    else:
        state = TrainState(0, np.zeros((0, 2), np.float32), np.random.default_rng(opts.seed).bit_generator.state)
    rng = np.random.default_rng()
    rng.bit_generator.state = state.numpy_rng
    aug = AugmentOptions()
    history = list(map(tuple, state.history))
    it, start_it, t0 = state.iteration, state.iteration, time.perf_counter()
    last_ckpt: Path | None = resume_from

    def checkpoint() -> Path:
        path = work.checkpoints / checkpoint_name(it)
        st = TrainState(it, np.asarray(history, np.float32).reshape(-1, 2), rng.bit_generator.state)
        png = render_preview(model, data, device)
        write_png(path.with_suffix(".png"), png)  # before the checkpoint: a checkpoint never lacks its preview
        write_png(work.preview, png)
        save_checkpoint(path, model, optim, scaler, st, config)
        prune(work.checkpoints, opts.keep)
        return path

    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.iterations, initial=it, desc=f"train {opts.name}", unit="it", dynamic_ncols=True)
    status = "done"
    with StopFlag().installed() as stop:
        while it < opts.iterations:
            if stop.requested:
                status = "interrupted"
                break
            loss_src, loss_dst = train_step(model, optim, scaler, make_batch(data, rng, batch, aug, device))
            it += 1
            history.append((loss_src, loss_dst))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(src=f"{history[-1][0]:.4f}", dst=f"{history[-1][1]:.4f}")
            if it % opts.save_every == 0:
                last_ckpt = checkpoint()
            elif it % opts.preview_every == 0:
                write_png(work.preview, render_preview(model, data, device))
        if bar is not None:
            bar.close()
        if last_ckpt is None or read_meta(last_ckpt)["iteration"] != it:
            last_ckpt = checkpoint()
    elapsed = time.perf_counter() - t0
    rate = (it - start_it) / elapsed if elapsed > 0 and it > start_it else 0.0
    hist = np.asarray(history, np.float32).reshape(-1, 2)
    result = TrainResult(status, it, work.root, last_ckpt, work.preview, _losses(hist), rate, extraction={k: data.record[k]["report"] for k in ("src", "dst")})
    if status != "done" or not opts.export:
        return result
    model_file = export_dfm(model, work.export / f"{opts.name}.dfm")
    training = {
        "trainer": "recast actor train",
        "recast_version": __version__,
        "resolution": net_cfg.resolution,
        "face_type": data.record["face_type"],
        "net": net_cfg.to_json(),
        "iterations": it,
        "batch": batch,
        "lr": opts.lr,
        "device": device.type,
        "final_losses": result.losses,
        "it_per_s_last_session": round(rate, 3),
        "checkpoint": {"file": last_ckpt.name, "sha256": sha256_file(last_ckpt)},
        "data": {k: {kk: data.record[k][kk] for kk in ("spec", "kind", "files", "faces_sha256", "report")} for k in ("src", "dst")},
        "analyser": data.record["analyser"],
        "consent": consent.to_json(),
    }
    who = consent.who
    options = {
        "force": opts.force,
        "consent_who": opts.consent_who,
        "consent_scope": opts.consent_scope,
        "consent_when": opts.consent_when,
        "face_type": data.record["face_type"],
        "analyser": data.record["analyser"],
        "licence": f"trained by recast actor train from the consented footage of {who} ({consent.id}); use within that consent's scope",
        "training": training,
    }
    result.actor = register_actor(opts.name, model_file, data.src_images, Path(opts.consent), options)
    return result
