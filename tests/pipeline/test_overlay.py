"""Tests for pipeline.overlay: a picture that carries its own legend, title and scale bar."""

import dataclasses

import numpy as np
import pytest

from helpers import toy_node
from pipeline.analysis import analyze
from pipeline.overlay import TINY_SIDE, legend_entries, render_overlay


@pytest.fixture(scope="module")
def results():
    grid = tuple((y, x) for y in (120, 150, 180) for x in (120, 150, 180))
    positive_img, _ = toy_node(stain="ihc", px=0.5, size_um=400, tumour_yx_um=grid)
    negative_img, _ = toy_node(stain="ihc", px=0.5, size_um=400, tumour_yx_um=())
    return ((positive_img, analyze(positive_img, pixel_size_um=0.5, stain="ihc")),
            (negative_img, analyze(negative_img, pixel_size_um=0.5, stain="ihc")))


def test_legend_lists_what_is_drawn(results):
    (_, pos), (_, neg) = results
    pos_labels = [label for _, label, _ in legend_entries(pos)]
    neg_labels = [label for _, label, _ in legend_entries(neg)]
    assert pos.category != "negative" and neg.category == "negative"
    assert "longest diameter" in pos_labels and any("deposit" in s for s in pos_labels)
    assert neg_labels[-1] == "no tumour cells found"
    assert any(s.startswith("tissue analysed") for s in neg_labels)


@pytest.mark.parametrize("which", [0, 1])
def test_legend_is_drawn_and_input_untouched(results, which):
    img, result = results[which]
    before = img.copy()
    with_legend = render_overlay(img, result)
    without = render_overlay(img, result, legend=False)
    assert with_legend.shape == without.shape == img.shape
    assert np.array_equal(img, before)
    changed = np.any(with_legend != without, axis=-1)
    assert changed.sum() > 500  # the legend box, its swatches and labels


def test_not_assessable_title_is_grey(results):
    img, result = results[1]
    na = dataclasses.replace(result, category="not_assessable", not_assessable_reason="no tissue found")
    grey = render_overlay(img, na, legend=False)
    plain = render_overlay(img, result, legend=False)
    # the grey title box (214, 214, 214 blended) appears only on the not-assessable picture
    def greyish(a):
        return np.all(np.abs(a.astype(int) - 214) <= 12, axis=-1).sum()
    assert greyish(grey) > greyish(plain) + 200


def test_he_tumour_title_asks_for_cytokeratin_confirmation(results):
    from pipeline.overlay import _title

    img, result = results[1]
    flagged = dataclasses.replace(result, category="micrometastasis", pn_category="pN1mi",
                                  flags=["confirm_with_ihc"])
    assert _title(flagged) == ("micrometastasis  pN1mi  (H&E: confirm with IHC)", False)
    assert "confirm" not in _title(dataclasses.replace(flagged, flags=[]))[0]
    # the longer title is drawn (wider title box than without the flag)
    a = render_overlay(img, flagged, legend=False)
    b = render_overlay(img, dataclasses.replace(flagged, flags=[]), legend=False)
    assert np.any(a != b)


def test_tiny_picture_gets_no_text_but_a_legend_panel(results):
    img, result = results[0]
    tile = img[:100, :100]
    out = render_overlay(tile, result)
    assert out.shape[0] >= 100 and out.shape[1] > 100
    assert 100 < TINY_SIDE
    assert np.any(out[:, 100:] != 255)  # the panel holds the title and legend



@pytest.mark.parametrize("shape, px", [((97, 130), 1.0), ((40, 23), 7.3), ((3, 2), 500.0)])
def test_tumour_map_resized_is_the_map_at_every_pixel(shape, px):
    from pipeline.heatmap import TumourMap

    m = TumourMap(np.random.default_rng(1).random((20, 17)).astype(np.float32), 8.0, (3.0, -2.0))
    out = m.resized(shape, px)
    rows, cols = np.meshgrid(np.arange(shape[0]) * px, np.arange(shape[1]) * px, indexing="ij")
    np.testing.assert_allclose(out, m.at(rows, cols), atol=1e-6)
    assert out.dtype == np.float32 and out.flags.c_contiguous  # OpenCV draws on what it feeds


@pytest.mark.parametrize("seed, shape, px", [(0, (300, 260), 1.0), (1, (97, 130), 2.5), (2, (40, 23), 7.3)])
def test_tumour_map_window_holds_every_pixel_at_the_threshold(seed, shape, px):
    """The overlay resamples only the window where the map can reach 0.5: nothing is lost."""
    from pipeline.heatmap import TumourMap

    rng = np.random.default_rng(seed)
    p = np.zeros((30, 25), np.float32)
    p[rng.integers(0, 30, 3), rng.integers(0, 25, 3)] = rng.uniform(0.5, 1.0, 3)  # a few hot points
    m = TumourMap(p, 8.0, (3.0, -2.0))
    full = m.resized(shape, px)
    window = m.window_at_least(0.5, shape, px)
    if window is None:
        assert (full < 0.5).all()
    else:
        outside = np.ones(shape, bool)
        outside[window] = False
        assert not (full[outside] >= 0.5).any()
        np.testing.assert_array_equal(m.resized(shape, px, window=window), full[window])
    if seed == 0:  # three hot points on a picture of the whole map: a window, not the picture
        assert (full >= 0.5).any() and full[window].size < full.size / 2
    assert TumourMap(np.full((3, 3), 0.4, np.float32), 8.0, (0.0, 0.0)).window_at_least(0.5, shape, px) is None


def test_negative_overlay_shows_the_segmented_nuclei(results):
    # every analysis keeps the nuclei's centres, so a negative picture shows what was looked at
    img, neg = results[1]
    assert neg.category == "negative" and neg.nucleus_count > 0
    centres = neg.nucleus_centres_um
    assert centres.shape == (neg.nucleus_count, 2) and centres.dtype == np.float32
    labels = [label for _, label, _ in legend_entries(neg)]
    assert f"segmented nuclei ({neg.nucleus_count:,})" in labels
    with_dots = render_overlay(img, neg, legend=False)
    without = render_overlay(img, dataclasses.replace(neg, nucleus_centres_um=None), legend=False)
    yx = np.round(centres / neg.pixel_size_um).astype(int)
    inside = (yx[:, 0] < img.shape[0]) & (yx[:, 1] < img.shape[1])
    changed = np.any(with_dots != without, axis=-1)
    assert changed[yx[inside, 0], yx[inside, 1]].mean() > 0.9  # a dot at (nearly) every centre
    assert "segmented nuclei" not in " ".join(
        label for _, label, _ in legend_entries(dataclasses.replace(neg, nucleus_centres_um=None)))
