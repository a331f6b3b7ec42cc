"""Atomic file writes: temp file in the same directory, fsync, rename.

A killed write never leaves a half file under the final name; temp files are
named ``.<name>.tmp-<pid>-<rand>`` so they are easy to recognise and sweep.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_MARK = ".tmp-"


def temp_path_for(final: Path) -> Path:
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{final.suffix}")


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and TMP_MARK in name


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to ``final``; on success fsync it and rename over ``final``.

    The temp keeps the final suffix so format-by-extension writers (OIIO) work.
    """
    final_p = Path(final)
    final_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final_p)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final_p)
        fsync_dir(final_p.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(final: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def write_cache_bytes(final: str | os.PathLike[str], data: bytes | list[bytes]) -> bool:
    """Write a cache entry: temp file + rename, no fsync (a cache entry lost to a crash is
    recomputed, and fsync per entry would cost more than the entry saves). Readers never
    see a half entry. A failed write is ignored and leaves no temp file; returns whether
    the entry was written. ``data`` may be several parts, written in order."""
    final_p = Path(final)
    tmp = temp_path_for(final_p)
    try:
        final_p.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            for part in [data] if isinstance(data, bytes) else data:
                fh.write(part)
        os.replace(tmp, final_p)
        return True
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False


def atomic_write_json(final: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_bytes(final, (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode())


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
