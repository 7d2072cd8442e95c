"""Tumour cells: which nuclei belong to carcinoma cells, in IHC and in H&E.

- Cytokeratin IHC: epithelial (tumour) cells have DAB-brown cytoplasm; a nucleus
  whose surrounding ring is DAB-positive is a tumour cell. Brown debris without a
  nucleus never becomes a cell, because only nuclei are classified.
- H&E: a learned model (:mod:`pipeline.he_cells`, trained on real lymph-node tissue)
  scores each nucleus from the tissue-level tumour map around it
  (:mod:`pipeline.heatmap`) and from its own appearance; :func:`he_tumour_probability`
  and :func:`classify_he` apply it to a nucleus table. No lymphocyte reference is
  needed: a field that is all carcinoma is tumour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ._validate import check_fraction, check_positive
from .defaults import (
    DAB_BACKGROUND_RADIUS_UM,
    DAB_CONTRAST,
    DAB_HYSTERESIS,
    DAB_STRONG_FACTOR,
    DAB_STRONG_MAX_INSIDE_RATIO,
    DAB_STRONG_MIN_COVERAGE,
    DAB_MAX_AXIS_RATIO,
    DAB_MAX_OUTER_RATIO,
    DAB_OUTER_UM,
    DAB_PALE_NUCLEUS_RATIO,
    DAB_THRESHOLD,
    IHC_NEIGHBOUR_UM,
    MIN_RING_COVERAGE,
    RING_UM,
)
from .he_cells import he_cell_features, load_he_cell_model
from .spatial import count_within

__all__ = [
    "DAB_THRESHOLD",
    "classify_he",
    "classify_ihc",
    "dab_background",
    "he_tumour_probability",
    "lymphocyte_reference",
    "pale_nuclei",
]

#: Nuclear diameters (µm) of small lymphocytes, from histology texts: 5-8 µm.
LYMPHOCYTE_DIAMETER_RANGE_UM = (4.5, 8.0)


def _need(nuclei, cols):
    if not isinstance(nuclei, pd.DataFrame):
        raise TypeError(f"nuclei must be a pandas DataFrame, got {type(nuclei).__name__}")
    missing = [c for c in cols if c not in nuclei.columns]
    if missing:
        raise ValueError(
            f"nuclei is missing column(s) {missing}; build it with pipeline.nuclei.nucleus_features"
        )


def lymphocyte_reference(nuclei) -> dict:
    """Typical lymphocyte of this image: median diameter, haematoxylin and ring stain.

    Lymphocytes are the commonest nuclei of a lymph node; they are taken as the
    nuclei whose equivalent diameter lies in 4.5-8 µm. When fewer than 30 such
    nuclei exist, the smallest third of all nuclei stands in.

    Returns
    -------
    dict
        ``diameter_um``, ``hematoxylin``, ``ring``, ``count``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"equivalent_diameter_um": [6.0] * 40 + [14.0],
    ...                   "hematoxylin_mean": [1.0] * 40 + [0.5],
    ...                   "counterstain_ring": [0.2] * 40 + [0.6]})
    >>> lymphocyte_reference(t)["diameter_um"]
    6.0
    """
    _need(nuclei, ["equivalent_diameter_um", "hematoxylin_mean", "counterstain_ring"])
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    lo, hi = LYMPHOCYTE_DIAMETER_RANGE_UM
    sel = (d >= lo) & (d <= hi)
    if sel.sum() < 30 and len(d):
        sel = d <= np.quantile(d, 1 / 3)
    if not sel.any():
        return {"diameter_um": 6.5, "hematoxylin": np.nan, "ring": np.nan, "count": 0}
    return {
        "diameter_um": float(np.median(d[sel])),
        "hematoxylin": float(np.median(nuclei["hematoxylin_mean"].to_numpy(float)[sel])),
        "ring": float(np.median(nuclei["counterstain_ring"].to_numpy(float)[sel])),
        "count": int(sel.sum()),
    }


def pale_nuclei(nuclei, *, ratio=DAB_PALE_NUCLEUS_RATIO) -> np.ndarray:
    """Nuclei too pale to be lymphocytes.

    Lymphocytes have dense chromatin; a carcinoma nucleus is pale and vesicular, and on
    real sections it is often segmented no larger than a lymphocyte (its pale centre
    falls under the haematoxylin threshold). A nucleus whose mean haematoxylin is under
    ``ratio`` x the median of the image's lymphocyte-sized nuclei (4.5-8 µm) is pale.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        With ``equivalent_diameter_um`` (µm) and ``hematoxylin_mean`` (OD), e.g. from
        :func:`pipeline.nuclei.nucleus_features`. Not modified.
    ratio : float, keyword-only
        Default :data:`pipeline.defaults.DAB_PALE_NUCLEUS_RATIO` (0.8); 0 calls none pale.

    Returns
    -------
    (N,) bool ndarray
        All False without ``hematoxylin_mean`` or with fewer than 30 lymphocyte-sized
        nuclei (no reference).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"equivalent_diameter_um": [6.0] * 40 + [6.0, 12.0],
    ...                   "hematoxylin_mean": [0.7] * 40 + [0.4, 0.7]})
    >>> pale_nuclei(t)[-2:].tolist()
    [True, False]
    """
    _need(nuclei, ["equivalent_diameter_um"])
    ratio = check_positive(ratio, name="ratio", allow_zero=True)
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    lo, hi = LYMPHOCYTE_DIAMETER_RANGE_UM
    small = (d >= lo) & (d <= hi)
    if ratio == 0 or "hematoxylin_mean" not in nuclei or small.sum() < 30:
        return np.zeros(len(nuclei), bool)
    hm = nuclei["hematoxylin_mean"].to_numpy(float)
    return hm < ratio * float(np.median(hm[small]))


def _ring(nuclei) -> np.ndarray:
    """The ring DAB that decides positivity: the 4 µm ring median, or the 2 µm one if higher."""
    ring = nuclei["counterstain_ring_median"].to_numpy(float)
    if "counterstain_ring_narrow" in nuclei:  # a small cell's thin cytoplasm: the 2 µm ring
        ring = np.maximum(ring, nuclei["counterstain_ring_narrow"].to_numpy(float))
    return ring


def _in_nests(nuclei, small, pale, *, dab_threshold, contrast, strong_factor,
              reach_um=IHC_NEIGHBOUR_UM) -> np.ndarray:
    """Lymphocyte-sized nuclei that sit in a DAB-positive nest, not among lymphocytes.

    A first, image-wide background is the median ring DAB of all lymphocyte-sized
    nuclei (robust while fewer than half of them are tumour). Nuclei larger than any
    lymphocyte (over 8 µm), or ``pale`` ones (no lymphocyte either), whose ring exceeds
    ``max(dab_threshold, first + contrast)`` are clearly positive against it; a
    lymphocyte-sized nucleus whose own ring exceeds that level too and that has 2 or
    more such positive cells within ``reach_um`` is
    in a nest: a small tumour nucleus, or a lymphocyte browned by the tumour
    cytoplasm it touches, and no evidence of the background. So is a lymphocyte-sized
    nucleus whose ring reaches ``strong_factor`` x that level (0: never) with 2 or more
    such nuclei within ``reach_um``: a nest of carcinoma cells
    with small nuclear profiles (real sections: ~6 µm), which no diffuse haze matches.
    """
    out = np.zeros(len(nuclei), bool)
    if contrast <= 0 or not small.any():
        return out
    ring = _ring(nuclei)
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    first = float(np.median(nuclei["counterstain_ring_median"].to_numpy(float)[small]))
    cut = max(float(dab_threshold), first + float(contrast))
    anchors = ((d > LYMPHOCYTE_DIAMETER_RANGE_UM[1]) | pale) & (ring > cut)
    candidates = np.flatnonzero(small & (ring > cut))
    yx = nuclei[["y_um", "x_um"]].to_numpy(float)
    if len(candidates) and anchors.sum() >= 2:
        out[candidates[count_within(yx[candidates], yx[anchors], radius_um=reach_um) >= 2]] = True
    strong = np.flatnonzero(small & (ring >= strong_factor * cut)) if strong_factor > 0 else []
    if len(strong) >= 3:
        # each counts itself among the strong nuclei within reach: 3 = itself and 2 more
        out[strong[count_within(yx[strong], yx[strong], radius_um=reach_um) >= 3]] = True
    return out


def dab_background(nuclei, *, radius_um=DAB_BACKGROUND_RADIUS_UM, dab_threshold=DAB_THRESHOLD,
                   contrast=DAB_CONTRAST, strong_factor=DAB_STRONG_FACTOR,
                   pale_ratio=DAB_PALE_NUCLEUS_RATIO) -> np.ndarray:
    """The image's own non-specific DAB at each nucleus, from the lymphocytes around it.

    Cytokeratin does not stain lymphocytes, so the DAB in the rings of lymphocyte-sized
    nuclei (4.5-8 µm) is background: faint diffuse brown, uneven over the slide. The
    background at a nucleus is the upper quartile (75th percentile: the background is
    patchy) of the ring DAB of the lymphocyte-sized nuclei in
    its ``radius_um`` neighbourhood (square bins of ``radius_um`` / 2, 3 x 3 bins),
    widened to 5 x 5 and 9 x 9 bins where that holds fewer than 10 of them (a sinus,
    a large deposit), else the whole image's.

    Lymphocyte-sized nuclei inside a DAB-positive nest are left out: a nucleus whose
    ring exceeds ``max(dab_threshold, m + contrast)`` (``m``: the median ring DAB of
    all lymphocyte-sized nuclei, a first, image-wide estimate) and that has 2 or more
    nuclei over 8 µm as clearly positive within 20 µm. Inside a large cohesive deposit
    they are small tumour nuclei or lymphocytes browned by the tumour around them;
    counting them raised the background of a 3 mm nest to 0.6 OD and hid the weaker
    half of its tumour cells (``bench/accuracy.py`` seed 90008: cell recall 0.43,
    0.93 without them). So are lymphocyte-sized nuclei with a ring
    ``strong_factor`` x that level and 2 more such nuclei
    within 20 µm: a nest of carcinoma cells with small nuclear profiles. Lymphocytes in a
    faint diffuse-brown patch have no clearly positive large cells around them, nor rings
    that brown, and still set the background there. Pale nuclei are left out too (mean
    haematoxylin under ``pale_ratio`` x the median of the lymphocyte-sized nuclei, when there
    are 30 of them), and count as the large ones do in telling a nest: lymphocytes have
    dense chromatin, while a carcinoma nucleus cut to lymphocyte size by the haematoxylin
    threshold (its pale centre lost, as on real sections) is pale, and the nuclei of a nest
    would read its cytokeratin as background. A nucleus without a ring measurement (NaN)
    is no evidence either.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        ``y_um``, ``x_um``, ``equivalent_diameter_um`` and ``counterstain_ring_median``
        (``counterstain_ring_narrow`` is used when present).
    radius_um : float, keyword-only
    dab_threshold, contrast, strong_factor : float, keyword-only
        As for :func:`classify_ihc`: what "clearly positive" and "strongly positive"
        mean when nests are left out. ``contrast=0`` keeps every lymphocyte-sized
        nucleus; ``strong_factor=0`` leaves out only those near large positive cells.
    pale_ratio : float, keyword-only
        Nuclei paler than this fraction of the lymphocyte-sized nuclei's median haematoxylin
        (``hematoxylin_mean``, when the table has it) are not lymphocytes
        (:data:`pipeline.defaults.DAB_PALE_NUCLEUS_RATIO`, 0.8); 0 treats them as any other.

    Returns
    -------
    (N,) float ndarray
        Background DAB optical density at each nucleus (0 for an empty table).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"y_um": [0.0] * 20, "x_um": [float(i) for i in range(20)],
    ...                   "equivalent_diameter_um": [6.0] * 20,
    ...                   "counterstain_ring_median": [0.1] * 20})
    >>> round(float(dab_background(t)[0]), 3)
    0.1
    """
    _need(nuclei, ["y_um", "x_um", "equivalent_diameter_um", "counterstain_ring_median"])
    n = len(nuclei)
    if n == 0:
        return np.zeros(0)
    ring = nuclei["counterstain_ring_median"].to_numpy(float)
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    lo, hi = LYMPHOCYTE_DIAMETER_RANGE_UM
    small = (d >= lo) & (d <= hi)
    pale_ratio = check_positive(pale_ratio, name="pale_ratio", allow_zero=True)
    pale = pale_nuclei(nuclei, ratio=pale_ratio)
    small &= ~pale
    small &= np.isfinite(ring)  # a nucleus without a ring measurement is no evidence of background
    small &= ~_in_nests(nuclei, small, pale, dab_threshold=dab_threshold, contrast=contrast,
                        strong_factor=float(strong_factor))
    # the whole image's background: from its lymphocyte-sized nuclei only (never from all
    # nuclei, which in a small field may be mostly tumour); none: no evidence, 0
    if small.sum() >= 10:
        overall = float(np.percentile(ring[small], 75))
    else:
        overall = float(np.median(ring[small])) if small.any() else 0.0
    step = float(radius_um) / 2.0
    by = np.floor(nuclei["y_um"].to_numpy(float) / step).astype(np.int64)
    bx = np.floor(nuclei["x_um"].to_numpy(float) / step).astype(np.int64)
    if not small.any():
        return np.full(n, overall)
    # ring values of the small nuclei, gathered per 3 x 3 bin neighbourhood; where that
    # holds fewer than 10 (a sinus, a deposit), per 5 x 5, then 9 x 9 bins
    out = np.full(n, np.nan)
    for reach in (1, 2, 4):
        todo = np.isnan(out)
        if not todo.any():
            break
        out[todo] = _binned_upper_quartile(by[small], bx[small], ring[small], by[todo], bx[todo],
                                           reach=reach, min_count=10)
    return np.where(np.isnan(out), overall, out)


def _binned_upper_quartile(by, bx, values, qy, qx, *, reach, min_count):
    """At each query bin (qy, qx): ``np.percentile(v, 75)`` of the ``values`` whose bins
    (by, bx) lie within ``reach`` bins in each direction, NaN where fewer than ``min_count``.

    Each value is copied into the bins around its own, only those that are asked about,
    and the copies sorted once by (bin, value) as one integer key (the bin, then the
    value's rank), instead of a group-by with a Python call per group; the same linear
    interpolation as NumPy's, to the last bit.
    """
    out = np.full(len(qy), np.nan)
    if not len(values) or not len(qy):
        return out
    values = np.asarray(values, float)
    y0 = min(by.min(), qy.min()) - reach
    x0 = min(bx.min(), qx.min()) - reach
    width = max(bx.max(), qx.max()) - x0 + reach + 1
    height = max(by.max(), qy.max()) - y0 + reach + 1
    q = (qy - y0) * width + (qx - x0)
    asked = np.zeros(height * width, bool)
    asked[q] = True
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(len(values))
    shifts = np.arange(-reach, reach + 1)
    dy, dx = np.repeat(shifts, len(shifts)), np.tile(shifts, len(shifts))
    keys = (((by - y0)[None, :] + dy[:, None]) * width + ((bx - x0)[None, :] + dx[:, None])).ravel()
    keep = asked[keys]
    packed = keys[keep] * len(values) + np.tile(rank, len(dy))[keep]
    packed.sort()
    keys, vals = packed // len(values), ranked[packed % len(values)]
    if not len(keys):
        return out
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    # np.percentile(v, 75), method "linear": index (n - 1) * 0.75 (exact in floats) and NumPy's _lerp
    index = (counts - 1) * 0.75
    below = np.floor(index)
    gamma = index - below
    a = vals[starts + below.astype(np.int64)]
    b = vals[starts + np.minimum(below.astype(np.int64) + 1, counts - 1)]
    diff = b - a
    level = a + diff * gamma
    high = gamma >= 0.5
    level[high] = (b - diff * (1 - gamma))[high]
    level[counts < min_count] = np.nan
    group_keys = keys[starts]
    at = np.clip(np.searchsorted(group_keys, q), 0, len(group_keys) - 1)
    hit = group_keys[at] == q
    out[hit] = level[at[hit]]
    return out


def classify_ihc(nuclei, *, dab_threshold=DAB_THRESHOLD, min_diameter_um=4.0, compartment="cytoplasm",
                 min_size_ratio=1.2, contrast=DAB_CONTRAST, max_inside_ratio=0.5,
                 strong_factor=DAB_STRONG_FACTOR, min_ring_coverage=MIN_RING_COVERAGE,
                 max_axis_ratio=DAB_MAX_AXIS_RATIO, max_outer_ratio=DAB_MAX_OUTER_RATIO,
                 stained_factor=DAB_HYSTERESIS, pale_ratio=DAB_PALE_NUCLEUS_RATIO, background=None):
    """Tumour cells in cytokeratin IHC: nuclei with a DAB-positive cytoplasm ring.

    A cell is positive when the median DAB of its cytoplasm ring (4 µm wide, or 2 µm
    for a cell whose thin cytoplasm fills only that) exceeds both
    ``dab_threshold`` and the image's own background there plus ``contrast``
    (:func:`dab_background`, from the lymphocytes around it, never from inside a
    positive nest): faint diffuse brown on lymphoid tissue makes no
    tumour cells. Its nucleus must be spared (``max_inside_ratio``): a haze of
    brown over nucleus and cytoplasm alike is background. A positive nucleus must
    be at least ``min_size_ratio`` times the image's lymphocytes, unless its ring
    is clearly stained all round (its 20th percentile above the threshold by half
    the contrast, or its median ``strong_factor`` times the threshold) and fewer
    than 2 large positive cells lie within 20 µm: a small
    lobular carcinoma cell, alone or in a single file, has its own cytokeratin-filled
    cytoplasm around it, while a lymphocyte wedged in a nest is brown where it touches
    its neighbours, which are many.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.nuclei.nucleus_features` with DAB as counterstain.
    dab_threshold : float, keyword-only
        Lowest median DAB optical density of the cytoplasm ring of a positive cell
        (QuPath's positive-cell detection uses a similar OD threshold). The median,
        not the mean: a lymphocyte pressed against one stained tumour cell is brown
        on one side only.
    min_diameter_um : float, keyword-only
        Smaller objects are debris, not cells.
    compartment : {"cytoplasm", "nucleus", "cell"}, keyword-only
        Where the marker sits: cytokeratin in the cytoplasm (the ring, default),
        a nuclear marker such as Ki67 in the nucleus, or either ("cell").
    min_size_ratio : float, keyword-only
        Nuclei smaller than this many times the image's lymphocyte diameter
        (:func:`lymphocyte_reference`, used when it rests on at least 30 nuclei)
        count only when stained all round. 0 switches it off (e.g. for Ki67, which
        also stains lymphocytes).
    contrast : float, keyword-only
        How far above the local DAB background (OD) a positive ring must be.
    max_inside_ratio : float, keyword-only
        ``compartment="cytoplasm"`` only: the DAB inside the nucleus may be at most
        this fraction of the ring's. Cytokeratin stains the cytoplasm and spares
        the nucleus; diffuse non-specific brown lies over nucleus and cytoplasm
        alike (a stromal cell in a brown patch: ring 0.22, nucleus 0.12 OD; true
        tumour cells of the synthetic bench nodes: at most 0.39 of the ring).
        0 switches it off.
    strong_factor : float, keyword-only
        ``compartment="cytoplasm"`` only: a ring at least this many times the cell's
        threshold (``dab_threshold``, or its background plus ``contrast``) is
        positive though its nucleus is brown too (up to 1.1 x the ring,
        :data:`pipeline.defaults.DAB_STRONG_MAX_INSIDE_RATIO`; a nucleus much browner
        than its cytoplasm is a nuclear marker), and a small nucleus with such a
        ring and most of it free of other nuclei (``ring_coverage`` >= 0.5,
        :data:`pipeline.defaults.DAB_STRONG_MIN_COVERAGE`) needs no all-round stain (default 2.0,
        :data:`pipeline.defaults.DAB_STRONG_FACTOR`): cytokeratin-filled cytoplasm
        over or under the nucleus browns it too, and no diffuse haze is that brown.
        0 switches it off.
    min_ring_coverage : float, keyword-only
        ``compartment="cytoplasm"`` only, when the table has ``ring_coverage``: a
        cell whose ring is mostly other nuclei (less than this part of a full ring
        free) shows too little cytoplasm of its own to call; a brown speck beside a
        lymphocyte packed among others can fill that little (default 0.17, see
        :data:`pipeline.defaults.MIN_RING_COVERAGE`). 0 switches it off.
    max_axis_ratio : float, keyword-only
        ``compartment="cytoplasm"`` only, when the table has ``major_axis_um`` and
        ``minor_axis_um``: a spindle nucleus (major / minor at least this) is never
        positive: a fibroblast in brown collagen, or a cytokeratin-positive reticulum
        cell (default 2.5, :data:`pipeline.defaults.DAB_MAX_AXIS_RATIO`). 0 switches it off.
    max_outer_ratio : float, keyword-only
        ``compartment="cytoplasm"`` only, when the table has ``counterstain_outer``
        (:func:`pipeline.nuclei.nucleus_features` with ``outer_um``): a positive cell
        with no other stained cell (a ring over ``stained_factor`` x its threshold, not
        spindle) whose nucleus lies within 16 µm of its own, edge to
        edge (twice the 4 µm ring and the 4 µm band), and whose surroundings beyond its ring
        are at least this fraction of its ring's DAB is a nucleus in brown matrix
        (capsule collagen, a browned fat septum), not a cell with a cytokeratin-filled
        cytoplasm of its own (default 0.8, :data:`pipeline.defaults.DAB_MAX_OUTER_RATIO`).
        Cells in nests and files are left alone: their surroundings are their
        neighbours' cytoplasm. NaN (too little free tissue around) keeps the call.
        0 switches it off.
    stained_factor : float, keyword-only
        For ``max_outer_ratio``: a neighbour whose ring reaches this fraction of its
        threshold is stained (default :data:`pipeline.defaults.DAB_HYSTERESIS`, 0.75;
        the analysis passes its ``dab_hysteresis``), in [0, 1].
    pale_ratio : float, keyword-only
        For the DAB background (:func:`dab_background`): a nucleus whose mean
        haematoxylin is under this fraction of the image's lymphocytes' is no lymphocyte
        (dense chromatin) but a pale, vesicular nucleus, often cut to lymphocyte size by
        the haematoxylin threshold on real sections; it sets no background, and a positive
        one marks a nest (default :data:`pipeline.defaults.DAB_PALE_NUCLEUS_RATIO`, 0.8).
        0 switches it off.
    background : (N,) float ndarray, optional, keyword-only
        The local DAB background at each nucleus (OD), as :func:`dab_background` gives it
        for the same ``dab_threshold``, ``contrast``, ``strong_factor`` and ``pale_ratio``;
        computed when None. Pass it to share one computation between calls that differ
        in other options (it dominates the cost: ~1 s for 30,000 nuclei).

    Returns
    -------
    (N,) bool ndarray

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"counterstain_ring_median": [0.05, 0.4], "counterstain_inside": [0.0, 0.0],
    ...                   "equivalent_diameter_um": [7.0, 9.0]})
    >>> classify_ihc(t).tolist()
    [False, True]
    """
    from ._validate import check_choice

    check_choice(compartment, ("cytoplasm", "nucleus", "cell"), name="compartment")
    _need(nuclei, ["counterstain_ring_median", "counterstain_inside", "equivalent_diameter_um"])
    check_positive(dab_threshold, name="dab_threshold")
    strong_factor = check_positive(strong_factor, name="strong_factor", allow_zero=True)
    max_axis_ratio = check_positive(max_axis_ratio, name="max_axis_ratio", allow_zero=True)
    max_outer_ratio = check_positive(max_outer_ratio, name="max_outer_ratio", allow_zero=True)
    stained_factor = check_fraction(stained_factor, name="stained_factor")
    pale_ratio = check_positive(pale_ratio, name="pale_ratio", allow_zero=True)
    ring = _ring(nuclei)
    inside = nuclei["counterstain_inside"].to_numpy(float)
    low = nuclei["counterstain_ring_low"].to_numpy(float) if "counterstain_ring_low" in nuclei else ring
    if compartment == "nucleus":
        ring = low = inside
    elif compartment == "cell":
        ring, low = np.maximum(ring, inside), np.maximum(low, inside)
    threshold = np.full(len(ring), float(dab_threshold))
    if contrast > 0 and {"y_um", "x_um"} <= set(nuclei.columns):
        if background is None:
            background = dab_background(nuclei, dab_threshold=dab_threshold, contrast=contrast,
                                        strong_factor=strong_factor, pale_ratio=pale_ratio)
        background = np.asarray(background, float)
        if background.shape != ring.shape:
            raise ValueError(f"background must hold one value per nucleus ({len(ring)}), "
                             f"got shape {background.shape}")
        threshold = np.maximum(threshold, background + float(contrast))
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    positive = (ring > threshold) & (d >= min_diameter_um)
    spindle = np.zeros(len(ring), bool)
    # a ring so brown that no haze explains it (cytoplasm only)
    strong = (ring >= strong_factor * threshold) if compartment == "cytoplasm" and strong_factor > 0 \
        else np.zeros(len(ring), bool)
    coverage = nuclei["ring_coverage"].to_numpy(float) if "ring_coverage" in nuclei else None
    if compartment == "cytoplasm" and max_inside_ratio > 0:
        # brown over the nucleus too is allowed to a strong ring, but no browner than the cytoplasm
        positive &= (inside <= float(max_inside_ratio) * ring) | (strong & (inside <= DAB_STRONG_MAX_INSIDE_RATIO * ring))
    if compartment == "cytoplasm" and min_ring_coverage > 0 and coverage is not None:
        positive &= coverage >= float(min_ring_coverage)
    if compartment == "cytoplasm" and max_axis_ratio > 0 and {"major_axis_um", "minor_axis_um"} <= set(nuclei.columns):
        major, minor = nuclei["major_axis_um"].to_numpy(float), nuclei["minor_axis_um"].to_numpy(float)
        spindle = major >= float(max_axis_ratio) * minor  # NaN axes compare False
        positive &= ~spindle
    if min_size_ratio > 0 and {"hematoxylin_mean", "counterstain_ring"} <= set(nuclei.columns):
        ref = lymphocyte_reference(nuclei)
        if ref["count"] >= 30:
            large = d >= min_size_ratio * ref["diameter_um"]
            # a small cell must be clearly stained all round (half the contrast above the
            # threshold): a lymphocyte in a darker patch of diffuse brown is evenly brown too
            # (or so brown, strong_factor x the threshold, that no haze explains it, around a
            # nucleus with a ring of its own: not a lymphocyte packed beside a brown speck)
            clear = low > threshold + 0.5 * contrast
            if coverage is not None:
                clear |= strong & (coverage >= DAB_STRONG_MIN_COVERAGE)
            small_ok = clear & positive & ~large
            if small_ok.any() and {"y_um", "x_um"} <= set(nuclei.columns):
                # stained all round by its own cytoplasm, not by a nest around it: a small cell
                # with 2 or more large positive cells within 20 µm is wedged in a nest
                yx = nuclei[["y_um", "x_um"]].to_numpy(float)
                crowd = count_within(yx[small_ok], yx[positive & large], radius_um=IHC_NEIGHBOUR_UM)
                small_ok[np.flatnonzero(small_ok)[crowd >= 2]] = False
            positive &= large | small_ok
    if compartment == "cytoplasm" and max_outer_ratio > 0 and positive.any() \
            and {"counterstain_outer", "y_um", "x_um"} <= set(nuclei.columns):
        # stained at all: a ring over the hysteresis level (a nest's weaker cells), not spindle
        stained = (ring > stained_factor * threshold) & (d >= min_diameter_um) & ~spindle
        positive &= ~_in_brown_matrix(nuclei, positive, stained | positive, ring, max_outer_ratio)
    return positive


def _in_brown_matrix(nuclei, positive, stained, ring, max_outer_ratio):
    """Positive cells whose surroundings beyond the ring are as brown as the ring
    (``max_outer_ratio`` of it) and that are alone: no other ``stained`` nucleus whose edge
    lies within ``2 x (DAB ring + outer band)`` of theirs, whose cytoplasm could fill their
    outer band. Matrix, not cytoplasm."""
    out = np.zeros(len(positive), bool)
    outer = nuclei["counterstain_outer"].to_numpy(float)
    suspect = np.flatnonzero(positive & (outer >= float(max_outer_ratio) * ring))  # NaN compares False
    if not len(suspect):
        return out
    others = np.flatnonzero(stained)
    yx = nuclei[["y_um", "x_um"]].to_numpy(float)
    r = nuclei["equivalent_diameter_um"].to_numpy(float) / 2
    reach = 2 * (RING_UM + DAB_OUTER_UM)
    pairs = cKDTree(yx[suspect]).sparse_distance_matrix(
        cKDTree(yx[others]), 2 * float(r[others].max()) + reach, output_type="ndarray")
    i, j = suspect[pairs["i"]], others[pairs["j"]]
    near = (i != j) & (pairs["v"] - r[i] - r[j] <= reach)
    out[np.setdiff1d(suspect, i[near])] = True
    return out


def he_tumour_probability(nuclei, *, model=None):
    """Tumour probability of each nucleus of an H&E image.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.find_nuclei` on an H&E image (``FoundNuclei.nuclei``):
        the nuclear features and the ``tumour_context`` /
        ``tumour_context_max`` columns read from the tumour map. Not modified.
    model : str, pathlib.Path or HeCellModel, keyword-only
        An H&E model file made by ``nodescope train`` (or the loaded model);
        None: the shipped model (see its model card).

    Returns
    -------
    (N,) float ndarray
        Probabilities in [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> cell = {"y_um": 0.0, "x_um": 0.0, "equivalent_diameter_um": 11.0, "minor_axis_um": 9.5,
    ...         "major_axis_um": 12.5, "solidity": 0.95, "hematoxylin_mean": 0.55,
    ...         "hematoxylin_std": 0.15, "counterstain_ring": 0.35}
    >>> t = pd.DataFrame([dict(cell, tumour_context=0.02, tumour_context_max=0.03),
    ...                   dict(cell, x_um=200.0, tumour_context=0.97, tumour_context_max=0.99)])
    >>> p = he_tumour_probability(t)
    >>> bool(p[1] > p[0])
    True
    """
    if not isinstance(nuclei, pd.DataFrame):
        raise TypeError(f"nuclei must be a pandas DataFrame, got {type(nuclei).__name__}")
    if not len(nuclei):
        return np.zeros(0)
    if "tumour_context" not in nuclei.columns:
        raise ValueError("nuclei has no 'tumour_context' column; take the table from pipeline.find_nuclei "
                         "on an H&E image (it reads the tumour map)")
    m = model if hasattr(model, "probability") else load_he_cell_model(model)
    return m.probability(he_cell_features(nuclei))


def classify_he(nuclei, *, model=None, threshold=None):
    """Tumour cells in H&E: nuclei whose tumour probability reaches ``threshold``.

    The cell-level decision only; :func:`pipeline.find_tumour_cells` adds the
    deposit-level hysteresis (a deposit needs one confident cell).

    Parameters
    ----------
    nuclei : pandas.DataFrame
        As for :func:`he_tumour_probability`.
    model : keyword-only
        As for :func:`he_tumour_probability`.
    threshold : float, keyword-only
        Probability cut-off in (0, 1]; None: the model's own.

    Returns
    -------
    (N,) bool ndarray

    Examples
    --------
    >>> import pandas as pd
    >>> cell = {"y_um": 0.0, "x_um": 0.0, "equivalent_diameter_um": 11.0, "minor_axis_um": 9.5,
    ...         "major_axis_um": 12.5, "solidity": 0.95, "hematoxylin_mean": 0.55,
    ...         "hematoxylin_std": 0.15, "counterstain_ring": 0.35, "tumour_context": 0.01,
    ...         "tumour_context_max": 0.02}
    >>> classify_he(pd.DataFrame([cell])).tolist()
    [False]
    """
    m = model if hasattr(model, "probability") else load_he_cell_model(model)
    cut = m.threshold if threshold is None else check_positive(threshold, name="threshold")
    return he_tumour_probability(nuclei, model=m) >= cut
