"""Nucleus outlines: traced from the label image, stored compactly, exported as the cells' polygons."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from pipeline.analysis import analyze, analyze_slide
from pipeline.detection import find_nuclei
from pipeline.export import write_geojson
from pipeline.io import write_calibrated_tiff
from pipeline.outlines import OUTLINE_VERTICES, NucleusOutlines, nucleus_outlines
from pipeline.slide import Slide
from pipeline.synthetic import make_node

PX = 0.5


def _area(ring):
    """Shoelace area of a polygon (any orientation; closing vertex optional)."""
    a, b = np.asarray(ring, float).T
    return 0.5 * abs(np.dot(a, np.roll(b, -1)) - np.dot(b, np.roll(a, -1)))


def _ellipses(shape=(200, 200), seed=0):
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.int32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    k = 0
    for cy in range(20, shape[0] - 10, 40):
        for cx in range(20, shape[1] - 10, 40):
            k += 1
            a, b, th = rng.uniform(4, 15), rng.uniform(4, 12), rng.uniform(0, np.pi)
            u = (yy - cy) * np.cos(th) + (xx - cx) * np.sin(th)
            w = -(yy - cy) * np.sin(th) + (xx - cx) * np.cos(th)
            lab[(u / a) ** 2 + (w / b) ** 2 <= 1] = k
    return lab


def _boundary_distance(vertices_yx, mask):
    """Distance (px) from each vertex to the nearest centre of a boundary pixel of ``mask``
    (a pixel of the nucleus with a 4-neighbour outside it: background or another nucleus)."""
    boundary = mask & ~ndi.binary_erosion(mask, border_value=0)
    return cKDTree(np.argwhere(boundary)).query(np.asarray(vertices_yx))[0]


def _on_boundary(vertices_yx, mask, k=1):
    """Vertices sit on the outer edges of boundary pixels (0.5-0.71 px from their centres); a
    nucleus gives up its contact pixels with a neighbour to be traced alone (up to 1.5 px more);
    nuclei segmented on k x k blocks: k times that, less the half pixel of the blocks' edges."""
    d = _boundary_distance(vertices_yx, mask)
    return d.max() <= 2.3 * k and np.mean(d <= 1.2 * k) >= 0.75


def test_outlines_follow_each_nucleus():
    lab = _ellipses()
    before = lab.copy()
    vertices, counts = nucleus_outlines(lab)
    np.testing.assert_array_equal(lab, before)  # input not modified
    area = np.bincount(lab.ravel())[1:]
    assert vertices.shape == (len(area), OUTLINE_VERTICES, 2) and (counts == OUTLINE_VERTICES).all()
    ratio = np.array([_area(v[:c]) for v, c in zip(vertices, counts)]) / area
    assert 0.95 < ratio.mean() < 1.03 and ratio.min() > 0.9 and ratio.max() < 1.1
    for k in range(1, len(area) + 1):  # nothing touches here: every vertex on a pixel edge
        d = _boundary_distance(vertices[k - 1, : counts[k - 1]], lab == k)
        assert (d >= 0.45).all() and (d <= 0.75).all()


def test_touching_nuclei_get_one_outline_each():
    lab = np.zeros((30, 40), np.int32)
    lab[5:25, 5:20] = 1
    lab[5:25, 20:35] = 2  # shares a side with 1
    lab[0:3, 36:39] = 4  # label 3 absent
    vertices, counts = nucleus_outlines(lab)
    assert counts.tolist()[:3] == [OUTLINE_VERTICES, OUTLINE_VERTICES, 0] and counts[3] == 8  # 3 x 3: 8 boundary pixels
    assert vertices[0, : counts[0], 1].max() < 20 < vertices[1, : counts[1], 1].min() + 1
    assert _area(vertices[1, : counts[1]]) == pytest.approx(300, rel=0.05)
    assert _area(vertices[0, : counts[0]]) == pytest.approx(300, rel=0.1)  # loses the contact column


