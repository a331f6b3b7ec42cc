"""``recast actor train``: fine-tune a per-actor model and register it as a ``dfm`` actor."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import ConsentError, TrainError

INTERRUPTED_EXIT = 130


def register(asub: Any, common: argparse.ArgumentParser) -> None:
    t = asub.add_parser(
        "train",
        help="train a per-actor model (DeepFaceLab-style autoencoder) from footage + the shot's plates",
        parents=[common],
        description="Needs the train extra: pip install 'recast[train]'. CPU training is for smoke tests and tiny previews.",
    )
    t.add_argument("name")
    t.add_argument("--actor-footage", required=True, metavar="PATTERN|DIR|MOVIE", help="the actor: a movie, an image sequence pattern, or a folder of photos")
    t.add_argument("--plate", required=True, metavar="PATTERN|DIR", help="the shot's plates (dst faces)")
    t.add_argument("--consent", type=Path, metavar="FILE", help="signed consent record (required: no consent, no training)")
    t.add_argument("--consent-who", metavar="WHO")
    t.add_argument("--consent-scope", metavar="TEXT")
    t.add_argument("--consent-when", metavar="DATE")
    t.add_argument("--resolution", type=int, metavar="PX", help="face resolution, a multiple of 16 (default 128)")
    t.add_argument("--iterations", type=int, default=20000, metavar="N", help="train until this iteration (default 20000)")
    t.add_argument("--batch", type=int, default=8, metavar="N", help="faces per identity per iteration (default 8)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--resume", action="store_true", help="continue the run from its newest checkpoint")
    t.add_argument("--force", action="store_true", help="start over (discard the run's checkpoints) and replace an existing actor")
    t.add_argument("--preview-every", type=int, default=250, metavar="N", help="write preview.png every N iterations (default 250)")
    t.add_argument("--save-every", type=int, default=1000, metavar="N", help="checkpoint every N iterations (default 1000)")
    t.add_argument("--keep", type=int, default=3, metavar="N", help="checkpoints kept, each with its preview (default 3)")
    t.add_argument("--dims", metavar="E,AE,D,M", help="encoder, bottleneck, decoder, mask widths (default 64,256,64,22)")
    t.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate (default 2e-4)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, metavar="N", help="CPU threads for PyTorch (default: its own choice; 1 is fastest on a busy machine)")
    t.add_argument("--footage-frames", metavar="FRAMES", help="frames of the footage to use, e.g. 1-40 (movies count from 1)")
    t.add_argument("--plate-frames", metavar="FRAMES", help="plate frames to use, e.g. 1001-1040")
    t.add_argument("--colorspace", metavar="NAME", help="plate colourspace (else metadata, else EXR = scene-linear), as for swap")
    t.add_argument("--analyser", metavar="NAME", help="face analyser (dlib default, insightface)")
    t.add_argument("--min-face", type=float, metavar="PX", help="reject faces whose box is smaller (default resolution/2)")
    t.add_argument("--max-yaw", type=float, default=45.0, metavar="DEG", help="reject faces turned further (default 45)")
    t.add_argument("--min-sharpness", type=float, default=150.0, metavar="V", help="reject faces whose Laplacian variance (8-bit, 128-px crop) is lower (default 150)")
    t.add_argument("--workdir", type=Path, metavar="DIR", help="run folder (default $RECAST_HOME/train/NAME)")
    t.add_argument("--no-export", action="store_true", help="train only; do not export or register the actor")
    t.set_defaults(func=_train)


def _dims(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4:
        raise TrainError(f"--dims {text!r}: give four integers E,AE,D,M such as 64,256,64,22")
    return vals  # type: ignore[return-value]


def _train(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.models.consent import HOW_TO_ADD
    from recast.models.train import require_torch

    require_torch()
    if args.consent is None:
        raise ConsentError(f"actor {args.name!r}: no consent record given (no consent, no training); {HOW_TO_ADD}")
    from recast.models.train.options import TrainOptions
    from recast.models.train.trainer import run_training
    from recast.pipeline.sequence import parse_frames

    opts = TrainOptions(
        name=args.name,
        footage=args.actor_footage,
        plate=args.plate,
        consent=args.consent,
        consent_who=args.consent_who,
        consent_scope=args.consent_scope,
        consent_when=args.consent_when,
        resolution=args.resolution,
        dims=_dims(args.dims),
        iterations=args.iterations,
        batch=args.batch,
        device=args.device,
        resume=args.resume,
        force=args.force,
        preview_every=args.preview_every,
        save_every=args.save_every,
        keep=args.keep,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        footage_frames=parse_frames(args.footage_frames) if args.footage_frames else None,
        plate_frames=parse_frames(args.plate_frames) if args.plate_frames else None,
        colorspace=args.colorspace,
        analyser=args.analyser,
        min_face_px=args.min_face,
        max_yaw=args.max_yaw,
        min_sharpness=args.min_sharpness,
        workdir=args.workdir,
        export=not args.no_export,
        progress=ctx.show_progress,
    )
    result = run_training(opts, ctx.info)
    data = result.to_json()
    losses = f"loss src {result.losses['src']}, dst {result.losses['dst']} (mean of the last {result.losses['window']})"
    if result.status == "interrupted":
        ctx.emit(data, f"interrupted at iteration {result.iteration}; checkpoint {result.checkpoint}; continue with --resume ({losses})")
        return INTERRUPTED_EXIT
    where = f"; actor {result.actor.name!r} registered at {result.actor.root}" if result.actor is not None else ""
    ctx.emit(data, f"trained {args.name!r} to iteration {result.iteration} at {result.it_per_s:.2f} it/s; {losses}; preview {result.preview}{where}")
    return 0
