import numpy as np
import pytest

from pipeline.tissue import tissue_mask


def _slide(px=1.0):
    img = np.full((400, 400, 3), 243, np.uint8)
    yy, xx = np.mgrid[:400, :400]
    img[(yy - 200) ** 2 + (xx - 150) ** 2 < 100**2] = (190, 110, 180)  # pink tissue
    img[50:60, 300:390] = (40, 90, 200)  # blue pen stroke
    img[300:303, 300:303] = (150, 80, 150)  # speck of dust (9 µm²)
    return img


def test_tissue_found_glass_pen_and_dust_removed():
    m = tissue_mask(_slide(), pixel_size_um=1.0)
    assert m[200, 150] and not m[5, 5]
    assert not m[55, 340], "pen mark must not be tissue"
    assert not m[301, 301], "dust must not be tissue"
    area = m.sum()
    assert abs(area - np.pi * 100**2) / (np.pi * 100**2) < 0.1


@pytest.mark.parametrize("img", [np.full((64, 64, 3), 250, np.uint8), np.full((64, 64, 3), 255, np.uint8)])
def test_empty_image_has_no_tissue(img):
    assert not tissue_mask(img, pixel_size_um=0.5).any()


def test_pen_marks_only():
    img = np.full((200, 200, 3), 245, np.uint8)
    img[90:110, 10:190] = (20, 120, 60)  # green ink
    assert not tissue_mask(img, pixel_size_um=1.0).any()


def test_input_not_modified_and_errors():
    img = _slide()
    before = img.copy()
    tissue_mask(img, pixel_size_um=1.0)
    np.testing.assert_array_equal(img, before)
    with pytest.raises(ValueError, match="uint8"):
        tissue_mask(img.astype(float), pixel_size_um=1.0)
    with pytest.raises(ValueError, match="pixel_size_um"):
        tissue_mask(img, pixel_size_um=0)


@pytest.mark.parametrize("n", [1, 2, 7, 999, 40_000])
def test_glass_percentile_from_histograms_equals_numpy(n):
    # tissue_mask takes the glass brightness from channel histograms instead of a sort
    from pipeline.tissue import _percentile_u8

    rng = np.random.default_rng(n)
    pixels = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    pixels[:, 2] = np.minimum(pixels[:, 2], 231)
    for q in (0.0, 50.0, 99.5, 100.0):
        np.testing.assert_array_equal(_percentile_u8(pixels, q), np.percentile(pixels.astype(np.float32), q, axis=0))


def _haematoxylin_field(od_cytoplasm=0.3, od_nuclei=1.0, seed=0):
    """A lymphoid field of a cytokeratin slide: haematoxylin only (no eosin), packed nuclei."""
    from pipeline.stains import REFERENCE_VECTORS

    rng = np.random.default_rng(seed)
    od = np.full((400, 400), od_cytoplasm, np.float32)
    yy, xx = np.mgrid[:400, :400]
    for y, x in rng.uniform(0, 400, (1500, 2)):
        od[(yy - y) ** 2 + (xx - x) ** 2 < 9] = od_nuclei  # 6 µm nuclei at 1 µm/px
    rgb = 250 * 10.0 ** (-od[..., None] * REFERENCE_VECTORS["hematoxylin"])
    img = np.full((400, 500, 3), 250, np.uint8)
    img[:, :400] = np.round(rgb).astype(np.uint8)
    return img


def test_blue_haematoxylin_of_a_cytokeratin_slide_is_tissue_not_ink():
    import cv2

    from pipeline.tissue import BLUE_INK_MIN_SATURATION

    img = _haematoxylin_field()
    # at the mask's ~4 µm/px the field is blue and as saturated as the 60 that green ink needs
    small = cv2.resize(img[:, :400], (100, 100), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV_FULL)
    assert 180 <= np.median(hsv[..., 0]) * 360 / 256 < 250 and 60 < np.median(hsv[..., 1]) < BLUE_INK_MIN_SATURATION
    m = tissue_mask(img, pixel_size_um=1.0)
    assert m[:, :400].mean() > 0.99 and not m[:, 420:].any()
    # a blue marker stroke across it is still ink
    img[170:230, :400] = (20, 40, 160)  # 60 µm (narrower strokes are closed over)
    m = tissue_mask(img, pixel_size_um=1.0)
    assert not m[200, 200] and m[100, 200]
