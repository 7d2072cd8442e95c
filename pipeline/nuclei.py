"""Nuclei: instance segmentation from the haematoxylin channel and per-nucleus features.

Segmentation is threshold + distance-transform watershed: nuclei are brighter
than their surroundings in the haematoxylin concentration image; touching nuclei
are split at the saddles of their distance map, seeded by its local maxima.
Every size is given in µm and converted with the pixel size.

References
----------
.. [1] Malpica N et al. Applying watershed algorithms to the segmentation of
       clustered nuclei. Cytometry 28(4), 1997.
.. [2] Otsu N. A threshold selection method from gray-level histograms.
       IEEE Trans SMC 9(1), 1979.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from skimage.segmentation import watershed

from ._validate import check_pixel_size, check_positive
from .defaults import RING_UM

__all__ = ["NUCLEUS_COLUMNS", "nuclear_threshold", "segment_nuclei", "nucleus_features"]

#: Columns of the nuclei table returned by :func:`nucleus_features`.
NUCLEUS_COLUMNS = (
    "label",
    "y_um",
    "x_um",
    "area_um2",
    "radius_um",
    "equivalent_diameter_um",
    "major_axis_um",
    "minor_axis_um",
    "eccentricity",
    "solidity",
    "hematoxylin_mean",
    "hematoxylin_std",
    "counterstain_inside",
    "counterstain_ring",
    "counterstain_ring_median",
    "counterstain_ring_low",
    "counterstain_ring_narrow",
    "ring_coverage",
)


def _check_image2d(image, name):
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (M, N) array, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(
            f"{name} must be a float array of stain concentration (OD units), got {image.dtype}"
        )
    return image


def _disk(radius_px: float) -> np.ndarray:
    r = max(1, int(round(radius_px)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def nuclear_threshold(hematoxylin, *, mask=None, floor=0.05) -> float:
    """Haematoxylin level separating nuclei from the rest of the tissue.

    The lower of the two three-class Otsu thresholds of the tissue's
    haematoxylin concentration: a lymph node holds three populations (stroma
    and cytoplasm; pale vesicular nuclei of tumour cells, histiocytes and
    germinal-centre cells; dark lymphocytes), and a two-class split would put
    the pale nuclei with the background. It is capped at half the median level
    of the darkest class, so that vesicular nuclei with half the chromatin
    density of lymphocytes still count, and bounded below by ``floor`` (OD
    units) so that faint counterstain is never a nucleus.

    Parameters
    ----------
    hematoxylin : (M, N) float ndarray
        Haematoxylin concentration in OD units.
    mask : (M, N) bool ndarray, optional, keyword-only
        Tissue pixels; default all pixels.
    floor : float, keyword-only
        Lowest threshold returned (OD).

    Returns
    -------
    float

    References
    ----------
    .. [1] Liao PS, Chen TS, Chung PC. A fast algorithm for multilevel thresholding.
           J Inf Sci Eng 17(5), 2001.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.zeros((30, 30), np.float32); h[:10] = 0.9; h[10:13] = 0.5
    >>> 0.05 <= nuclear_threshold(h) < 0.5
    True
    """
    from skimage.filters import threshold_multiotsu

    h = _check_image2d(hematoxylin, "hematoxylin")
    values = h[mask] if mask is not None else h.ravel()
    values = values[:: max(1, values.size // 500_000)]
    values = values[np.isfinite(values)]
    if values.size < 3 or float(values.max()) <= floor:
        return float(floor)
    top = float(np.percentile(values, 99.9))
    values = np.clip(values, 0, top)
    if np.unique(values[:1000]).size < 3 and np.unique(values).size < 3:
        return max(float(floor), float(values.min() + values.max()) / 2)
    try:
        low, high = (float(t) for t in threshold_multiotsu(values, classes=3))
    except ValueError:  # fewer than three grey levels
        low = high = float(values.min() + values.max()) / 2
    dark = values[values > high]
    # never above half the level of the darkest nuclei (pale vesicular nuclei)
    cap = 0.5 * float(np.median(dark)) if dark.size else low
    return max(float(floor), min(low, cap))


def segment_nuclei(
    hematoxylin,
    *,
    pixel_size_um,
    mask=None,
    threshold=None,
    min_area_um2=10.0,
    max_hole_um2=80.0,
    min_separation_um=2.5,
    smooth_um=0.5,
    local_um=8.0,
    local_offset=0.3,
):
    """Instance segmentation of nuclei from a haematoxylin concentration image.

    Parameters
    ----------
    hematoxylin : (M, N) float ndarray
        Haematoxylin concentration (OD units), e.g. ``separate_stains(...)[..., 0]``.
    pixel_size_um : float, keyword-only
        µm per pixel.
    mask : (M, N) bool ndarray, optional, keyword-only
        Where nuclei may lie (tissue).
    threshold : float, optional, keyword-only
        Haematoxylin level of nuclei (OD); default :func:`nuclear_threshold`,
        which keeps the paler rim-stained (vesicular) nuclei of tumour cells.
    min_area_um2 : float, keyword-only
        Objects smaller than this (µm²) are debris, not nuclei.
    max_hole_um2 : float, keyword-only
        Pale nuclear interiors (vesicular chromatin) up to this area are filled.
    min_separation_um : float, keyword-only
        Two nuclei are split only if their centres are at least this far apart.
    smooth_um : float, keyword-only
        Gaussian smoothing of the haematoxylin image before thresholding (σ, µm).
    local_um : float, keyword-only
        Scale (σ, µm) of the local background: a nucleus must also be darker than
        its neighbourhood, which separates nuclei from haematoxylin-tinged
        cytoplasm and splits crowded nests (0 disables).
    local_offset : float, keyword-only
        How much above the local background, as a fraction of the threshold.

    Returns
    -------
    (M, N) int32 ndarray
        Labels 0 (background) and 1..K.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.zeros((40, 60), np.float32)
    >>> yy, xx = np.mgrid[:40, :60]
    >>> h[(yy - 20) ** 2 + (xx - 15) ** 2 < 36] = 1.0
    >>> h[(yy - 20) ** 2 + (xx - 45) ** 2 < 36] = 1.0
    >>> int(segment_nuclei(h, pixel_size_um=1.0).max())
    2
    """
    h = _check_image2d(hematoxylin, "hematoxylin")
    px = check_pixel_size(pixel_size_um)
    for name, value in (
        ("min_area_um2", min_area_um2),
        ("max_hole_um2", max_hole_um2),
        ("min_separation_um", min_separation_um),
        ("smooth_um", smooth_um),
    ):
        check_positive(value, name=name, allow_zero=True)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != h.shape:
            raise ValueError(f"mask shape {mask.shape} does not match hematoxylin {h.shape}")
    hs = h.astype(np.float32, copy=False)
    if smooth_um > 0:
        hs = cv2.GaussianBlur(hs, (0, 0), max(0.3, smooth_um / px))
    if threshold is None:
        threshold = nuclear_threshold(hs, mask=mask)
    binary = hs > float(threshold)
    if local_um > 0:
        local = _wide_gaussian(hs, local_um / px)
        binary &= hs > local + local_offset * float(threshold)
    if mask is not None:
        binary &= mask
    if not binary.any():
        return np.zeros(h.shape, np.int32)
    # fill pale nuclear interiors (a vesicular nucleus is a dark rim around a pale
    # centre), then drop specks
    # holes: the 4-connected background components that do not reach the edge (what
    # scipy.ndimage.binary_fill_holes fills), from one labelling of the background
    _, lab_b, st_b, _ = cv2.connectedComponentsWithStats((~binary).astype(np.uint8), connectivity=4)
    small = st_b[:, cv2.CC_STAT_AREA] * px * px <= max_hole_um2
    small[0] = False  # label 0: the nuclear pixels themselves
    small[np.concatenate([lab_b[0], lab_b[-1], lab_b[:, 0], lab_b[:, -1]])] = False  # open to the edge
    if small.any():
        binary |= small[lab_b]
    b8 = cv2.morphologyEx(binary.astype(np.uint8), cv2.MORPH_OPEN, _disk(0.8 / px))
    dist = cv2.distanceTransform(b8, cv2.DIST_L2, 5)
    dist = cv2.GaussianBlur(dist, (0, 0), max(0.5, 0.7 / px))
    # seeds: local maxima of the distance map, at least min_separation apart
    peaks = (dist >= cv2.dilate(dist, _disk(min_separation_um / px))) & (dist > 0.8 / px) & (b8 > 0)
    n_seeds, seeds = cv2.connectedComponents(peaks.astype(np.uint8), connectivity=8)
    labels = _split_touching(dist, seeds, b8)
    # remove debris below the minimum area and renumber 1..K
    area = np.bincount(labels.ravel(), minlength=n_seeds)
    keep = area * px * px >= min_area_um2
    keep[0] = False
    new = np.zeros(len(area), np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new[labels]


def _wide_gaussian(image, sigma_px):
    """Gaussian blur of a float32 image for a wide sigma, through a coarser grid.

    The image (padded by reflection, as OpenCV pads) is averaged down by a power of
    two ``f`` that keeps the coarse sigma at least 2 pixels, blurred there by what
    the box average and the bilinear way back up have not already blurred
    (variance ``(f**2 - 1) / 12 + f**2 / 6`` fine pixels), and brought back up. It
    differs from ``cv2.GaussianBlur(image, (0, 0), sigma_px)`` by under 0.001 of the
    image's range for sigmas of 8-24 pixels, at a tenth of the cost.
    """
    f = 1
    while sigma_px / (2 * f) >= 4.0:
        f *= 2
    if f == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma_px)
    m, n = image.shape
    pad = int(np.ceil(3 * sigma_px))
    big = cv2.copyMakeBorder(image, pad, pad + (-(m + 2 * pad)) % f, pad, pad + (-(n + 2 * pad)) % f,
                             cv2.BORDER_REFLECT_101)
    small = cv2.resize(big, (big.shape[1] // f, big.shape[0] // f), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), np.sqrt(sigma_px**2 - (f * f - 1) / 12 - f * f / 6) / f)
    up = cv2.resize(small, (big.shape[1], big.shape[0]), interpolation=cv2.INTER_LINEAR)
    return up[pad:pad + m, pad:pad + n]


def _split_touching(dist, seeds, b8):
    """Watershed of -dist from the seeds, run only where it can change anything.

    A 4-connected foreground component holding a single seed floods entirely to
    that seed, so only components with two or more seeds go through the (slow)
    watershed; the result equals ``watershed(-dist, seeds, mask=b8)``.
    """
    n_comp, comp = cv2.connectedComponents(b8, connectivity=4)
    seeded = seeds > 0
    # seeds per component, and the seed label of single-seed components
    count = np.bincount(comp[seeded], minlength=n_comp)
    owner = np.zeros(n_comp, np.int64)
    owner[comp[seeded]] = seeds[seeded]
    single = count == 1
    single[0] = False
    # one gather from a per-component table (a single-seed component's seed label, else 0)
    labels = np.where(single, owner, 0).astype(np.int32)[comp]
    multi = count >= 2
    multi[0] = False
    if multi.any():
        region = multi[comp]
        rows = np.flatnonzero(region.any(1))
        cols = np.flatnonzero(region.any(0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        sub = watershed(-dist[r0:r1, c0:c1], np.where(region, seeds, 0)[r0:r1, c0:c1],
                        mask=region[r0:r1, c0:c1])
        labels[r0:r1, c0:c1] = np.where(region[r0:r1, c0:c1], sub, labels[r0:r1, c0:c1])
    return labels


def _solidity(labels: np.ndarray, n: int) -> np.ndarray:
    """Area / convex-hull area of each label, from its outer contour."""
    lab = labels
    edge = np.zeros(lab.shape, bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    inner = ((lab > 0) & ~edge).astype(np.uint8)
    contours, _ = cv2.findContours(inner, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    solidity = np.ones(n + 1)
    best = np.zeros(n + 1)
    for c in contours:
        y, x = c[0, 0, 1], c[0, 0, 0]
        k = lab[y, x]
        area = cv2.contourArea(c)
        if area <= best[k]:
            continue
        hull = cv2.contourArea(cv2.convexHull(c))
        best[k] = area
        solidity[k] = area / hull if hull > 0 else 1.0
    return np.clip(solidity[1:], 0, 1)


#: Ring medians are taken on a grid of 1/_RING_STEPS OD up to _RING_LEVELS / _RING_STEPS OD.
_RING_BITS = 12
_RING_LEVELS = 2**_RING_BITS
_RING_STEPS = 2048.0


def _key_dtype(n):
    return np.int32 if n < 2 ** (31 - _RING_BITS) else np.int64  # int32 keys: twice as fast to sort


def _grouped_quantiles(owner, values, n, *, low=True):
    """Per owner 1..n: (median, 20th percentile or None, count) of ``values``, by one sort of
    (owner, value) packed into integer keys (values kept to 1/2048 OD up to 2 OD)."""
    owner = owner.astype(_key_dtype(n), copy=False)
    count = np.bincount(owner, minlength=n + 1)[1:]
    median, lower = np.zeros(n), (np.zeros(n) if low else None)
    if owner.size:
        q = np.clip(values * _RING_STEPS + 0.5, 0, _RING_LEVELS - 1).astype(owner.dtype)
        keys = np.sort((owner << _RING_BITS) | q)
        sorted_values = (keys & (_RING_LEVELS - 1)) / _RING_STEPS
        starts = np.concatenate([[0], np.cumsum(count)])[:-1]
        has = count > 0
        median[has] = sorted_values[starts[has] + count[has] // 2]
        if low:
            lower[has] = sorted_values[starts[has] + count[has] // 5]  # stained all round?
    return median, lower, count


def _ring_stats(labels, c, n, radius_px, *, median_only=False):
    """Mean, median and 20th percentile of ``c`` over each nucleus' ring of ``radius_px``,
    and the ring's pixel count (``median_only``: the median alone)."""
    # dilating the labels as uint16 (or float32 past 65,535 labels) is exact and keeps the largest
    grown = cv2.dilate(labels.astype(np.uint16 if n < 2**16 else np.float32), _disk(radius_px))
    band = (labels == 0) & (grown > 0)
    owner, values = grown[band].astype(_key_dtype(n)), c[band]
    ring_median, ring_low, ring_n = _grouped_quantiles(owner, values, n, low=not median_only)
    if median_only:
        return ring_median
    ring_mean = np.bincount(owner, weights=values, minlength=n + 1)[1:] / np.maximum(ring_n, 1)
    return ring_mean, ring_median, ring_low, ring_n