@pytest.mark.parametrize("labels, match", [
    (np.zeros((4, 4), float), "2-D integer array"),
    (np.zeros((2, 2, 2), int), "2-D integer array"),
    (np.full((4, 4), -1), ">= 0"),
])
def test_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        nucleus_outlines(labels)


def test_bad_max_vertices():
    with pytest.raises(ValueError, match="max_vertices must be an integer in"):
        nucleus_outlines(np.zeros((4, 4), int), max_vertices=2)


def test_store_lookup_and_fallback():
    lab = _ellipses((100, 100))
    vertices, counts = nucleus_outlines(lab)
    centres = np.array([np.argwhere(lab == k).mean(0) for k in range(1, counts.size + 1)])
    store = NucleusOutlines.from_vertices(np.arange(1, counts.size + 1) * 10, vertices, counts,
                                          centres_px=centres)
    assert store.offsets.dtype == np.int16 and store.nbytes < 80 * len(store)
    rings, k = store.polygons_px([20, np.nan, 5, 10], [centres[1], [0, 0], [0, 0], centres[0] + 3])
    assert k.tolist() == [counts[1], 0, 0, counts[0]]
    np.testing.assert_allclose(rings[0, : k[0]], vertices[1, : k[0]], atol=0.07)
    np.testing.assert_allclose(rings[3, : k[3]], vertices[0, : k[3]] + 3, atol=0.07)  # moved with its cell
    with pytest.raises(ValueError, match="one row per cell"):
        store.polygons_px([1, 2], [[0, 0]])
    assert store.take([30, 10, 7]).ids.tolist() == [10, 30]


@pytest.fixture(scope="module")
def node():
    return make_node(size_um=(320.0, 320.0), pixel_size_um=PX, stain="he", pattern="cohesive",
                     deposits=[{"diameter_um": 150.0}], seed=5)


def _detections(path):
    gj = json.loads(path.read_text(encoding="utf-8"))
    return [f for f in gj["features"] if f["properties"]["objectType"] == "detection"]


def _check_outline_features(features, nuclei, labels=None, *, px=PX, k=1):
    """The cells' polygons are nucleus outlines: their areas match, they are not 12-gons,
    and (with the label image) every vertex lies on the nucleus' boundary (nuclei segmented
    on k x k blocks of pixels of ``px`` µm)."""
    by_id = nuclei.set_index("nucleus_id")
    ratios, sides = [], []
    for f in features:
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert (ring[0] == ring[-1]).all()
        nid = f["properties"]["measurements"]["Nucleus ID"]
        ratios.append(_area(ring[:-1]) * px**2 / by_id.loc[nid, "area_um2"])
        sides.append(len(ring) - 1)
        if labels is not None:
            assert _on_boundary(ring[:-1, ::-1], labels == nid, k), nid
    ratios = np.array(ratios)
    assert len(ratios) > 20
    assert np.median(ratios) == pytest.approx(1.0, abs=0.05)
    assert np.mean(np.abs(ratios - 1) < 0.15) > 0.9
    assert max(sides) <= OUTLINE_VERTICES and np.mean(np.array(sides) == 12) < 0.5


@pytest.mark.parametrize("tile_px", [None, 256])
def test_geojson_cells_are_nucleus_outlines_in_memory(node, tmp_path, tile_px):
    result = analyze(node.rgb, pixel_size_um=PX, all_nuclei=True, tile_px=tile_px)
    assert len(result.outlines) == result.nucleus_count
    labels = find_nuclei(node.rgb, pixel_size_um=PX, return_labels=True,
                         options=result.options).labels
    write_geojson(tmp_path / "o.geojson", result, nuclei=result.nuclei)
    features = _detections(tmp_path / "o.geojson")
    assert len(features) == result.nucleus_count
    _check_outline_features(features, result.nuclei, labels)
    write_geojson(tmp_path / "t.geojson", result)  # tumour cells only
    tumour = _detections(tmp_path / "t.geojson")
    assert len(tumour) == len(result.cells) > 20
    _check_outline_features(tumour, result.nuclei)


