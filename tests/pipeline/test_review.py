"""The review model (pipeline.review): edits, exclusion regions, re-measure and the record."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from pipeline.options import AnalysisOptions
from pipeline.review import (
    REVIEW_FIELDS,
    Review,
    cells_from_points,
    in_regions,
    review_record,
    shape_polygon,
)
from pipeline.stages import CONTEXT_FIELDS, measure_node

#: Everything an analysis knows about the image, which a re-measure must keep.
CONTEXT = {
    "image": "node.tif", "shape": (4000, 4800), "nucleus_count": 5000, "tissue_area_mm2": 0.8,
    "stain_reason": "given", "stain_vectors_source": "estimated", "flags": ["few_nuclei"],
    "parameters": {"stain": "ihc", "tile_px": 512, "background": [240, 238, 241]},
    "overview": np.full((10, 12, 3), 200, np.uint8), "overview_pixel_size_um": 2.0,
    "pixel_size_source": "ome", "input_sha256": "ab" * 32, "run_parameters": {"stain": "auto"},
}


def _cells():
    """A 5 x 5 nest (14 µm pitch) and a pair of cells 400 µm away."""
    yy, xx = np.mgrid[0:5, 0:5] * 14.0
    nest = pd.DataFrame({"y_um": yy.ravel() + 100, "x_um": xx.ravel() + 100})
    pair = pd.DataFrame({"y_um": [100.0, 100.0], "x_um": [500.0, 530.0]})
    cells = pd.concat([nest, pair], ignore_index=True)
    cells["radius_um"] = 5.0
    cells["area_um2"] = np.pi * 25
    return cells


@pytest.fixture(params=[0.25, 0.5])
def analysed(request):
    return measure_node(_cells(), pixel_size_um=request.param, stain="ihc",
                        options=AnalysisOptions(stain="ihc", link_um=60.0), **CONTEXT)


def _shown(result):
    """The points a viewer shows of a result: (y, x) µm, cell ids, radii."""
    return (result.cells[["y_um", "x_um"]].to_numpy(), result.cells["cell_id"].to_numpy(),
            result.cells["radius_um"].to_numpy())


PAIR_BOX = np.array([[80.0, 480.0], [80.0, 550.0], [120.0, 550.0], [120.0, 480.0]])


# ------------------------------------------------------------------ geometry

def test_in_regions_polygon_rectangle_ellipse():
    pts = np.array([[5.0, 5.0], [1.0, 1.0], [50.0, 50.0], [25.0, 105.0]])
    square = np.array([[0, 0], [0, 10], [10, 10], [10, 0]])
    ellipse = np.array([[0, 90], [0, 120], [50, 120], [50, 90]])  # bounding box corners
    line = np.array([[40, 40], [60, 60]])
    assert in_regions(pts, [square], ["polygon"]).tolist() == [True, True, False, False]
    # the ellipse holds its centre but not the box corner (1, 91)
    inside = in_regions(np.vstack([pts, [[1, 91]]]), [ellipse], ["ellipse"])
    assert inside.tolist() == [False, False, False, True, False]
    assert not in_regions(pts, [line], ["line"]).any()
    assert in_regions(np.zeros((0, 2)), [square], ["rectangle"]).shape == (0,)


def test_geometry_messages():
    with pytest.raises(ValueError, match="shape_type must be one of .* got 'circle'"):
        shape_polygon([[0, 0], [0, 1], [1, 1]], "circle")
    with pytest.raises(ValueError, match=r"points_yx must be an \(N, 2\) array .* shape \(3,\)"):
        in_regions([1.0, 2.0, 3.0], [])
    with pytest.raises(ValueError, match="shape_types has 2 entries for 1 shapes"):
        in_regions([[0.0, 0.0]], [PAIR_BOX], ["polygon", "ellipse"])


def test_cells_from_points_messages_and_inputs_not_modified(analysed):
    yx, ids, _ = _shown(analysed)
    features = pd.DataFrame({"cell_id": ids})
    before = (yx.copy(), features.copy(), analysed.cells.copy())
    with pytest.raises(ValueError, match="features has 26 rows for 27 points"):
        cells_from_points(yx, features.iloc[1:], analysed.cells)
    with pytest.raises(TypeError, match="features must be a pandas DataFrame"):
        cells_from_points(yx, ids, analysed.cells)
    cells = cells_from_points(yx, features, analysed.cells)  # no radius: the known ones
    np.testing.assert_allclose(cells["radius_um"], analysed.cells["radius_um"])
    np.testing.assert_array_equal(yx, before[0])
    pd.testing.assert_frame_equal(features, before[1])
    pd.testing.assert_frame_equal(analysed.cells, before[2])


# -------------------------------------------------------------- re-measure

def test_remeasure_without_edits_keeps_every_context_field(analysed):
    result = Review(analysed).remeasure()
    for name in CONTEXT_FIELDS:
        if name == "review":
            continue
        if name == "overview":
            assert result.overview is analysed.overview
        else:
            assert getattr(result, name) == getattr(analysed, name), name
    for name in ("pixel_size_um", "stain", "rule", "category", "pn_category", "options",
                 "growth_pattern", "discohesion_index", "pattern"):
        assert getattr(result, name) == getattr(analysed, name), name
    pd.testing.assert_frame_equal(result.cells, analysed.cells)
    summary = result.summary()
    assert summary.pop("review") == {"reviewed": True, "cells_added": 0, "cells_removed": 0,
                                     "cells_excluded": 0, "deposits_before": 2,
                                     "deposits_after": 2, "excluded_regions": 0}
    assert summary == analysed.summary()


def test_the_analysed_result_and_the_inputs_are_never_modified(analysed):
    kept = copy.deepcopy((analysed.cells, analysed.deposits, analysed.parameters, analysed.flags))
    yx, ids, radius = _shown(analysed)
    inputs = copy.deepcopy((yx, ids, radius, PAIR_BOX))
    review = Review(analysed)
    review.set_cells(yx, ids, radius_um=radius)
    review.set_regions([PAIR_BOX])
    review.remeasure(rule="contiguous")
    assert analysed.review is None
    pd.testing.assert_frame_equal(analysed.cells, kept[0])
    pd.testing.assert_frame_equal(analysed.deposits, kept[1])
    assert (analysed.parameters, analysed.flags) == kept[2:]
    for now, then in zip((yx, ids, radius, PAIR_BOX), inputs):
        np.testing.assert_array_equal(now, then)


def test_review_record_is_deterministic(analysed):
    def edit():
        review = Review(analysed)
        yx, ids, radius = _shown(analysed)
        review.set_cells(np.vstack([yx[2:], [[900.0, 900.0]]]), [*ids[2:], -1],
                         radius_um=[*radius[2:], np.nan])
        review.add_region(PAIR_BOX)
        return review.remeasure()

    first, second = edit(), edit()
    assert list(first.review) == list(REVIEW_FIELDS)
    assert first.review == second.review == {
        "reviewed": True, "cells_added": 1, "cells_removed": 4, "cells_excluded": 2,
        "deposits_before": 2, "deposits_after": 2, "excluded_regions": 1}
    pd.testing.assert_frame_equal(first.cells, second.cells)
    assert all(type(v) in (bool, int) for v in first.review.values())


def test_review_record_function():
    before = measure_node(_cells(), pixel_size_um=0.5)
    kept = before.cells.iloc[5:]
    after = measure_node(kept, pixel_size_um=0.5)
    record = review_record(before, kept, after, excluded_regions=1, cells_excluded=3)
    assert record == {"reviewed": True, "cells_added": 0, "cells_removed": 5, "cells_excluded": 3,
                      "deposits_before": 2, "deposits_after": len(after.deposits),
                      "excluded_regions": 1}


def test_options_come_from_the_analysis_and_can_be_changed(analysed):
    review = Review(analysed)
    same = review.remeasure(link_um=None)
    assert same.parameters["link_um"] == 60.0 and same.options == analysed.options
    merged = review.remeasure(link_um=500)  # the pair joins the nest
    assert len(merged.deposits) == 1 and merged.parameters["link_um"] == 500.0
    assert merged.options == analysed.options.replace(link_um=500)
    assert merged.parameters["tile_px"] == 512  # the analysis' parameters stay
    strict = review.remeasure(rule="contiguous")
    assert strict.rule == strict.parameters["rule"] == strict.options.rule == "contiguous"
    assert strict.options.link_um == 60.0
    assert analysed.options.rule == "camelyon"


def test_options_rebuilt_from_parameters_when_missing(analysed):
    review = Review(analysed.replace(options=None))
    assert review.options().link_um == 60.0
    assert review.remeasure().parameters["link_um"] == 60.0


def test_remeasure_option_messages(analysed):
    review = Review(analysed)
    with pytest.raises(TypeError, match=r"remeasure cannot change \['stain'\] .*new analysis"):
        review.remeasure(stain="he")
    with pytest.raises(ValueError, match="link_um must be a finite number >= 0"):
        review.remeasure(link_um=-1)
    with pytest.raises(TypeError, match="analysed must be a NodeResult, got str"):
        Review("node.tif")


# ------------------------------------------------------------------- edits

def test_added_cells_keep_their_ids_over_re_measures(analysed):
    review = Review(analysed)
    top = int(analysed.cells["cell_id"].max())
    assert review.add_cells([[900.0, 900.0], [900.0, 912.0]]).tolist() == [top + 1, top + 2]
    first = review.remeasure()
    assert first.review["cells_added"] == 2 and len(first.deposits) == 3
    added = first.cells[first.cells["cell_id"] > top]
    np.testing.assert_allclose(added["radius_um"], 5.0)  # the median radius
    assert added["area_um2"].isna().all()
    # the viewer hands back the shown points; the reviewer deletes the first added cell
    yx, ids, radius = _shown(first)
    keep = ids != top + 1
    review.set_cells(yx[keep], ids[keep], radius_um=radius[keep])
    assert review.add_cells([[950.0, 950.0]]).tolist() == [top + 3]  # ids are never reused
    second = review.remeasure()
    assert set(second.cells["cell_id"]) - set(analysed.cells["cell_id"]) == {top + 2, top + 3}
    assert second.review["cells_added"] == 2 and second.review["cells_removed"] == 0


def test_moved_and_duplicated_points(analysed):
    review = Review(analysed)
    yx, ids, radius = _shown(analysed)
    moved = yx.copy()
    moved[-1] += [0.0, 100.0]  # the last cell of the pair moves away from its partner
    review.set_cells(np.vstack([moved, yx[:1]]), [*ids, ids[0]], radius_um=[*radius, 5.0])
    cells = review.cells
    assert cells["cell_id"].tolist()[-1] == ids.max() + 1  # a copied point is a new cell
    result = review.remeasure()
    assert len(result.deposits) == 3
    assert result.review["cells_added"] == 1 and result.review["cells_removed"] == 0


def test_exclusion_regions_are_not_destructive(analysed):
    review = Review(analysed)
    review.set_regions([PAIR_BOX, [[0, 0], [10, 10]]], ["rectangle", "line"])
    assert len(review.regions) == 1  # a line encloses nothing
    first = review.remeasure()
    assert first.review["cells_excluded"] == 2 and first.review["excluded_regions"] == 1
    assert len(first.cells) == 25 and (first.cells["x_um"] < 400).all()
    # the excluded cells are not shown; handing back the shown points keeps them excluded
    review.set_cells(*_shown(first)[:2])
    assert review.remeasure().review == first.review
    review.set_cells(*_shown(first)[:2])
    review.clear_regions()  # the region is removed: its cells come back
    back = review.remeasure()
    assert len(back.cells) == 27 and back.review["cells_removed"] == 0
    assert back.review["cells_excluded"] == back.review["excluded_regions"] == 0


def test_delete_deposit_and_delete_everything(analysed):
    review = Review(analysed)
    pair = int(analysed.cells.loc[analysed.cells["x_um"] > 400, "deposit_id"].iloc[0])
    removed = review.delete_deposit(pair)
    assert sorted(removed.tolist()) == [26, 27]
    with pytest.raises(KeyError, match=r"no deposit 9 in the result; its deposits are \[1, 2\]"):
        review.delete_deposit(9)
    after = review.remeasure()
    assert len(after.deposits) == 1 and after.review["cells_removed"] == 2
    assert review.delete_cells(after.cells["cell_id"]) == 25
    empty = review.remeasure()
    assert (empty.category, empty.pn_category, len(empty.deposits)) == ("negative", "pN0", 0)
    assert empty.image == "node.tif" and empty.nucleus_count == 5000


def test_set_cells_messages(analysed):
    review = Review(analysed)
    with pytest.raises(ValueError, match="cell_ids has 1 entries for 2 points"):
        review.set_cells([[0.0, 0.0], [1.0, 1.0]], [1])
    with pytest.raises(ValueError, match="points_yx must be finite"):
        review.set_cells([[0.0, np.nan]])
    with pytest.raises(ValueError, match=r"1 point\(s\) lie outside the image, e.g. \(y, x\) = "
                                         r"\(-1, 5\) µm; the image spans 0..(1000|2000) µm"):
        review.add_cells([[-1.0, 5.0]])
    with pytest.raises(ValueError, match=r"vertices must be a \(V, 2\) array"):
        review.add_region([1.0, 2.0, 3.0])


def test_review_of_an_empty_result():
    empty = measure_node(pd.DataFrame({"y_um": [], "x_um": [], "radius_um": []}), pixel_size_um=0.5)
    review = Review(empty)
    assert review.add_cells([[10.0, 10.0]]).tolist() == [1]
    result = review.remeasure()
    assert result.category == "itc" and result.review["cells_added"] == 1


# ------------------------------------------------------------------ labels

def test_labels_added_cells_are_tumour_removed_ones_other(analysed):
    from pipeline.review import LABEL_COLUMNS

    review = Review(analysed)
    cells = analysed.cells.set_index("cell_id")
    pair = int(cells.loc[cells["x_um"] >= 500, "deposit_id"].iloc[0])
    pair_ids = cells.index[cells["deposit_id"] == pair].tolist()
    review.delete_cells([1])                                  # one nest cell on its own
    assert sorted(review.delete_deposit(pair)) == pair_ids    # the pair, with its deposit
    corner = np.array([[95.0, 150.0], [95.0, 170.0], [105.0, 170.0], [105.0, 150.0]])
    review.add_region(corner)                                 # around the nest cell (100, 156)
    added = review.add_cells([[300.0, 300.0], [320.0, 300.0], [100.0, 160.0]])  # last: excluded
    labels = review.labels()
    assert tuple(labels.columns) == LABEL_COLUMNS
    assert (labels["image"] == "node.tif").all()
    tumour = labels[labels["label"] == "tumour"]
    assert tumour[["y_um", "x_um"]].values.tolist() == [[300.0, 300.0], [320.0, 300.0]]
    other = labels[labels["label"] == "other"]
    in_corner = cells.index[(cells["y_um"] == 100) & cells["x_um"].between(150, 170)].tolist()
    expected = sorted([1, *pair_ids, *in_corner])
    np.testing.assert_allclose(other[["y_um", "x_um"]].to_numpy(),
                               cells.loc[expected, ["y_um", "x_um"]].to_numpy())
    assert labels["label"].tolist() == ["tumour"] * 2 + ["other"] * len(expected)
    assert len(added) == 3 and len(in_corner) == 1
    # the same after a re-measure, which changes nothing in the edits
    review.remeasure()
    pd.testing.assert_frame_equal(review.labels(), labels)
    lab = review.training_labels()
    assert lab.image == "node.tif" and lab.counts == {"tumour": 2, "other": len(expected)}
    assert lab.points[["y_um", "x_um"]].values.tolist() == labels[["y_um", "x_um"]].values.tolist()


def test_labels_of_moved_or_kept_cells_and_of_no_edits(analysed):
    review = Review(analysed)
    empty = review.labels(image="other.tif")
    assert len(empty) == 0 and list(empty.columns) == ["image", "x_um", "y_um", "label"]
    assert review.training_labels().counts == {"tumour": 0, "other": 0}
    yx, ids, radius = _shown(analysed)
    yx = yx.copy()
    yx[0] += 3.0  # moved: still the same cell
    review.set_cells(yx, ids, radius_um=radius)
    assert len(review.labels()) == 0
    review.set_cells(yx[1:], ids[1:], radius_um=radius[1:])  # deleted in the viewer
    labels = review.labels(image="given.tif")
    assert labels.values.tolist() == [["given.tif", 100.0, 100.0, "other"]]  # where it was found


def test_review_labels_csv_round_trip(analysed, tmp_path):
    from pipeline.export import write_table
    from pipeline.labels import REVIEW_LABELS_FILE, read_labels

    review = Review(analysed)
    review.delete_cells([3, 4])
    review.add_cells([[250.5, 260.25]])
    path = tmp_path / REVIEW_LABELS_FILE
    write_table(path, review.labels())
    (back,) = read_labels(path)
    mine = review.training_labels()
    assert back.image == mine.image == "node.tif"
    assert back.counts == mine.counts == {"tumour": 1, "other": 2}
    pd.testing.assert_frame_equal(back.points, mine.points)
