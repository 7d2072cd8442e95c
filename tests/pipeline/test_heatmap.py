"""The tumour map's resampling: an image finer than the network's pixels is averaged onto them."""

import cv2
import numpy as np
import pytest

from pipeline import heatmap
from pipeline.heatmap import load_heatmap_model, tumour_map
from pipeline.synthetic import make_node


@pytest.fixture(scope="module")
def model():
    return load_heatmap_model()


@pytest.fixture
def chunk_512(monkeypatch):
    """Chunks of 512 model pixels, the geometry these tests count in (the shipped chunk is
    smaller; the map does not depend on it: test_the_map_does_not_depend_on_the_chunk_size)."""
    monkeypatch.setattr(heatmap, "_CHUNK_PX", 512)


@pytest.mark.parametrize("k", [2, 4])
def test_a_finer_image_gives_the_map_of_its_block_means(model, k):
    """A scan at 1/k of the network's pixel size (0.485 / 0.243 µm/px: 20x / 40x) is read as
    the plain mean of each k x k block, as a slide pyramid's coarser level is made; until
    2026-11-30 an even k read it half a fine pixel off and blurred (a 3-tap mean), which
    lowered the map on PatchCamelyon patches upsampled 2x (``bench/he_robustness.py``)."""
    fine_um = model.pixel_size_um / k
    node = make_node(size_um=(300.0, 300.0), pixel_size_um=fine_um, stain="he",
                     deposits=[{"diameter_um": 120.0}], seed=5)
    fine = node.rgb
    m, n = fine.shape[0] // k * k, fine.shape[1] // k * k
    fine = fine[:m, :n]
    coarse = np.round(cv2.resize(fine.astype(np.float32), (n // k, m // k), interpolation=cv2.INTER_AREA))
    a = tumour_map(fine, pixel_size_um=fine_um, model=model)
    b = tumour_map(coarse.astype(np.uint8), pixel_size_um=model.pixel_size_um, model=model)
    assert a.probability.shape == b.probability.shape
    # the same grid: fine pixel (r, c) sits at r * fine_um, a block's mean at its centre
    np.testing.assert_allclose(np.subtract(a.origin_um, b.origin_um), (k - 1) / 2 * fine_um, atol=1e-9)
    # identical network input away from the mirrored edges (10 map steps = the 80 px field)
    inner = (slice(10, -10), slice(10, -10))
    assert a.probability[inner].size > 0
    np.testing.assert_allclose(a.probability[inner], b.probability[inner], atol=1e-6)


@pytest.mark.parametrize("px", [0.25, 0.5, 1.0])
def test_the_map_does_not_depend_on_the_chunk_size(model, monkeypatch, px):
    """Each chunk is resampled from the real pixels around it (never from its own edge, with
    interpolation weights that do not depend on where it starts) and the network has valid
    convolutions only: any chunk size gives the same map, bit for bit, so the chunk size is a
    memory setting only. (Until 2026-12-01 the resampling saw the chunk's edge, and the map
    moved by up to 0.09 at the seams of 512 px chunks.)"""
    node = make_node(size_um=(400.0, 300.0), pixel_size_um=px, stain="he",
                     deposits=[{"diameter_um": 150.0}], seed=7)
    maps = []
    for chunk in (64, 136, 512):
        monkeypatch.setattr(heatmap, "_CHUNK_PX", chunk)
        maps.append(tumour_map(node.rgb, pixel_size_um=px, model=model).probability)
    assert maps[0].shape == (52, 39) and (maps[0] > 0.5).any()
    for other in maps[1:]:
        np.testing.assert_array_equal(other, maps[0])


def test_each_chunk_of_the_map_is_reported_and_changes_nothing(model, chunk_512):
    node = make_node(size_um=(1200.0, 700.0), pixel_size_um=1.0, stain="he", seed=6)
    seen = []
    a = tumour_map(node.rgb, pixel_size_um=1.0, model=model, on_chunk=lambda d, t: seen.append((d, t)))
    b = tumour_map(node.rgb, pixel_size_um=1.0, model=model)
    # 1237 x 722 model pixels in chunks of 512: 3 x 2
    assert seen == [(k, 6) for k in range(1, 7)]
    np.testing.assert_array_equal(a.probability, b.probability)


def test_chunks_side_by_side_give_the_map_of_one_chunk_at_a_time(model, chunk_512):
    """The map's chunks run on several threads (each with a one-thread ONNX Runtime session)
    and write their own parts of the map: any number of threads gives the same map, and the
    progress still counts up once per chunk."""
    node = make_node(size_um=(1200.0, 700.0), pixel_size_um=1.0, stain="he", seed=6)
    one = tumour_map(node.rgb, pixel_size_um=1.0, threads=1)
    for threads in (2, 3):
        seen = []
        many = tumour_map(node.rgb, pixel_size_um=1.0, threads=threads,
                          on_chunk=lambda d, t: seen.append((d, t)))
        np.testing.assert_array_equal(many.probability, one.probability)
        assert seen == [(k, 6) for k in range(1, 7)]
    with pytest.raises(ValueError, match="threads"):
        tumour_map(node.rgb, pixel_size_um=1.0, threads=0)


def test_a_mask_skips_the_chunks_far_from_it_and_changes_nothing_near_it(model, chunk_512):
    """Chunks with no tissue within two map steps are not run (0 there); every map point
    within two steps of the tissue is the network's, so nuclei read the same context."""
    node = make_node(size_um=(1200.0, 1400.0), pixel_size_um=1.0, stain="he", seed=6)
    full = tumour_map(node.rgb, pixel_size_um=1.0, model=model)
    mask = np.zeros((60, 70), bool)  # 20 µm per mask pixel
    mask[5:15, 8:20] = True          # tissue in the top-left chunk only (rows 100-300, cols 160-400 µm)
    seen = []
    part = tumour_map(node.rgb, pixel_size_um=1.0, model=model, mask=mask, on_chunk=lambda d, t: seen.append(t))
    assert seen and set(seen) == {1}  # 3 x 3 chunks, one run
    p, q = part.probability, full.probability
    step = part.pixel_size_um
    yy, xx = np.mgrid[:p.shape[0], :p.shape[1]]
    y_um, x_um = part.origin_um[0] + yy * step, part.origin_um[1] + xx * step
    near = (y_um > 100 - 2 * step) & (y_um < 300 + 2 * step) & (x_um > 160 - 2 * step) & (x_um < 400 + 2 * step)
    np.testing.assert_array_equal(p[near], q[near])
    assert (p == 0).mean() > 0.5 and (q > 0).all()
    y, x = np.mgrid[100:300:7, 160:400:7].reshape(2, -1).astype(float)
    np.testing.assert_array_equal(part.local_max().at(y, x), full.local_max().at(y, x))
    none = tumour_map(node.rgb, pixel_size_um=1.0, model=model, mask=np.zeros((4, 4), bool))
    assert none.probability.shape == full.probability.shape and not none.probability.any()


def _sharpened(rgb, amount):
    """An unsharp mask (sigma 1 px): a scanner that sharpens (the generator's nodes are soft, focus
    ratio ~0.7 at 0.97 µm/px; PatchCamelyon's ~0.53)."""
    soft = cv2.GaussianBlur(rgb, (0, 0), 1.0).astype(np.float32)
    return np.clip(np.round(rgb.astype(np.float32) * (1 + amount) - amount * soft), 0, 255).astype(np.uint8)


def _sharp_node(px=0.97, seed=11):
    return _sharpened(make_node(size_um=(300.0, 260.0), pixel_size_um=px, stain="he",
                                deposits=[{"diameter_um": 120.0}], seed=seed).rgb, 2.0)


def test_the_focus_ratio_is_higher_for_a_softer_input():
    rgb = _sharp_node()
    sharp = heatmap.map_focus_ratio(rgb)
    assert 0 < sharp < heatmap.map_focus_ratio(rgb, pre_blur_px=0.5) < heatmap.map_focus_ratio(
        cv2.GaussianBlur(rgb, (0, 0), 1.0)) < 1
    # windows pool their gradients: two copies read as one
    assert heatmap.map_focus_ratio([rgb, rgb]) == pytest.approx(sharp, rel=1e-6)
    assert np.isnan(heatmap.map_focus_ratio(np.full((50, 50, 3), 240, np.uint8)))  # glass
    with pytest.raises(ValueError, match="uint8"):
        heatmap.map_focus_ratio(rgb.astype(np.float32))


def test_a_fixed_pre_blur_is_the_map_of_the_blurred_input(model):
    """At the network's own pixel size the input is the image: pre_blur=s is the map of the
    image blurred by s (away from the mirrored border, where the blur reads the mirror)."""
    rgb = _sharp_node(px=model.pixel_size_um)
    a = tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=model, pre_blur=0.5)
    b = tumour_map(cv2.GaussianBlur(rgb, (0, 0), 0.5), pixel_size_um=model.pixel_size_um, model=model, pre_blur=0)
    assert a.pre_blur_px == 0.5 and np.isnan(a.focus_ratio) and b.pre_blur_px == 0
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(a.probability[inner], b.probability[inner], atol=1e-6)
    plain = tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=model, pre_blur=0)
    assert not np.allclose(a.probability, plain.probability, atol=1e-3)


def _with_rule(model, target=0.58, most=0.5):
    """The model with a pre-blur rule in its metadata (the shipped one has none yet)."""
    from dataclasses import replace

    return replace(model, meta={**model.meta, "pre_blur": {"focus_target": target, "max_px": most}})


def test_a_models_rule_softens_a_sharp_input_and_leaves_a_soft_one(model):
    model = _with_rule(model)
    policy = model.meta["pre_blur"]
    px = model.pixel_size_um
    sharp = _sharp_node(px=px)
    m = tumour_map(sharp, pixel_size_um=px, model=model)
    assert m.focus_ratio < policy["focus_target"]
    assert 0 < m.pre_blur_px <= policy["max_px"]
    assert heatmap.map_focus_ratio(sharp, pre_blur_px=m.pre_blur_px) >= policy["focus_target"] or \
        m.pre_blur_px == policy["max_px"]
    soft = cv2.GaussianBlur(sharp, (0, 0), 1.0)
    ms = tumour_map(soft, pixel_size_um=px, model=model)
    assert ms.pre_blur_px == 0 and ms.focus_ratio >= policy["focus_target"]
    np.testing.assert_array_equal(ms.probability, tumour_map(soft, pixel_size_um=px, model=model,
                                                             pre_blur=0).probability)
    # the same as asking for that sigma outright; local_max keeps the record
    np.testing.assert_array_equal(m.probability, tumour_map(sharp, pixel_size_um=px, model=model,
                                                            pre_blur=m.pre_blur_px).probability)
    assert m.local_max().pre_blur_px == m.pre_blur_px


@pytest.mark.parametrize("px", [0.5, 1.0])
def test_the_pre_blurred_map_does_not_depend_on_the_chunk_size(model, monkeypatch, px):
    """The blur reads each chunk wider by its reach, and the softness is read on windows of
    a fixed grid, so the pre-blur keeps the map independent of the chunking, bit for bit."""
    model = _with_rule(model)
    rgb = _sharpened(make_node(size_um=(400.0, 300.0), pixel_size_um=px, stain="he",
                               deposits=[{"diameter_um": 150.0}], seed=7).rgb, 3.0)
    maps = []
    for chunk in (64, 136, 512):
        monkeypatch.setattr(heatmap, "_CHUNK_PX", chunk)
        maps.append(tumour_map(rgb, pixel_size_um=px, model=model, threads=2))
    assert maps[0].pre_blur_px > 0
    for other in maps[1:]:
        assert other.pre_blur_px == maps[0].pre_blur_px
        np.testing.assert_array_equal(other.probability, maps[0].probability)


def test_pre_blur_is_validated_and_a_model_without_a_rule_gets_none(model):
    rgb = _sharp_node(px=model.pixel_size_um)
    for bad in (-0.1, 5, "soft"):
        with pytest.raises(ValueError, match="pre_blur"):
            tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=model, pre_blur=bad)
    assert "pre_blur" not in model.meta  # the shipped map: no rule (docs/he_model.md)
    m = tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=model)
    assert m.pre_blur_px == 0 and np.isnan(m.focus_ratio)


