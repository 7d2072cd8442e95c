"""Can this image support a stage? Quality measures, flags and "not assessable" reasons.

A pathologist forgives "I cannot tell"; a confident wrong stage is what hurts. Two
kinds of finding come out of :func:`assess_quality`:

- **not assessable** (:class:`ImageQuality.not_assessable_reason`): the image cannot
  support a stage, whatever was found in it. The node's category becomes
  ``"not_assessable"`` (pN category ``"pNX"``) and it is never counted as negative.
- **flags**: something a reader should know, but the analysis stands.

Every threshold is in :data:`QUALITY_THRESHOLDS`, with its reason in
``docs/quality.md``. The image-level measures (:func:`image_quality`) come from the
same full-resolution samples as the stain vectors, so an image held in memory and a
slide read tile by tile are judged alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .spatial import count_within
from .staging import NOT_ASSESSABLE
from .stains import masked_pixels, rgb_to_od

__all__ = ["QUALITY_THRESHOLDS", "QUALITY_FLAGS", "CONFIRM_WITH_IHC", "ImageQuality", "image_quality", "nucleus_scale_px",
           "assess_quality", "NOT_ASSESSABLE"]


#: Thresholds of the checks (see docs/quality.md for the reasons).
QUALITY_THRESHOLDS = {
    # nuclei are 5-8 µm (lymphocytes) to ~15 µm (carcinoma): coarser than 2 µm/px a
    # lymphocyte spans < 4 pixels and cannot be segmented or counted
    "max_pixel_size_um": 2.0,
    # the H&E tumour detector reads 0.25-1.0 µm/px (its map trained at 0.97 µm/px, scaled
    # 0.8-1.25x): coarser H&E is not staged (cytokeratin IHC up to max_pixel_size_um)
    "max_he_pixel_size_um": 1.25,
    # fraction of stained pixels that are grey/black (no haematoxylin, eosin or DAB colour)
    "max_colourless_fraction": 0.6,
    # focus: gradient left after a 1 µm Gaussian blur / gradient before (1 = no detail finer
    # than 1 µm). Sharp real scans 0.20-0.58; blurred by 2 µm 0.83-0.92, by 4 µm 0.89-0.96
    "blurry_focus_ratio": 0.80,
    "out_of_focus_ratio": 0.90,
    # pen/marker ink: fraction of stained pixels that are green/blue-green ink or black
    "pen_fraction": 0.005,
    # tissue on the image (a flag only: a small biopsy is still a node)
    "low_tissue_fraction": 0.05,
    # nuclei per mm² of tissue: lymph nodes measure 4,000-10,000 here
    "low_nuclear_density_per_mm2": 1000.0,
    # with no tumour found, less tissue than this cannot call a node negative (mm²)
    "min_negative_tissue_mm2": 0.05,
    # nuclei needed to judge the lymphocyte population and the pixel size
    "min_nuclei": 50,
    # a lymph node's nuclei are mostly lymphocytes, 4.5-8 µm; fewer than this fraction
    # in that range: no lymphocyte population (a primary tumour, a carcinoma-only field)
    "min_lymphocyte_fraction": 0.25,
    # ... and packed like lymphocytes: round (eccentricity < 0.8) with at least 5 other nuclei
    # within 15 µm. The 4.5-8 µm nuclei of skin, stroma or epithelium are mostly elongated or
    # sparse. Real lymphoid tissue here: 0.21-0.27 (the CAMELYON tile with no tumour, 6 mosaics
    # of 25 negative PatchCamelyon patches); an H&E skin section (svs/CMU-1) 0.07 although 0.37
    # of its nuclei are lymphocyte-sized; MoNuSeg breast carcinoma 0-0.08; synthetic nodes >= 0.38
    "min_packed_lymphocyte_fraction": 0.12,
    # pixel size implied by the nuclear scale (typical nucleus 6.5 µm across) vs the
    # given one: real scans here lie within 1/2-3x (the scale is a rough estimate:
    # chromatin texture at 40x, large carcinoma nuclei); 3x flags, 5x is not assessable
    "pixel_size_factor": 3.0,
    "pixel_size_factor_not_assessable": 5.0,
    # ... but a pixel size given too small (nuclei 2x or more larger in pixels than the given
    # size allows, e.g. 0.25 µm/px given for a 20x scan at 0.5) flags at 2x: lymphocytes then
    # fall under the minimum nucleus area and the H&E map sees the tissue at half its scale, so
    # a metastasis can read negative. Measured (bench/quality_thresholds.py, the signed factor
    # implied / given): sharp real images 4 of 99 at >= 2 (median 1.44), given x0.5 74 of 82
    "pixel_size_factor_given_small": 2.0,
    # ... and too large (nuclei smaller in pixels than the given size allows: lengths read too
    # long, an ITC can become a micrometastasis) flags at 1 / 0.75 = 1.33x: the estimator reads
    # real nuclei ~1.4x too small (sharp real median 1.44), so a pixel size given 2x lands at
    # ~0.72. Sharp real images 3 of 99 at <= 0.75, given x2 28 of 44 (the others: coarse H&E)
    "pixel_size_factor_given_large": 0.75,
    # median nuclear diameter: a lymph node's nuclei are mostly lymphocytes (5-8 µm), and even
    # carcinoma fields measure less; above this the pixel size given is probably too large.
    # Sharp real images of 11 sets (lymph node and carcinoma) at their true pixel size: at most
    # 7.8 µm; the same with the pixel size given x2: 27 of 67 above 8 µm (segmentation sizes
    # nuclei in µm, so they grow less than the pixel size)
    "max_median_nucleus_um": 8.0,
}

#: A packed lymphocyte has at least 5 other nuclei within this distance, µm.
_PACKED_RADIUS_UM = 15.0

#: Raised by :func:`pipeline.stages.measure_node` on an H&E node with tumour: at slide scale the
#: H&E detector's false deposits are common (docs/he_model.md, "Slide-level specificity").
CONFIRM_WITH_IHC = "confirm_with_ihc"
#: Raised by :func:`negative_call_reason` (and so by ``measure_node``) only when no tumour was found.
TOO_LITTLE_TISSUE = "too_little_tissue"
#: Raised by :func:`assess_quality` when the nuclei hold no lymphocyte population.
NOT_LYMPH_NODE = "not_lymph_node"

#: Every flag :func:`assess_quality` (and ``measure_node``: ``confirm_with_ihc``, ``too_little_tissue``) can
#: raise, with its meaning.
QUALITY_FLAGS = {
    "no_tissue": "no tissue found (not assessable)",
    "coarse_pixels": "pixel size above max_pixel_size_um (H&E: max_he_pixel_size_um): nuclei not "
                     "resolvable, or beyond the H&E detector's range (not assessable)",
    "stain_unknown": "most stained pixels are grey or black, not H&E or DAB (not assessable)",
    "out_of_focus": "no detail finer than ~3 µm (not assessable)",
    "blurry": "little detail finer than 1 µm: nuclei may be missed or merged",
    "pen_marks": "marker ink on the tissue",
    "stain_vectors_implausible": "the image's own stain vectors were more than 30° from the reference "
                                 "(or too few stained pixels): the reference vectors were used",
    "low_tissue_fraction": "tissue covers less than 5 % of the image",
    "low_nuclear_density": "fewer than 1,000 nuclei per mm² of tissue",
    TOO_LITTLE_TISSUE: "no tumour found in too little tissue to call the node negative (not assessable)",
    NOT_LYMPH_NODE: "no lymphocyte population (few small, round, packed nuclei): a primary tumour, a "
                      "carcinoma-only field, another tissue, or a pixel size given too large? (not "
                      "assessable when no tumour is found: a negative needs lymph node)",
    CONFIRM_WITH_IHC: "tumour found in H&E: on real slides the H&E detector's false deposits are common "
                      "(docs/he_model.md); confirm with cytokeratin IHC (the stage stands)",
    "pixel_size_suspect": "the nuclei contradict the pixel size given: their scale implies one 3x or more "
                          "away (given too small: 2x; too large: 1.33x, the scale reading real nuclei "
                          "~1.4x small; 5x: not assessable), their median diameter exceeds 8 µm "
                          "(lymphocytes: 5-8 µm), or they are too few and too large (with no tumour "
                          "found and the scale 2x small or 3x off: not assessable)",
}


@dataclass(frozen=True)
class ImageQuality:
    """The quality of one image: measures, flags and why it cannot be staged, if so.

    Attributes
    ----------
    flags : tuple of str
        Keys of :data:`QUALITY_FLAGS`.
    measures : dict
        Every measured quantity (recorded in ``summary.json["parameters"]["quality"]``).
    not_assessable_reason : str or None
        Why the image cannot support a stage (None when it can).
    """

    flags: tuple = ()
    measures: dict = field(default_factory=dict)
    not_assessable_reason: str | None = None


def _gaussian_kernels(sigma: float):
    """The 1-D Gaussian and its second derivative as ``scipy.ndimage.gaussian_laplace`` builds
    them (radius ``int(4 sigma + 0.5)``), float32."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=float)
    g = np.exp(-0.5 * x * x / (sigma * sigma))
    g /= g.sum()
    return g.astype(np.float32), ((x * x / sigma ** 4 - 1.0 / sigma ** 2) * g).astype(np.float32)


