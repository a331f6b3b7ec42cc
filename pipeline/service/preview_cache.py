"""What the service's preview keeps between requests, beyond loaded models: bounded and
checked against the files it came from, so a warm preview gives what a cold one would.

* :class:`ActorCache`: actors as ``load_actor`` returns them (consent and every file's
  sha256 verified), kept per actor folder while no file in it changes (size, mtime,
  ctime or inode of every file): a preview does not hash the actor's model files again.
* :class:`MemoryHistory`: the engine's ``StreamHistory`` (``pipeline.jobs.history`` keeps
  it beside a take) in memory: what detection and tracking produced for a plate frame
  in its history window (tracked faces, the tracker after them), keyed by everything
  that changes detection (``history_key``) and checked against the plate frame's file.
  A preview of a frame seen before (the artist changing blend or colour settings and
  asking again) skips the tile scan, landmarks and embeddings and gives the same
  pixels, exactly as ``recast reprocess`` reuses a take's stored tracking. The entries
  hold identity embeddings: they live in this process's memory only and go with it.
* :class:`PlateCache`: decoded plate frames while their file is unchanged (a preview asked
  again reads no EXR; the comp's untouched rows are still copied from the file itself).
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from recast.models.base import ActorModel

if TYPE_CHECKING:
    from recast.pipeline.plateio import Plate

V = TypeVar("V")
Stamp = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def file_stamp(path: Path) -> Stamp | None:
    """What changes when a file is replaced or rewritten (None: it is not there)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


class Lru(Generic[V]):
    """A dict that keeps at most ``limit`` entries and ``max_bytes`` of them (by ``size``), dropping the
    least recently used."""

    def __init__(self, limit: int, max_bytes: int | None = None, size: Callable[[V], int] | None = None) -> None:
        self.limit, self.max_bytes, self._size = limit, max_bytes, size
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self.pop(key)
        self._data[key] = value
        self.bytes += self._size(value) if self._size else 0
        while self._data and (len(self._data) > self.limit or (self.max_bytes is not None and self.bytes > self.max_bytes)):
            self.pop(next(iter(self._data)))

    def pop(self, key: Hashable) -> None:
        old = self._data.pop(key, None)
        if old is not None and self._size:
            self.bytes -= self._size(old)

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0


def folder_stamps(root: Path) -> tuple[tuple[str, Stamp], ...]:
    """Every file under ``root`` with its stamp, sorted (a file added, removed or changed differs)."""
    out: list[tuple[str, Stamp]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            stamp = file_stamp(path)
            if stamp is not None:
                out.append((str(path.relative_to(root)), stamp))
    return tuple(out)


class ActorCache:
    """Verified actors, kept while their folder's files are unchanged (at most ``limit`` actors)."""

    def __init__(self, load: Callable[[str], ActorModel], folder: Callable[[str], Path], limit: int = 8) -> None:
        self._load, self._folder = load, folder
        self._cache: Lru[tuple[tuple[tuple[str, Stamp], ...], ActorModel]] = Lru(limit)

    def get(self, name: str) -> ActorModel:
        root = self._folder(name).resolve()
        stamps = folder_stamps(root)  # taken before loading: a change during the load shows next time
        held = self._cache.get(root)
        if held is not None and held[0] == stamps:
            return held[1]
        actor = self._load(name)  # refuses a missing consent or a changed file, as a cold preview does
        self._cache.put(root, (stamps, actor))
        return actor


class PlateCache:
    """Decoded plate frames (``read_plate``), kept while their file is unchanged, each handed
    out as a copy of its own (the engine pastes faces into the pixels it is given)."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._store: Lru[tuple[Stamp, Plate]] = Lru(64, max_bytes, lambda e: e[1].pixels.nbytes)

    def __len__(self) -> int:
        return len(self._store)

    def read(self, path: Path) -> Plate:
        from recast.pipeline.plateio import read_plate

        key = str(path)
        stamp = file_stamp(path)
        held = self._store.get(key)
        if held is not None and stamp is not None and held[0] == stamp:
            return _own_copy(held[1])
        plate = read_plate(path)
        src = plate.source  # set only when the file was the same before and after decoding
        same = src is not None and stamp is not None and (src.size, src.mtime_ns, src.ino) == (stamp[0], stamp[1], stamp[3])
        if not same or plate.pixels.nbytes > self.max_bytes // 2:
            self._store.pop(key)
            return plate
        self._store.put(key, (stamp, plate))
        return _own_copy(plate)


def _own_copy(plate: Plate) -> Plate:
    import OpenImageIO as oiio

    return dataclasses.replace(plate, pixels=plate.pixels.copy(), spec=oiio.ImageSpec(plate.spec))


@dataclass(frozen=True)
class _Entry:
    stamps: tuple[Stamp | None, ...]
    blob: bytes


class MemoryHistory:
    """``Engine``'s ``StreamHistory`` for one detection key (``bind``), in a shared bounded store."""

    def __init__(self, max_bytes: int = 128 * 1024 * 1024, limit: int = 4096) -> None:
        self._store: Lru[_Entry] = Lru(limit, max_bytes, lambda e: len(e.blob) + 256)
        self._key = ""

    def bind(self, key: str) -> MemoryHistory:
        """This store seen through detection key ``key`` (``pipeline.jobs.history.history_key``)."""
        view = MemoryHistory.__new__(MemoryHistory)
        view._store, view._key = self._store, key
        return view

    @property
    def bytes(self) -> int:
        return self._store.bytes

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()

    def get(self, start: int, frame: int, plate: Path) -> bytes | None:
        return self._get(("frame", start, frame, str(plate)), [plate])

    def put(self, start: int, frame: int, plate: Path, blob: bytes) -> None:
        self._put(("frame", start, frame, str(plate)), [plate], blob)

    def get_named(self, name: str, files: list[Path]) -> bytes | None:
        return self._get(("named", name, tuple(str(p) for p in files)), files)

    def put_named(self, name: str, files: list[Path], blob: bytes) -> None:
        self._put(("named", name, tuple(str(p) for p in files)), files, blob)

    def get_states(self, key: str, start: int, frame: int) -> list[bytes]:
        """The whole temporal state the engine stored after ``frame``, if any (its blob says which
        plate frames it went through and its reference context; the engine checks them)."""
        blob = self._get(("state", key, start, frame), [])
        return [] if blob is None else [blob]

    def put_state(self, key: str, start: int, frame: int, blob: bytes) -> None:
        self._put(("state", key, start, frame), [], blob)

    def _get(self, key: tuple[object, ...], files: list[Path]) -> bytes | None:
        entry = self._store.get((self._key, *key))
        if entry is None:
            return None
        stamps = tuple(file_stamp(p) for p in files)
        if None in stamps or stamps != entry.stamps:
            self._store.pop((self._key, *key))  # the file changed (or went): detected again
            return None
        return entry.blob

    def _put(self, key: tuple[object, ...], files: list[Path], blob: bytes) -> None:
        stamps = tuple(file_stamp(p) for p in files)
        if None not in stamps:
            self._store.put((self._key, *key), _Entry(stamps, blob))


__all__ = ["ActorCache", "Lru", "MemoryHistory", "PlateCache", "file_stamp", "folder_stamps"]
