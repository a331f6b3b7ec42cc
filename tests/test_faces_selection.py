"""Face selection: all / largest / reference with an actor map, per frame and per track."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest

from _faces_fixtures import astronaut, t1
from recast.pipeline.errors import SpecError
from recast.pipeline.faces import create_analyser
from recast.pipeline.faces.selection import Reference, Selection, TrackSelector, resolve_references, select_faces


@pytest.fixture(scope="module")
def analyser():
    return create_analyser("dlib")


@pytest.fixture(scope="module")
def t1_frames():
    """Frame 1 = t1; frame 2 = t1 shifted and slightly scaled (same people, new pixels)."""
    a = t1()
    m = np.array([[1.05, 0.0, -20.0], [0.0, 1.05, 10.0]], np.float32)
    b = cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return {1: a, 2: b}


def _centre(face) -> np.ndarray:
    return (face.box[:2] + face.box[2:]) / 2


def test_all_and_largest(analyser, t1_frames) -> None:
    faces = analyser.analyse(t1_frames[1], embed=False)
    assert [a for _, a in select_faces(faces, Selection("all", actor="x"))] == ["x"] * 6
    picked = select_faces(faces, Selection("largest", actor="x"))
    assert len(picked) == 1 and picked[0][0].size == max(f.size for f in faces)
    assert select_faces([], Selection("largest", actor="x")) == []


def test_reference_frame_and_index_follows_the_person(analyser, t1_frames) -> None:
    sel = Selection("reference", references=(Reference("alice", frame=1, face_index=2),))
    sel = resolve_references(sel, analyser, load_frame=t1_frames.__getitem__)
    assert sel.references[0].embedding is not None
    ref_face = analyser.analyse(t1_frames[1], embed=False)[2]
    faces2 = analyser.analyse(t1_frames[2])
    picked = select_faces(faces2, sel)
    assert len(picked) == 1 and picked[0][1] == "alice"
    # the picked face in frame 2 is where face 2 of frame 1 moved to
    expected = _centre(ref_face) * 1.05 + np.array([-20.0, 10.0])
    assert np.linalg.norm(_centre(picked[0][0]) - expected) < 10.0


def test_actor_map_two_references_two_actors(analyser, t1_frames) -> None:
    sel = Selection(
        "reference",
        references=(Reference("alice", frame=1, face_index=0), Reference("bob", frame=1, face_index=4)),
    )
    sel = resolve_references(sel, analyser, load_frame=t1_frames.__getitem__)
    frame1 = analyser.analyse(t1_frames[1])
    picked = select_faces(analyser.analyse(t1_frames[2]), sel)
    assert sorted(a for _, a in picked) == ["alice", "bob"]
    by_actor = {a: f for f, a in picked}
    for actor, idx in (("alice", 0), ("bob", 4)):
        expected = _centre(frame1[idx]) * 1.05 + np.array([-20.0, 10.0])
        assert np.linalg.norm(_centre(by_actor[actor]) - expected) < 10.0


def test_reference_image_selects_nobody_among_strangers(analyser, tmp_path: Path, t1_frames) -> None:
    ref_img = tmp_path / "astronaut.png"
    cv2.imwrite(str(ref_img), cv2.cvtColor((astronaut() * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))

    def load(p: Path) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255

    sel = resolve_references(
        Selection("reference", references=(Reference("eileen", image=ref_img),)), analyser, load_image=load
    )
    assert select_faces(analyser.analyse(t1_frames[1]), sel) == []
    moved = cv2.resize(astronaut()[10:, 15:], (560, 550))
    picked = select_faces(analyser.analyse(moved), sel)
    assert [a for _, a in picked] == ["eileen"]


def test_faces_without_embeddings_are_not_swapped_in_reference_mode(analyser, t1_frames) -> None:
    sel = resolve_references(
        Selection("reference", references=(Reference("alice", frame=1, face_index=0),)),
        analyser,
        load_frame=t1_frames.__getitem__,
    )
    assert select_faces(analyser.analyse(t1_frames[1], embed=False), sel) == []


def test_track_selector_votes_keep_the_actor_stable(analyser, t1_frames) -> None:
    sel = resolve_references(
        Selection("reference", references=(Reference("alice", frame=1, face_index=1),)),
        analyser,
        load_frame=t1_frames.__getitem__,
    )
    faces = analyser.analyse(t1_frames[1])
    for i, f in enumerate(faces):
        f.track_id = i + 1
    selector = TrackSelector(sel)
    for _ in range(3):
        assert [(f.track_id, a) for f, a in selector.select(copy.deepcopy(faces))] == [(2, "alice")]
    # one frame where track 2's embedding is corrupted (e.g. motion blur): the vote holds
    noisy = copy.deepcopy(faces)
    noisy[1].embedding = -noisy[1].embedding
    assert [(f.track_id, a) for f, a in selector.select(noisy)] == [(2, "alice")]
    assert selector.per_track()[2] == "alice" and selector.per_track()[1] is None
    # the summary says the vote overruled this frame's own decision, and why
    track2 = selector.summary()["2"]
    assert track2["actor"] == "alice" and track2["votes"] == {"alice": 3, "": 1}
    assert track2["reason"].startswith("track vote alice 3/4 (this frame: distance")
    assert track2["frames"] == 4 and track2["selected_frames"] == 4
    assert selector.summary()["1"]["actor"] is None and selector.summary()["1"]["selected_frames"] == 0
    selector.forget({2})
    assert set(selector.per_track()) == {2}


def test_selection_from_dict_and_errors() -> None:
    sel = Selection.from_dict(
        {"mode": "reference", "threshold": 0.1, "references": [{"actor": "a", "frame": 1001, "face_index": 1}]}
    )
    assert sel.references[0].frame == 1001 and sel.threshold == 0.1 and sel.actors == ["a"]
    assert Selection.from_dict(sel.to_dict()).to_dict() == sel.to_dict()
    with pytest.raises(SpecError, match=r"selection.mode: 'biggest' is not one of"):
        Selection.from_dict({"mode": "biggest"})
    with pytest.raises(SpecError, match=r"selection.references: reference mode needs"):
        Selection.from_dict({"mode": "reference"})
    with pytest.raises(SpecError, match=r"selection.references\[0\].face_index"):
        Selection.from_dict({"mode": "reference", "references": [{"actor": "a", "frame": 1, "face_index": -1}]})
    with pytest.raises(SpecError, match=r"selection.colour: unknown field"):
        Selection.from_dict({"colour": 1})
    with pytest.raises(SpecError, match=r"selection\.actor: mode 'all' needs an actor"):
        select_faces([], Selection("all"))


def test_reference_index_out_of_range_names_it(analyser) -> None:
    sel = Selection("reference", references=(Reference("a", frame=7, face_index=3),))
    with pytest.raises(SpecError, match=r"face_index: 3 but frame 7 has 1 face"):
        resolve_references(sel, analyser, load_frame=lambda _f: astronaut())
    black = Selection("reference", references=(Reference("a", frame=8),))
    with pytest.raises(SpecError, match="no face found in frame 8"):
        resolve_references(black, analyser, load_frame=lambda _f: np.zeros((64, 64, 3), np.float32))
