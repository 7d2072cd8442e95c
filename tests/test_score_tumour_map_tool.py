"""tools/score_tumour_map.py: the pre-blur that every patch gets before the networks."""

import numpy as np
from helpers import load_tool


def _tool():
    return load_tool("score_tumour_map")


def test_no_pre_blur_leaves_the_patches_alone():
    tool = _tool()
    x = np.random.default_rng(0).integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    assert tool.pre_blur(0.0)(x) is x


def test_the_pre_blur_softens_each_patch_on_its_own():
    tool = _tool()
    x = np.zeros((2, 96, 96, 3), np.uint8)
    x[0, :, 48:] = 200          # a step edge in the first patch, the second patch blank
    before = x.copy()
    out = tool.pre_blur(0.5)(x)
    assert np.array_equal(x, before)  # input untouched
    assert out.shape == x.shape and out.dtype == np.uint8
    row = out[0, 40, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 200 and 0 < row[47] < row[48] < 200  # the edge softened, not moved
    assert not out[1].any()  # nothing leaks between patches
