"""``recast models fetch lpips``: put LPIPS's AlexNet trunk into the torch hub cache.

Run by hand on a machine with internet (never by tests or jobs). Downloads
torchvision's ImageNet AlexNet checkpoint (or copies ``--from FILE`` on an
offline machine) into ``$TORCH_HOME/hub/checkpoints/`` after checking its
full sha256 against the pinned digest (the file name carries only its first
8 hex digits).
"""

from __future__ import annotations

import argparse
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from recast.pipeline.atomic import atomic_path
from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import QCError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", help="third-party model files QC needs", parents=[common])
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    f = msub.add_parser("fetch", help="download and sha256-check a model file", parents=[common])
    f.add_argument("name", choices=("lpips",), help="lpips: the AlexNet trunk LPIPS needs")
    f.add_argument("--from", dest="source", type=Path, metavar="FILE", help="install from a local copy instead of downloading")
    f.add_argument("--force", action="store_true", help="replace an installed file")
    f.set_defaults(func=_fetch)


def install_trunk(source: Path | None, force: bool = False, timeout_s: float = 120.0) -> Path:
    """Download (or copy ``source``) to the torch hub cache after a sha256 check; returns the path."""
    from recast.qc.lpips_metric import ALEXNET_SHA256, ALEXNET_URL, sha256_file, trunk_path

    dest = trunk_path()
    if dest.is_file() and not force:
        if sha256_file(dest) == ALEXNET_SHA256:
            return dest
        raise QCError(f"{dest}: installed file fails its sha256 check (use --force to replace it)")
    if source is not None and not source.is_file():
        raise QCError(f"{source}: file not found")
    with atomic_path(dest) as tmp:
        if source is not None:
            shutil.copyfile(source, tmp)
        else:
            try:
                with urllib.request.urlopen(ALEXNET_URL, timeout=timeout_s) as resp, open(tmp, "wb") as fh:
                    shutil.copyfileobj(resp, fh)
            except (urllib.error.URLError, OSError) as exc:
                raise QCError(f"{ALEXNET_URL}: download failed ({getattr(exc, 'reason', exc)})") from None
        digest = sha256_file(tmp)
        if digest != ALEXNET_SHA256:
            raise QCError(f"{source or ALEXNET_URL}: sha256 {digest} does not match the expected {ALEXNET_SHA256}; not installed")
    return dest


def _fetch(args: argparse.Namespace, ctx: CliContext) -> int:
    path = install_trunk(args.source, args.force)
    ctx.emit({"name": args.name, "path": str(path)}, f"lpips: AlexNet trunk installed at {path}")
    return 0
