"""sha256 of files and of every file under an actor folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from recast.pipeline.atomic import is_temp_name

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of ``path``'s bytes, read in 1 MiB chunks (models may be GBs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def walk_files(root: Path, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Relative POSIX paths of every regular file under ``root``, sorted.

    ``exclude`` holds relative paths to leave out (``manifest.json``); temp files
    left by a killed atomic write are skipped.
    """
    out: list[str] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink() or is_temp_name(p.name):
            continue
        rel = p.relative_to(root).as_posix()
        if rel not in exclude:
            out.append(rel)
    return out


def file_entry(root: Path, rel: str) -> dict[str, object]:
    p = root / rel
    return {"path": rel, "sha256": sha256_file(p), "size": p.stat().st_size}
