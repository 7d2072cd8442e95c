"""Cytokeratin IHC judged against the image's own DAB background (issue 12, item 3)."""

import numpy as np
import pandas as pd
import pytest

from pipeline import analyze
from pipeline.synthetic import make_node, make_node_category
from pipeline.tumor import classify_ihc, dab_background


@pytest.mark.parametrize("seed, od", [(31, 0.09), (32, 0.12)])
def test_faint_diffuse_brown_makes_no_deposit(seed, od):
    node = make_node_category("negative", stain="ihc", benign="reactive", pixel_size_um=0.5, seed=seed,
                              dab_background_od=od, size_um=(700, 700))
    r = analyze(node.rgb, pixel_size_um=0.5)
    assert r.stain == "ihc"
    assert len(r.deposits) == 0 and r.category == "negative"


def test_lobular_itc_counted_with_background():
    node = make_node_category("itc", stain="ihc", pattern="single_file", benign="typical", pixel_size_um=0.5,
                              seed=41, dab_background_od=0.08)
    r = analyze(node.rgb, pixel_size_um=0.5)
    assert r.category == "itc"
    assert abs(r.tumor_cell_count - node.tumor_cell_count) <= max(1, 0.2 * node.tumor_cell_count)


def test_background_is_local():
    # lymphocytes: ring 0.05 on the left, 0.25 on the right (a brown patch); one strong cell on each side
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 600, 400)
    x = np.concatenate([rng.uniform(0, 250, 200), rng.uniform(350, 600, 200)])
    ring = np.where(x < 300, 0.05, 0.25)
    t = pd.DataFrame({"y_um": y, "x_um": x, "equivalent_diameter_um": 6.5, "counterstain_ring_median": ring,
                      "counterstain_ring_low": ring, "counterstain_inside": 0.02,
                      "hematoxylin_mean": 0.8, "counterstain_ring": ring})
    bg = dab_background(t)
    assert np.all(bg[x < 200] < 0.1) and np.all(bg[x > 400] > 0.2)
    cells = pd.DataFrame({"y_um": [300.0, 300.0], "x_um": [100.0, 500.0], "equivalent_diameter_um": [10.0, 10.0],
                          "counterstain_ring_median": [0.3, 0.3], "counterstain_ring_low": [0.25, 0.25],
                          "counterstain_inside": [0.02, 0.02], "hematoxylin_mean": [0.6, 0.6],
                          "counterstain_ring": [0.3, 0.3]})
    both = pd.concat([t, cells], ignore_index=True)
    positive = classify_ihc(both)
    # 0.3 is clearly above 0.05 + contrast on the left, not above the 0.25 patch on the right
    assert positive[-2:].tolist() == [True, False]
    assert not positive[:-2].any()


def test_small_cell_stained_all_round_counts_wedged_lymphocyte_does_not():
    rng = np.random.default_rng(1)
    n = 60
    lymph = pd.DataFrame({"y_um": rng.uniform(0, 200, n), "x_um": rng.uniform(0, 200, n),
                          "equivalent_diameter_um": 6.5, "counterstain_ring_median": 0.02,
                          "counterstain_ring_low": 0.0, "counterstain_inside": 0.0,
                          "hematoxylin_mean": 0.8, "counterstain_ring": 0.02})
    small = dict(y_um=100.0, x_um=100.0, equivalent_diameter_um=6.5, counterstain_inside=0.0,
                 hematoxylin_mean=0.8)
    lobular = dict(small, counterstain_ring_median=0.5, counterstain_ring_low=0.45, counterstain_ring=0.5)
    wedged = dict(small, x_um=120.0, counterstain_ring_median=0.4, counterstain_ring_low=0.05,
                  counterstain_ring=0.3)
    t = pd.concat([lymph, pd.DataFrame([lobular, wedged])], ignore_index=True)
    assert classify_ihc(t)[-2:].tolist() == [True, False]


def test_dab_background_od_is_validated():
    with pytest.raises(ValueError, match="dab_background_od"):
        make_node(size_um=(200, 200), pixel_size_um=1.0, stain="ihc", pattern="none", dab_background_od=2.0)
