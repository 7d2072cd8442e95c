"""Tests of the growth-pattern measures (pipeline.pattern) on hand-built point sets."""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from scipy.stats import spearmanr

from pipeline.contact import ContactGraph
from pipeline.measure import assign_deposits
from pipeline.pattern import (
    PATTERN_CUTOFF_MARGIN,
    CELL_PATTERN_COLUMNS,
    COHESIVE_MAX,
    DEPOSIT_PATTERN_COLUMNS,
    GROUP_COLUMNS,
    MIN_NEIGHBOUR_DISTANCE_UM,
    MIN_PATTERN_CELLS,
    SINGLE_FILE_MIN,
    SIZE_CLASSES,
    cell_pattern_table,
    deposit_pattern_table,
    group_table,
    growth_pattern,
    neighbour_distance_um,
    neighbour_graph,
    pattern_summary,
    ripley_l,
    ripley_l_minus_r,
)
from pipeline.spatial import ripley_l as spatial_ripley_l

# --------------------------------------------------------------------------- point sets


def _table(yx, radius):
    yx = np.asarray(yx, dtype=float).reshape(-1, 2)
    radius = np.broadcast_to(np.asarray(radius, dtype=float), (len(yx),))
    return pd.DataFrame({"y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": radius.copy()})


def hex_nest(n_side=6, *, spacing=14.0, radius=6.0, centre=(0.0, 0.0), jitter=1.0, seed=0):
    """A hexagonal nest of 3n(n-1)+1 cells (n_side=6: 91 cells), ~14 µm apart, r ~6 µm."""
    rng = np.random.default_rng(seed)
    m = n_side - 1
    pts = [
        (spacing * np.sqrt(3) / 2 * r, spacing * (q + r / 2.0))
        for q in range(-m, m + 1)
        for r in range(max(-m, -q - m), min(m, -q + m) + 1)
    ]
    yx = np.array(pts) + np.asarray(centre) + rng.normal(0, jitter, (len(pts), 2))
    return _table(yx, radius + rng.normal(0, 0.3, len(yx)))


def chain(n, start, *, heading=0.0, curvature=0.0, spacing=12.0, radius=4.5, rng=None):
    """A one-cell-wide file of n cells, ~12 µm apart, turning by `curvature` rad per cell."""
    rng = np.random.default_rng(0) if rng is None else rng
    pts = [np.asarray(start, float)]
    h = heading
    for _ in range(n - 1):
        h += curvature + rng.normal(0, 0.02)
        step = spacing + rng.normal(0, 0.5)
        pts.append(pts[-1] + step * np.array([np.sin(h), np.cos(h)]))
    return _table(pts, radius + rng.normal(0, 0.2, n))