def _outer_median(labels, c, n, inner_px, outer_px, min_px):
    """Median of ``c`` over the non-nuclear pixels between ``inner_px`` and ``outer_px`` from
    the nearest nucleus, per nucleus (the pixels nearer to it than to any other); NaN where
    fewer than ``min_px`` (an array, one per nucleus) such pixels."""
    nuclear = labels > 0
    dist, nearest = cv2.distanceTransformWithLabels((~nuclear).astype(np.uint8), cv2.DIST_L2, 5,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
    band = (dist > inner_px) & (dist <= outer_px)
    # DIST_LABEL_PIXEL numbers every nuclear pixel; map those numbers to the nuclei's labels
    lut = np.zeros(int(nearest.max()) + 1, np.int64)
    lut[nearest[nuclear]] = labels[nuclear]
    median, _, count = _grouped_quantiles(lut[nearest[band]], c[band], n, low=False)
    return np.where(count >= np.maximum(1.0, min_px), median, np.nan)


#: ``counterstain_outer`` is measured only for a nucleus in free tissue: at least this part of
#: the band beyond its ring (around a disk of its area) is nearer to it than to any other
#: nucleus. Among other cells the band is mostly the cell's own far cytoplasm (a lobular cell
#: among lymphocytes: 0.05-0.25 of it, bench/ihc_background.py), in matrix it is the matrix
#: (nuclei in brown capsule or on a fat septum: 0.65-0.9).
OUTER_MIN_FREE = 0.4


def nucleus_features(labels, hematoxylin, counterstain, *, pixel_size_um, ring_um=RING_UM, outer_um=None,
                     origin_px=(0, 0)):
    """Per-nucleus measurements in µm and stain units.

    Parameters
    ----------
    labels : (M, N) int ndarray
        Nuclei labels 0..K (e.g. from :func:`segment_nuclei`).
    hematoxylin : (M, N) float ndarray
        Haematoxylin concentration (OD).
    counterstain : (M, N) float ndarray
        Eosin (H&E) or DAB (IHC) concentration (OD).
    pixel_size_um : float, keyword-only
        µm per pixel.
    ring_um : float, keyword-only
        Width of the cytoplasm ring around each nucleus (µm) over which the
        surrounding counterstain is averaged (pixels of other nuclei excluded).
    outer_um : float, optional, keyword-only
        Also measure ``counterstain_outer``: the median counterstain of the band
        ``ring_um`` to ``ring_um + outer_um`` beyond the nucleus (its pixels nearer to
        this nucleus than to any other), the matrix around a cell beyond its own
        cytoplasm. Measured only for a nucleus in free tissue: NaN where less than
        :data:`OUTER_MIN_FREE` (0.4) of a full band around a disk of its area is its
        own (among other cells). None (default): not measured.
    origin_px : (int, int), keyword-only
        Offset (row, col) of this array in a larger image; added to the centres.

    Returns
    -------
    pandas.DataFrame
        One row per label with the columns of :data:`NUCLEUS_COLUMNS`:
        centre ``y_um``/``x_um`` (µm), ``area_um2``, ``radius_um`` (equivalent
        radius), ``equivalent_diameter_um``, moment-ellipse ``major_axis_um`` /
        ``minor_axis_um`` and ``eccentricity``, ``solidity``, haematoxylin mean and
        standard deviation (chromatin texture), counterstain inside the nucleus
        and in the surrounding ring (mean, median and 20th-percentile OD: the
        median stays low for a cell that touches a stained neighbour on one side
        only; the 20th percentile is high only for a cell stained all round), and
        ``ring_coverage``: the ring's area over that of a full ``ring_um`` ring
        around a disk of the nucleus' area (0-1; low where other nuclei crowd
        round, so little of the cell's own cytoplasm can be seen); with ``outer_um``
        also ``counterstain_outer`` (OD).

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((20, 20), np.int32); lab[5:10, 5:10] = 1
    >>> h = np.where(lab > 0, 0.8, 0.0).astype(np.float32)
    >>> t = nucleus_features(lab, h, np.zeros_like(h), pixel_size_um=0.5)
    >>> float(t.loc[0, "area_um2"]), float(t.loc[0, "y_um"])
    (6.25, 3.5)
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2-D integer array, got {labels.shape} {labels.dtype}")
    h = _check_image2d(hematoxylin, "hematoxylin")
    c = _check_image2d(counterstain, "counterstain")
    if h.shape != labels.shape or c.shape != labels.shape:
        raise ValueError(
            f"labels {labels.shape}, hematoxylin {h.shape} and counterstain {c.shape} must match"
        )
    px = check_pixel_size(pixel_size_um)
    if outer_um is not None:
        outer_um = check_positive(outer_um, name="outer_um")
    columns = NUCLEUS_COLUMNS + (("counterstain_outer",) if outer_um is not None else ())
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return pd.DataFrame({col: pd.Series(dtype="int64" if col == "label" else "float64")
                             for col in columns})
    lab_all = labels.ravel()
    fg = np.flatnonzero(lab_all)  # nuclear pixels only: memory grows with the nuclei
    lab = lab_all[fg]
    yy, xx = np.divmod(fg, labels.shape[1])
    yy, xx = yy.astype(np.float64), xx.astype(np.float64)

    def s(weights=None):
        return np.bincount(lab, weights=weights, minlength=n + 1)[1:]

    area = s()
    safe = np.maximum(area, 1)
    my, mx = s(yy) / safe, s(xx) / safe
    dy, dx = yy - np.concatenate([[0.0], my])[lab], xx - np.concatenate([[0.0], mx])[lab]
    vyy = s(dy * dy) / safe + 1 / 12
    vxx = s(dx * dx) / safe + 1 / 12
    vxy = s(dy * dx) / safe
    del dy, dx, yy, xx
    tr, det = vyy + vxx, vyy * vxx - vxy**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
    l1, l2 = tr / 2 + disc, np.maximum(tr / 2 - disc, 0)
    hv = h.ravel()[fg].astype(np.float64)
    cv = c.ravel()[fg].astype(np.float64)
    h_mean = s(hv) / safe
    h_std = np.sqrt(np.maximum(s(hv * hv) / safe - h_mean**2, 0))
    c_inside = s(cv) / safe
    del hv, cv, fg, lab
    # ring: non-nuclear pixels within ring_um of each nucleus (a pixel near two
    # nuclei goes to one of them); its mean, median and 20th percentile counterstain.
    # The narrow ring (ring_um / 2) holds a small cell's own cytoplasm only.
    ring_mean, ring_median, ring_low, ring_n = _ring_stats(labels, c, n, ring_um / px)
    narrow_median = _ring_stats(labels, c, n, ring_um / 2 / px, median_only=True)
    area_um2 = area * px * px
    radius = np.sqrt(area_um2 / np.pi)
    full_ring_um2 = np.pi * ((radius + ring_um) ** 2 - radius**2)
    table = pd.DataFrame(
        {
            "label": np.arange(1, n + 1, dtype=np.int64),
            "y_um": (my + origin_px[0]) * px,
            "x_um": (mx + origin_px[1]) * px,
            "area_um2": area_um2,
            "radius_um": radius,
            "equivalent_diameter_um": 2 * radius,
            "major_axis_um": 4 * np.sqrt(l1) * px,
            "minor_axis_um": 4 * np.sqrt(l2) * px,
            "eccentricity": np.sqrt(np.clip(1 - l2 / np.maximum(l1, 1e-12), 0, 1)),
            "solidity": _solidity(labels, n),
            "hematoxylin_mean": h_mean,
            "hematoxylin_std": h_std,
            "counterstain_inside": c_inside,
            "counterstain_ring": ring_mean,
            "counterstain_ring_median": ring_median,
            "counterstain_ring_low": ring_low,
            "counterstain_ring_narrow": narrow_median,
            "ring_coverage": np.clip(ring_n * px * px / full_ring_um2, 0, 1),
        }
    )
    if outer_um is not None:
        full_band_um2 = np.pi * ((radius + ring_um + outer_um) ** 2 - (radius + ring_um) ** 2)
        table["counterstain_outer"] = _outer_median(labels, c, n, ring_um / px, (ring_um + outer_um) / px,
                                                    OUTER_MIN_FREE * full_band_um2 / (px * px))
    return table[table["area_um2"] > 0].reset_index(drop=True)
