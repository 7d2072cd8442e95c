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


def _stained_texture(seed=0):
    """A 96 x 96 patch of sharp purple dots on pink (stained everywhere)."""
    rng = np.random.default_rng(seed)
    x = np.empty((96, 96, 3), np.uint8)
    x[:] = (230, 170, 200)
    y, c = rng.integers(0, 96, (2, 300))
    x[y, c] = (80, 40, 120)
    return x


def test_the_focus_ratio_rises_with_blur_and_is_undefined_on_glass():
    import cv2

    tool = _tool()
    x = _stained_texture()
    sharp = tool.focus_ratio(x)
    soft = tool.focus_ratio(cv2.GaussianBlur(x, (0, 0), 0.8))
    assert 0 < sharp < soft < 1
    assert np.isnan(tool.focus_ratio(np.full((96, 96, 3), 245, np.uint8)))  # glass: nothing stained


def test_the_adaptive_pre_blur_blurs_a_sharp_patch_and_leaves_a_soft_one():
    import cv2

    tool = _tool()
    sharp = _stained_texture()
    soft = cv2.GaussianBlur(sharp, (0, 0), 1.5)
    target = tool.focus_ratio(cv2.GaussianBlur(sharp, (0, 0), 0.35))  # reached between 0.3 and 0.4 px
    assert tool.pre_blur_needed(sharp, target, 0.5) == 0.4
    assert tool.pre_blur_needed(sharp, target, 0.3) == 0.3  # capped
    assert tool.pre_blur_needed(soft, target, 0.5) == 0.0
    x = np.stack([sharp, soft])
    before = x.copy()
    out, sigmas = tool.adaptive_pre_blur(target, 0.5)(x)
    assert np.array_equal(x, before)
    assert sigmas.tolist() == [0.4, 0.0]
    assert np.array_equal(out[1], soft) and not np.array_equal(out[0], sharp)
    assert np.array_equal(out[0], cv2.GaussianBlur(sharp, (0, 0), 0.4))


def test_rotations_average_the_patch_score_over_the_turned_patches():
    """With 4 rotations a patch's score is the mean of the scores of it turned by each quarter
    turn, so it is the same for the patch and for the patch turned."""
    import onnxruntime as ort
    import pytest

    from pipeline.heatmap import DEFAULT_HEATMAP_MODEL

    tool = _tool()
    session = ort.InferenceSession(str(DEFAULT_HEATMAP_MODEL))
    rng = np.random.default_rng(3)
    x = rng.integers(60, 230, (3, 96, 96, 3), dtype=np.uint8)
    x[:, 20:50, 30:70] = (90, 40, 130)  # something not symmetric under a turn
    one, _ = tool.mean_logits([session], x)
    four, _ = tool.mean_logits([session], x, rotations=4)
    turned = np.stack([np.ascontiguousarray(np.rot90(a, k)) for k in range(4) for a in x])
    each, _ = tool.mean_logits([session], turned)
    np.testing.assert_allclose(four, each.reshape(4, 3).mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tool.mean_logits([session], np.rot90(x, 1, axes=(1, 2)), rotations=4)[0], four,
                               rtol=1e-5, atol=1e-5)
    assert np.abs(one - four).max() > 1e-4
    with pytest.raises(ValueError, match="rotations"):
        tool.mean_logits([session], x, rotations=3)