def test_geojson_cells_are_nucleus_outlines_whole_slide(node, tmp_path):
    path = tmp_path / "node.tif"
    write_calibrated_tiff(path, node.rgb, pixel_size_um=PX, tile=(256, 256), pyramid_levels=2)
    with Slide(path) as slide:
        result = analyze_slide(slide, tile_px=256, workers=2, all_nuclei=True)
    write_geojson(tmp_path / "o.geojson", result, nuclei=result.nuclei)
    _check_outline_features(_detections(tmp_path / "o.geojson"), result.nuclei)


def test_cells_without_outline_are_circles(node, tmp_path):
    result = analyze(node.rgb, pixel_size_um=PX)
    assert sorted(result.outlines.ids) == sorted(result.cells["nucleus_id"])  # the tumour cells' only
    added = pd.DataFrame({"cell_id": [10**6], "y_um": [20.0], "x_um": [30.0], "radius_um": [4.0]})
    cells = pd.concat([result.cells, added], ignore_index=True)
    write_geojson(tmp_path / "o.geojson", result.replace(cells=cells))
    ring = np.asarray(_detections(tmp_path / "o.geojson")[-1]["geometry"]["coordinates"][0])
    assert len(ring) == 13 and _area(ring[:-1]) * PX**2 == pytest.approx(np.pi * 16, rel=0.01)
    write_geojson(tmp_path / "none.geojson", result.replace(outlines=None))  # results from before outlines
    assert all(len(f["geometry"]["coordinates"][0]) == 13 for f in _detections(tmp_path / "none.geojson"))


def test_fine_images_are_segmented_on_blocks_at_the_nucleus_pixel_size(tmp_path):
    """A 0.25 µm/px image is segmented on 2 x 2 blocks (nucleus_pixel_size_um 0.5, as QuPath's
    requested pixel size); centres, outlines and labels stay in the image's own pixels and agree
    with a full-resolution segmentation; read tile by tile from its file, the same nuclei."""
    fine = 0.25
    node = make_node(size_um=(240.0, 240.0), pixel_size_um=fine, stain="he", pattern="cohesive",
                     deposits=[{"diameter_um": 120.0}], seed=5)
    rgb = node.rgb.copy()
    result = analyze(node.rgb, pixel_size_um=fine, all_nuclei=True)
    np.testing.assert_array_equal(node.rgb, rgb)
    assert result.options.nucleus_factor(fine) == 2 and result.parameters["nucleus_pixel_size_um"] == 0.5
    found = find_nuclei(node.rgb, pixel_size_um=fine, return_labels=True, options=result.options)
    assert found.labels.shape == node.rgb.shape[:2]
    ids = found.nuclei["nucleus_id"].to_numpy()
    assert set(np.unique(found.labels[found.labels > 0])) == set(ids.tolist())
    # each centre lies in its own nucleus
    r = np.round(found.nuclei["y_um"].to_numpy() / fine).astype(int)
    c = np.round(found.nuclei["x_um"].to_numpy() / fine).astype(int)
    assert np.mean(found.labels[r, c] == ids) > 0.95
    write_geojson(tmp_path / "o.geojson", result, nuclei=result.nuclei)
    _check_outline_features(_detections(tmp_path / "o.geojson"), result.nuclei, found.labels, px=fine, k=2)
    # against the image's own pixels (nucleus_pixel_size_um=0): the same nuclei, where they are
    full = find_nuclei(node.rgb, pixel_size_um=fine, options=result.options.replace(nucleus_pixel_size_um=0))
    assert len(found.nuclei) == pytest.approx(len(full.nuclei), rel=0.1)
    d, _ = cKDTree(full.nuclei[["y_um", "x_um"]].to_numpy()).query(found.nuclei[["y_um", "x_um"]].to_numpy())
    assert np.mean(d < 1.0) > 0.85
    path = tmp_path / "fine.tif"
    write_calibrated_tiff(path, node.rgb, pixel_size_um=fine, tile=(256, 256), pyramid_levels=2)
    with Slide(path) as slide:
        tiled = analyze_slide(slide, tile_px=512, workers=2)
    assert tiled.nucleus_count == pytest.approx(result.nucleus_count, rel=0.03)
    assert tiled.category == result.category
