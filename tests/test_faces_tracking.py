"""Tracking, smoothing, propagation and cut handling on real faces."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest

from _faces_fixtures import astronaut, megamind_frames, t1, write_exr_sequence
from recast.pipeline.faces import TrackerOptions, create_analyser
from recast.pipeline.faces.smoothing import OneEuroFilter
from recast.pipeline.faces.stream import FaceStream, StreamOptions
from recast.pipeline.faces.tracking import FaceTracker
from recast.pipeline.types import Face


@pytest.fixture(scope="module")
def analyser():
    return create_analyser("dlib")


def _shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def _grey(img: np.ndarray) -> np.ndarray:
    return img.mean(axis=2)


def test_one_euro_is_steady_when_still_and_follows_fast_motion() -> None:
    rng = np.random.default_rng(0)
    still = OneEuroFilter(1.0, 5.0, 1.0)
    noisy = 100.0 + rng.normal(0, 1.0, (200, 3, 2))
    out = np.array([still(p, 1 / 24, 100.0) for p in noisy])
    assert out[50:].std() < 0.5 * noisy[50:].std()
    moving = OneEuroFilter(1.0, 5.0, 1.0)
    ramp = [np.full((3, 2), 10.0 * i) for i in range(60)]  # 10 px/frame = 2.4 face sizes/s
    out = np.array([moving(p, 1 / 24, 100.0) for p in ramp])
    lag = np.abs(out[-1] - ramp[-1]).max()
    assert lag < 10.0  # under one frame of motion behind


def test_rigid_one_euro_follows_a_moving_head_and_smooths_its_jitter() -> None:
    """A face-sized point set turning and sliding 6 px a frame, each point with 1 px of fit
    jitter: the rigid filter follows the move (the plain one trails it by several px) and
    still takes out most of the jitter."""
    rng = np.random.default_rng(3)
    shape = rng.uniform(-50.0, 50.0, (40, 2))
    truth, noisy = [], []
    for i in range(48):
        a = 0.004 * i
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        pts = shape @ rot.T + [200.0 + 6.0 * i, 150.0 + 2.0 * i]
        truth.append(pts)
        noisy.append(pts + rng.normal(0.0, 1.0, pts.shape))
    errors = {}
    for rigid in (False, True):
        filt = OneEuroFilter(1.0, 5.0, 1.0, rigid=rigid)
        out = np.array([filt(p, 1 / 24, 100.0) for p in noisy])
        errors[rigid] = (
            float(np.linalg.norm((out[12:] - np.array(truth[12:])).mean(axis=1), axis=1).mean()),  # lag (centroid)
            float(np.linalg.norm(out[12:] - np.array(truth[12:]), axis=2).mean()),  # per point
        )
    raw_error = float(np.linalg.norm(np.array(noisy[12:]) - np.array(truth[12:]), axis=2).mean())
    assert errors[False][0] > 2.0  # the plain filter trails the move
    assert errors[True][0] < 0.5
    assert errors[True][1] < 0.6 * raw_error  # and the jitter is filtered out all the same


def test_rigid_smoothing_keeps_a_still_face_steady(analyser) -> None:
    """The astronaut still, with fresh grain each frame: the landmarks' frame-to-frame jitter
    is filtered as much with the head's move followed as without."""
    rng = np.random.default_rng(1)
    base = cv2.resize(astronaut(), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frames = [np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1).astype(np.float32) for _ in range(24)]
    for rigid in (False, True):
        stream = FaceStream(analyser, StreamOptions(tracker=TrackerOptions(smooth_rigid=rigid)))
        faces = [max(stream.process(1001 + i, f), key=lambda z: z.size) for i, f in enumerate(frames)]
        raw = np.array([f.extra["raw_landmarks"] for f in faces[4:]])
        smooth = np.array([f.landmarks for f in faces[4:]])
        moves = [float(np.linalg.norm(x[1:] - x[:-1], axis=2).mean()) for x in (raw, smooth)]
        assert moves[1] < 0.4 * moves[0], (rigid, moves)


