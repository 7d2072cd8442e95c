"""Not-assessable results and quality flags (issue 12, items 1-2)."""

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline import analyze
from pipeline.io import read_image
from pipeline.quality import QUALITY_FLAGS, QUALITY_THRESHOLDS, assess_quality, nucleus_scale_px
from pipeline.stages import measure_node
from pipeline.stains import detect_stain, stain_colour_fractions
from pipeline.staging import node_pn_category
from pipeline.synthetic import make_node


@pytest.fixture(scope="module")
def micro(sample_dir):
    rgb, px, _ = read_image(sample_dir / "node_micro_he_cohesive.tif")
    return rgb, px


def test_blank_slide_is_not_assessable():
    r = analyze(np.full((400, 400, 3), 245, np.uint8), pixel_size_um=0.5)
    assert r.category == "not_assessable" and r.pn_category == "pNX"
    assert r.category_reason == "no tissue found" and r.flags == ["no_tissue"]
    assert r.summary()["category"] == "not_assessable"


def test_coarse_overview_is_not_assessable(micro):
    rgb, px = micro
    small = cv2.resize(rgb, None, fx=px / 8.0, fy=px / 8.0, interpolation=cv2.INTER_AREA)
    r = analyze(small, pixel_size_um=8.0)
    assert r.category == "not_assessable" and "coarse_pixels" in r.flags
    assert "too coarse" in r.category_reason and "8 µm/px" in r.category_reason


def test_wrong_pixel_sizes_are_caught(micro):
    rgb, px = micro
    crop = np.ascontiguousarray(rgb[850:1550, 850:1550])
    fine = analyze(crop, pixel_size_um=0.1)  # true 0.5
    assert fine.category == "not_assessable" and "pixel_size_suspect" in fine.flags
    assert "imply about" in fine.category_reason
    half = np.ascontiguousarray(rgb[600:1800, 600:1800])
    coarse = analyze(half, pixel_size_um=2.0, all_nuclei=True)
    # H&E coarser than 1.25 µm/px is beyond the H&E detector (a negative node here got a false ITC)
    assert coarse.category == "not_assessable" and "coarse_pixels" in coarse.flags
    assert "too coarse for the H&E tumour detector" in coarse.category_reason
    # and the nuclei contradict the pixel size too: as IHC, their median diameter (> 8 µm) is a flag
    q = assess_quality(pixel_size_um=2.0, shape=coarse.shape, tissue_area_mm2=coarse.tissue_area_mm2,
                       nuclei=coarse.nuclei, measures=coarse.quality, stain="ihc")
    assert "pixel_size_suspect" in q.flags and q.measures["median_nucleus_um"] > 8
    # the same nuclei spread over more tissue (under 1,000 per mm²): too few and too large for any
    # tissue, what an IHC image is refused for
    q = assess_quality(pixel_size_um=2.0, shape=coarse.shape, tissue_area_mm2=1.5 * coarse.tissue_area_mm2,
                       nuclei=coarse.nuclei, measures=coarse.quality, stain="ihc")
    assert "pixel_size_suspect" in q.flags and "too few and too large" in q.not_assessable_reason
    right = analyze(half, pixel_size_um=px)
    # an H&E micrometastasis: the only flag is the call to confirm it with cytokeratin
    assert right.category == "micrometastasis" and right.flags == ["confirm_with_ihc"]
    assert 1 / 3 < right.quality["pixel_size_factor"] < 3


def test_pixel_size_off_by_two_is_flagged_by_the_nuclear_size(micro):
    """Given twice the true pixel size, the nuclei measure larger than lymphocytes (median > 8 µm):
    a flag (the analysis stands), which the true pixel size does not raise."""
    rgb, px = micro
    crop = np.ascontiguousarray(rgb[600:1400, 600:1400])
    right = analyze(crop, pixel_size_um=px)
    assert right.quality["median_nucleus_um"] < 8.0 and "pixel_size_suspect" not in right.flags
    doubled = analyze(crop, pixel_size_um=2 * px)
    assert doubled.quality["median_nucleus_um"] > 8.0 and "pixel_size_suspect" in doubled.flags
    assert doubled.category != "not_assessable"


