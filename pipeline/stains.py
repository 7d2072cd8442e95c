"""Stain separation: colour deconvolution with per-image stain vectors.

Brightfield stains absorb light following the Beer-Lambert law, so in optical
density (OD) space a pixel is a non-negative mix of each stain's OD vector.
:func:`estimate_stain_vectors` finds the vectors of the image at hand (Macenko),
so that scanners and staining batches differ without breaking thresholds;
:func:`separate_stains` unmixes them (Ruifrok & Johnston), and
:func:`detect_stain` tells H&E from haematoxylin + DAB immunohistochemistry.

References
----------
.. [1] Ruifrok AC, Johnston DA. Quantification of histochemical staining by color
       deconvolution. Anal Quant Cytol Histol 23(4):291-299, 2001.
.. [2] Macenko M et al. A method for normalizing histology slides for quantitative
       analysis. ISBI 2009, 1107-1110.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._validate import check_choice

__all__ = [
    "REFERENCE_VECTORS",
    "STAIN_PAIRS",
    "rgb_to_od",
    "estimate_background",
    "estimate_stain_vectors",
    "stain_matrix",
    "separate_stains",
    "detect_stain",
    "stain_colour_fractions",
    "masked_pixels",
]

#: Reference OD vectors (R, G, B) of Ruifrok & Johnston (2001), unit length.
REFERENCE_VECTORS = {
    name: np.asarray(v, dtype=float) / np.linalg.norm(v)
    for name, v in {
        "hematoxylin": (0.650, 0.704, 0.286),
        "eosin": (0.072, 0.990, 0.105),
        "dab": (0.268, 0.570, 0.776),
    }.items()
}

#: Stain pairs per staining protocol: ("he": haematoxylin + eosin, "ihc": haematoxylin + DAB).
STAIN_PAIRS = {"he": ("hematoxylin", "eosin"), "ihc": ("hematoxylin", "dab")}

# Pixels with a total OD below this are glass or too faint to carry stain (Macenko's beta).
_OD_FLOOR = 0.15
# Estimated vectors farther than this from the reference (degrees) are not trusted.
_MAX_DEVIATION_DEG = 30.0


def _check_rgb(rgb, name="rgb"):
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"{name} must be an (M, N, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise TypeError(
            f"{name} must be uint8 (0-255), got {rgb.dtype}; read images with "
            "pipeline.io.read_image, which converts other depths by a stated rule"
        )
    return rgb


#: Pixels handled at a time where whole-image index arrays would be built.
_GATHER_BLOCK = 1 << 20


def masked_pixels(rgb, mask) -> np.ndarray:
    """The pixels of an RGB image where a mask is set, in image (row-major) order.

    The same as ``rgb[mask]``, several times faster for large images (the pixels
    are gathered as rows of a flat (M * N, 3) view with ``np.compress``).

    Parameters
    ----------
    rgb : (M, N, 3) ndarray
    mask : (M, N) bool ndarray

    Returns
    -------
    (K, 3) ndarray
        A new array, K = ``mask.sum()``; ``rgb`` is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> masked_pixels(rgb, np.array([[True, False], [False, True]])).tolist()
    [[0, 1, 2], [9, 10, 11]]
    """
    rgb = np.asarray(rgb)
    mask = np.asarray(mask, bool)
    if rgb.ndim != 3 or mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} must match the image's rows and columns {rgb.shape[:2]}")
    flat, keep = np.ascontiguousarray(rgb).reshape(-1, rgb.shape[2]), mask.reshape(-1)
    out = np.empty((int(np.count_nonzero(keep)), rgb.shape[2]), rgb.dtype)
    # a block at a time: compress turns its condition into an int64 index array, 8 bytes a pixel
    done = 0
    for start in range(0, len(keep), _GATHER_BLOCK):
        part = flat[start:start + _GATHER_BLOCK].compress(keep[start:start + _GATHER_BLOCK], axis=0)
        out[done:done + len(part)] = part
        done += len(part)
    return out


def estimate_background(rgb, *, tissue=None) -> np.ndarray:
    """Brightness of unstained glass per channel (the incident light, I0).

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    tissue : (M, N) bool ndarray, optional, keyword-only
        Tissue mask; when given and glass is present, I0 is the median of glass.

    Returns
    -------
    (3,) float ndarray
        I0 per channel, clipped to [200, 255]. Images that are all tissue get a
        value close to their brightest pixels (99.5th percentile).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((4, 4, 3), 240, np.uint8)
    >>> estimate_background(img).tolist()
    [240.0, 240.0, 240.0]
    """
    rgb = _check_rgb(rgb)
    flat = rgb.reshape(-1, 3)
    step = max(1, flat.shape[0] // 500_000)
    if tissue is not None:
        glass = ~np.asarray(tissue, bool).reshape(-1)
        if glass[::step].sum() > 1000:
            return np.clip(np.median(flat[::step][glass[::step]], axis=0), 200, 255).astype(float)
    return np.clip(np.percentile(flat[::step], 99.5, axis=0), 200, 255).astype(float)


def rgb_to_od(rgb, *, background=None) -> np.ndarray:
    """Optical density per channel, OD = -log10(I / I0), clipped at 0.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    background : (3,) array_like, optional, keyword-only
        Incident light I0 per channel (default: 255).

    Returns
    -------
    (M, N, 3) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> od = rgb_to_od(np.array([[[255, 25, 255]]], np.uint8))
    >>> [round(float(v), 2) for v in od[0, 0]]
    [0.0, 1.01, 0.0]
    """
    rgb = _check_rgb(rgb)
    luts = _od_tables(background)
    if rgb.size == 0:  # OpenCV returns nothing for an empty array
        return np.zeros(rgb.shape, np.float32)
    return cv2.LUT(np.ascontiguousarray(rgb), np.ascontiguousarray(luts.T).reshape(256, 1, 3))


def _od_tables(background) -> np.ndarray:
    """(3, 256) float32: the OD of each 8-bit value of each channel under ``background``."""
    bg = np.full(3, 255.0) if background is None else np.asarray(background, float)
    if bg.shape != (3,) or not np.all(bg > 0):
        raise ValueError(f"background must be three positive intensities, got {background!r}")
    levels = np.maximum(np.arange(256, dtype=float), 1.0)
    return np.maximum(-np.log10(levels[None, :] / bg[:, None]), 0).astype(np.float32)


def stain_matrix(vectors) -> np.ndarray:
    """Complete two stain vectors with a third, orthogonal one and return (3, 3).

    Rows are unit OD vectors; the third row (residual) is the normalised cross
    product, so that the matrix is invertible.

    Examples
    --------
    >>> m = stain_matrix([REFERENCE_VECTORS["hematoxylin"], REFERENCE_VECTORS["eosin"]])
    >>> m.shape
    (3, 3)
    """
    vectors = np.asarray(vectors, float)
    if vectors.shape == (3, 3):
        rows = vectors
    elif vectors.shape == (2, 3):
        third = np.cross(vectors[0], vectors[1])
        if np.linalg.norm(third) < 1e-6 * max(1e-12, np.linalg.norm(vectors[0]) * np.linalg.norm(vectors[1])):
            raise ValueError("stain vectors are linearly dependent; they cannot be separated")
        rows = np.vstack([vectors, third])
    else:
        raise ValueError(f"vectors must have shape (2, 3) or (3, 3), got {vectors.shape}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("stain vectors must be non-zero")
    rows = rows / norms
    if abs(np.linalg.det(rows)) < 1e-6:
        raise ValueError("stain vectors are linearly dependent; they cannot be separated")
    return rows


def _angle_deg(a, b):
    cos = np.clip(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1)
    return float(np.degrees(np.arccos(cos)))


def _sample_od(rgb, mask, background, max_pixels=400_000):
    """OD (K, 3) of the stained pixels (in ``mask``), in image order, at most ``max_pixels``
    (evenly subsampled). Which pixels are stained is decided from their total OD (three
    one-channel lookups), so the (N, 3) float OD is built only for the pixels kept."""
    # gather the 8-bit pixels first: the OD table then reads only those
    pixels = np.asarray(rgb).reshape(-1, 3) if mask is None else masked_pixels(rgb, mask)
    luts = _od_tables(background)
    total = luts[0][pixels[:, 0]]
    total += luts[1][pixels[:, 1]]
    total += luts[2][pixels[:, 2]]  # = rgb_to_od(...).sum(1), in the same float32 order
    stained = total > _OD_FLOOR
    del total
    n = int(np.count_nonzero(stained))
    step = n // max_pixels + 1 if n > max_pixels else 1
    # every step-th stained pixel, found a block at a time (the indices of all of them would
    # take 8 bytes a pixel)
    keep, seen = [], 0
    for start in range(0, len(stained), _GATHER_BLOCK):
        idx = np.flatnonzero(stained[start:start + _GATHER_BLOCK])
        keep.append(idx[(-seen) % step::step] + start)
        seen += len(idx)
    keep = np.concatenate(keep) if keep else np.zeros(0, np.intp)
    return rgb_to_od(pixels[keep][:, None, :], background=background).reshape(-1, 3)


def _macenko(od: np.ndarray, alpha: float = 1.0):
    """The two extreme stain directions of an OD cloud; haematoxylin first."""
    # principal plane of the OD cloud (not mean-centred, as in Macenko)
    _, _, vt = np.linalg.svd(od[:: max(1, len(od) // 50_000)], full_matrices=False)
    plane = vt[:2]
    if plane[0].sum() < 0:
        plane[0] = -plane[0]
    proj = od @ plane.T
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100 - alpha])
    v1 = plane.T @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane.T @ np.array([np.cos(hi), np.sin(hi)])
    v1, v2 = np.abs(v1) / np.linalg.norm(v1), np.abs(v2) / np.linalg.norm(v2)
    ref = REFERENCE_VECTORS["hematoxylin"]
    return (v1, v2) if _angle_deg(v1, ref) <= _angle_deg(v2, ref) else (v2, v1)


def estimate_stain_vectors(rgb, *, stain="he", mask=None, background=None, alpha=1.0):
    """Estimate the image's own stain vectors (Macenko et al. 2009).

    Optical densities of stained pixels are projected onto the plane of their two
    main principal directions; the robust extremes (``alpha`` and ``100 - alpha``
    percentiles) of the angle in that plane are the two stains. Haematoxylin is
    the one closer to the reference haematoxylin vector.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    stain : {"he", "ihc"}, keyword-only
        Which pair to look for: haematoxylin + eosin, or haematoxylin + DAB.
    mask : (M, N) bool ndarray, optional, keyword-only
        Pixels to use (e.g. tissue).
    background : (3,) array_like, optional, keyword-only
        Incident light per channel (default: :func:`estimate_background`).
    alpha : float, keyword-only
        Percentile for the robust extremes, in percent.

    Returns
    -------
    vectors : (2, 3) float ndarray
        Unit OD vectors, haematoxylin first.
    source : str
        ``"estimated"``, or ``"reference"`` when the image has too few stained
        pixels or the estimate strays more than 30 degrees from the reference
        vectors (then the Ruifrok & Johnston vectors are returned); for IHC one
        vector may be estimated and the other the reference (the source says
        which).

    Notes
    -----
    For IHC the DAB-positive cells may be far fewer than Macenko's percentile
    extremes need, so each vector is the median direction of the pixels its
    stain dominates: brown pixels for DAB, the darkest other pixels for
    haematoxylin.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> c = rng.uniform(0, 1, (64, 64, 2))
    >>> ref = np.array([REFERENCE_VECTORS["hematoxylin"], REFERENCE_VECTORS["eosin"]])
    >>> rgb = (255 * 10 ** -(c @ ref)).astype(np.uint8)
    >>> v, source = estimate_stain_vectors(rgb, background=(255, 255, 255))
    >>> source, bool(np.allclose(v, ref, atol=0.05))
    ('estimated', True)
    """
    rgb = _check_rgb(rgb)
    check_choice(stain, tuple(STAIN_PAIRS), name="stain")
    refs = np.array([REFERENCE_VECTORS[s] for s in STAIN_PAIRS[stain]])
    if background is None:
        background = estimate_background(rgb, tissue=mask)
    od = _sample_od(rgb, mask, background)
    if len(od) < 200:
        return refs.copy(), "reference"
    if stain == "ihc":
        return _estimate_ihc(od, refs)
    h, other = _macenko(od, alpha)
    vectors = np.array([h, other])
    dev = max(_angle_deg(vectors[i], refs[i]) for i in range(2))
    if dev > _MAX_DEVIATION_DEG or _angle_deg(h, other) < 10:
        return refs.copy(), "reference"
    return vectors, "estimated"


def _unit(v):
    return v / np.linalg.norm(v)


def _purest_direction(pixels, ratio, percentile, ref):
    """Median OD direction of the darker half of ``pixels`` whose channel ratio
    ``ratio[0] / ratio[1]`` is in its top ``100 - percentile`` %; the reference
    when fewer than 200 pixels or when it strays from ``ref`` by more than 30°."""
    if len(pixels) < 200:
        return ref.copy(), "reference"
    dark = pixels[pixels.sum(1) >= np.median(pixels.sum(1))]
    r = dark[:, ratio[0]] / np.maximum(dark[:, ratio[1]], 1e-6)
    v = _unit(np.median(dark[r >= np.percentile(r, percentile)], axis=0))
    if _angle_deg(v, ref) > _MAX_DEVIATION_DEG:
        return ref.copy(), "reference"
    return v, "estimated"


def _estimate_ihc(od: np.ndarray, refs: np.ndarray):
    """Haematoxylin + DAB vectors from the pixels each stain dominates.

    DAB-positive cells may cover well under 1 % of a node, too few for the
    percentile extremes of Macenko's method. Brown pixels (blue OD > 1.1 x green
    OD > red OD) give the DAB direction when there are at least 200 (the quarter
    with the highest blue/green ratio, least mixed with haematoxylin); the
    darker half of the other pixels, the tenth of them with the highest red/blue
    ratio (least mixed with DAB), gives the haematoxylin direction.
    """
    green = np.maximum(od[:, 1], 1e-6)
    brown = (od[:, 2] > 1.1 * green) & (od[:, 0] < od[:, 1])
    # the purest haematoxylin absorbs red most relative to blue (DAB: least);
    # the purest DAB absorbs blue most relative to green (haematoxylin lowers it)
    h, h_source = _purest_direction(od[~brown], (0, 2), 90, refs[0])
    d, d_source = _purest_direction(od[brown], (2, 1), 75, refs[1])
    sources = [h_source, d_source]
    if _angle_deg(h, d) < 10:
        return refs.copy(), "reference"
    source = "estimated" if sources == ["estimated", "estimated"] else (
        "reference" if sources == ["reference", "reference"] else "estimated haematoxylin, reference DAB"
        if sources[0] == "estimated" else "reference haematoxylin, estimated DAB")
    return np.array([h, d]), source


def separate_stains(rgb, vectors, *, background=None) -> np.ndarray:
    """Unmix an RGB image into stain concentrations (colour deconvolution).

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    vectors : (2, 3) or (3, 3) array_like
        Unit OD vectors of the stains, one per row (a third, residual vector is
        added for two stains).
    background : (3,) array_like, optional, keyword-only
        Incident light per channel (default 255).

    Returns
    -------
    (M, N, 3) float32 ndarray
        Concentrations in OD units per stain, in the order of ``vectors``, then
        the residual. Negative values (noise) are clipped to 0.

    References
    ----------
    .. [1] Ruifrok & Johnston, Anal Quant Cytol Histol 2001.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([REFERENCE_VECTORS["hematoxylin"], REFERENCE_VECTORS["eosin"]])
    >>> rgb = (255 * 10 ** -(np.array([0.5, 0.2]) @ m)).astype(np.uint8).reshape(1, 1, 3)
    >>> [round(float(v), 1) for v in separate_stains(rgb, m)[0, 0, :2]]
    [0.5, 0.2]
    """
    rgb = _check_rgb(rgb)
    inv = np.linalg.inv(stain_matrix(vectors))
    # optical density through one 256-entry table per channel, then the unmixing matrix
    # applied to every pixel in place (no second (M, N, 3) array)
    out = rgb_to_od(rgb, background=background)
    if out.size:
        cv2.transform(out, inv.T.astype(np.float32), dst=out)
    np.maximum(out, 0, out=out)
    return out


def stain_colour_fractions(rgb, *, mask=None, background=None) -> dict:
    """What the stained pixels of an image look like: brown, pink and colourless fractions.

    Every pixel whose total optical density exceeds 0.3 is classed by the ratios of
    its red, green and blue ODs (no stain vectors needed, so this works before
    they are known):

    - ``brown``: blue OD > green OD and red OD < 0.8 x green OD. Only DAB absorbs
      blue more than green (its OD vector is 0.27, 0.57, 0.78: blue / green 1.36;
      a DAB turned 8 degrees towards red, as scanners and batches turn it, still
      1.02); haematoxylin (0.65, 0.70, 0.29) and eosin absorb green most, and grey
      pixels absorb red as much as green. (Until issue 12 the cut was 1.1 x green:
      a reddish DAB at 1.02-1.1, one synthetic slide in 20, then counted as no
      brown at all; on the real images both cuts give the same calls.)
    - ``eosin``: green OD > 1.5 x red OD and blue OD < 0.75 x green OD. Eosin's
      vector (0.07, 0.99, 0.11) absorbs green 14 times more than red; haematoxylin
      (0.65, 0.70, 0.29) about as much, and a haematoxylin counterstain without eosin
      (a cytokeratin slide) leaves almost no such pixel.
    - ``colourless``: OD direction within 6 degrees of neutral grey (black, grey or
      unstained tissue, out-of-focus glass edges, marker ink residue).

    Two measures say whether the pink pixels are eosin or the tail of a greenish
    haematoxylin (a stain vector turned towards green, whose noisy pale pixels cross
    the green/red = 1.5 line):

    - ``pink_purity``: the fraction of the pink pixels that are clearly pink, green
      OD > 1.65 x red OD (NaN without pink pixels).
    - ``pink_blueness``: the median blue/green OD ratio of the pink pixels over that
      of the darkest other pixels (the 30 % with the highest OD that are neither pink
      nor brown: nuclei). Eosin absorbs little blue (blue/green 0.11, haematoxylin
      0.41), so eosin-pink pixels are less blue than the nuclei (below 1); pixels of
      the haematoxylin itself are as blue (about 1). NaN without pink pixels.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    mask : (M, N) bool ndarray, optional, keyword-only
        Pixels to consider (default: all).
    background : (3,) array_like, optional, keyword-only

    Returns
    -------
    dict
        ``brown``, ``eosin``, ``colourless`` (fractions of the stained pixels, 0-1),
        ``pink_purity``, ``pink_blueness`` and ``stained_pixels`` (how many pixels
        were classed).

    Examples
    --------
    >>> import numpy as np
    >>> pink = np.zeros((8, 8, 3), np.uint8) + np.array([230, 120, 200], np.uint8)
    >>> stain_colour_fractions(pink, background=(250, 250, 250))["eosin"]
    1.0
    """
    rgb = _check_rgb(rgb)
    if background is None:
        background = estimate_background(rgb, tissue=mask)
    od = _sample_od(rgb, mask, background)
    total = od[:, 0] + od[:, 1] + od[:, 2]
    od, total = od[total > 0.3], total[total > 0.3]
    if len(od) == 0:
        return {"brown": 0.0, "eosin": 0.0, "colourless": 0.0, "pink_purity": np.nan,
                "pink_blueness": np.nan, "stained_pixels": 0}
    red, green, blue = od[:, 0], np.maximum(od[:, 1], 1e-3), od[:, 2]
    brown = (blue > green) & (red < 0.8 * green)
    eosin = (green > 1.5 * red) & (blue < 0.75 * green)
    unit = od / np.linalg.norm(od, axis=1, keepdims=True)
    colourless = unit @ (np.ones(3) / np.sqrt(3)) > np.cos(np.radians(6.0))
    purity = blueness = np.nan
    other = ~(eosin | brown)
    if eosin.any() and other.any():
        purity = float(np.mean(green[eosin] > 1.65 * red[eosin]))
        nuclei = other & (total >= np.percentile(total[other], 70))
        blueness = float(np.median(blue[eosin] / green[eosin]) / max(np.median(blue[nuclei] / green[nuclei]), 1e-6))
    return {"brown": float(brown.mean()), "eosin": float(eosin.mean()),
            "colourless": float(colourless.mean()), "pink_purity": purity, "pink_blueness": blueness,
            "stained_pixels": int(len(od))}


def detect_stain(rgb, *, mask=None, background=None, brown_fraction=0.04, min_eosin_fraction=0.03,
                 pigment_eosin_fraction=0.25, min_pink_purity=0.2, bluish_pink=(0.1, 1.3),
                 faint_eosin=(0.005, 0.5, 0.95), fractions=None):
    """Tell H&E from haematoxylin + DAB immunohistochemistry.

    From the colour fractions of :func:`stain_colour_fractions`:

    1. DAB present: at least ``brown_fraction`` of the stained pixels are brown and
       fewer than ``pigment_eosin_fraction`` are pink -> ``"ihc"``. (Brown in an
       eosin-rich section is pigment, haemosiderin or ink, not a cytokeratin stain.)
    2. Almost no eosin (fewer than ``min_eosin_fraction`` pink pixels) -> ``"ihc"``: a
       haematoxylin counterstain alone, i.e. a cytokeratin slide with no or very few
       positive cells. Such a slide must never reach the H&E detector. Unless the few
       pink pixels are plainly eosin (``faint_eosin``: at least 0.5 % of the stained
       pixels, at least half of them clearly pink, and less blue than the nuclei,
       blueness at most 0.95): a pale eosin over dense lymphoid tissue. Real cytokeratin
       slides without their positive cells have at most 0.01 % pink pixels, synthetic
       haematoxylin-only nodes at most 0.3 % (``bench/he_robustness.py``: PatchCamelyon
       patches with eosin x0.6 and haematoxylin x1.2 were read as IHC 56 times in 800
       before, half of them tumour patches, which then came out negative).
    3. The pink pixels are haematoxylin, not eosin: fewer than ``min_pink_purity`` of
       them are clearly pink and they are nearly as blue as the nuclei (blueness
       at least 0.9; ``pink_purity`` and ``pink_blueness`` of
       :func:`stain_colour_fractions`) -> ``"ihc"``. A haematoxylin whose stain vector is turned towards green puts
       its pale, noisy pixels just over the pink line (a synthetic haematoxylin-only
       node with 3.8-15 % such pixels); eosin would make them less blue.
    4. Few pink pixels (fewer than ``bluish_pink[0]``) that are bluer than the nuclei
       (blueness at least ``bluish_pink[1]``) -> ``"ihc"``: eosin absorbs almost no
       blue, so such pixels are the pale tail of a chromogen whose blue and green
       absorption are nearly equal (a reddish DAB, or AEC), mixed with the
       haematoxylin. A synthetic cytokeratin node whose DAB vector was (0.22, 0.67,
       0.71) had 0.0 % brown, 3.4 % pink pixels of blueness 1.40 and was read as H&E;
       the 20 real H&E images with 3-10 % pink pixels reach at most 1.18.
    5. Otherwise ``"he"``: eosin is there; a few brown pixels do not make an H&E
       section IHC.

    The thresholds come from real images (``bench/real_stains.py``): the eosin
    fraction of 3,200 PatchCamelyon H&E patches is below 0.03 only for 8 patches
    (black, grey or unstained artefacts), that of real cytokeratin/Ki67 slides
    below 0.08 and, without their DAB-positive cells, at most 0.0001. Among the
    3,400 real H&E images with at least 3 % pink pixels, the pink purity is below
    0.2 for one PatchCamelyon patch (0.06), whose pink pixels are less blue than its
    nuclei (blueness 0.82); synthetic haematoxylin-only nodes read as H&E before
    this rule had purity 0.04-0.12 and blueness 1.04-1.14.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    mask : (M, N) bool ndarray, optional, keyword-only
        Tissue pixels (default: all pixels with OD above glass).
    background : (3,) array_like, optional, keyword-only
    brown_fraction : float, keyword-only
        Fraction of stained pixels that must be brown to call DAB present.
    min_eosin_fraction : float, keyword-only
        Fewer pink pixels than this: no eosin, so not H&E.
    pigment_eosin_fraction : float, keyword-only
        With at least this many pink pixels, brown is pigment, not DAB.
    min_pink_purity : float, keyword-only
        Pink pixels of which fewer than this fraction are clearly pink, and that are
        nearly as blue as the nuclei, are a greenish haematoxylin, not eosin (0
        switches rule 3 off).
    bluish_pink : (float, float), keyword-only
        Rule 4: (largest pink fraction, smallest blueness); ``(0, 0)`` switches it off.
    faint_eosin : (float, float, float), keyword-only
        Rule 2's exception: (smallest pink fraction, smallest pink purity, largest
        blueness); ``(1, 1, 0)`` switches it off.
    fractions : dict, optional, keyword-only
        :func:`stain_colour_fractions` of these same pixels when already known
        (they are then not measured again).

    Returns
    -------
    stain : {"he", "ihc"}
    reason : str
        The measured amounts behind the decision.

    Examples
    --------
    >>> import numpy as np
    >>> pink = np.zeros((8, 8, 3), np.uint8) + np.array([230, 120, 200], np.uint8)
    >>> detect_stain(pink)[0]
    'he'
    >>> brown = np.zeros((8, 8, 3), np.uint8) + np.array([150, 100, 60], np.uint8)
    >>> detect_stain(brown)[0]
    'ihc'
    """
    f = fractions if fractions is not None else stain_colour_fractions(rgb, mask=mask, background=background)
    if f["stained_pixels"] == 0:
        return "he", "no stained pixels (empty or glass-only image); H&E assumed"
    stats = f"brown pixels {f['brown']:.1%}, eosin-pink pixels {f['eosin']:.1%}"
    if f["brown"] >= brown_fraction and f["eosin"] < pigment_eosin_fraction:
        return "ihc", f"DAB present ({stats})"
    plainly_eosin = (f["eosin"] >= faint_eosin[0] and f["pink_purity"] >= faint_eosin[1]
                     and f["pink_blueness"] <= faint_eosin[2])  # NaN: False
    if f["eosin"] < min_eosin_fraction and not plainly_eosin:
        return "ihc", f"haematoxylin without eosin or DAB: a cytokeratin slide with few or no positive cells ({stats})"
    if f["pink_purity"] < min_pink_purity and f["pink_blueness"] >= 0.9:
        return "ihc", (f"haematoxylin without eosin or DAB: the pink pixels are a greenish haematoxylin, "
                       f"{f['pink_purity']:.0%} clearly pink and nearly as blue as the nuclei "
                       f"(x{f['pink_blueness']:.2f}); a cytokeratin slide with few or no positive cells ({stats})")
    if f["eosin"] < bluish_pink[0] and f["pink_blueness"] >= bluish_pink[1]:
        return "ihc", (f"haematoxylin and a chromogen, no eosin: the few pink pixels are bluer than the "
                       f"nuclei (x{f['pink_blueness']:.2f}), the pale tail of a reddish DAB or AEC, not "
                       f"eosin ({stats})")
    if f["brown"] >= brown_fraction:
        return "he", f"eosin counterstain; the brown is pigment, not DAB ({stats})"
    return "he", f"eosin counterstain, no DAB ({stats})"