def chains(n_chains=8, *, origin=(0.0, 0.0), singles=4, seed=1):
    """Straight and gently curved files of 8-20 cells, 80 µm apart, plus single cells."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_chains):
        start = (origin[0] + 80.0 * k, origin[1])
        n = int(rng.integers(8, 21))
        parts.append(
            chain(n, start, heading=rng.normal(0, 0.05), curvature=0.015 * (k % 2), rng=rng)
        )
    for s in range(singles):
        parts.append(_table([(origin[0] + 80.0 * s + 40.0, origin[1] + 400.0)], 4.5))
    return pd.concat(parts, ignore_index=True)


def mix(n_chains, seed=0):
    """A 91-cell nest plus n_chains files placed well away from it."""
    parts = [hex_nest(seed=seed)]
    if n_chains:
        parts.append(chains(n_chains, origin=(-100.0, 200.0), singles=0, seed=seed + 1))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- patterns


def test_hexagonal_nest_is_cohesive():
    nest = hex_nest()
    s = pattern_summary(nest)
    assert s["tumor_cells"] == 91
    assert s["growth_pattern"] == "cohesive"
    assert s["discohesion_index"] == 0.0
    assert s["fraction_20_plus"] == 1.0 and s["group_count"] == 1
    assert 4.5 < s["mean_degree"] < 6.5  # contact neighbours in a hexagonal packing
    assert s["median_nn_distance_um"] == pytest.approx(14.0, abs=2.0)
    g = group_table(nest).iloc[0]
    assert not g["linear"] and not g["dispersed"]
    assert g["low_degree_fraction"] < 0.1
    assert g["mst_path_ratio"] < 0.45
    assert g["axis_ratio"] > 0.8


def test_chains_are_single_file():
    cells = chains()
    s = pattern_summary(cells)
    assert s["growth_pattern"] == "single_file"
    assert s["discohesion_index"] == pytest.approx(1.0)
    assert s["fraction_single"] == pytest.approx(4 / len(cells))
    assert s["fraction_linear"] == pytest.approx(1 - 4 / len(cells))
    assert s["mean_degree"] < 2.0
    groups = group_table(cells)
    files = groups[groups["cell_count"] >= 8]
    assert len(files) == 8  # every file is one group, no file merged with another
    assert files["linear"].all() and files["dispersed"].all()
    assert (files["low_degree_fraction"] == 1.0).all()
    assert (files["mst_path_ratio"] == 1.0).all()
    assert (files["axis_ratio"] < 0.2).all()
    singles = groups[groups["cell_count"] == 1]
    assert len(singles) == 4 and singles["dispersed"].all() and not singles["linear"].any()


def test_ring_of_cells_is_a_single_file():
    # targetoid file around a duct: a closed ring of 20 cells, 12 µm apart
    angle = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    radius = 12.0 / (2 * np.sin(np.pi / 20))
    ring = _table(np.c_[radius * np.sin(angle), radius * np.cos(angle)], 4.5)
    g = group_table(ring).iloc[0]
    assert g["cell_count"] == 20 and g["linear"]
    assert g["axis_ratio"] > 0.9  # not elongated: the path ratio makes it linear
    assert (cell_pattern_table(ring)["degree"] == 2).all()


def test_mix_is_mixed_and_index_grows_with_dispersed_share():
    s = pattern_summary(mix(8))
    assert s["growth_pattern"] == "mixed"
    assert 0.3 < s["discohesion_index"] < 0.7
    nest_cells = 91
    expected = (s["tumor_cells"] - nest_cells) / s["tumor_cells"]
    assert s["discohesion_index"] == pytest.approx(expected)

    share, index = [], []
    for k in range(0, 13, 2):
        cells = mix(k)
        share.append((len(cells) - nest_cells) / len(cells))
        index.append(pattern_summary(cells)["discohesion_index"])
    assert index[0] == 0.0 and index[-1] > 0.6
    rho = spearmanr(share, index).statistic
    assert rho >= 0.9
    assert np.all(np.diff(index) >= 0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["nest", "chains"])
def test_dropping_ten_percent_of_cells_keeps_the_label(kind, seed):
    cells = hex_nest() if kind == "nest" else chains()
    full = pattern_summary(cells)
    keep = np.random.default_rng(seed).random(len(cells)) >= 0.1
    part = pattern_summary(cells[keep])
    assert part["growth_pattern"] == full["growth_pattern"]
    assert part["discohesion_index"] == pytest.approx(full["discohesion_index"], abs=0.1)
    if kind == "chains":
        # a missed cell splits a file into shorter files: still dispersed, rarely singles
        assert part["fraction_single"] < 0.15
        assert part["discohesion_index"] >= 0.9


def test_a_missed_cell_splits_a_file_into_dispersed_pieces():
    cells = chain(15, (0.0, 0.0))
    dropped = cells.drop(index=[4, 9])
    t = group_table(dropped)
    assert len(t) == 3 and t["dispersed"].all()
    assert pattern_summary(dropped, min_cells=5)["discohesion_index"] == 1.0
    # cells of a file have at most two contact neighbours
    assert cell_pattern_table(dropped)["degree"].max() == 2


# --------------------------------------------------------------------------- scale


def test_results_depend_only_on_micrometres():
    # the same cells, located on a 0.25 µm and a 0.5 µm pixel grid
    truth = pd.concat([hex_nest(), chains(origin=(-100.0, 200.0))], ignore_index=True)
    results = []
    for pixel_size in (0.25, 0.5):
        px = (truth[["y_um", "x_um"]] / pixel_size).round()
        cells = truth.copy()
        cells[["y_um", "x_um"]] = px * pixel_size
        results.append(
            (pattern_summary(cells), group_table(cells), cell_pattern_table(cells))
        )
    (s1, g1, c1), (s2, g2, c2) = results
    assert s1["growth_pattern"] == s2["growth_pattern"]
    assert s1["discohesion_index"] == s2["discohesion_index"]
    pd.testing.assert_frame_equal(
        g1[["group_id", "cell_count", "linear", "dispersed"]],
        g2[["group_id", "cell_count", "linear", "dispersed"]],
    )
    pd.testing.assert_series_equal(c1["group_id"], c2["group_id"])


@settings(max_examples=15, deadline=None)
@given(scale=st.floats(1.0, 5.0), shift=st.floats(-1e4, 1e4))
def test_scaling_all_lengths_gives_the_same_groups(scale, shift):
    # scales >= 1 keep these cells' linking distance (>= 20 µm) above the 18 µm floor
    cells = pd.concat([hex_nest(4), chains(3, origin=(300.0, 0.0))], ignore_index=True)
    scaled = cells * scale
    scaled[["y_um", "x_um"]] += shift
    a, b = group_table(cells), group_table(scaled)
    pd.testing.assert_frame_equal(
        a[["group_id", "cell_count", "size_class", "linear", "dispersed"]],
        b[["group_id", "cell_count", "size_class", "linear", "dispersed"]],
    )
    assert neighbour_distance_um(scaled) == pytest.approx(scale * neighbour_distance_um(cells))


# --------------------------------------------------------------------------- Ripley


def test_ripley_l_of_random_points_is_r():
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 1000, size=(3000, 2))
    radii = np.array([10.0, 20.0, 50.0, 100.0])
    L = ripley_l(pts, radii_um=radii, bbox=(0, 0, 1000, 1000))
    assert L.shape == radii.shape
    np.testing.assert_allclose(L, radii, atol=3.0)
    # the points' own bounding box is a close enough window for this many points
    np.testing.assert_allclose(ripley_l(pts, radii_um=radii), radii, atol=3.0)
    np.testing.assert_allclose(
        ripley_l_minus_r(pts, radii_um=radii, bbox=(0, 0, 1000, 1000)), L - radii
    )


def test_ripley_l_is_nan_where_a_pair_can_span_the_window():
    # two cells 10 x 10 µm apart in their own bounding box: the pair spans the window, whose
    # translation weight is unbounded; L is NaN from the shorter side on (was inf, with an
    # overflow warning), and 0 below it (no pair that close)
    pts = np.array([[0.0, 0.0], [10.0, 10.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L = ripley_l(pts, radii_um=[5, 10, 20, 50])
    assert L[0] == 0 and np.isnan(L[1:]).all()
    # a wider window, given: every radius below its shorter side is defined and finite
    L = ripley_l(pts, radii_um=[5, 20, 50], bbox=(-100, -100, 100, 100))
    assert np.isfinite(L).all() and L[0] == 0 and L[1] > 0
    assert np.isnan(pattern_summary(_table(pts, 5.0))["ripley_l_20um"])


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.tuples(st.floats(0, 300), st.floats(0, 300)), min_size=0, max_size=6),
       collapse=st.sampled_from(["none", "x", "y", "diagonal"]))
@example(points=[(0.0, 0.0), (30.0, 40.0)], collapse="none")
@example(points=[(0.0, 0.0), (5.0, 0.0), (12.0, 0.0)], collapse="diagonal")
@example(points=[(3.0, 3.0)] * 4, collapse="none")
@example(points=[(0.0, 0.0), (5e-324, 0.0)], collapse="diagonal")  # a window whose area underflows to 0
def test_pattern_summary_of_a_few_cells_is_finite_or_nan(points, collapse):
    # ITC-sized deposits in any layout (on a line, on the diagonal, repeated points): no
    # numerical warning (the suite turns warnings into errors) and no infinite measure
    yx = np.array(points, float).reshape(-1, 2)
    if collapse == "x":
        yx[:, 0] = 7.0
    elif collapse == "y":
        yx[:, 1] = 7.0
    elif collapse == "diagonal":
        yx[:, 1] = yx[:, 0]
    summary = pattern_summary(_table(yx, 4.0))
    values = np.array([v for v in summary.values() if isinstance(v, float)])
    assert not np.isinf(values).any()


def test_ripley_l_of_clustered_points_exceeds_r():
    rng = np.random.default_rng(4)
    parents = rng.uniform(100, 900, size=(30, 2))
    pts = np.concatenate([p + rng.normal(0, 15, size=(40, 2)) for p in parents])
    pts = np.clip(pts, 0, 1000)
    lr = ripley_l_minus_r(pts, radii_um=[20, 50], bbox=(0, 0, 1000, 1000))
    assert (lr > 20).all()
    assert pattern_summary(_table(pts, 5.0))["ripley_l_50um"] > 50


def test_ripley_l_scalar_edge_cases():
    assert ripley_l([[0, 0], [3, 4]], radii_um=10, bbox=(0, 0, 10, 10)).shape == ()
    assert np.isnan(ripley_l([[1.0, 1.0]], radii_um=[5, 10])).all()
    assert np.isnan(ripley_l(np.zeros((0, 2)), radii_um=5))
    # collinear points have a zero-area bounding box: undefined without a window
    assert np.isnan(ripley_l([[0, 0], [0, 5], [0, 10]], radii_um=5))
    far = ripley_l([[0, 0], [100, 100]], radii_um=5, bbox=(0, 0, 100, 100))
    assert far == 0.0


# --------------------------------------------------------------------------- tables


def test_size_classes_sum_to_one():
    parts = [hex_nest(3), chains(2, origin=(300.0, 0.0), singles=3)]
    parts += [chain(k, (600.0 + 80 * k, 0.0)) for k in (2, 3, 5, 6)]
    cells = pd.concat(parts, ignore_index=True)
    s = pattern_summary(cells)
    total = s["fraction_single"] + s["fraction_2_5"] + s["fraction_6_19"] + s["fraction_20_plus"]
    assert total == pytest.approx(1.0)
    assert s["discohesion_index"] == pytest.approx(
        s["fraction_single"] + s["fraction_2_5"] + s["fraction_linear"]
    )
    g = group_table(cells)
    assert set(g["size_class"]) <= set(SIZE_CLASSES)
    assert g["cell_count"].sum() == len(cells)
    assert g["cell_count"].is_monotonic_decreasing
    small = g[g["cell_count"].between(2, 5)]
    assert small["dispersed"].all() and not small["linear"].any()
    assert g.loc[g["cell_count"] <= 2, "axis_ratio"].isna().all()
    assert g.loc[g["cell_count"] == 1, "mst_path_ratio"].isna().all()


def test_cell_pattern_table_matches_group_table_and_keeps_index():
    cells = chains(3, singles=2)
    cells.index = np.arange(len(cells)) * 10 + 7
    per_cell = cell_pattern_table(cells)
    assert list(per_cell.columns) == ["group_id", "group_size", "degree", "nn_distance_um"]
    assert per_cell.index.equals(cells.index)
    groups = group_table(cells).set_index("group_id")
    sizes = per_cell.groupby("group_id").size()
    assert (sizes == groups["cell_count"]).all()
    assert (per_cell["group_size"] == groups.loc[per_cell["group_id"], "cell_count"].values).all()
    assert (per_cell["nn_distance_um"] > 0).all()
    one = cell_pattern_table(cells.iloc[:1])
    assert one["group_id"].tolist() == [1] and np.isnan(one["nn_distance_um"]).all()


def test_neighbour_graph_is_symmetric_and_has_the_radius_graph_components():
    cells = mix(4)
    gabriel = neighbour_graph(cells)
    radius = neighbour_graph(cells, method="radius")
    assert gabriel.dtype == bool and gabriel.shape == (len(cells), len(cells))
    assert (gabriel != gabriel.T).nnz == 0 and gabriel.diagonal().sum() == 0
    assert (gabriel > radius).nnz == 0  # the contact graph is a subgraph
    _, a = connected_components(gabriel, directed=False)
    _, b = connected_components(radius, directed=False)
    assert np.array_equal(a, b)
    small = neighbour_graph(cells, distance_um=1.0)
    assert small.nnz == 0


def test_neighbour_distance_from_cell_size():
    cells = _table([[0, 0], [12, 0], [24, 0]], [5.0, 5.5, 6.0])
    assert neighbour_distance_um(cells) == pytest.approx(2.1 * 11.0)
    assert neighbour_distance_um(cells, factor=2.5) == pytest.approx(27.5)
    assert neighbour_distance_um(_table(np.zeros((0, 2)), 5.0)) == 0.0
    # small nuclear profiles: the distance does not fall below the floor (18 µm), unless asked
    small = cells.assign(radius_um=3.0)
    assert neighbour_distance_um(small) == pytest.approx(MIN_NEIGHBOUR_DISTANCE_UM) == 18.0
    assert neighbour_distance_um(small, min_distance_um=0) == pytest.approx(2.1 * 6.0)
    with pytest.raises(ValueError, match="min_distance_um must be"):
        neighbour_distance_um(small, min_distance_um=-1)


def test_nest_of_small_nuclear_profiles_is_cohesive():
    # a section's nuclear profiles measure ~6 µm in real carcinoma (MoNuSeg outlines) while
    # the cells touch 14 µm apart: 2.1 x 6 µm = 12.6 µm would leave every cell single
    nest = hex_nest(6, spacing=14.0, radius=3.0, jitter=0.0)
    s = pattern_summary(nest)
    assert s["neighbour_distance_um"] == pytest.approx(18.0)
    assert s["growth_pattern"] == "cohesive" and s["discohesion_index"] == 0.0
    unfloored = pattern_summary(nest, distance_um=neighbour_distance_um(nest, min_distance_um=0))
    assert unfloored["discohesion_index"] == 1.0


def test_empty_and_too_few_cells_are_none():
    empty = _table(np.zeros((0, 2)), 5.0)
    s = pattern_summary(empty)
    assert s["growth_pattern"] == "none" and s["discohesion_index"] == 0.0
    assert s["tumor_cells"] == 0 and s["group_count"] == 0
    assert np.isnan(s["mean_degree"]) and np.isnan(s["ripley_l_20um"])
    assert len(group_table(empty)) == 0 and len(cell_pattern_table(empty)) == 0
    assert neighbour_graph(empty).shape == (0, 0)

    few = chains(1, singles=0).iloc[:9]  # 9 cells of a file: too few to call
    s = pattern_summary(few)
    assert s["growth_pattern"] == "none" and s["discohesion_index"] == 0.0
    assert s["fraction_linear"] == 1.0  # the measures are still reported
    assert pattern_summary(few, min_cells=5)["growth_pattern"] == "single_file"


def test_thresholds_are_parameters():
    cells = mix(8)
    index = pattern_summary(cells)["discohesion_index"]
    # on the index alone (no scale interval) the cut-offs are inclusive
    assert pattern_summary(cells, cohesive_max=index, scale_span=0)["growth_pattern"] == "cohesive"
    assert pattern_summary(cells, single_file_min=index, scale_span=0)["growth_pattern"] == "single_file"
    # a linking distance too short for any contact makes every cell single
    s = pattern_summary(cells, distance_um=2.0)
    assert s["fraction_single"] == 1.0 and s["growth_pattern"] == "single_file"


def _nest_and_loose_nest(spacing_um):
    """A 91-cell nest and, 400 µm away, a 19-cell nest whose cells are spacing_um apart."""
    loose = hex_nest(3, spacing=spacing_um, centre=(400.0, 0.0), jitter=0.0)
    return pd.concat([hex_nest(), loose], ignore_index=True)


def test_scale_interval_and_borderline_call():
    # the loose nest's cells lie 25.8 µm apart, just beyond the linking distance
    # (2.1 x 12 µm = 25.2 µm) and within 5 % of it: single cells at the distance
    # (index 19/110 = 0.17), one cohesive group at 1.05 x the distance (index 0)
    cells = _nest_and_loose_nest(25.8)
    s = pattern_summary(cells)
    assert s["discohesion_index"] == pytest.approx(19 / 110)
    assert (s["discohesion_low"], s["discohesion_high"]) == (0.0, s["discohesion_index"])
    assert s["growth_pattern"] == "cohesive" and s["pattern_borderline"] is False
    # a cut-off inside the interval, or within PATTERN_CUTOFF_MARGIN (0.02) of it:
    # "mixed", flagged borderline, whichever side the index is
    for cut in (0.1, 0.16, 0.19):
        border = pattern_summary(cells, cohesive_max=cut)
        assert border["growth_pattern"] == "mixed" and border["pattern_borderline"] is True
    assert pattern_summary(cells, cohesive_max=0.2)["growth_pattern"] == "cohesive"
    # without the interval (scale_span=0) the call is the plain threshold on the index
    plain = pattern_summary(cells, cohesive_max=0.16, scale_span=0)
    assert plain["growth_pattern"] == "mixed" and plain["pattern_borderline"] is False
    assert plain["discohesion_low"] == plain["discohesion_high"] == plain["discohesion_index"]
    # per deposit, the same rule
    cells["deposit_id"] = np.r_[np.ones(91, int), np.full(19, 2)]
    t = deposit_pattern_table(cells)
    assert t["growth_pattern"].tolist() == ["cohesive", "mixed"]
    assert t["pattern_borderline"].tolist() == [False, True]
    assert t["discohesion_low"].tolist() == [0.0, 0.0]
    assert t["discohesion_high"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"scale_span must be a fraction in \[0, 1\)"):
        pattern_summary(cells, scale_span=1.0)


def test_cutoff_margin_when_the_index_does_not_move_with_scale():
    # a nest and isolated cells 100 µm apart: the index is the same at every scale, so the
    # scale interval is a point; near a cut-off the call is still borderline
    def nest_and_singles(n_single):
        singles = _table([[1000.0, 100.0 * k] for k in range(n_single)], 6.0)
        return pd.concat([hex_nest(), singles], ignore_index=True)

    near = pattern_summary(nest_and_singles(37))  # 37 / 128 = 0.289
    assert near["discohesion_low"] == near["discohesion_high"] == pytest.approx(37 / 128)
    assert 0.3 - PATTERN_CUTOFF_MARGIN < near["discohesion_index"] <= 0.3
    assert near["growth_pattern"] == "mixed" and near["pattern_borderline"] is True
    assert pattern_summary(nest_and_singles(37), scale_span=0)["growth_pattern"] == "cohesive"
    clear = pattern_summary(nest_and_singles(30))  # 30 / 121 = 0.248
    assert clear["growth_pattern"] == "cohesive" and clear["pattern_borderline"] is False
    # the margin never exceeds the band: with a cut-off at 0, an index of 0 is cohesive
    assert pattern_summary(hex_nest(), cohesive_max=0.0)["growth_pattern"] == "cohesive"


def test_deposit_pattern_table():
    nest = hex_nest().assign(deposit_id=1)
    files = chains(origin=(0.0, 400.0)).assign(deposit_id=2)
    tiny = _table([[1000, 1000], [1000, 1012]], 5.0).assign(deposit_id=3)
    outside = _table([[2000, 2000]], 5.0).assign(deposit_id=0)
    cells = pd.concat([files, outside, nest, tiny], ignore_index=True)
    t = deposit_pattern_table(cells)
    assert list(t.columns) == [
        "deposit_id", "discohesion_index", "growth_pattern", "discohesion_low",
        "discohesion_high", "pattern_borderline", "fraction_single",
        "fraction_linear", "mean_degree", "group_count",
    ]
    assert t["deposit_id"].tolist() == [1, 2, 3]
    assert t["growth_pattern"].tolist() == ["cohesive", "single_file", "none"]
    assert t["discohesion_index"].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert t["group_count"].tolist() == [1, 12, 1]
    assert t.loc[1, "fraction_linear"] > 0.9
    # cells of different deposits are never linked, even when they touch
    touching = _table([[0, 0], [0, 12], [0, 24], [0, 36]], 4.5).assign(deposit_id=[1, 1, 2, 2])
    assert deposit_pattern_table(touching)["group_count"].tolist() == [1, 1]
    assert len(deposit_pattern_table(outside)) == 0


def test_inputs_are_not_modified():
    cells = mix(2).assign(deposit_id=1)
    before = cells.copy(deep=True)
    pts = cells[["y_um", "x_um"]].to_numpy()
    pts_before = pts.copy()
    neighbour_distance_um(cells)
    neighbour_graph(cells)
    cell_pattern_table(cells)
    group_table(cells)
    pattern_summary(cells)
    deposit_pattern_table(cells)
    ripley_l(pts, radii_um=[20, 50])
    pd.testing.assert_frame_equal(cells, before)
    np.testing.assert_array_equal(pts, pts_before)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda c: pattern_summary(c.to_numpy()), "cells must be a pandas DataFrame"),
        (
            lambda c: group_table(c.drop(columns="radius_um")),
            r"missing column\(s\) \['radius_um'\]",
        ),
        (lambda c: cell_pattern_table(c.assign(y_um=np.nan)), "NaN or infinite"),
        (lambda c: group_table(c.assign(radius_um=-1.0)), "negative radius_um"),
        (lambda c: neighbour_distance_um(c.assign(radius_um=0.0)), "pass distance_um"),
        (lambda c: neighbour_distance_um(c, factor=0), "factor must be"),
        (lambda c: neighbour_graph(c, distance_um=-5), "distance_um must be"),
        (lambda c: neighbour_graph(c, method="knn"), "method must be one of 'gabriel', 'radius'"),
        (lambda c: pattern_summary(c, min_cells=0), "min_cells must be a whole number"),
        (
            lambda c: pattern_summary(c, cohesive_max=1.5),
            r"cohesive_max must be a fraction in \[0, 1\]",
        ),
        (
            lambda c: pattern_summary(c, cohesive_max=0.8, single_file_min=0.7),
            "must be smaller than single_file_min",
        ),
        (lambda c: pattern_summary(c, bbox=(0, 0, 1, 1)), "does not contain all points_yx"),
        (lambda c: deposit_pattern_table(c), "no deposit_id column"),
        (lambda c: deposit_pattern_table(c.assign(deposit_id=0.5)), "deposit_id must be integers"),
    ],
)
def test_errors_name_the_argument(call, match):
    cells = hex_nest(3)
    with pytest.raises((ValueError, TypeError), match=match):
        call(cells)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"points_yx": np.zeros((3, 3)), "radii_um": 5}, r"shape \(N, 2\)"),
        ({"points_yx": [[0, np.nan]], "radii_um": 5}, "NaN or infinite"),
        (
            {"points_yx": [[0, 0], [1, 1]], "radii_um": [5, -1]},
            "radii_um must all be finite and > 0",
        ),
        ({"points_yx": [[0, 0], [1, 1]], "radii_um": []}, "radii_um must be a number or a 1-D"),
        ({"points_yx": [[0, 0], [1, 1]], "radii_um": 5, "area_um2": 0}, "area_um2 must be"),
        ({"points_yx": [[0, 0], [1, 1]], "radii_um": 5, "bbox": (0, 0, -1, 1)}, "y1 > y0"),
        (
            {"points_yx": [[0, 0], [1, 1]], "radii_um": 5, "bbox": (0, 0)},
            r"bbox must be \(y0, x0, y1, x1\)",
        ),
    ],
)
def test_ripley_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ripley_l(**kwargs)


# --------------------------------------------------------------------------- one graph


def _four_calls(cells, call, window):
    """The growth pattern as measure_node computed it before growth_pattern: four calls."""
    per_cell = cell_pattern_table(cells)
    groups = group_table(cells)
    dispersed = (
        groups.set_index("group_id")["dispersed"].reindex(per_cell["group_id"]).to_numpy(dtype=bool)
        if len(cells) else np.zeros(0, bool)
    )
    per_cell["dispersed"] = dispersed
    return (per_cell, groups, deposit_pattern_table(cells, **call),
            pattern_summary(cells, **call, **window))


def _assert_same_summary(a, b):
    assert list(a) == list(b)
    for key in a:
        assert type(a[key]) is type(b[key]), key
        if isinstance(a[key], float) and np.isnan(a[key]):
            assert np.isnan(b[key]), key
        else:
            assert a[key] == b[key], key


def _nest_chains_scattered():
    rng = np.random.default_rng(5)
    scattered = _table(rng.uniform(-1500, 1500, size=(25, 2)), 5.0)
    return pd.concat([hex_nest(5), chains(4, origin=(-600.0, 300.0)), scattered],
                     ignore_index=True)


GROWTH_TABLES = {
    "empty": lambda: _table(np.zeros((0, 2)), 5.0),
    "one cell": lambda: _table([[10.0, 20.0]], 5.0),
    "nest, chains and scattered cells": _nest_chains_scattered,
}


@pytest.mark.parametrize("rule", ["camelyon", "contiguous"])
@pytest.mark.parametrize("window", [{}, {"area_um2": 9e6, "bbox": (-2000.0, -2000, 2000, 2000)}])
@pytest.mark.parametrize("call", [{}, {"min_cells": 3, "cohesive_max": 0.1, "single_file_min": 0.5}])
@pytest.mark.parametrize("name", list(GROWTH_TABLES))
def test_growth_pattern_is_identical_to_the_four_single_table_calls(name, call, window, rule):
    cells = GROWTH_TABLES[name]()
    cells.index = cells.index * 2 + 5  # the index of the input is kept
    cells["deposit_id"] = assign_deposits(cells, rule=rule)
    before = cells.copy()
    gp = growth_pattern(cells, **call, **window)
    per_cell, groups, deposits, summary = _four_calls(cells, call, window)
    pd.testing.assert_frame_equal(gp.cells, per_cell, check_exact=True)
    assert list(gp.cells.columns) == [*CELL_PATTERN_COLUMNS, "dispersed"]
    pd.testing.assert_frame_equal(gp.groups, groups, check_exact=True)
    assert list(gp.groups.columns) == list(GROUP_COLUMNS)
    pd.testing.assert_frame_equal(gp.deposits, deposits, check_exact=True)
    assert list(gp.deposits.columns) == list(DEPOSIT_PATTERN_COLUMNS)
    _assert_same_summary(gp.summary, summary)
    pd.testing.assert_frame_equal(cells, before)
    if name.startswith("nest") and rule == "contiguous":
        # strict contiguity splits some contact edges, so per-deposit groups differ
        graph = ContactGraph(cells)
        ids = cells["deposit_id"].to_numpy()
        assert (ids[graph.i] != ids[graph.j]).any()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    yx=st.lists(st.tuples(st.floats(0, 300), st.floats(0, 300)), min_size=0, max_size=40),
    radius=st.floats(1.0, 8.0),
    rule=st.sampled_from(["camelyon", "contiguous"]),
)
def test_growth_pattern_matches_the_single_calls_on_random_cells(yx, radius, rule):
    cells = _table(np.array(yx, dtype=float).reshape(-1, 2), radius)
    cells["deposit_id"] = assign_deposits(cells, rule=rule, link_um=10.0)
    # a window around the points (their own bounding box makes Ripley's L infinite for
    # a pair spanning it, a RuntimeWarning that this test is not about)
    window = {"bbox": (-1.0, -1.0, 301.0, 301.0)}
    gp = growth_pattern(cells, min_cells=2, **window)
    per_cell, groups, deposits, summary = _four_calls(cells, {"min_cells": 2}, window)
    pd.testing.assert_frame_equal(gp.cells, per_cell, check_exact=True)
    pd.testing.assert_frame_equal(gp.groups, groups, check_exact=True)
    pd.testing.assert_frame_equal(gp.deposits, deposits, check_exact=True)
    _assert_same_summary(gp.summary, summary)


def test_growth_pattern_without_deposits_and_its_outputs_are_writable():
    cells = mix(2)
    gp = growth_pattern(cells)
    assert gp.deposits is None
    assert gp.summary == pattern_summary(cells)
    gp.cells.loc[0, "degree"] = 99  # plain tables, not views of the graph's arrays
    gp.groups.loc[0, "cell_count"] = 0
    assert growth_pattern(cells).cells.loc[0, "degree"] != 99


def test_growth_pattern_defaults_are_the_module_constants():
    for func in (growth_pattern, pattern_summary, deposit_pattern_table):
        params = inspect.signature(func).parameters
        assert params["min_cells"].default is MIN_PATTERN_CELLS == 10
        assert params["cohesive_max"].default is COHESIVE_MAX == 0.3
        assert params["single_file_min"].default is SINGLE_FILE_MIN == 0.7
    assert spatial_ripley_l is ripley_l


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda c: growth_pattern(c.to_numpy()), "cells must be a pandas DataFrame"),
        (lambda c: growth_pattern(c.assign(radius_um=-1.0)), "negative radius_um"),
        (lambda c: growth_pattern(c.assign(deposit_id=0.5)), "deposit_id must be integers"),
        (lambda c: growth_pattern(c, min_cells=0), "min_cells must be a whole number"),
        (lambda c: growth_pattern(c, bbox=(0, 0, 1, 1)), "does not contain all points_yx"),
        (lambda c: growth_pattern(c, area_um2=-1), "area_um2 must be"),
    ],
)
def test_growth_pattern_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(hex_nest(3))


def test_he_pattern_not_assessable_coarser_than_the_detector_range():
    """An H&E growth pattern is called up to 1.25 µm/px; coarser it is not assessable
    (the stage is still given); cytokeratin IHC keeps its pattern there."""
    from pipeline.stages import HE_PATTERN_MAX_PIXEL_UM, measure_node

    # a single file of 30 cells 12 µm apart: clearly "single_file" wherever it is called
    chain = pd.DataFrame({"y_um": np.zeros(30), "x_um": np.arange(30) * 12.0, "radius_um": 5.0})
    fine = measure_node(chain, pixel_size_um=1.0, stain="he")
    coarse = measure_node(chain, pixel_size_um=HE_PATTERN_MAX_PIXEL_UM + 0.25, stain="he")
    ihc = measure_node(chain, pixel_size_um=HE_PATTERN_MAX_PIXEL_UM + 0.25, stain="ihc")
    assert fine.growth_pattern == ihc.growth_pattern != "not_assessable"
    assert coarse.growth_pattern == "not_assessable" and not coarse.pattern_borderline
    assert coarse.category == fine.category == "micrometastasis"


def test_count_within_counts_anchors_in_reach_and_handles_empty_sets():
    from pipeline.spatial import count_within

    pts = [[0.0, 0.0], [0.0, 50.0], [100.0, 100.0]]
    anchors = [[0.0, 5.0], [3.0, 0.0], [0.0, 60.0], [0.0, 100.0]]
    assert count_within(pts, anchors, radius_um=10.0).tolist() == [2, 1, 0]
    assert count_within(pts, anchors, radius_um=5.0).tolist() == [2, 0, 0]  # inclusive at 5 µm
    assert count_within(pts, np.zeros((0, 2)), radius_um=10.0).tolist() == [0, 0, 0]
    assert count_within(np.zeros((0, 2)), anchors, radius_um=10.0).shape == (0,)
    with pytest.raises(ValueError, match="radius_um"):
        count_within(pts, anchors, radius_um=-1.0)
