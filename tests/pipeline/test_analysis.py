import numpy as np
import pandas as pd
import pytest

from helpers import toy_node
from pipeline.analysis import analyze
from pipeline.stages import measure_node
from pipeline.tumor import classify_he, classify_ihc, lymphocyte_reference


@pytest.mark.parametrize("stain", ["ihc", "he"])
@pytest.mark.parametrize("px", [0.5, 1.0])
def test_analyze_finds_the_tumour_cells(stain, px):
    centres = [(100, 100), (100, 122), (119, 111), (220, 220)]
    rgb, truth = toy_node(stain=stain, px=px, tumour_yx_um=centres)
    before = rgb.copy()
    r = analyze(rgb, pixel_size_um=px, stain="auto")
    np.testing.assert_array_equal(rgb, before)
    assert r.stain == stain
    found = r.cells[["y_um", "x_um"]].to_numpy()
    assert len(found) == len(truth)
    d = np.sqrt(((found[:, None] - truth[None]) ** 2).sum(-1)).min(0)
    assert (d < 2.0).all()
    # three linked cells + one far away: two deposits, ITC
    assert sorted(r.deposits["cell_count"].tolist()) == [1, 3]
    assert r.category == "itc" and r.pn_category == "pN0(i+)"
    assert r.nucleus_count > 100  # the lymphocytes were segmented too


def test_measurements_do_not_depend_on_pixel_size():
    centres = [(100, 100), (100, 130), (130, 110)]
    sizes = []
    for px in (0.5, 1.0):
        rgb, _ = toy_node(stain="ihc", px=px, tumour_yx_um=centres)
        sizes.append(analyze(rgb, pixel_size_um=px).largest_deposit_um)
    assert sizes[0] == pytest.approx(sizes[1], rel=0.05)


def test_negative_and_no_tissue():
    rgb, _ = toy_node(stain="he", tumour_yx_um=[])
    r = analyze(rgb, pixel_size_um=0.5, stain="he")
    assert r.category == "negative" and r.tumor_cell_count == 0 and r.largest_deposit_um == 0.0
    glass = np.full((100, 100, 3), 250, np.uint8)
    r = analyze(glass, pixel_size_um=0.5)
    assert r.flags == ["no_tissue"] and r.category == "negative"
    assert r.summary()["deposit_count"] == 0


def test_analyze_errors():
    rgb = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\(M, N, 3\)"):
        analyze(rgb[..., 0], pixel_size_um=1)
    with pytest.raises(TypeError, match="uint8"):
        analyze(rgb.astype(float), pixel_size_um=1)
    with pytest.raises(ValueError, match="pixel_size_um is missing"):
        analyze(rgb, pixel_size_um=None)
    with pytest.raises(ValueError, match="stain must be one of"):
        analyze(rgb, pixel_size_um=1, stain="pas")
    with pytest.raises(ValueError, match="rule must be one of"):
        analyze(rgb, pixel_size_um=1, rule="touching")


def test_tiling_gives_the_same_cells():
    centres = [(100, 100), (100, 122), (119, 111), (220, 220)]
    rgb, _ = toy_node(stain="ihc", px=0.5, tumour_yx_um=centres)
    whole = analyze(rgb, pixel_size_um=0.5, tile_px=4096)
    tiled = analyze(rgb, pixel_size_um=0.5, tile_px=128, workers=2)
    assert tiled.tumor_cell_count == whole.tumor_cell_count
    assert abs(tiled.nucleus_count - whole.nucleus_count) <= 0.02 * whole.nucleus_count
    assert tiled.largest_deposit_um == pytest.approx(whole.largest_deposit_um, rel=1e-6)


def test_measure_node_remeasures_edited_cells():
    cells = pd.DataFrame({"y_um": np.arange(0, 300, 15.0), "x_um": 0.0, "radius_um": 5.0})
    r = measure_node(cells, pixel_size_um=0.5)
    assert r.category == "micrometastasis" and r.largest_deposit_um == pytest.approx(295.0)
    half = measure_node(cells.iloc[:10], pixel_size_um=0.5)
    assert half.category == "itc" and half.largest_deposit_um == pytest.approx(145.0)
    none = measure_node(cells.iloc[:0], pixel_size_um=0.5)
    assert none.category == "negative"


def test_classifiers_on_tables():
    t = pd.DataFrame({
        "equivalent_diameter_um": [6.5] * 50 + [14.0, 14.0, 12.0],
        "minor_axis_um": [6.5] * 50 + [12.0, 12.0, 10.0],
        "eccentricity": [0.3] * 53,
        "solidity": [0.97] * 53,
        "y_um": [900.0] * 50 + [0.0, 10.0, 20.0], "x_um": 0.0,
        "hematoxylin_mean": [1.0] * 50 + [0.6, 0.2, 0.7],
        "counterstain_ring": [0.2] * 50 + [0.5, 0.15, 0.1],
        "counterstain_ring_median": [0.2] * 50 + [0.5, 0.15, 0.1],
        "counterstain_inside": [0.0] * 53,
    })
    ref = lymphocyte_reference(t)
    assert ref["diameter_um"] == 6.5 and ref["count"] == 50
    # (the hand-written H&E rules, classify_he(method="rules"), were removed as dead code)
    assert classify_ihc(t, dab_threshold=0.3)[-3:].tolist() == [True, False, False]
    with pytest.raises(ValueError, match="missing column"):
        classify_he(t)  # the forest needs the chromatin texture (hematoxylin_std)


def test_forest_scores_relative_features():
    from pipeline.tumor import forest_probability, he_features, load_forest

    forest = load_forest()
    assert forest["features"] and len(forest["trees"]) >= 10
    lymph = {"equivalent_diameter_um": 6.5, "minor_axis_um": 6.0, "solidity": 0.97,
             "hematoxylin_mean": 1.0, "hematoxylin_std": 0.2, "counterstain_ring": 0.1, "eccentricity": 0.4}
    tumour = {"equivalent_diameter_um": 14.0, "minor_axis_um": 12.0, "solidity": 0.96,
              "hematoxylin_mean": 0.6, "hematoxylin_std": 0.18, "counterstain_ring": 0.3, "eccentricity": 0.5}
    t = pd.DataFrame([lymph] * 60 + [tumour])
    p = forest_probability(he_features(t), forest)
    assert p[-1] > 0.5 > p[0]
    # the same cells measured at another scale and stain strength score the same
    t2 = t.copy()
    t2[["equivalent_diameter_um", "minor_axis_um"]] *= 1.2
    t2[["hematoxylin_mean", "hematoxylin_std", "counterstain_ring"]] *= 0.7
    np.testing.assert_allclose(forest_probability(he_features(t2), forest), p, atol=1e-9)