def _with_rotations(model, turns=4, above=0.5):
    """The model with a test-time rotation rule in its metadata."""
    from dataclasses import replace

    return replace(model, meta={**model.meta, "test_time_rotations": {"turns": turns, "above": above}})


@pytest.mark.parametrize("turns", [2, 4])
def test_rotations_average_the_networks_maps_of_the_turned_input(model, turns):
    """``rotations=T`` is the mean of the network's maps of its input (the image mirrored by
    its receptive field) turned by each of T orientations and turned back: the input is a whole
    number of strides plus the field, so the turned grids fall on the same points."""
    px = model.pixel_size_um
    side = 200  # one chunk
    rgb = make_node(size_um=(side * px + 5, side * px + 5), pixel_size_um=px, stain="he",
                    deposits=[{"diameter_um": 80.0}], seed=7).rgb[:side, :side]
    assert rgb.shape[:2] == (side, side)
    n = int(np.ceil(side / model.stride_px))
    half = int(np.ceil(model.origin_px))
    far = (n - 1) * model.stride_px + model.receptive_field_px - half - side
    window = np.pad(rgb, ((half, far), (half, far), (0, 0)), mode="reflect")
    expected = np.mean([np.rot90(model.run(np.ascontiguousarray(np.rot90(window, k))), -k)
                        for k in range(0, 4, 4 // turns)], axis=0)
    one = tumour_map(rgb, pixel_size_um=px, model=model)
    assert one.rotations == 1
    np.testing.assert_array_equal(one.probability, model.run(window))
    m = tumour_map(rgb, pixel_size_um=px, model=model, rotations=turns)
    assert m.rotations == turns and m.rotated_above == 0
    assert m.probability.shape == expected.shape == (n, n)
    np.testing.assert_allclose(m.probability, expected, atol=1e-6)
    assert np.abs(m.probability - one.probability).max() > 1e-3  # the turns do change the map


def test_a_models_rotation_rule_averages_only_the_points_above_its_threshold(model):
    px = model.pixel_size_um
    rgb = make_node(size_um=(300.0, 300.0), pixel_size_um=px, stain="he",
                    deposits=[{"diameter_um": 120.0}], seed=5).rgb
    one = tumour_map(rgb, pixel_size_um=px, model=model, rotations=1).probability
    four = tumour_map(rgb, pixel_size_um=px, model=model, rotations=4).probability
    ruled = _with_rotations(model, 4, 0.5)
    m = tumour_map(rgb, pixel_size_um=px, model=ruled)
    assert (m.rotations, m.rotated_above) == (4, 0.5)
    assert (m.local_max().rotations, m.local_max().rotated_above) == (4, 0.5)  # the record is kept
    high = one >= 0.5
    assert high.any() and (~high).any()
    np.testing.assert_array_equal(m.probability[~high], one[~high])
    np.testing.assert_allclose(m.probability[high], four[high], atol=1e-6)
    # asked outright, every point is averaged whatever the rule
    np.testing.assert_array_equal(tumour_map(rgb, pixel_size_um=px, model=ruled, rotations=4).probability, four)


@pytest.mark.parametrize("px", [0.5, 1.0])
def test_the_rotated_map_does_not_depend_on_the_chunk_size(model, monkeypatch, px):
    """A chunk is a whole number of strides plus the receptive field, so its turned maps land on
    its own grid points: with the rule (averaged where the unturned map is high) any chunk size
    gives the same map, bit for bit."""
    ruled = _with_rotations(model, 4, 0.3)
    rgb = make_node(size_um=(400.0, 300.0), pixel_size_um=px, stain="he",
                    deposits=[{"diameter_um": 150.0}], seed=7).rgb
    maps = []
    for chunk in (64, 136, 512):
        monkeypatch.setattr(heatmap, "_CHUNK_PX", chunk)
        maps.append(tumour_map(rgb, pixel_size_um=px, model=ruled, threads=2).probability)
    for other in maps[1:]:
        np.testing.assert_array_equal(other, maps[0])


def test_rotations_are_validated(model):
    rgb = np.full((120, 120, 3), 200, np.uint8)
    for bad in (3, 0, True, "4", 1.5):
        with pytest.raises(ValueError, match="rotations must be"):
            tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=model, rotations=bad)
    with pytest.raises(ValueError, match="test_time_rotations"):
        tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=_with_rotations(model, 3, 0.1))
    assert "test_time_rotations" not in model.meta  # the shipped map: no rule (docs/he_model.md)
    m = tumour_map(rgb, pixel_size_um=model.pixel_size_um, model=model)
    assert (m.rotations, m.rotated_above) == (1, 0.0)
