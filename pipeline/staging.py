"""Staging rules: node category (AJCC 8th edition) and patient pN stage (CAMELYON17).

Pure functions on numbers and category labels; no images.

References
----------
.. [1] Amin MB et al. (eds). AJCC Cancer Staging Manual, 8th edition. Springer, 2017.
.. [2] Bándi P et al. From detection of individual metastases to classification of lymph
       node status at the patient level: the CAMELYON17 challenge. IEEE TMI 38(2), 2019.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .defaults import ITC_MAX_CELLS, ITC_MAX_UM, MICRO_MAX_UM

__all__ = [
    "ITC_MAX_UM",
    "MICRO_MAX_UM",
    "ITC_MAX_CELLS",
    "CATEGORIES",
    "NOT_ASSESSABLE",
    "PN_STAGES",
    "CAMELYON17_STAGES",
    "node_category",
    "node_pn_category",
    "patient_pn_stage",
    "camelyon17_label",
    "quadratic_weighted_kappa",
]

# The AJCC 8th edition thresholds of node_category, written once in pipeline.defaults:
# ITC_MAX_UM (largest ITC deposit, 200 µm = 0.2 mm), MICRO_MAX_UM (largest
# micrometastasis, 2000 µm = 2 mm) and ITC_MAX_CELLS (most tumour cells of an ITC
# node, 200 cells).

#: Node categories, least to most advanced.
CATEGORIES = ("negative", "itc", "micrometastasis", "macrometastasis")

#: The category of a node that could not be assessed (its ``pn_category`` is ``"pNX"``):
#: never counted as negative; left out of the patient's pN stage.
NOT_ASSESSABLE = "not_assessable"

#: Patient pN stages, least to most advanced (without the ``(sn)`` suffix).
PN_STAGES = ("pN0", "pN0(i+)", "pN1mi", "pN1", "pN2", "pN3")

#: CAMELYON17 patient labels, in the order used for the kappa score.
CAMELYON17_STAGES = ("pn0", "pn0(i+)", "pn1mi", "pn1", "pn2")

_NODE_PN = {
    "negative": "pN0",
    "itc": "pN0(i+)",
    "micrometastasis": "pN1mi",
    "macrometastasis": "pN1",
}


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be a whole number of cells, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_length(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a length in µm, got {value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite length >= 0 µm, got {value!r}")
    return value


def node_category(
    largest_deposit_um,
    tumor_cell_count,
    *,
    itc_max_um=ITC_MAX_UM,
    micro_max_um=MICRO_MAX_UM,
    itc_max_cells=ITC_MAX_CELLS,
):
    """Categorise one lymph node by its largest tumour deposit (AJCC 8th edition).

    - ``"negative"``: no tumour cells.
    - ``"itc"`` (isolated tumour cells, pN0(i+)): largest deposit <= 0.2 mm and
      <= 200 tumour cells in the section.
    - ``"micrometastasis"`` (pN1mi): largest deposit > 0.2 mm, or > 200 tumour cells
      counted over the whole section (even when dispersed), and none > 2.0 mm.
    - ``"macrometastasis"``: a deposit > 2.0 mm.

    Parameters
    ----------
    largest_deposit_um : float
        Longest diameter of the largest deposit, in µm (0 when there is none).
    tumor_cell_count : int
        Tumour cells counted in the whole section.
    itc_max_um, micro_max_um : float, keyword-only
        Upper size limits of ITC (200 µm) and micrometastasis (2000 µm), inclusive.
    itc_max_cells : int, keyword-only
        Largest cell count that is still ITC (200).

    Returns
    -------
    category : str
        One of :data:`CATEGORIES`.
    reason : str
        Which criterion decided, with the measured values.

    Raises
    ------
    ValueError, TypeError
        For negative, non-finite or non-numeric inputs, or thresholds out of order.

    References
    ----------
    .. [1] AJCC Cancer Staging Manual, 8th ed. (2017), breast, regional lymph nodes.

    Examples
    --------
    >>> node_category(150.0, 12)[0]
    'itc'
    >>> node_category(150.0, 250)
    ('micrometastasis', '250 tumour cells > 200 in the section (largest deposit 0.150 mm)')
    >>> node_category(2000.0, 5000)[0]
    'micrometastasis'
    >>> node_category(2000.5, 5000)[0]
    'macrometastasis'
    """
    size = _check_length(largest_deposit_um, "largest_deposit_um")
    count = _check_count(tumor_cell_count, "tumor_cell_count")
    itc_max = _check_length(itc_max_um, "itc_max_um")
    micro_max = _check_length(micro_max_um, "micro_max_um")
    max_cells = _check_count(itc_max_cells, "itc_max_cells")
    if not itc_max < micro_max:
        raise ValueError(
            f"itc_max_um ({itc_max:g}) must be smaller than micro_max_um ({micro_max:g})"
        )
    mm = size / 1000.0
    if count == 0:
        if size > 0:
            raise ValueError(
                f"largest_deposit_um is {size:g} but tumor_cell_count is 0; "
                "a deposit needs tumour cells"
            )
        return "negative", "no tumour cells"
    if size > micro_max:
        return "macrometastasis", f"largest deposit {mm:.3f} mm > {micro_max / 1000:g} mm"
    if size > itc_max:
        return (
            "micrometastasis",
            f"largest deposit {mm:.3f} mm > {itc_max / 1000:g} mm and <= {micro_max / 1000:g} mm",
        )
    if count > max_cells:
        return (
            "micrometastasis",
            f"{count} tumour cells > {max_cells} in the section (largest deposit {mm:.3f} mm)",
        )
    return (
        "itc",
        f"largest deposit {mm:.3f} mm <= {itc_max / 1000:g} mm and {count} tumour cells "
        f"<= {max_cells}",
    )


def node_pn_category(category: str) -> str:
    """The pN category one node alone implies: pN0, pN0(i+), pN1mi or pN1.

    A node whose image cannot support a stage (``"not_assessable"``) implies
    ``"pNX"`` (AJCC: regional lymph nodes cannot be assessed); it is never pN0.

    Examples
    --------
    >>> node_pn_category("itc")
    'pN0(i+)'
    >>> node_pn_category("not_assessable")
    'pNX'
    """
    if category == "not_assessable":
        return "pNX"
    try:
        return _NODE_PN[category]
    except (KeyError, TypeError):
        raise ValueError(
            f"category must be one of {', '.join(CATEGORIES)}; got {category!r}"
        ) from None


def patient_pn_stage(nodes: Sequence[str], *, sentinel: bool = False) -> str:
    """Combine node categories into the patient's pathological N stage.

    Nodes with only isolated tumour cells are not counted as positive. Nodes
    that could not be assessed (``"not_assessable"``) are left out: they are
    never counted as negative; when every node is not assessable the stage is
    ``"pNX"`` (regional nodes cannot be assessed).

    ========  ============================================================
    pN0       no node with micro- or macrometastasis, no ITC
    pN0(i+)   ITC only
    pN1mi     micrometastases, no macrometastasis
    pN1       1-3 positive nodes, at least one macrometastasis
    pN2       4-9 positive nodes, at least one macrometastasis
    pN3       >= 10 positive nodes, at least one macrometastasis
    ========  ============================================================

    Parameters
    ----------
    nodes : sequence of str
        One category per node, from :data:`CATEGORIES` or :data:`NOT_ASSESSABLE`.
        May be empty (pN0).
    sentinel : bool, keyword-only
        Append ``"(sn)"`` (sentinel-node procedure), e.g. ``"pN1mi(sn)"``.

    Returns
    -------
    str
        One of :data:`PN_STAGES` or ``"pNX"``, possibly with ``"(sn)"``.

    References
    ----------
    .. [1] AJCC 8th ed. (2017); CAMELYON17 (Bándi et al., IEEE TMI 2019).

    Examples
    --------
    >>> patient_pn_stage(["negative", "itc", "micrometastasis"])
    'pN1mi'
    >>> patient_pn_stage(["macrometastasis"] + ["micrometastasis"] * 3, sentinel=True)
    'pN2(sn)'
    >>> patient_pn_stage(["negative", "not_assessable"]), patient_pn_stage(["not_assessable"])
    ('pN0', 'pNX')
    """
    if isinstance(nodes, str):
        raise TypeError("nodes must be a sequence of node categories, not a single string")
    nodes = list(nodes)
    for i, cat in enumerate(nodes):
        if cat not in CATEGORIES and cat != NOT_ASSESSABLE:
            raise ValueError(
                f"nodes[{i}] must be one of {', '.join(CATEGORIES + (NOT_ASSESSABLE,))}; got {cat!r}"
            )
    if nodes and all(c == NOT_ASSESSABLE for c in nodes):
        return "pNX" + ("(sn)" if sentinel else "")
    nodes = [c for c in nodes if c != NOT_ASSESSABLE]
    positive = sum(c in ("micrometastasis", "macrometastasis") for c in nodes)
    macro = "macrometastasis" in nodes
    if macro:
        stage = "pN1" if positive <= 3 else "pN2" if positive <= 9 else "pN3"
    elif positive:
        stage = "pN1mi"
    elif "itc" in nodes:
        stage = "pN0(i+)"
    else:
        stage = "pN0"
    return stage + ("(sn)" if sentinel else "")


def camelyon17_label(stage: str) -> str:
    """CAMELYON17's lower-case label for a pN stage (the ``(sn)`` suffix is dropped).

    Examples
    --------
    >>> camelyon17_label("pN0(i+)(sn)")
    'pn0(i+)'
    """
    base = stage[:-4] if stage.endswith("(sn)") else stage
    if base not in PN_STAGES:
        raise ValueError(f"stage must be one of {', '.join(PN_STAGES)}; got {stage!r}")
    return base.lower()


def quadratic_weighted_kappa(y_true, y_pred, *, labels=CAMELYON17_STAGES) -> float:
    """Cohen's kappa with quadratic weights between two lists of ordered labels.

    The CAMELYON17 challenge metric for patient pN stages.

    Parameters
    ----------
    y_true, y_pred : sequence
        Labels of the same length, each from ``labels``.
    labels : sequence, keyword-only
        The ordered label set (default: CAMELYON17's five stages).

    Returns
    -------
    float
        Kappa in [-1, 1]; 1.0 for perfect agreement. When both lists use a single
        identical label, agreement is perfect and 1.0 is returned.

    References
    ----------
    .. [1] Cohen J. Weighted kappa. Psychol Bull 70(4), 1968.

    Examples
    --------
    >>> quadratic_weighted_kappa(["pn0", "pn1", "pn2"], ["pn0", "pn1", "pn2"])
    1.0
    >>> round(quadratic_weighted_kappa(["pn0", "pn1"], ["pn1", "pn0"]), 2)
    -1.0
    """
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    if not y_true:
        raise ValueError("y_true and y_pred are empty; kappa needs at least one pair")
    for name, seq in (("y_true", y_true), ("y_pred", y_pred)):
        bad = [v for v in seq if v not in index]
        if bad:
            raise ValueError(f"{name} has labels not in labels={labels}: {bad[:3]}")
    k = len(labels)
    observed = np.zeros((k, k))
    for t, p in zip(y_true, y_pred):
        observed[index[t], index[p]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(1), observed.sum(0))
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    denom = (weights * expected).sum()
    if denom == 0:
        return 1.0
    return float(1.0 - (weights * observed).sum() / denom)