def test_ids_stable_and_landmarks_propagated_through_missed_frames(analyser) -> None:
    """Astronaut sliding 3 px/frame; the detector 'misses' frames 4-6 (we drop its faces)."""
    img = astronaut()
    frames = [_shifted(img, 3.0 * i, 1.0 * i) for i in range(10)]
    truth = [max(analyser.analyse(f, embed=False), key=lambda x: x.score) for f in frames]
    tracker = FaceTracker(TrackerOptions(max_gap=4))
    out = []
    for i, f in enumerate(frames):
        dets = [] if i in (4, 5, 6) else [copy.deepcopy(truth[i])]
        out.append(tracker.update(i, dets, _grey(f)))
    assert all(len(fs) == 1 for fs in out)
    assert {fs[0].track_id for fs in out} == {1}
    sources = [fs[0].source for fs in out]
    assert sources == ["detected"] * 4 + ["propagated"] * 3 + ["detected"] * 3
    for i in (4, 5, 6):
        prop = out[i][0]
        assert prop.score == 0.0 and prop.embedding_kind is None and prop.landmarks is not None
        # the frames are exact shifts of each other: the true points are frame 3's, moved
        expected = truth[3].landmarks + np.array([3.0, 1.0]) * (i - 3)
        err = np.abs(prop.extra["raw_landmarks"] - expected).max()
        assert err < 1.0, f"frame {i}: propagated landmarks off by {err:.2f}px"


def test_gap_longer_than_max_gap_stops_propagation_but_keeps_id(analyser) -> None:
    img = astronaut()
    face = analyser.analyse(img)[0]
    tracker = FaceTracker(TrackerOptions(max_gap=2, max_dropout=8))
    grey = _grey(img)
    seen = [tracker.update(i, [copy.deepcopy(face)] if i in (0, 1, 9) else [], grey) for i in range(10)]
    assert [len(s) for s in seen] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert seen[9][0].track_id == seen[0][0].track_id
    # beyond max_dropout the track is gone: the face comes back with a new id
    t2 = FaceTracker(TrackerOptions(max_gap=0, max_dropout=3))
    ids = [t2.update(i, [copy.deepcopy(face)] if i in (0, 8) else [], None) for i in range(9)]
    assert ids[8][0].track_id != ids[0][0].track_id


def test_cut_starts_new_tracks(analyser) -> None:
    a, b = astronaut(), t1()
    tracker = FaceTracker()
    fa = analyser.analyse(a, embed=False)
    fb = analyser.analyse(b, embed=False)
    ids_a = {f.track_id for i in range(3) for f in tracker.update(i, copy.deepcopy(fa), _grey(a))}
    out_b = [tracker.update(3 + i, copy.deepcopy(fb), _grey(b)) for i in range(3)]
    ids_b = {f.track_id for fs in out_b for f in fs}
    assert tracker.cuts == [3]
    assert ids_a.isdisjoint(ids_b) and len(ids_b) == len(fb) == 6
    assert all(f.extra["shot"] == 1 for fs in out_b for f in fs)


def test_different_person_at_same_place_is_a_new_track(analyser) -> None:
    """Same image statistics (no cut) but the embedding says it is someone else."""
    img = t1()
    faces = analyser.analyse(img)
    a, b = faces[0], faces[1]
    swapped = copy.deepcopy(b)
    swapped.box, swapped.kps5, swapped.landmarks = a.box.copy(), a.kps5.copy(), a.landmarks.copy()
    tracker = FaceTracker()
    grey = _grey(img)
    first = tracker.update(0, [copy.deepcopy(a)], grey)
    second = tracker.update(1, [swapped], grey)
    detected = [f for f in second if f.source == "detected"]
    assert len(detected) == 1 and detected[0].track_id != first[0].track_id
    # the first person's track lives on, propagated (same place, no detection of them)
    assert [f.track_id for f in second if f.source == "propagated"] == [first[0].track_id]


def test_memory_is_flat_over_long_sequences() -> None:
    """600 frames with faces coming and going: live state stays bounded."""
    tracker = FaceTracker(TrackerOptions(max_dropout=5))
    rng = np.random.default_rng(1)
    grey = np.full((90, 160), 128, np.uint8)
    grey[::7] = 30
    for i in range(600):
        faces = []
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 120), rng.uniform(0, 50)
            faces.append(Face(np.array([x, y, x + 30, y + 30]), 1.0, rng.uniform(0, 1, (5, 2)) * 30 + [x, y]))
        tracker.update(i, faces, grey)
        assert len(tracker.active_tracks) <= 3 * 6 + 3
    assert tracker.cuts == []


