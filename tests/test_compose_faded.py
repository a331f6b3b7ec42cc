"""A swap faded as a whole is still graded (issue 14): the warp fades a face turned past the
actor's views (``pose_coverage`` < 1) by scaling its matte, and the colour match measured only
where the matte reached 0.5, so a face faded to 0.35 took no colour match at all and was
pasted in the actor photo's own colour (a grey mask with the greyscale Tom Hanks sample on
t1.jpg's turned face).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.settings import SwapSettings
from tests.test_warp_brows import ross_swap

_SAME = SpaceConverter(lambda a: a, lambda a: a)


def test_a_faded_swap_is_graded_as_the_whole_one(actor: Any) -> None:
    """The same swap with its matte scaled by 0.35 gets the same colour statistics and the
    same graded foreground as at full strength (the comp then mixes it with the plate by the
    matte as before), not the actor's ungraded pixels."""
    crop, fc, _, base = ross_swap(actor)
    assert base.matte is not None and float(base.matte.max()) > 0.99
    opts = ComposeOptions.from_settings(SwapSettings(grain=False))
    whole = compose_face(crop, fc, lambda c, f: base, _SAME, opts)
    faded = compose_face(
        crop, fc, lambda c, f: dataclasses.replace(base, matte=base.matte * np.float32(0.35)), _SAME, opts
    )
    assert whole.colour is not None and faded.colour is not None
    np.testing.assert_allclose(faded.colour.dst_mean, whole.colour.dst_mean, atol=0.05)
    np.testing.assert_allclose(faded.colour.src_mean, whole.colour.src_mean, atol=0.05)
    core = whole.alpha > 0.99
    assert core.sum() > 1000
    # the foreground where the face is whole: graded alike (the actor's own grey is far off)
    assert float(np.abs(faded.fg[core] - whole.fg[core]).mean()) < 0.01
    assert float(np.abs(whole.fg[core] - base.rgb[core]).mean()) > 0.05
    np.testing.assert_allclose(faded.alpha, 0.35 * whole.alpha, atol=0.02)