def test_pixel_size_given_half_the_true_one_is_flagged_and_never_negative(sample_dir):
    """0.25 µm/px given for a 20x scan at 0.5: lymphocytes fall under the minimum nucleus area
    and the H&E map reads the tissue at half its scale, so the micrometastasis vanished and the
    node was a green "negative" with no flag."""
    for name, truth in [("node_micro_he_cohesive.tif", "micrometastasis"), ("node_negative_he.tif", "negative")]:
        rgb, px, _ = read_image(sample_dir / name)
        right = analyze(rgb, pixel_size_um=px)
        assert right.category == truth and "pixel_size_suspect" not in right.flags
        assert right.quality["pixel_size_factor"] < QUALITY_THRESHOLDS["pixel_size_factor_given_small"]
        half = analyze(rgb, pixel_size_um=px / 2)
        assert half.quality["pixel_size_factor"] >= QUALITY_THRESHOLDS["pixel_size_factor_given_small"]
        assert "pixel_size_suspect" in half.flags
        assert half.category == "not_assessable" and half.pn_category == "pNX"
        assert f"{px / 2:g} µm/px was given" in half.category_reason and "--pixel-size" in half.category_reason


@pytest.mark.parametrize("implied, suspect", [(0.74, True), (0.76, False), (1.44, False), (1.99, False),
                                             (2.0, True), (3.5, True), (0.3, True)])
def test_the_signed_pixel_size_factor_bands(implied, suspect):
    """Given 1 µm/px: nuclei implying <= 0.75 (given too large) or >= 2 (given too small) µm/px
    are suspect; the estimator's real-image centre (~1.44) is not."""
    nuclei = pd.DataFrame({"equivalent_diameter_um": np.full(60, 6.0)})
    q = assess_quality(pixel_size_um=1.0, shape=(1000, 1000), tissue_area_mm2=0.5, nuclei=nuclei,
                       measures={"implied_pixel_size_um": implied, "tissue_fraction": 0.5,
                                 "nuclear_density_per_mm2": 5000.0})
    assert ("pixel_size_suspect" in q.flags) is suspect
    assert q.measures["pixel_size_factor"] == pytest.approx(implied)
    assert q.not_assessable_reason is None  # a flag: 5x would be not assessable
    no_tumour = assess_quality(pixel_size_um=1.0, shape=(1000, 1000), tissue_area_mm2=0.5, nuclei=nuclei,
                               measures={"implied_pixel_size_um": implied, "tissue_fraction": 0.5,
                                         "nuclear_density_per_mm2": 5000.0}, tumour_found=False)
    # a negative is refused for a pixel size given too small (or 3x off), not on the weaker signs
    refused = implied >= 2.0 or implied <= 1 / 3
    assert (no_tumour.not_assessable_reason is not None) is refused


def test_an_he_finding_at_a_refuted_pixel_size_is_not_assessable(sample_dir):
    """The H&E detector reads the tissue at the scale given: at half the true pixel size it missed
    the cohesive micrometastasis and (with the map of 2026-12-01) found 59 cells elsewhere, an ITC.
    So tumour found in H&E at a pixel size that its nuclei refute is no evidence either."""
    for name in ("node_micro_he_mixed.tif", "node_micro_he_cohesive.tif"):
        rgb, px, _ = read_image(sample_dir / name)
        half = analyze(rgb, pixel_size_um=px / 2)
        assert "pixel_size_suspect" in half.flags
        assert half.category == "not_assessable" and half.pn_category == "pNX"
        if len(half.cells):
            assert half.growth_pattern == "not_assessable"
            assert half.category_reason.startswith("tumour cells found in H&E")
            assert f"{px / 2:g} µm/px was given" in half.category_reason and "--pixel-size" in half.category_reason


def test_a_cytokeratin_finding_at_a_suspect_pixel_size_stands_flagged(sample_dir):
    """A brown cell is brown at any scale: the finding stands, flagged (its size is the doubt)."""
    rgb, px, _ = read_image(sample_dir / "node_micro_ihc_single_file.tif")
    half = analyze(rgb, pixel_size_um=px / 2)
    assert len(half.cells) and "pixel_size_suspect" in half.flags
    assert half.category in ("itc", "micrometastasis", "macrometastasis")