def _gaussian_laplace(a: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_laplace(a, sigma)`` (mode "reflect") through OpenCV's separable
    filters, in float32: the same kernels and border, several times faster."""
    g, d2 = _gaussian_kernels(sigma)
    a = np.asarray(a, np.float32)
    out = cv2.sepFilter2D(a, cv2.CV_32F, d2, g, borderType=cv2.BORDER_REFLECT)  # d2/dx2 (x: columns)
    out += cv2.sepFilter2D(a, cv2.CV_32F, g, d2, borderType=cv2.BORDER_REFLECT)  # d2/dy2
    return out


def nucleus_scale_px(hematoxylin, *, max_side=512) -> float:
    """Characteristic nuclear diameter in pixels, from scale-space blob responses.

    The scale-normalised Laplacian of Gaussian of a disc of diameter ``d`` peaks at
    ``sigma = d / (2 sqrt 2)``; the scale whose strongest blob responses are largest
    gives the image's typical nucleus, whatever pixel size was claimed.

    Parameters
    ----------
    hematoxylin : (M, N) float ndarray
        Haematoxylin concentration (OD), e.g. from :func:`pipeline.stains.separate_stains`.
    max_side : int, keyword-only
        Only the central ``max_side`` x ``max_side`` pixels are used.

    Returns
    -------
    float
        Diameter in pixels (NaN for an image too small to tell).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:128, :128]
    >>> h = np.zeros((128, 128), np.float32)
    >>> for cy in range(16, 128, 32):
    ...     for cx in range(16, 128, 32):
    ...         h[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 1.0
    >>> 9 < nucleus_scale_px(h) < 17
    True
    """
    h = np.asarray(hematoxylin, np.float32)
    if h.ndim != 2 or min(h.shape) < 16:
        return float("nan")
    r0, c0 = max(0, (h.shape[0] - max_side) // 2), max(0, (h.shape[1] - max_side) // 2)
    h = h[r0:r0 + max_side, c0:c0 + max_side]
    sigmas = 0.8 * 2 ** np.arange(0, 5.01, 0.25)
    scores = []
    for s in sigmas:
        ds = max(1, int(s // 2))  # a coarser grid for coarse scales (>= 2 px per sigma)
        a = h if ds == 1 else cv2.resize(h, (h.shape[1] // ds, h.shape[0] // ds), interpolation=cv2.INTER_AREA)
        if min(a.shape) < 8:
            scores.append(0.0)
            continue
        r = -((s / ds) ** 2) * _gaussian_laplace(a, s / ds)
        peaks = r[(r == cv2.dilate(r, np.ones((3, 3), np.uint8))) & (r > 0)]
        top = np.sort(peaks)[-max(10, len(peaks) // 20):]
        scores.append(float(top.mean()) if len(top) else 0.0)
    if max(scores) <= 0:
        return float("nan")
    return float(2 * np.sqrt(2) * sigmas[int(np.argmax(scores))])


#: Rows of the samples filtered at a time by :func:`_mean_gradients`.
_FOCUS_ROWS = 256


def _mean_gradients(h: np.ndarray, mask: np.ndarray, sigma_px: float) -> tuple[float, float]:
    """Mean Sobel gradient magnitude of ``h`` over ``mask``, and of ``h`` blurred by a Gaussian
    of ``sigma_px``: the same values as filtering the whole array (each block of rows is
    filtered with enough rows of its neighbours around it that the borders OpenCV adds
    touch only those), without its several array-sized float temporaries."""
    # the blur's reach (OpenCV's float kernel spans 4 sigma either side), then Sobel's one row
    halo = int(np.ceil(4 * sigma_px)) + 2
    sums, count = [0.0, 0.0], 0
    m = h.shape[0]
    for r0 in range(0, m, _FOCUS_ROWS):
        r1 = min(m, r0 + _FOCUS_ROWS)
        a0, a1 = max(0, r0 - halo), min(m, r1 + halo)
        inside = mask[r0:r1]
        n = int(np.count_nonzero(inside))
        if not n:
            continue
        block = h[a0:a1]
        for k, a in enumerate((block, cv2.GaussianBlur(block, (0, 0), sigma_px))):
            g = cv2.magnitude(cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1))
            sums[k] += float(g[r0 - a0:r1 - a0][inside].sum(dtype=np.float64))
        count += n
    return sums[0] / count, sums[1] / count


def image_quality(sample, hematoxylin, tissue, *, pixel_size_um, colour) -> dict:
    """Image-level measures from full-resolution tissue samples.

    Parameters
    ----------
    sample : (M, N, 3) uint8 ndarray
        Tissue samples (what :func:`pipeline.detection.image_stats` reads).
    hematoxylin : (M, N) float ndarray
        Its haematoxylin concentration.
    tissue : (M, N) bool ndarray
    pixel_size_um : float, keyword-only
    colour : dict, keyword-only
        :func:`pipeline.stains.stain_colour_fractions` of the tissue.

    Returns
    -------
    dict
        ``focus_ratio`` (NaN coarser than 1 µm/px), ``pen_fraction``,
        ``colourless_fraction``, ``brown_fraction``, ``eosin_fraction``,
        ``nucleus_scale_px``, ``implied_pixel_size_um``.
    """
    sample, h, tis = np.asarray(sample), np.asarray(hematoxylin, np.float32), np.asarray(tissue, bool)
    mask = tis & (h > 0.15)
    focus = float("nan")
    if pixel_size_um <= 1.0 and mask.sum() >= 500:
        sharp, soft = _mean_gradients(h, mask, 1.0 / pixel_size_um)
        focus = float(soft / max(sharp, 1e-6))
    # pen ink among the stained tissue pixels, a block of rows at a time so that neither an
    # (N, 3) float array nor the gathered pixels of the whole sample are built (OD against
    # white glass, as rgb_to_od defines it)
    stained = ink = 0
    rows = max(1, (1 << 18) // max(1, sample.shape[1]))
    for start in range(0, sample.shape[0], rows):
        pixels = masked_pixels(sample[start:start + rows], tis[start:start + rows])
        od = rgb_to_od(pixels[:, None, :])[:, 0]
        r, g, b = od[:, 0], od[:, 1], od[:, 2]
        total = r + g + b  # = od.sum(1)
        keep = total > 0.3
        r, g, b, total = r[keep], g[keep], b[keep], total[keep]
        stained += len(total)
        ink += int((((r > 2.5 * g) & (r > 2.5 * b) & (total > 1.0)) | (np.minimum(np.minimum(r, g), b) > 1.5)).sum())
    pen = ink / stained if stained else 0.0
    # the nuclear scale: median over crops that are mostly tissue (one crop of glass,
    # fat or a fold alone gives any scale)
    side, scales = 384, []
    for r0 in range(0, max(1, h.shape[0] - side + 1), side):
        for c0 in range(0, max(1, h.shape[1] - side + 1), side):
            if tis[r0:r0 + side, c0:c0 + side].mean() >= 0.5 and len(scales) < 8:
                scales.append(nucleus_scale_px(h[r0:r0 + side, c0:c0 + side], max_side=side))
    # the finest scale (a nucleus < 3 px across) is JPEG noise or glass, not nuclei
    scales = [v for v in scales if np.isfinite(v) and v > 3.0]
    scale = float(np.median(scales)) if len(scales) >= 2 else float("nan")
    return {"focus_ratio": round(focus, 4), "pen_fraction": round(pen, 5),
            "colourless_fraction": round(float(colour.get("colourless", 0.0)), 4),
            "brown_fraction": round(float(colour.get("brown", 0.0)), 4),
            "eosin_fraction": round(float(colour.get("eosin", 0.0)), 4),
            "nucleus_scale_px": round(scale, 2),
            "implied_pixel_size_um": round(6.5 / scale, 3) if np.isfinite(scale) else float("nan")}


def assess_quality(*, pixel_size_um, shape, tissue_area_mm2, nuclei, measures, tumour_found=None,
                   flags=(), tumour_ids=None, stain_vectors_source=None, stain=None) -> ImageQuality:
    """Flags and, when the image cannot support a stage, the reason.

    Parameters
    ----------
    pixel_size_um : float, keyword-only
    shape : (int, int), keyword-only
        Rows and columns of the image, pixels.
    tissue_area_mm2 : float, keyword-only
    nuclei : pandas.DataFrame, keyword-only
        All nuclei (``equivalent_diameter_um``).
    measures : dict, keyword-only
        :func:`image_quality` (empty without tissue).
    tumour_found : bool or None, keyword-only
        Whether any tumour cell was found. False: the rules of a negative call
        (:func:`negative_call_reason`) are applied too. None: they are left to
        whoever stages the cells (:func:`pipeline.stages.measure_node` does, so that
        a review that adds or removes every tumour cell is judged again).
    flags : sequence of str, keyword-only
        Flags already raised (e.g. ``"no_tissue"``).
    tumour_ids : array_like of int, optional, keyword-only
        ``nucleus_id`` of the tumour cells (they are not lymphocytes, whatever their size).
    stain_vectors_source : str, optional, keyword-only
        How the stain vectors were found (:func:`pipeline.stains.estimate_stain_vectors`);
        ``"reference"`` means the image's own were implausible (or too few pixels).
    stain : {"he", "ihc"}, optional, keyword-only
        The image's stain: H&E coarser than ``max_he_pixel_size_um`` is not assessable.

    Returns
    -------
    ImageQuality

    Examples
    --------
    >>> import pandas as pd
    >>> q = assess_quality(pixel_size_um=16.0, shape=(500, 500), tissue_area_mm2=20.0,
    ...                    nuclei=pd.DataFrame({"equivalent_diameter_um": []}), measures={},
    ...                    tumour_found=False)
    >>> q.flags, q.not_assessable_reason[:40]
    (('coarse_pixels',), 'pixel size 16 µm/px is too coarse to res')
    """
    t = QUALITY_THRESHOLDS
    out = list(flags)
    reasons = []
    px = float(pixel_size_um)
    m = dict(measures)
    image_mm2 = shape[0] * shape[1] * px * px / 1e6 if shape[0] and shape[1] else 0.0
    m["tissue_fraction"] = round(float(tissue_area_mm2) / image_mm2, 4) if image_mm2 else 0.0
    n = int(len(nuclei))
    m["nuclear_density_per_mm2"] = round(n / tissue_area_mm2, 1) if tissue_area_mm2 > 0 else 0.0
    if "no_tissue" in out:
        reasons.append("no tissue found")
    if px > t["max_pixel_size_um"]:
        out.append("coarse_pixels")
        reasons.append(f"pixel size {px:g} µm/px is too coarse to resolve nuclei (NodeScope needs "
                       f"<= {t['max_pixel_size_um']:g} µm/px; a lymphocyte nucleus is 5-8 µm)")
    elif stain == "he" and px > t["max_he_pixel_size_um"]:
        out.append("coarse_pixels")
        reasons.append(f"pixel size {px:g} µm/px is too coarse for the H&E tumour detector (it reads "
                       f"0.25-{t['max_he_pixel_size_um']:g} µm/px; cytokeratin IHC can be analysed up to "
                       f"{t['max_pixel_size_um']:g} µm/px)")
    if "no_tissue" not in out and reasons == []:
        colourless = m.get("colourless_fraction", 0.0)
        if colourless >= t["max_colourless_fraction"]:
            out.append("stain_unknown")
            reasons.append(f"stain unknown: {colourless:.0%} of the stained pixels are grey or black, "
                           "not haematoxylin, eosin or DAB")
        focus = m.get("focus_ratio", float("nan"))
        if np.isfinite(focus) and focus >= t["out_of_focus_ratio"]:
            out.append("out_of_focus")
            reasons.append(f"out of focus (focus ratio {focus:.2f} >= {t['out_of_focus_ratio']:g}: "
                           "no detail finer than ~3 µm)")
        elif np.isfinite(focus) and focus >= t["blurry_focus_ratio"]:
            out.append("blurry")
        if stain_vectors_source == "reference":
            out.append("stain_vectors_implausible")
        if m.get("pen_fraction", 0.0) >= t["pen_fraction"]:
            out.append("pen_marks")
        if m["tissue_fraction"] < t["low_tissue_fraction"]:
            out.append("low_tissue_fraction")
        if n and m["nuclear_density_per_mm2"] < t["low_nuclear_density_per_mm2"]:
            out.append("low_nuclear_density")
        implied = m.get("implied_pixel_size_um", float("nan"))
        if np.isfinite(implied) and implied > 0:
            factor = implied / px
            m["pixel_size_factor"] = round(factor, 3)
            if _scale_contradicts(factor)[0]:
                out.append("pixel_size_suspect")
            if max(factor, 1 / factor) >= t["pixel_size_factor_not_assessable"]:
                reasons.append(f"pixel size suspect: the nuclei imply about {implied:.2g} µm/px, "
                               f"{px:g} µm/px was given (check the file's calibration or --pixel-size)")
        if n >= t["min_nuclei"]:
            d = nuclei["equivalent_diameter_um"].to_numpy(float)
            small = (d >= 4.5) & (d <= 8.0)
            if tumour_ids is not None and "nucleus_id" in nuclei:
                small &= ~np.isin(nuclei["nucleus_id"].to_numpy(), np.asarray(tumour_ids))
            if "tumour_context" in nuclei:  # H&E: nuclei the tumour map places in carcinoma
                small &= ~(nuclei["tumour_context"].to_numpy(float) >= 0.5)
            lymph = float(np.mean(small))
            m["lymphocyte_fraction"] = round(lymph, 3)
            packed = np.nan
            if {"eccentricity", "y_um", "x_um"} <= set(nuclei.columns):
                yx = nuclei[["y_um", "x_um"]].to_numpy(float)
                # judged away from the image's edge, where a nucleus lacks half its neighbours
                # (not at all in a field too small to have 20 nuclei inside that margin)
                extent = np.asarray(shape, float) * px
                inner = ((yx >= _PACKED_RADIUS_UM) & (yx <= extent - _PACKED_RADIUS_UM)).all(1)
                if inner.sum() >= 20:
                    # neighbours counted for the small round nuclei only (a slide holds millions)
                    cand = inner & small & (nuclei["eccentricity"].to_numpy(float) < 0.8)
                    near = count_within(yx[cand], yx, radius_um=_PACKED_RADIUS_UM)
                    packed = float(np.sum(near >= 6) / inner.sum())
                    m["packed_lymphocyte_fraction"] = round(packed, 3)
            m["median_nucleus_um"] = round(float(np.median(d)), 2)
            if lymph < t["min_lymphocyte_fraction"] or packed < t["min_packed_lymphocyte_fraction"]:  # NaN: False
                out.append(NOT_LYMPH_NODE)
            if m["median_nucleus_um"] > t["max_median_nucleus_um"]:
                out.append("pixel_size_suspect")
            # nuclei too few and too large for any tissue: the pixel size given is too large
            if "low_nuclear_density" in out and (lymph < t["min_lymphocyte_fraction"]
                                                 or m["median_nucleus_um"] > 9.0):
                out.append("pixel_size_suspect")
                reasons.append(f"pixel size suspect: {m['nuclear_density_per_mm2']:.0f} nuclei per mm² "
                               f"of tissue (lymph nodes: 4,000-10,000), too few and too large at {px:g} "
                               "µm/px (check the file's calibration or --pixel-size)")
    if tumour_found is False and not reasons:
        flag, reason = negative_call_reason(tissue_area_mm2=tissue_area_mm2, flags=out, measures=m)
        out += [flag] if flag else []
        reasons += [reason] if reason else []
    return ImageQuality(flags=tuple(dict.fromkeys(out)), measures=m,
                        not_assessable_reason="; ".join(reasons) if reasons else None)


def _scale_contradicts(factor) -> tuple:
    """(suspect, refuses a negative) for a nuclear-scale factor implied / given pixel size:
    suspect 3x off either way, given too small at >= 2 or too large at <= 0.75; only the
    3x and the given-too-small bands refuse a negative call (NaN or <= 0: neither)."""
    t = QUALITY_THRESHOLDS
    if not (np.isfinite(factor) and factor > 0):
        return False, False
    refuses = max(factor, 1 / factor) >= t["pixel_size_factor"] or factor >= t["pixel_size_factor_given_small"]
    return refuses or factor <= t["pixel_size_factor_given_large"], refuses


def _refuted_scale(flags, measures):
    """(implied, given) pixel sizes, µm/px, when the nuclei refute the pixel size given
    (``pixel_size_suspect`` in the bands that refuse a call: :func:`_scale_contradicts`); else None."""
    implied = measures.get("implied_pixel_size_um", float("nan"))
    factor = measures.get("pixel_size_factor", float("nan"))
    if "pixel_size_suspect" in flags and _scale_contradicts(factor)[1]:
        return implied, implied / factor
    return None


def he_finding_reason(*, flags, measures) -> str | None:
    """Why tumour found in an H&E image cannot be staged: its nuclear scale refutes the pixel size.

    The H&E detector reads the tissue at the scale the pixel size gives (its tumour map is
    learned at ~1 µm/px): at a pixel size given half the true one it reads a field of
    lymphocytes as one of large cells and misses a real metastasis, so what it finds then
    is not evidence, and neither is the size of it. The same nuclear-scale rule as
    :func:`negative_call_reason` (``pixel_size_suspect`` with a factor >=
    ``pixel_size_factor_given_small``, or 3x either way). Cytokeratin findings are not
    affected (a brown cell is brown at any scale; only their size is, and that is flagged).

    Parameters
    ----------
    flags : sequence of str, keyword-only
        The image's flags.
    measures : dict, keyword-only
        The quality measures (``implied_pixel_size_um``, ``pixel_size_factor``).

    Returns
    -------
    reason : str or None
        The ``category_reason`` of a ``not_assessable`` node; None: the finding stands.

    Examples
    --------
    >>> he_finding_reason(flags=(), measures={}) is None
    True
    >>> he_finding_reason(flags=("pixel_size_suspect",),
    ...                   measures={"implied_pixel_size_um": 0.5, "pixel_size_factor": 2.0})[:53]
    'tumour cells found in H&E, but the nuclei imply about'
    """
    refuted = _refuted_scale(flags, measures)
    if refuted is not None:
        implied, given = refuted
        return (f"tumour cells found in H&E, but the nuclei imply about {implied:.2g} µm/px, {given:.3g} "
                "µm/px was given: the H&E detector reads the tissue at the scale given, so at a wrong pixel size "
                "neither what it finds nor its size is evidence (check the file's calibration or --pixel-size)")
    return None


def negative_call_reason(*, tissue_area_mm2, flags, measures) -> tuple:
    """Why a node in which no tumour cell was found still cannot be called negative.

    A positive finding stands whatever the tissue (in H&E, not at a pixel size its nuclei
    refute: :func:`he_finding_reason`); a negative one needs enough
    lymph node to be negative about: at least ``min_negative_tissue_mm2`` of tissue,
    a nuclear scale that agrees with the pixel size given (``pixel_size_suspect`` with a
    factor >= ``pixel_size_factor_given_small`` or 3x either way: given too small,
    lymphocytes fall under the minimum nucleus area and the H&E map reads the tissue at
    the wrong scale, so a metastasis can vanish; the weaker signs of a pixel size given too
    large only flag, and such a node mostly lacks packed lymphocytes anyway) and the
    lymphocyte population that ``not_lymph_node`` looks for.

    Parameters
    ----------
    tissue_area_mm2 : float, keyword-only
        Tissue area; 0 or less: not known (not judged).
    flags : sequence of str, keyword-only
        The image's flags (``pixel_size_suspect``, ``not_lymph_node`` among them or not).
    measures : dict, keyword-only
        The quality measures (``implied_pixel_size_um``, ``pixel_size_factor``,
        ``median_nucleus_um``, ``lymphocyte_fraction``, ``packed_lymphocyte_fraction``).

    Returns
    -------
    flag : str or None
        ``"too_little_tissue"`` when that is the reason (``not_lymph_node`` is
        already a flag).
    reason : str or None
        The ``category_reason`` of a ``not_assessable`` node; None: a negative call stands.

    Examples
    --------
    >>> negative_call_reason(tissue_area_mm2=0.01, flags=(), measures={})[0]
    'too_little_tissue'
    >>> negative_call_reason(tissue_area_mm2=1.0, flags=(), measures={})
    (None, None)
    >>> negative_call_reason(tissue_area_mm2=1.0, flags=("pixel_size_suspect",),
    ...                      measures={"implied_pixel_size_um": 0.5, "pixel_size_factor": 2.0})[1][:60]
    'no tumour cells, but the nuclei imply about 0.5 µm/px, 0.25 '
    """
    t = QUALITY_THRESHOLDS
    area = float(tissue_area_mm2 or 0.0)
    if 0 < area < t["min_negative_tissue_mm2"]:
        return TOO_LITTLE_TISSUE, (f"no tumour cells in {area:.3f} mm² of tissue, too little to call the "
                                     f"node negative (needs >= {t['min_negative_tissue_mm2']:g} mm²)")
    refuted = _refuted_scale(flags, measures)
    if refuted is not None:
        implied, given = refuted
        return None, (f"no tumour cells, but the nuclei imply about {implied:.2g} µm/px, {given:.3g} "
                      "µm/px was given: at a wrong pixel size a metastasis can vanish, so the node is not "
                      "called negative (check the file's calibration or --pixel-size)")
    if NOT_LYMPH_NODE in flags:
        lymph = measures.get("lymphocyte_fraction", float("nan"))
        packed = measures.get("packed_lymphocyte_fraction", float("nan"))
        if lymph < t["min_lymphocyte_fraction"]:
            why = (f"{lymph:.0%} of the nuclei lymphocyte-sized (4.5-8 µm; a node has >= "
                   f"{t['min_lymphocyte_fraction']:.0%})")
        elif packed < t["min_packed_lymphocyte_fraction"]:
            why = (f"{packed:.0%} of the nuclei small, round and packed like lymphocytes (a node has >= "
                   f"{t['min_packed_lymphocyte_fraction']:.0%})")
        else:
            why = "no lymphocyte population"
        return None, (f"no tumour cells, and too little lymph-node tissue to call the node negative: {why}; "
                      "another tissue, a carcinoma-only field or a pixel size given too large?")
    return None, None
