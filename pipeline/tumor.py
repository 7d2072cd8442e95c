"""Tumour cells: which nuclei belong to carcinoma cells, in IHC and in H&E.

- Cytokeratin IHC: epithelial (tumour) cells have DAB-brown cytoplasm; a nucleus
  whose surrounding ring is DAB-positive is a tumour cell. Brown debris without a
  nucleus never becomes a cell, because only nuclei are classified.
- H&E: lymph-node lymphocytes are small, round, dark and densely packed; carcinoma
  nuclei are larger, paler (vesicular) and sit in eosinophilic cytoplasm. Each
  image is measured against its own lymphocytes (the commonest nucleus of a node),
  so the rule holds across pixel sizes, stain strengths and scanners; absolute
  sizes are in µm.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ._validate import check_positive
from .defaults import DAB_THRESHOLD

__all__ = [
    "DAB_THRESHOLD",
    "lymphocyte_reference",
    "classify_ihc",
    "classify_he",
    "he_features",
    "HE_FEATURES",
    "load_forest",
    "forest_probability",
]

#: Features of :func:`he_features`, the inputs of the H&E tumour-cell forest.
HE_FEATURES = (
    "diameter_ratio",
    "width_ratio",
    "solidity",
    "hematoxylin_ratio",
    "eosin_ring_ratio",
    "chromatin_cv",
    "eccentricity",
)

_FOREST_PATH = Path(__file__).resolve().parent / "models" / "he_tumour_forest.json"

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


def classify_ihc(nuclei, *, dab_threshold=DAB_THRESHOLD, min_diameter_um=4.0, compartment="cytoplasm",
                 min_size_ratio=1.2):
    """Tumour cells in cytokeratin IHC: nuclei with a DAB-positive cytoplasm ring.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.nuclei.nucleus_features` with DAB as counterstain.
    dab_threshold : float, keyword-only
        Median DAB optical density of the cytoplasm ring above which a cell is
        positive (QuPath's positive-cell detection uses a similar OD threshold).
        The median, not the mean: a lymphocyte pressed against one stained
        tumour cell is brown on one side only.
    min_diameter_um : float, keyword-only
        Smaller objects are debris, not cells.
    compartment : {"cytoplasm", "nucleus", "cell"}, keyword-only
        Where the marker sits: cytokeratin in the cytoplasm (the ring, default),
        a nuclear marker such as Ki67 in the nucleus, or either ("cell").
    min_size_ratio : float, keyword-only
        A positive cell's nucleus must be at least this many times the image's
        lymphocyte diameter (:func:`lymphocyte_reference`, used when it rests on
        at least 30 nuclei): a lymphocyte wedged between cytokeratin-positive
        tumour cells has brown all round it, but a lymphocyte's nucleus. 0
        switches it off (e.g. for Ki67, which also stains lymphocytes).

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
    ring = nuclei["counterstain_ring_median"].to_numpy(float)
    inside = nuclei["counterstain_inside"].to_numpy(float)
    if compartment == "nucleus":
        ring = inside
    elif compartment == "cell":
        ring = np.maximum(ring, inside)
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    smallest = min_diameter_um
    if min_size_ratio > 0 and {"hematoxylin_mean", "counterstain_ring"} <= set(nuclei.columns):
        ref = lymphocyte_reference(nuclei)
        if ref["count"] >= 30:
            smallest = max(smallest, min_size_ratio * ref["diameter_um"])
    return (ring > dab_threshold) & (d >= smallest)


def classify_he(nuclei, *, reference=None, probability=None):
    """Tumour cells in H&E, against the image's own lymphocytes.

    Each nucleus is scored by a small random forest on the unit-free features
    of :func:`he_features` (relative to the image's lymphocytes), trained
    reproducibly by ``tools/train_he_classifier.py`` and shipped as JSON; a
    nucleus is tumour when its probability is at least ``probability``
    (default: the forest's own cut-off).

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.nuclei.nucleus_features` with eosin as counterstain.
    reference : dict, optional, keyword-only
        A :func:`lymphocyte_reference` to use instead of this image's.
    probability : float, optional, keyword-only
        Probability cut-off (default: the one saved with the forest).

    Returns
    -------
    (N,) bool ndarray

    References
    ----------
    .. [1] Elston CW, Ellis IO. Pathological prognostic factors in breast cancer
           (nuclear pleomorphism graded against normal cells). Histopathology 19, 1991.

    Examples
    --------
    >>> import pandas as pd
    >>> lymph = {"equivalent_diameter_um": 6.5, "minor_axis_um": 6.0, "solidity": 0.97,
    ...          "hematoxylin_mean": 1.0, "hematoxylin_std": 0.2, "counterstain_ring": 0.1,
    ...          "eccentricity": 0.4}
    >>> tumour = {"equivalent_diameter_um": 14.0, "minor_axis_um": 12.0, "solidity": 0.96,
    ...           "hematoxylin_mean": 0.6, "hematoxylin_std": 0.18, "counterstain_ring": 0.3,
    ...           "eccentricity": 0.5}
    >>> classify_he(pd.DataFrame([lymph] * 60 + [tumour]))[-2:].tolist()
    [False, True]
    """
    forest = load_forest()
    cut = forest["threshold"] if probability is None else check_positive(probability, name="probability")
    return forest_probability(he_features(nuclei, reference=reference), forest) >= cut


def he_features(nuclei, *, reference=None) -> pd.DataFrame:
    """Nuclear features relative to the image's own lymphocytes (unit-free).

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.nuclei.nucleus_features` (eosin as counterstain).
    reference : dict, optional, keyword-only
        A :func:`lymphocyte_reference` (default: this table's).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HE_FEATURES`: equivalent diameter and minor axis over the
        lymphocyte diameter, solidity, mean haematoxylin over the lymphocytes',
        ring eosin over the lymphocytes', chromatin coefficient of variation
        (haematoxylin std / mean) and eccentricity. Ratios make the features
        independent of pixel size, stain strength and scanner.
    """
    _need(nuclei, ["equivalent_diameter_um", "minor_axis_um", "solidity", "hematoxylin_mean",
                   "hematoxylin_std", "counterstain_ring", "eccentricity"])
    ref = lymphocyte_reference(nuclei) if reference is None else reference
    d_l = ref["diameter_um"]
    h_l = ref["hematoxylin"] if np.isfinite(ref["hematoxylin"]) and ref["hematoxylin"] > 0 else 1.0
    r_l = ref["ring"] if np.isfinite(ref["ring"]) and ref["ring"] > 0 else 1.0
    h = nuclei["hematoxylin_mean"].to_numpy(float)
    out = pd.DataFrame({
        "diameter_ratio": nuclei["equivalent_diameter_um"].to_numpy(float) / d_l,
        "width_ratio": nuclei["minor_axis_um"].to_numpy(float) / d_l,
        "solidity": nuclei["solidity"].to_numpy(float),
        "hematoxylin_ratio": h / h_l,
        "eosin_ring_ratio": nuclei["counterstain_ring"].to_numpy(float) / r_l,
        "chromatin_cv": nuclei["hematoxylin_std"].to_numpy(float) / np.maximum(h, 1e-6),
        "eccentricity": nuclei["eccentricity"].to_numpy(float),
    })
    return out.replace([np.inf, -np.inf], np.nan).fillna(0.0)


@lru_cache(maxsize=4)
def load_forest(path=None) -> dict:
    """Load a tree ensemble saved as JSON by ``tools/train_he_classifier.py``.

    Returns a dict with ``features`` (names, in order), ``threshold`` (default
    probability cut-off) and ``trees`` (each: ``feature``, ``threshold``,
    ``left``, ``right``, ``value`` arrays; a leaf has ``left == -1``).
    """
    path = Path(path) if path is not None else _FOREST_PATH
    data = json.loads(path.read_text(encoding="utf-8"))
    trees = []
    for t in data["trees"]:
        trees.append({k: np.asarray(t[k], dtype=float if k in ("threshold", "value") else np.int64)
                      for k in ("feature", "threshold", "left", "right", "value")})
    return {"features": tuple(data["features"]), "threshold": float(data["threshold"]),
            "trees": trees, "meta": data.get("meta", {})}


def forest_probability(features: pd.DataFrame, forest: dict) -> np.ndarray:
    """Mean leaf probability of the trees for each row (vectorised tree walk)."""
    missing = [f for f in forest["features"] if f not in features.columns]
    if missing:
        raise ValueError(f"features is missing column(s) {missing} required by the forest")
    x = features[list(forest["features"])].to_numpy(float)
    rows = np.arange(len(x))
    total = np.zeros(len(x))
    for t in forest["trees"]:
        node = np.zeros(len(x), np.int64)
        while True:
            inner = t["left"][node] >= 0
            if not inner.any():
                break
            f = t["feature"][node[inner]]
            go_left = x[rows[inner], f] <= t["threshold"][node[inner]]
            node[inner] = np.where(go_left, t["left"][node[inner]], t["right"][node[inner]])
        total += t["value"][node]
    return total / max(1, len(forest["trees"]))
