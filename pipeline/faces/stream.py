"""Per-sequence face analysis: analyser + tracker, with embeddings once per track segment.

``FaceStream.process(frame, image)`` is what the engine and ``recast faces``
call for each frame in order. Detection runs without embeddings; a face is
embedded only when it cannot be linked to a live track by geometry alone (a
new track, a re-appearance, an ambiguous overlap) or every ``embed_every``
frames when asked. Between full-frame scans (every ``full_scan_every`` frames
and at cuts) detection can run only in windows around the tracks' predicted
boxes, at higher resolution than the full-frame downscale.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recast.pipeline.faces.base import FaceAnalyser
from recast.pipeline.faces.imageprep import Shrunk, ToDisplay, as_rgb
from recast.pipeline.faces.options import TrackerOptions
from recast.pipeline.faces.tracking import FaceTracker
from recast.pipeline.types import Face


@dataclass(frozen=True)
class StreamOptions:
    embed_every: int = 0  # 0 = once per track segment; N = re-embed every N frames
    full_scan_every: int = 1  # 1 = full-frame detection every frame; N = windows in between
    # the small-face pyramid's tiles run on every Nth frame (and at cuts); full scans in
    # between detect on the whole-frame downscale plus windows around the live tracks
    tile_scan_every: int = 8
    tracker: TrackerOptions = field(default_factory=TrackerOptions)


class FaceStream:
    def __init__(self, analyser: FaceAnalyser, options: StreamOptions | None = None) -> None:
        self.analyser = analyser
        self.options = options or StreamOptions()
        self.tracker = FaceTracker(self.options.tracker)
        self._count = 0
        self._last_embed: dict[int, int] = {}
        self.last_scan: str | None = None  # how the last frame was searched: "full" or "windows"
        self.last_tiles = 0  # small-face pyramid tiles the last frame ran (0: downscale/windows only)
        self._seeds: dict[int, list[Face]] = {}  # frame -> its full tiled scan, made elsewhere (see seed)

    def snapshot(self) -> Any:
        """The per-sequence state (tracker with its smoothing filters, scan counter, embed
        ages), copied: :meth:`restore` puts it back so a retried frame is seen once."""
        return copy.deepcopy((self.tracker, self._count, self._last_embed, self.last_scan))

    def restore(self, snap: Any) -> None:
        tracker, self._count, last_embed, self.last_scan = copy.deepcopy(snap)
        self.tracker, self._last_embed = tracker, last_embed

    def seed(self, frame: int, faces: list[Face]) -> None:
        """Detections of ``frame`` that this stream's analyser made on the same pixels with the
        same display map in a full tiled scan without embeddings (the engine's reference-frame
        scan at set-up): when :meth:`process` would run that very scan on ``frame`` it takes a
        copy of these instead. Not per-sequence state: a pure function of the frame, kept."""
        self._seeds[frame] = copy.deepcopy(faces)

    def process(self, frame: int, image: np.ndarray, *, to_display: ToDisplay | None = None, shrunk: Shrunk | None = None) -> list[Face]:
        """The tracked faces of ``frame``; ``shrunk``: the frame's detection resample made ahead
        (:func:`~recast.pipeline.faces.imageprep.shrink` of ``image``), else made here."""
        rgb = as_rgb(image)
        o = self.options
        full = o.full_scan_every <= 1 or self._count % o.full_scan_every == 0 or not self.tracker.active_tracks
        tiles = o.tile_scan_every <= 1 or self._count % o.tile_scan_every == 0
        self._count += 1
        # one downscale per frame: full-frame detection, cut detection and optical flow share it
        small = self.analyser.detection_image(rgb, to_display=to_display, shrunk=shrunk)
        px = small.pixels  # grey = the channel mean, truncated (an integer sum: 15x cheaper than mean)
        gray = ((px[..., 0].astype(np.uint16) + px[..., 1] + px[..., 2]) // 3).astype(np.uint8)
        if self.tracker.check_cut(frame, gray):
            full = tiles = True  # a new shot: scan the whole frame, small faces too
        regions = self.tracker.predicted_boxes(frame)
        if full and (tiles or not regions):
            self.last_scan = "full"
            self.last_tiles = len(self.analyser.detection_tiles(rgb.shape[:2])) if tiles else 0
            seeded = self._seeds.get(frame) if tiles else None
            if seeded is not None:
                faces = copy.deepcopy(seeded)
            else:
                faces = self.analyser.analyse(
                    rgb, to_display=to_display, embed=False, downscaled=small, tiles=tiles, trusted=regions
                )
        elif full:
            self.last_scan = "full"  # the whole-frame downscale + windows around the tracks
            self.last_tiles = 0
            faces = self.analyser.analyse(
                rgb, to_display=to_display, embed=False, downscaled=small, regions=regions, whole=True
            )
        else:
            self.last_scan = "windows"
            self.last_tiles = 0
            faces = self.analyser.analyse(rgb, to_display=to_display, embed=False, regions=regions)
        for f in faces:
            track = self.tracker.would_match(frame, f)
            due = (
                track is None
                or track.embedding is None
                or (o.embed_every > 0 and frame - self._last_embed.get(track.track_id, frame) >= o.embed_every)
            )
            if due:
                f.embedding = self.analyser.embed(rgb, f, to_display=to_display)
                f.embedding_kind = self.analyser.embedding_kind
                f.extra["embedded"] = True
        out = self.tracker.update(frame, faces, gray, gray_scale=small.scale)
        for f in out:
            if f.extra.get("embedded") and f.track_id is not None:
                self._last_embed[f.track_id] = frame
        live = {t.track_id for t in self.tracker.active_tracks}
        self._last_embed = {k: v for k, v in self._last_embed.items() if k in live}
        return out

