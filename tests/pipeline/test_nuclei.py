import numpy as np
import pytest

from pipeline.nuclei import NUCLEUS_COLUMNS, nuclear_threshold, nucleus_features, segment_nuclei


def _blobs(px=0.5, centres_um=((20, 20), (20, 29), (50, 60)), radius_um=(3.5, 3.5, 7.0), shape_um=(80, 100)):
    m, n = int(shape_um[0] / px), int(shape_um[1] / px)
    yy, xx = np.mgrid[:m, :n] * px
    h = np.zeros((m, n), np.float32)
    for (cy, cx), r in zip(centres_um, radius_um):
        h[(yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = 0.9
    return h


@pytest.mark.parametrize("px", [0.25, 0.5, 1.0])
def test_touching_nuclei_are_split_and_sizes_in_um(px):
    h = _blobs(px)
    labels = segment_nuclei(h, pixel_size_um=px)
    assert labels.max() == 3
    t = nucleus_features(labels, h, np.zeros_like(h), pixel_size_um=px)
    big = t.sort_values("area_um2").iloc[-1]
    assert big["equivalent_diameter_um"] == pytest.approx(14.0, rel=0.1)
    assert big["y_um"] == pytest.approx(50, abs=px)
    assert big["x_um"] == pytest.approx(60, abs=px)
    small = t.sort_values("area_um2").iloc[0]
    assert small["equivalent_diameter_um"] == pytest.approx(7.0, rel=0.2)


def test_vesicular_nucleus_with_pale_centre_is_filled():
    px = 0.5
    h = _blobs(px, centres_um=((40, 40),), radius_um=(8.0,))
    yy, xx = np.mgrid[: h.shape[0], : h.shape[1]] * px
    h[(yy - 40) ** 2 + (xx - 40) ** 2 <= 5.5**2] = 0.1  # pale interior, dark rim
    labels = segment_nuclei(h, pixel_size_um=px)
    assert labels.max() == 1
    t = nucleus_features(labels, h, np.zeros_like(h), pixel_size_um=px)
    assert t.loc[0, "equivalent_diameter_um"] == pytest.approx(16.0, rel=0.1)


def test_debris_and_empty():
    px = 0.5
    h = _blobs(px, centres_um=((40, 40),), radius_um=(1.0,))  # 3 µm² speck
    assert segment_nuclei(h, pixel_size_um=px).max() == 0
    empty = np.zeros((50, 50), np.float32)
    labels = segment_nuclei(empty, pixel_size_um=px)
    assert labels.max() == 0
    t = nucleus_features(labels, empty, empty, pixel_size_um=px)
    assert len(t) == 0 and list(t.columns) == list(NUCLEUS_COLUMNS)


def test_ring_counterstain_measured_outside_the_nucleus():
    px = 0.5
    h = _blobs(px, centres_um=((40, 40), (40, 80)), radius_um=(5.0, 5.0))
    c = np.zeros_like(h)
    yy, xx = np.mgrid[: h.shape[0], : h.shape[1]] * px
    c[(yy - 40) ** 2 + (xx - 40) ** 2 <= 9.0**2] = 0.6  # stained cytoplasm around the first
    labels = segment_nuclei(h, pixel_size_um=px)
    t = nucleus_features(labels, h, c, pixel_size_um=px).sort_values("x_um")
    assert t["counterstain_ring"].iloc[0] > 0.3
    assert t["counterstain_ring"].iloc[1] < 0.1


def test_mask_threshold_and_inputs_not_modified():
    px = 0.5
    h = _blobs(px)
    before = h.copy()
    mask = np.zeros(h.shape, bool)
    mask[:, : h.shape[1] // 2] = True
    labels = segment_nuclei(h, pixel_size_um=px, mask=mask)
    assert labels.max() == 2
    np.testing.assert_array_equal(h, before)
    assert 0.05 <= nuclear_threshold(h) < 0.9


def test_errors():
    with pytest.raises(ValueError, match="2-D"):
        segment_nuclei(np.zeros((3, 3, 3), np.float32), pixel_size_um=1)
    with pytest.raises(TypeError, match="float array"):
        segment_nuclei(np.zeros((3, 3), np.uint8), pixel_size_um=1)
    with pytest.raises(ValueError, match="pixel_size_um"):
        segment_nuclei(np.zeros((3, 3), np.float32), pixel_size_um=float("nan"))
    with pytest.raises(ValueError, match="mask shape"):
        segment_nuclei(np.zeros((3, 3), np.float32), pixel_size_um=1, mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="must match"):
        nucleus_features(np.zeros((3, 3), int), np.zeros((3, 3), np.float32), np.zeros((2, 2), np.float32), pixel_size_um=1)


def test_pale_nuclear_interiors_are_filled_but_not_gaps_open_to_the_edge():
    """A vesicular nucleus (dark rim, pale centre) is filled; background that reaches the tile's
    edge is never a hole, however enclosed it looks inside the tile."""
    from pipeline.nuclei import segment_nuclei

    yy, xx = np.mgrid[:120, :120]
    h = np.zeros((120, 120), np.float32)
    ring = ((yy - 60) ** 2 + (xx - 60) ** 2 <= 14 ** 2) & ((yy - 60) ** 2 + (xx - 60) ** 2 >= 8 ** 2)
    h[ring] = 1.0
    edge = (yy < 30) & (xx < 30) & ~((yy < 26) & (xx < 26))  # an L open to the corner
    h[edge] = 1.0
    labels = segment_nuclei(h, pixel_size_um=0.5, threshold=0.5, smooth_um=0, local_um=0)
    assert labels[60, 60] > 0 and labels[60, 60] == labels[60, 47]  # the pale centre joins its rim
    assert labels[10, 10] == 0  # the corner gap stays background


@pytest.mark.parametrize("sigma", [3.0, 8.0, 16.0, 24.0])
@pytest.mark.parametrize("shape", [(300, 420), (257, 131)])
def test_wide_gaussian_matches_opencv(sigma, shape):
    # the local background of segment_nuclei is blurred through a coarser grid: it must stay
    # within 0.001 of the range of OpenCV's direct blur everywhere, borders included
    import cv2

    from pipeline.nuclei import _wide_gaussian

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.random(shape, dtype=np.float32), (0, 0), 2.0)
    img = (img - img.min()) / np.ptp(img)
    before = img.copy()
    got = _wide_gaussian(img, sigma)
    want = cv2.GaussianBlur(img, (0, 0), sigma)
    assert got.shape == img.shape and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-3
    np.testing.assert_array_equal(img, before)


def test_ring_coverage_is_low_where_other_nuclei_crowd_round():
    # a lone nucleus has its whole ring; one in the middle of a tight 3 x 3 block of
    # nuclei (1 px gaps) has almost none of it
    px = 0.5
    labels = np.zeros((120, 200), np.int32)
    labels[20:36, 20:36] = 1  # alone
    k = 2
    for i in range(3):
        for j in range(3):
            r0, c0 = 40 + i * 17, 100 + j * 17
            labels[r0:r0 + 16, c0:c0 + 16] = k
            k += 1
    h = (labels > 0).astype(np.float32)
    t = nucleus_features(labels, h, np.zeros_like(h), pixel_size_um=px).set_index("label")
    assert 0.8 <= t.loc[1, "ring_coverage"] <= 1.0
    assert t.loc[6, "ring_coverage"] < 0.1  # the centre of the block
    assert t["ring_coverage"].between(0, 1).all()


def test_outer_band_is_measured_beyond_the_ring_and_only_when_asked():
    # a nucleus with a brown cytoplasm ring (0-4 µm) in pale tissue, and one in uniformly
    # brown matrix; the outer band (4-8 µm beyond the nucleus) tells them apart
    px = 0.5
    yy, xx = np.mgrid[:100, :240]
    labels = np.zeros((100, 240), np.int32)
    counter = np.full((100, 240), 0.05, np.float32)
    d1 = np.hypot(yy - 50, xx - 50)
    labels[d1 <= 6] = 1
    counter[(d1 > 6) & (d1 <= 14)] = 0.6  # its own cytoplasm: 4 µm
    d2 = np.hypot(yy - 50, xx - 170)
    counter[:, 120:] = 0.3  # brown matrix all round the second one
    labels[d2 <= 6] = 2
    h = (labels > 0).astype(np.float32)
    before = counter.copy()
    t = nucleus_features(labels, h, counter, pixel_size_um=px, outer_um=4.0).set_index("label")
    np.testing.assert_array_equal(counter, before)
    assert t.loc[1, "counterstain_ring_median"] == pytest.approx(0.6, abs=0.01)
    assert t.loc[1, "counterstain_outer"] == pytest.approx(0.05, abs=0.01)
    assert t.loc[2, "counterstain_outer"] == pytest.approx(0.3, abs=0.01)
    assert "counterstain_outer" not in nucleus_features(labels, h, counter, pixel_size_um=px).columns
    # a nucleus among others (8 around it, 6 µm gaps): the band is mostly theirs, NaN
    crowd = np.zeros((100, 100), np.int32)
    yy2, xx2 = np.mgrid[:100, :100]
    centres = [(50, 50)] + [(50 + 24 * dy, 50 + 24 * dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for k, (cy, cx) in enumerate(centres, start=1):
        crowd[np.hypot(yy2 - cy, xx2 - cx) <= 6] = k
    ct = nucleus_features(crowd, (crowd > 0).astype(np.float32), np.full((100, 100), 0.3, np.float32),
                          pixel_size_um=px, outer_um=4.0).set_index("label")
    assert np.isnan(ct.loc[1, "counterstain_outer"])
    # no free tissue beyond the ring: NaN, not 0
    tight = nucleus_features(labels[40:61, 40:61], h[40:61, 40:61], counter[40:61, 40:61],
                             pixel_size_um=px, outer_um=4.0)
    assert np.isnan(tight.loc[0, "counterstain_outer"])
    empty = nucleus_features(np.zeros((10, 10), np.int32), np.zeros((10, 10)), np.zeros((10, 10)),
                             pixel_size_um=px, outer_um=4.0)
    assert "counterstain_outer" in empty.columns and len(empty) == 0
    with pytest.raises(ValueError, match="outer_um"):
        nucleus_features(labels, h, counter, pixel_size_um=px, outer_um=-1)
