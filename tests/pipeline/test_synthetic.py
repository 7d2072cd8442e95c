"""Tests of the synthetic lymph-node generator (pipeline.synthetic)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from pipeline.staging import node_category
from pipeline.synthetic import (
    BENIGN_MODELS,
    REFERENCE_STAIN_VECTORS,
    DepositSpec,
    SyntheticNode,
    make_node,
    make_node_category,
)
from pipeline.synthetic.cells import KINDS, SIMPLE_KINDS

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"

SMALL = (400.0, 400.0)


@pytest.fixture(scope="module")
def he_cohesive():
    return make_node(size_um=(600, 600), pixel_size_um=1.0, stain="he", pattern="cohesive",
                     deposits=[{"diameter_um": 260}], seed=3)


@pytest.fixture(scope="module")
def ihc_single_file():
    return make_node(size_um=(600, 600), pixel_size_um=1.0, stain="ihc", pattern="single_file",
                     deposits=[{"diameter_um": 300}], seed=4)


@pytest.fixture(scope="module")
def two_deposits():
    return make_node(size_um=(1000, 1000), pixel_size_um=1.0, stain="he", pattern="mixed",
                     deposits=[{"diameter_um": 300},
                               DepositSpec(diameter_um=160, n_cells=12, pattern="single_file")],
                     seed=11)


@pytest.fixture(scope="module")
def negative():
    return make_node(size_um=SMALL, pixel_size_um=1.0, pattern="none", seed=5)


@pytest.fixture(params=["he_cohesive", "ihc_single_file", "two_deposits", "negative"])
def node(request):
    return request.getfixturevalue(request.param)


def _centre_pixels(node, cells):
    px = node.pixel_size_um
    return (cells["y_um"].to_numpy() // px).astype(int), (cells["x_um"].to_numpy() // px).astype(int)


def _link_components(cells, link_um=75.0):
    """Connected groups of cells whose nuclear outlines are <= link_um apart."""
    yx = cells[["y_um", "x_um"]].to_numpy()
    r = cells["radius_um"].to_numpy()
    pairs = cKDTree(yx).query_pairs(link_um + 2 * r.max(), output_type="ndarray")
    gap = np.hypot(*(yx[pairs[:, 0]] - yx[pairs[:, 1]]).T) - r[pairs[:, 0]] - r[pairs[:, 1]]
    pairs = pairs[gap <= link_um]
    n = len(yx)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


# ---------------------------------------------------------------- determinism


def test_same_seed_same_image_other_seed_differs():
    a = make_node(size_um=SMALL, pixel_size_um=2.0, seed=1)
    b = make_node(size_um=SMALL, pixel_size_um=2.0, seed=1)
    c = make_node(size_um=SMALL, pixel_size_um=2.0, seed=2)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    pd.testing.assert_frame_equal(a.cells, b.cells)
    assert a.params == b.params
    assert a.rgb.shape == c.rgb.shape
    assert not np.array_equal(a.rgb, c.rgb)
    assert len(a.cells) != len(c.cells) or not np.allclose(a.cells["y_um"], c.cells["y_um"])


def test_same_seed_same_cells_at_two_resolutions():
    kwargs = dict(size_um=SMALL, pattern="mixed", deposits=[{"diameter_um": 180}], seed=8)
    fine = make_node(pixel_size_um=0.5, **kwargs)
    coarse = make_node(pixel_size_um=1.0, **kwargs)
    pd.testing.assert_frame_equal(fine.cells, coarse.cells)
    pd.testing.assert_frame_equal(fine.deposits, coarse.deposits)
    assert fine.category == coarse.category
    assert fine.rgb.shape == (800, 800, 3) and coarse.rgb.shape == (400, 400, 3)
    for name in ("nuclei_labels", "tumor_mask", "tissue_mask"):
        assert getattr(fine, name).shape == (800, 800)
    # the two images show the same tissue: tumour and tissue areas agree in µm²
    assert fine.tumor_mask.sum() * 0.25 == pytest.approx(coarse.tumor_mask.sum(), rel=0.05)
    assert fine.tissue_mask.sum() * 0.25 == pytest.approx(coarse.tissue_mask.sum(), rel=0.01)


def test_stain_does_not_change_the_anatomy():
    he = make_node(size_um=SMALL, pixel_size_um=2.0, stain="he", seed=6)
    ihc = make_node(size_um=SMALL, pixel_size_um=2.0, stain="ihc", seed=6)
    pd.testing.assert_frame_equal(he.cells, ihc.cells)


# ---------------------------------------------------------------- truth consistency


def test_returns_documented_types(he_cohesive):
    n = he_cohesive
    assert isinstance(n, SyntheticNode)
    m, w = n.rgb.shape[:2]
    assert n.rgb.dtype == np.uint8 and n.rgb.shape == (m, w, 3)
    assert n.nuclei_labels.dtype == np.int32
    assert n.tumor_mask.dtype == bool and n.tissue_mask.dtype == bool
    assert list(n.cells.columns) == [
        "cell_id", "y_um", "x_um", "radius_um", "a_um", "b_um", "angle_rad", "kind", "is_tumor",
        "deposit_id", "dispersed"]
    assert list(n.deposits.columns) == [
        "deposit_id", "cell_count", "longest_diameter_um", "pattern", "dispersed_fraction",
        "centroid_y_um", "centroid_x_um"]
    assert set(n.cells["kind"]) <= {"lymphocyte", "histiocyte", "germinal_centre", "endothelial",
                                    "tumor", "stromal"}
    np.testing.assert_allclose(n.cells["radius_um"], np.sqrt(n.cells["a_um"] * n.cells["b_um"]))
    assert (n.cells["a_um"] >= n.cells["b_um"]).all()
    assert "SyntheticNode(" in repr(n)


def test_label_ids_match_cells_table(node):
    ids = np.unique(node.nuclei_labels)
    ids = ids[ids > 0]
    np.testing.assert_array_equal(ids, np.sort(node.cells["cell_id"].to_numpy()))
    np.testing.assert_array_equal(node.cells["cell_id"], np.arange(1, len(node.cells) + 1))
    # every nucleus is drawn around its centre
    rows, cols = _centre_pixels(node, node.cells)
    assert (node.nuclei_labels[rows, cols] == node.cells["cell_id"].to_numpy()).mean() > 0.99


def test_tumour_cells_lie_in_tumour_mask(node):
    tumor = node.cells[node.cells["is_tumor"]]
    rows, cols = _centre_pixels(node, tumor)
    assert node.tumor_mask[rows, cols].all()
    assert (node.nuclei_labels[rows, cols] == tumor["cell_id"].to_numpy()).all()
    # the mask holds tumour nuclei and cytoplasm, never a benign nucleus
    benign_ids = node.cells.loc[~node.cells["is_tumor"], "cell_id"].to_numpy()
    assert not np.isin(node.nuclei_labels[node.tumor_mask], benign_ids).any()
    assert node.tumor_mask.any() == (len(tumor) > 0)
    assert not (node.tumor_mask & ~node.tissue_mask).any()


def test_deposit_table_matches_cells(node):
    tumor = node.cells[node.cells["is_tumor"]]
    assert (node.cells.loc[~node.cells["is_tumor"], "deposit_id"] == -1).all()
    assert not node.cells.loc[~node.cells["is_tumor"], "dispersed"].any()
    counts = tumor["deposit_id"].value_counts().sort_index()
    assert counts.index.tolist() == node.deposits["deposit_id"].tolist()
    assert counts.tolist() == node.deposits["cell_count"].tolist()
    assert node.deposits["cell_count"].sum() == node.tumor_cell_count
    for row in node.deposits.itertuples():
        cells = tumor[tumor["deposit_id"] == row.deposit_id]
        assert row.dispersed_fraction == pytest.approx(cells["dispersed"].mean())
        assert row.centroid_y_um == pytest.approx(cells["y_um"].mean())


def test_category_follows_the_staging_rules(node):
    largest = node.deposits["longest_diameter_um"].max() if len(node.deposits) else 0.0
    assert node.category == node_category(largest, node.tumor_cell_count)[0]
    frac = node.dispersed_fraction
    expected = ("none" if node.tumor_cell_count == 0 else
                "cohesive" if frac < 0.2 else "single_file" if frac > 0.8 else "mixed")
    assert node.growth_pattern == expected


def test_negative_node_has_no_tumour(negative):
    assert negative.category == "negative"
    assert negative.growth_pattern == "none"
    assert negative.tumor_cell_count == 0 and len(negative.deposits) == 0
    assert not negative.tumor_mask.any()
    assert negative.dispersed_fraction == 0.0


def test_deposits_reproduce_under_75um_linking(node):
    tumor = node.cells[node.cells["is_tumor"]]
    if len(tumor) == 0:
        return
    groups = _link_components(tumor)
    truth = tumor["deposit_id"].to_numpy()
    # one linked group per deposit, and each group is exactly one deposit
    assert len(np.unique(groups)) == len(node.deposits)
    pairs = set(zip(groups.tolist(), truth.tolist()))
    assert len(pairs) == len(node.deposits)


def test_deposits_are_far_apart(two_deposits):
    t = two_deposits.cells[two_deposits.cells["is_tumor"]]
    one, two = (t[t["deposit_id"] == k] for k in (1, 2))
    d, i = cKDTree(one[["y_um", "x_um"]].to_numpy()).query(two[["y_um", "x_um"]].to_numpy())
    gap = d - two["a_um"].to_numpy() - one["a_um"].to_numpy()[i]
    assert gap.min() > 150.0


def test_requested_cell_count_and_diameter(two_deposits):
    dep = two_deposits.deposits.set_index("deposit_id")
    assert dep.loc[2, "cell_count"] == 12
    assert dep.loc[2, "dispersed_fraction"] == 1.0
    assert dep.loc[2, "longest_diameter_um"] <= 160.0 + 1e-6
    assert 0.85 * 300 < dep.loc[1, "longest_diameter_um"] <= 300.0 + 1e-6


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6, 1.0])
def test_mixed_deposit_follows_dispersed_fraction(fraction):
    n = make_node(size_um=(700, 700), pixel_size_um=2.0, pattern="mixed", seed=12,
                  deposits=[{"diameter_um": 400, "dispersed_fraction": fraction}])
    assert n.dispersed_fraction == pytest.approx(fraction, abs=0.08)
    t = n.cells[n.cells["is_tumor"]]
    # dispersed cells are the small ones, cohesive cells the large ones
    assert (2 * t.loc[t["dispersed"], "radius_um"]).between(8.0, 11.0).all()
    assert (2 * t.loc[~t["dispersed"], "radius_um"]).between(10.0, 18.0).all()


def test_single_tumour_cell():
    n = make_node(size_um=SMALL, pixel_size_um=1.0, seed=2,
                  deposits=[{"diameter_um": 30, "n_cells": 1}])
    assert n.tumor_cell_count == 1 and n.category == "itc"
    assert n.deposits["longest_diameter_um"].iloc[0] <= 30.0


# ---------------------------------------------------------------- histology


def test_nuclear_sizes(he_cohesive, ihc_single_file):
    cells = he_cohesive.cells
    lym = 2 * cells.loc[cells["kind"] == "lymphocyte", "radius_um"]
    assert lym.between(6.0, 7.5).all()
    tum = 2 * cells.loc[cells["is_tumor"], "radius_um"]
    assert len(tum) > 20 and tum.between(10.0, 18.0).all()
    sf = ihc_single_file.cells
    ilc = 2 * sf.loc[sf["is_tumor"], "radius_um"]
    assert len(ilc) > 20 and ilc.between(8.0, 11.0).all()
    histio = 2 * cells.loc[cells["kind"] == "histiocyte", "radius_um"]
    assert histio.between(9.0, 14.0).all()


def _mean_rgb_of(node, kind=None, tumor=None):
    cells = node.cells
    sel = cells["kind"] == kind if kind else cells["is_tumor"] == tumor
    ids = cells.loc[sel, "cell_id"].to_numpy()
    return node.rgb[np.isin(node.nuclei_labels, ids)].astype(float).mean(0)


def test_he_lymphocytes_darker_than_tumour_nuclei(he_cohesive):
    lym = _mean_rgb_of(he_cohesive, kind="lymphocyte")
    tum = _mean_rgb_of(he_cohesive, tumor=True)
    assert lym.mean() < tum.mean() - 10


def test_ihc_tumour_cytoplasm_is_brown(ihc_single_file):
    n = ihc_single_file
    rgb = n.rgb.astype(float)
    cyto = n.tumor_mask & (n.nuclei_labels == 0)
    lym_ids = n.cells.loc[n.cells["kind"] == "lymphocyte", "cell_id"].to_numpy()
    lym = np.isin(n.nuclei_labels, lym_ids)
    r_minus_b = rgb[..., 0] - rgb[..., 2]
    assert r_minus_b[cyto].mean() > r_minus_b[lym].mean() + 20
    # DAB optical density along the reference DAB vector, minus the haematoxylin share
    od = -np.log10(np.clip(rgb, 1, None) / 245.0)
    dab = od @ REFERENCE_STAIN_VECTORS["dab"] - od @ REFERENCE_STAIN_VECTORS["hematoxylin"]
    assert dab[cyto].mean() > dab[lym].mean()


def test_ihc_has_no_eosin_and_browns_only_tumour(ihc_single_file):
    n = ihc_single_file
    assert n.stain == "ihc"
    assert n.params["stain"] == "ihc"
    rgb = n.rgb.astype(float)
    # outside tumour cells, brown (R >> B) pixels are rare: debris specks only
    brown = (rgb[..., 0] - rgb[..., 2] > 40) & n.tissue_mask
    assert brown[~n.tumor_mask].mean() < 0.01
    assert brown[n.tumor_mask].mean() > 0.3


def test_single_file_cells_have_few_close_neighbours(ihc_single_file):
    t = ihc_single_file.cells[ihc_single_file.cells["is_tumor"]]
    assert t["dispersed"].all()
    assert ihc_single_file.growth_pattern == "single_file"
    yx = t[["y_um", "x_um"]].to_numpy()
    spacing = 14.0  # largest centre spacing along a file
    counts = np.array([len(n) - 1 for n in cKDTree(yx).query_ball_point(yx, 1.5 * spacing)])
    assert (counts <= 2).mean() > 0.85


def test_cohesive_cells_are_packed(he_cohesive):
    t = he_cohesive.cells[he_cohesive.cells["is_tumor"]]
    assert not t["dispersed"].any()
    yx = t[["y_um", "x_um"]].to_numpy()
    d, _ = cKDTree(yx).query(yx, k=2)
    nearest = d[:, 1] / (2 * t["radius_um"].to_numpy())
    assert np.median(nearest) < 2.0
    # no lymphocyte nucleus is left among the tumour cells
    lym = he_cohesive.cells[he_cohesive.cells["kind"] == "lymphocyte"]
    d_lym, _ = cKDTree(yx).query(lym[["y_um", "x_um"]].to_numpy())
    assert (d_lym > t["a_um"].min()).all()


def test_tissue_and_glass(he_cohesive):
    n = he_cohesive
    assert 0.4 < n.tissue_mask.mean() < 0.95
    glass = n.rgb[~n.tissue_mask].astype(float)
    tissue = n.rgb[n.tissue_mask].astype(float)
    assert glass.mean() > 215 and tissue.mean() < glass.mean() - 20


def test_jpeg_changes_pixels_not_truth():
    plain = make_node(size_um=SMALL, pixel_size_um=2.0, seed=9)
    jpeg = make_node(size_um=SMALL, pixel_size_um=2.0, seed=9, jpeg_quality=90)
    pd.testing.assert_frame_equal(plain.cells, jpeg.cells)
    assert not np.array_equal(plain.rgb, jpeg.rgb)
    assert np.abs(plain.rgb.astype(int) - jpeg.rgb.astype(int)).mean() < 8
    assert jpeg.params["jpeg_quality"] == 90


def test_variation_off_uses_reference_stains():
    n = make_node(size_um=SMALL, pixel_size_um=2.0, seed=9, variation=False)
    for name, vec in n.params["stain_vectors"].items():
        np.testing.assert_allclose(vec, REFERENCE_STAIN_VECTORS[name], atol=1e-6)
    varied = [make_node(size_um=SMALL, pixel_size_um=2.0, seed=s).params for s in (1, 2)]
    assert varied[0]["stain_vectors"] != varied[1]["stain_vectors"]
    assert all(230 <= c <= 250 for p in varied for c in p["background_rgb"])


def test_truth_dict_is_json(two_deposits):
    truth = two_deposits.truth_dict()
    back = json.loads(json.dumps(truth))
    assert back["category"] == two_deposits.category
    assert back["tumor_cell_count"] == two_deposits.tumor_cell_count
    assert len(back["deposits"]) == 2
    assert back["pixel_size_um"] == 1.0
    assert back["params"]["seed"] == 11
    assert back["growth_pattern"] == two_deposits.growth_pattern


# ---------------------------------------------------------------- categories


@pytest.mark.parametrize(
    "category, pattern, size",
    [
        ("negative", "none", (500, 500)),
        ("itc", "cohesive", (500, 500)),
        ("itc", "single_file", (500, 500)),
        ("itc", "mixed", (500, 500)),
        ("micrometastasis", "single_file", (800, 800)),
        ("micrometastasis", "cohesive", None),
    ],
)
def test_make_node_category(category, pattern, size):
    n = make_node_category(category, pattern=pattern, pixel_size_um=2.0, seed=2, size_um=size)
    assert n.category == category
    if category != "negative":
        assert n.growth_pattern == pattern
    if category == "itc":
        assert 3 <= n.tumor_cell_count <= 30
        assert n.deposits["longest_diameter_um"].max() <= 180


def test_make_node_category_macro_is_big():
    n = make_node_category("macrometastasis", pixel_size_um=2.0, seed=1, stain="ihc")
    assert n.category == "macrometastasis"
    assert 2000 < n.deposits["longest_diameter_um"].max() <= 2600
    assert 2900 < min(n.rgb.shape[:2]) * 2.0 < 4000


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(stain="pas"), "stain must be one of"),
        (dict(pattern="solid"), "pattern must be one of"),
        (dict(pixel_size_um=0), "pixel_size_um must be > 0"),
        (dict(pixel_size_um=-1.0), "pixel_size_um"),
        (dict(pixel_size_um="0.5"), "pixel_size_um must be a number"),
        (dict(pixel_size_um=5.0), "pixel_size_um must be <= 2"),
        (dict(size_um=(50, 400)), "size_um must be finite and >= 100"),
        (dict(size_um=400), r"size_um must be a \(height, width\) pair"),
        (dict(seed=-1), "seed must be a whole number"),
        (dict(seed=1.5), "seed must be a whole number"),
        (dict(jpeg_quality=0), "jpeg_quality"),
        (dict(variation="yes"), "variation must be True or False"),
        (dict(deposits={"diameter_um": 100}), "deposits must be a list"),
        (dict(deposits=[{"diameter": 100}]), r"deposits\[0\] has unknown key"),
        (dict(deposits=[{"center_um": (10, 10)}]), r"deposits\[0\] needs 'diameter_um'"),
        (dict(deposits=[{"diameter_um": -5}]), r"diameter_um must be a finite number > 0"),
        (dict(deposits=[{"diameter_um": 100, "n_cells": 0}]), "n_cells must be a whole number >= 1"),
        (dict(deposits=[{"diameter_um": 100, "pattern": "solid"}]), "pattern must be one of"),
        (dict(deposits=[{"diameter_um": 100, "dispersed_fraction": 1.5}]),
         r"dispersed_fraction must be a number in \[0, 1\]"),
        (dict(pattern="none", deposits=[{"diameter_um": 100}]), "pattern='none' draws a negative node"),
        (dict(deposits=[{"diameter_um": 900}]), r"could not fit a 900 µm deposit.*enlarge size_um"),
        (dict(deposits=[{"diameter_um": 60, "n_cells": 40}]), "n_cells=40 do not fit"),
        (dict(deposits=[{"diameter_um": 100, "center_um": (150, 150)},
                        {"diameter_um": 100, "center_um": (250, 250)}]), "keep them >= 170"),
        (dict(deposits=[{"diameter_um": 100, "center_um": (-50, 150)}]), "outside the 400 x 400"),
        (dict(benign="florid"), "benign must be one of 'simple', 'typical', 'reactive'"),
        (dict(benign=None), "benign must be one of"),
    ],
)
def test_make_node_validation(kwargs, match):
    base = dict(size_um=SMALL, pixel_size_um=2.0)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_node(**base)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("stage3",), {}, "category must be one of"),
        (("itc",), dict(pattern="none"), "pattern='none' only makes a negative node"),
        (("macrometastasis",), dict(size_um=(1000, 1000)), "too small for a macrometastasis"),
        (("micrometastasis",), dict(size_um=(500, 500)), "too small for a micrometastasis"),
        (("negative",), dict(benign="normal"), "benign must be one of"),
    ],
)
def test_make_node_category_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_node_category(*args, pixel_size_um=2.0, **kwargs)


def test_deposit_spec_validates():
    with pytest.raises(ValueError, match="DepositSpec.center_um must be a"):
        DepositSpec(diameter_um=100, center_um=5)
    with pytest.raises(ValueError, match="diameter_um must be >= 10"):
        DepositSpec(diameter_um=5)
    spec = DepositSpec(diameter_um=100, n_cells=np.int64(4))
    assert spec.n_cells == 4 and isinstance(spec.n_cells, int)


# ---------------------------------------------------------------- benign anatomies


@pytest.fixture(scope="module")
def benign_nodes():
    """The same seed drawn with each benign anatomy (negative, H&E, 900 µm at 2 µm/px)."""
    kw = dict(size_um=(900.0, 900.0), pixel_size_um=2.0, pattern="none", seed=2)
    return {b: make_node(benign=b, **kw) for b in BENIGN_MODELS}


def _diameters(node, kind):
    return 2 * node.cells.loc[node.cells["kind"] == kind, "radius_um"]


def test_default_benign_is_simple(benign_nodes):
    simple = benign_nodes["simple"]
    again = make_node(size_um=(900.0, 900.0), pixel_size_um=2.0, pattern="none", seed=2)
    pd.testing.assert_frame_equal(simple.cells, again.cells)
    np.testing.assert_array_equal(simple.rgb, again.rgb)
    assert set(simple.cells["kind"]) <= set(SIMPLE_KINDS)
    assert "benign" not in simple.params
    assert list(simple.truth_dict()["cell_counts"]) == list(SIMPLE_KINDS)


def test_default_still_reproduces_the_sample_truth():
    """The committed sample (made before the benign option existed) is drawn unchanged."""
    truth = json.loads((SAMPLE_DATA / "node_negative_he.truth.json").read_text(encoding="utf-8"))
    recipe = truth["recipe"]
    assert recipe["function"] == "pipeline.synthetic.make_node_category"
    node = make_node_category(**recipe["kwargs"])
    now = json.loads(json.dumps(node.truth_dict()))
    assert now["cell_counts"] == truth["cell_counts"]
    assert now["shape_px"] == truth["shape_px"] and now["category"] == truth["category"] == "negative"
    assert now["params"].keys() == truth["params"].keys()
    for key, value in truth["params"].items():
        if key != "generator":  # the version string may move on
            assert now["params"][key] == value, key


@pytest.mark.parametrize("benign", ["typical", "reactive"])
def test_new_kinds_are_in_the_truth_with_plausible_sizes(benign_nodes, benign):
    node = benign_nodes[benign]
    kinds = set(node.cells["kind"])
    assert kinds <= set(KINDS) and {"plasma_cell", "histiocyte", "endothelial", "stromal"} <= kinds
    assert _diameters(node, "plasma_cell").between(8.0, 10.0).all()
    assert _diameters(node, "histiocyte").between(9.0, 14.0).all()
    assert _diameters(node, "germinal_centre").between(8.0, 11.0).all()
    assert _diameters(node, "mitotic_figure").between(4.0, 9.0).all()
    fib = node.cells[node.cells["kind"] == "stromal"]
    assert (fib["a_um"] / fib["b_um"]).median() > 3  # spindles
    counts = node.truth_dict()["cell_counts"]
    assert list(counts) == list(KINDS)
    assert counts == {k: int((node.cells["kind"] == k).sum()) for k in KINDS}
    assert node.params["benign"] == benign and node.params["n_trabeculae"] >= 1
    assert node.params["medulla_radius_um"] > 0
    np.testing.assert_array_equal(np.sort(np.unique(node.nuclei_labels))[1:], node.cells["cell_id"])


def test_reactive_has_more_confounders_than_typical(benign_nodes):
    typical, reactive = (benign_nodes[b].cells["kind"].value_counts() for b in ("typical", "reactive"))
    for kind in ("germinal_centre", "histiocyte", "plasma_cell", "mitotic_figure"):
        assert reactive.get(kind, 0) > typical.get(kind, 0), kind
    assert reactive["histiocyte"] > 2 * typical["histiocyte"]  # sinus histiocytosis
    p_typ, p_rea = benign_nodes["typical"].params, benign_nodes["reactive"].params
    assert p_rea["sinus_um"] > p_typ["sinus_um"]
    assert p_rea["n_germinal_centres"] >= 3 > p_typ["n_germinal_centres"]


def test_plasma_cells_cluster_in_the_medulla(benign_nodes):
    node = benign_nodes["typical"]
    yx = node.cells.loc[node.cells["kind"] == "plasma_cell", ["y_um", "x_um"]].to_numpy()
    lym = node.cells.loc[node.cells["kind"] == "lymphocyte", ["y_um", "x_um"]].to_numpy()
    # plasma cells have more plasma-cell neighbours within 40 µm than lymphocytes have
    tree = cKDTree(yx)
    near_plasma = np.mean([len(v) - 1 for v in tree.query_ball_point(yx, 40.0)])
    near_lymph = np.mean([len(v) for v in tree.query_ball_point(lym[::10], 40.0)])
    assert near_plasma > 3 * near_lymph


def test_benign_same_cells_at_two_pixel_sizes_and_stains():
    kw = dict(size_um=(500.0, 500.0), pattern="none", seed=6, benign="reactive")
    fine = make_node(pixel_size_um=1.0, **kw)
    coarse = make_node(pixel_size_um=2.0, **kw)
    ihc = make_node(pixel_size_um=2.0, stain="ihc", **kw)
    pd.testing.assert_frame_equal(fine.cells, coarse.cells)
    pd.testing.assert_frame_equal(coarse.cells, ihc.cells)
    assert fine.params["n_trabeculae"] == coarse.params["n_trabeculae"]
    assert fine.tissue_mask.sum() * 0.25 == pytest.approx(coarse.tissue_mask.sum(), rel=0.01)


@pytest.mark.parametrize("benign", ["typical", "reactive"])
@pytest.mark.parametrize("stain", ["he", "ihc"])
def test_benign_negative_nodes_stay_negative(benign, stain):
    n = make_node_category("negative", stain=stain, benign=benign, pixel_size_um=2.0, seed=31,
                           size_um=(600.0, 600.0))
    assert n.category == "negative" and n.tumor_cell_count == 0 and len(n.deposits) == 0
    assert not n.tumor_mask.any() and not n.cells["is_tumor"].any()
    assert (n.cells["deposit_id"] == -1).all()
    if stain == "ihc":  # no confounder takes up DAB: brown pixels are debris specks only
        rgb = n.rgb.astype(float)
        assert ((rgb[..., 0] - rgb[..., 2] > 40) & n.tissue_mask).mean() < 0.01


def test_confounders_look_the_part():
    """In H&E, plasma-cell nuclei lie between lymphocytes and histiocytes in darkness; mitoses are dark."""
    n = make_node(size_um=(500.0, 500.0), pixel_size_um=0.5, pattern="none", seed=0, benign="reactive",
                  variation=False)
    grey = {k: _mean_rgb_of(n, kind=k).mean()
            for k in ("lymphocyte", "plasma_cell", "histiocyte", "germinal_centre", "mitotic_figure")}
    assert grey["lymphocyte"] < grey["plasma_cell"] < grey["germinal_centre"]
    assert grey["plasma_cell"] < grey["histiocyte"]
    assert grey["mitotic_figure"] < grey["germinal_centre"] - 10