def test_megamind_exr_plates_one_id_per_shot_and_smoother_landmarks(test_media: Path, tmp_path: Path) -> None:
    """Megamind frames 80-119 (a cut at 98) as scene-linear EXRs, read back through the
    foundation API and shown to the analyser through the OCIO display transform."""
    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import read_plate
    from recast.pipeline.sequence import PlateSequence

    pattern = write_exr_sequence(megamind_frames(test_media, 40, scale=0.5, start=80), tmp_path / "plate", first=1080)
    seq = PlateSequence.open(pattern)
    assert seq.frames == list(range(1080, 1120))
    color = ColorContext()
    stream = FaceStream(create_analyser("dlib"))
    out: dict[int, list[Face]] = {}
    for frame in seq.frames:
        plate = read_plate(seq.path(frame))
        out[frame] = stream.process(frame, plate.rgb(), to_display=color.display_fn(color.plate_space(plate)))
    assert stream.tracker.cuts == [1098]
    main = {frame: max(fs, key=lambda f: f.size) for frame, fs in out.items() if fs}
    assert len(main) >= 36  # the main face is found (detected or propagated) in nearly every frame
    before = {f.track_id for fr, f in main.items() if fr < 1098}
    after = {f.track_id for fr, f in main.items() if fr >= 1098}
    assert len(before) == 1 and len(after) == 1 and before != after
    # embeddings were computed once per track, not per frame
    embedded = sum(1 for fs in out.values() for f in fs if f.extra.get("embedded"))
    tracks = {f.track_id for fs in out.values() for f in fs}
    assert embedded == len(tracks)
    assert main[1098].extra.get("embedded")  # the cut is seen before deciding what to embed
    # jitter (the shape's acceleration, in face sizes) is lower after smoothing; the head's own
    # move (the similarity from each frame's points to the first's) is followed, not smoothed
    for ids in (before, after):
        tid = next(iter(ids))
        faces = [f for fr, f in sorted(main.items()) if f.track_id == tid and f.source == "detected"]
        raw = np.array([f.extra["raw_landmarks"] for f in faces])
        smooth = np.array([f.landmarks for f in faces])
        size = float(np.mean([f.size for f in faces]))

        def jitter(x: np.ndarray, size: float = size) -> float:
            shape = np.array([_aligned(p, x[0]) for p in x])
            return float(np.linalg.norm(shape[2:] - 2 * shape[1:-1] + shape[:-2], axis=2).mean()) / size

        assert jitter(smooth) < 0.5 * jitter(raw)
        assert float(np.linalg.norm(raw - smooth, axis=2).mean()) / size < 0.03  # no visible lag
        # the head moves (up to 4 px a frame here): the points as a whole are not behind it
        assert float(np.linalg.norm((smooth - raw).mean(axis=1), axis=1).mean()) / size < 0.005


def _aligned(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``pts`` moved onto ``ref`` by their least-squares similarity (the head's move taken out)."""
    from recast.pipeline.faces.smoothing import _similarity

    m = _similarity(pts, ref)
    assert m is not None
    return pts @ m[:, :2].T + m[:, 2]


def test_stream_windowed_detection_between_full_scans(analyser) -> None:
    """With full scans every 4 frames, the frames between search only around the track."""
    img = astronaut()
    stream = FaceStream(analyser, StreamOptions(full_scan_every=4))
    ids = []
    for i in range(6):
        fs = stream.process(i, _shifted(img, 2.0 * i, 0.0))
        main = max(fs, key=lambda f: f.score)  # the reflected border can add a weak HOG hit
        assert main.source == "detected" and main.score > 0.5
        assert abs((main.box[0] + main.box[2]) / 2 - (223.0 + 2.0 * i)) < 6.0
        ids.append(main.track_id)
    assert len(set(ids)) == 1


def test_stream_embeds_once_per_track_unless_asked(analyser) -> None:
    img = astronaut()
    frames = [_shifted(img, 2.0 * i, 0.0) for i in range(5)]
    for every, expected in ((0, [0]), (2, [0, 2, 4])):
        stream = FaceStream(analyser, StreamOptions(embed_every=every))
        embedded = []
        for i, f in enumerate(frames):
            main = max(stream.process(i, f), key=lambda x: x.score)
            assert main.embedding is not None and main.embedding_kind == "dlib128"
            if main.extra.get("embedded"):
                embedded.append(i)
        assert embedded == expected
        track = next(t for t in stream.tracker.active_tracks if t.track_id == main.track_id)
        assert abs(float(np.linalg.norm(track.embedding)) - 1.0) < 1e-5