def test_out_of_focus_and_blurry(micro):
    rgb, px = micro
    crop = np.ascontiguousarray(rgb[:800, :800])
    sharp = analyze(crop, pixel_size_um=px)
    assert sharp.quality["focus_ratio"] < QUALITY_THRESHOLDS["blurry_focus_ratio"]
    blurred = analyze(cv2.GaussianBlur(crop, (0, 0), 3.0 / px), pixel_size_um=px)
    assert blurred.category == "not_assessable" and "out_of_focus" in blurred.flags


def test_grey_artefact_is_stain_unknown():
    rng = np.random.default_rng(0)
    grey = np.clip(rng.normal(90, 25, (300, 300)), 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[:, :60] = 245
    r = analyze(rgb, pixel_size_um=0.5)
    assert r.category == "not_assessable" and "stain_unknown" in r.flags
    assert "grey or black" in r.category_reason


def test_small_fragment_without_tumour_is_not_negative(micro):
    rgb, px = micro
    node = make_node(size_um=(120, 120), pixel_size_um=0.5, stain="he", deposits=[], seed=3)
    r = analyze(node.rgb, pixel_size_um=0.5)
    if r.tumor_cell_count == 0:
        assert r.category == "not_assessable" and "too_little_tissue" in r.flags
    else:  # a positive finding stands
        assert r.category != "negative"


def test_haematoxylin_only_ihc_never_reaches_he():
    node = make_node(size_um=(400, 400), pixel_size_um=0.5, stain="ihc", deposits=[], seed=5)
    stain, reason = detect_stain(node.rgb)
    assert stain == "ihc" and "without eosin" in reason
    r = analyze(node.rgb, pixel_size_um=0.5)
    assert r.stain == "ihc" and r.category == "negative"


def test_pigment_in_he_is_not_dab():
    pink = np.zeros((40, 40, 3), np.uint8) + np.array([230, 120, 200], np.uint8)
    pink[:8] = (150, 100, 60)  # 20 % brown pigment
    stain, reason = detect_stain(pink, background=(250, 250, 250))
    assert stain == "he" and "pigment" in reason
    assert stain_colour_fractions(pink, background=(250, 250, 250))["brown"] == pytest.approx(0.2)


def test_not_assessable_survives_remeasure_and_pnx():
    cells = pd.DataFrame({"y_um": [0.0], "x_um": [0.0], "radius_um": [5.0]})
    r = measure_node(cells, pixel_size_um=0.5, not_assessable_reason="out of focus")
    assert r.category == "not_assessable" and r.category_reason == "out of focus"
    assert r.growth_pattern == "not_assessable"
    assert r.pn_category == node_pn_category("not_assessable") == "pNX"
    assert r.tumor_cell_count == 1  # what was found is kept, no category claimed


def test_assess_quality_flags_documented():
    q = assess_quality(pixel_size_um=0.5, shape=(1000, 1000), tissue_area_mm2=0.01,
                       nuclei=pd.DataFrame({"equivalent_diameter_um": [12.0] * 60}),
                       measures={"focus_ratio": 0.85, "pen_fraction": 0.02}, tumour_found=False)
    assert set(q.flags) <= set(QUALITY_FLAGS)
    assert {"blurry", "pen_marks", "low_tissue_fraction", "too_little_tissue", "not_lymph_node"} <= set(q.flags)
    assert q.measures["tissue_fraction"] == pytest.approx(0.04)


def _lymphocyte_sized(yx, eccentricity):
    yx = np.asarray(yx, float)
    return pd.DataFrame({"equivalent_diameter_um": 6.0, "eccentricity": eccentricity,
                         "y_um": yx[:, 0], "x_um": yx[:, 1], "nucleus_id": np.arange(1, len(yx) + 1)})


@pytest.mark.parametrize("spacing_um, eccentricity, flagged", [
    (8.0, 0.5, False),   # packed round nuclei: a lymphocyte population
    (8.0, 0.95, True),   # packed but elongated (epithelium, smooth muscle)
    (25.0, 0.5, True),   # round but sparse (dermis, stroma)
])
def test_not_lymph_node_needs_packed_round_lymphocyte_sized_nuclei(spacing_um, eccentricity, flagged):
    yy, xx = np.mgrid[0:20, 0:20] * spacing_um
    nuclei = _lymphocyte_sized(np.stack([yy.ravel(), xx.ravel()], 1), eccentricity)
    q = assess_quality(pixel_size_um=0.5, shape=(2000, 2000), tissue_area_mm2=1.0, nuclei=nuclei,
                       measures={"tissue_fraction": 0.5}, tumour_found=False)
    assert ("not_lymph_node" in q.flags) is flagged
    assert q.measures["lymphocyte_fraction"] == 1.0
    # no tumour and no lymph node: nothing to call negative; a tumour found stands
    assert (q.not_assessable_reason is not None) is flagged
    if flagged:
        assert "too little lymph-node tissue" in q.not_assessable_reason and "packed" in q.not_assessable_reason
    found = assess_quality(pixel_size_um=0.5, shape=(2000, 2000), tissue_area_mm2=1.0, nuclei=nuclei,
                           measures={"tissue_fraction": 0.5}, tumour_found=True)
    assert found.not_assessable_reason is None and found.flags == q.flags
    # judged over the nuclei at least 15 µm from the image's edge (the grid's first two rows
    # and columns left out): of those 324, the grid's far corner alone has only 3 neighbours
    assert q.measures["packed_lymphocyte_fraction"] == (0.0 if flagged else round(323 / 324, 3))


def test_packed_lymphocytes_are_judged_away_from_the_image_edge():
    """A small field of packed lymphocytes: nuclei at its edge lack half their neighbours."""
    yy, xx = np.mgrid[0:14, 0:14] * 7.0 + 3.5  # a 98 µm field (a PatchCamelyon patch) full of them
    nuclei = _lymphocyte_sized(np.stack([yy.ravel(), xx.ravel()], 1), 0.5)
    q = assess_quality(pixel_size_um=1.0, shape=(98, 98), tissue_area_mm2=0.0096, nuclei=nuclei,
                       measures={"tissue_fraction": 1.0}, tumour_found=False)
    assert "not_lymph_node" not in q.flags and q.measures["packed_lymphocyte_fraction"] == 1.0


@pytest.mark.realdata
def test_real_skin_section_is_flagged_not_lymph_node(realdata_dir):
    """svs/CMU-1-Small-Region.svs is skin (epidermis, dermis, a hair follicle): its 4.5-8 µm
    nuclei are a third of all, but elongated or sparse, so it is no lymph node."""
    from pipeline.analysis import analyze_file

    r, _ = analyze_file(realdata_dir / "svs" / "CMU-1-Small-Region.svs")
    assert "not_lymph_node" in r.flags
    assert r.quality["lymphocyte_fraction"] > QUALITY_THRESHOLDS["min_lymphocyte_fraction"]
    assert r.quality["packed_lymphocyte_fraction"] < QUALITY_THRESHOLDS["min_packed_lymphocyte_fraction"]


@pytest.mark.realdata
def test_real_carcinoma_without_tumour_cells_is_not_called_negative(realdata_dir):
    """``OS-2-vsi.ome.tif`` is a Ki67 IHC of breast carcinoma (no cytokeratin, no lymph node):
    no tumour cells, and it was a green "negative"; with no lymph node in it, no stage."""
    from pipeline.analysis import analyze_file

    r, _ = analyze_file(realdata_dir / "openslide-crops" / "OS-2-vsi.ome.tif")
    assert r.category == "not_assessable" and "not_lymph_node" in r.flags
    assert r.category_reason.startswith("no tumour cells, and too little lymph-node tissue")


def test_nucleus_scale_follows_pixel_size():
    yy, xx = np.mgrid[:256, :256]
    h = np.zeros((256, 256), np.float32)
    for cy in range(12, 256, 24):
        for cx in range(12, 256, 24):
            h[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = 1.0
    d = nucleus_scale_px(h)
    d2 = nucleus_scale_px(cv2.resize(h, (512, 512), interpolation=cv2.INTER_LINEAR))
    assert 1.6 < d2 / d < 2.5


@pytest.mark.realdata
def test_real_pcam_dense_lymphoid_stays_he(realdata_dir):
    """Dense lymphoid PCam patches that the old Macenko-angle rule read as IHC."""
    import io
    import zipfile

    from PIL import Image

    with zipfile.ZipFile(realdata_dir / "pcam-patches" / "patches.zip") as zf:
        names = {n.rsplit("/", 1)[-1]: n for n in zf.namelist()}
        labels = pd.read_csv(realdata_dir / "pcam-patches" / "labels.csv")
        files = labels[labels["split"] == "test"]["file"].iloc[:300]
        stains = [detect_stain(np.asarray(Image.open(io.BytesIO(zf.read(names[f]))).convert("RGB")))[0]
                  for f in files]
    assert stains.count("he") >= 297


def test_every_flag_is_documented():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    for name in ("quality.md", "outputs.md"):  # the thresholds, and the list beside the outputs
        doc = (docs / name).read_text(encoding="utf-8")
        missing = [f for f in QUALITY_FLAGS if f"`{f}`" not in doc]
        assert not missing, f"docs/{name} misses {missing}"
    q = assess_quality(pixel_size_um=0.5, shape=(400, 400), tissue_area_mm2=0.03,
                       nuclei=pd.DataFrame({"equivalent_diameter_um": [6.0] * 60}), measures={},
                       tumour_found=True, stain_vectors_source="reference")
    assert "stain_vectors_implausible" in q.flags and q.not_assessable_reason is None


@pytest.mark.parametrize("sigma", [0.8, 1.35, 3.2, 9.0])
def test_nuclear_scale_filter_is_scipys_gaussian_laplace(sigma):
    """The OpenCV Laplacian of Gaussian behind nucleus_scale_px equals SciPy's (kernels, border)."""
    from scipy import ndimage as ndi

    from pipeline.quality import _gaussian_laplace

    a = np.random.default_rng(1).random((97, 130)).astype(np.float32)
    np.testing.assert_allclose(_gaussian_laplace(a, sigma), ndi.gaussian_laplace(a, sigma), atol=1e-6)


@pytest.mark.parametrize("stain, n_cells, flagged", [("he", 3, True), ("ihc", 3, False), ("he", 0, False)])
def test_tumour_found_in_he_is_flagged_confirm_with_ihc(stain, n_cells, flagged):
    """docs/he_model.md: at slide scale the H&E detector's false deposits are common."""
    cells = pd.DataFrame({"y_um": [0.0, 10.0, 20.0][:n_cells], "x_um": [0.0, 0.0, 0.0][:n_cells],
                          "radius_um": [5.0] * n_cells})
    # a stale flag from before a review (every cell deleted) goes; other flags stay
    r = measure_node(cells, pixel_size_um=0.5, stain=stain, flags=["blurry", "confirm_with_ihc"])
    assert ("confirm_with_ihc" in r.flags) is flagged and "blurry" in r.flags
    assert r.flags.count("confirm_with_ihc") <= 1
    assert r.category == ("itc" if n_cells else "negative")


@pytest.mark.parametrize("context, reason_start", [
    ({"tissue_area_mm2": 0.01}, "no tumour cells in 0.010 mm² of tissue"),
    ({"tissue_area_mm2": 1.0, "flags": ["not_lymph_node"],
      "quality": {"lymphocyte_fraction": 0.4, "packed_lymphocyte_fraction": 0.05}},
     "no tumour cells, and too little lymph-node tissue"),
    ({"tissue_area_mm2": 1.0, "flags": ["pixel_size_suspect"],
      "quality": {"implied_pixel_size_um": 1.0, "pixel_size_factor": 2.0}},
     "no tumour cells, but the nuclei imply about 1 µm/px, 0.5 µm/px was given"),
])
def test_a_negative_call_is_judged_again_after_a_review(context, reason_start):
    """A positive finding stands in any tissue; with every tumour cell deleted in a review, a
    fragment or a field with no lymph node is not assessable (not a green negative), and the
    other way round."""
    from pipeline.review import Review

    cells = pd.DataFrame({"y_um": [50.0, 60.0], "x_um": [50.0, 50.0], "radius_um": [5.0, 5.0]})
    found = measure_node(cells, pixel_size_um=0.5, stain="ihc", **context)
    assert found.category == "itc" and "too_little_tissue" not in found.flags
    review = Review(found)
    review.delete_cells(review.cells["cell_id"])
    emptied = review.remeasure()
    assert emptied.category == "not_assessable" and emptied.category_reason.startswith(reason_start)
    assert emptied.pn_category == "pNX" and emptied.not_assessable_reason is None
    assert ("too_little_tissue" in emptied.flags) is (context["tissue_area_mm2"] < 0.05)
    review.add_cells([[55.0, 55.0]])
    again = review.remeasure()
    assert again.category == "itc" and "too_little_tissue" not in again.flags
    # with no tissue area known (a table of cells), nothing is judged
    assert measure_node(cells.iloc[:0], pixel_size_um=0.5).category == "negative"


def test_he_beyond_the_detectors_pixel_sizes_is_not_staged(sample_dir):
    """The negative H&E sample (1 µm/px) given 2 µm/px was a false ITC of 31 cells; cytokeratin
    IHC is still analysed up to 2 µm/px."""
    from pipeline.analysis import analyze_file

    r, _ = analyze_file(sample_dir / "node_negative_he.tif", pixel_size_um=2.0)
    assert r.category == "not_assessable" and "coarse_pixels" in r.flags
    cells = pd.DataFrame({"y_um": [0.0], "x_um": [0.0], "radius_um": [5.0]})
    for stain, px, refused in (("he", 1.25, False), ("he", 1.3, True), ("ihc", 2.0, False)):
        q = assess_quality(pixel_size_um=px, shape=(500, 500), tissue_area_mm2=0.2, nuclei=cells.iloc[:0],
                           measures={}, stain=stain)
        assert (q.not_assessable_reason is not None) is refused, (stain, px)


def test_a_negative_cytokeratin_node_with_a_pale_counterstain_is_still_negative():
    """The "no lymph node" refusal reads the haematoxylin nuclei: a light counterstain (OD x0.4,
    as many cytokeratin slides have) keeps the lymphocytes small, round and packed."""
    from skimage.color import hed2rgb, rgb2hed

    node = make_node(size_um=(600.0, 600.0), pixel_size_um=1.0, stain="ihc", deposits=[], seed=903)
    hed = rgb2hed(node.rgb)
    hed[..., 0] *= 0.4
    pale = (np.clip(hed2rgb(hed), 0, 1) * 255 + 0.5).astype(np.uint8)
    r = analyze(pale, pixel_size_um=1.0)
    assert r.stain == "ihc" and r.category == "negative", r.category_reason
    assert r.quality["packed_lymphocyte_fraction"] > 2 * QUALITY_THRESHOLDS["min_packed_lymphocyte_fraction"]


@pytest.mark.parametrize("shape, px", [((1000, 700), 0.5), ((97, 1300), 0.25), ((600, 600), 1.0), ((5, 400), 0.5)])
def test_focus_gradients_by_blocks_of_rows_equal_the_whole_array(shape, px):
    """The focus measure filters a block of rows at a time (no array-sized float temporaries)
    and gives the means that filtering the whole array gives."""
    from pipeline.quality import _mean_gradients

    rng = np.random.default_rng(1)
    h = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 2) * 2
    mask = rng.random(shape) > 0.3
    inside = mask.astype(np.uint8)

    def whole(a):
        return cv2.mean(cv2.magnitude(cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1)), mask=inside)[0]

    expected = (whole(h), whole(cv2.GaussianBlur(h, (0, 0), 1.0 / px)))
    np.testing.assert_allclose(_mean_gradients(h, mask, 1.0 / px), expected, rtol=1e-9)
