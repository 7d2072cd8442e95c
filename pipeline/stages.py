"""Stages 2 and 3 of an analysis: which nuclei are tumour cells, then the node.

:func:`find_tumour_cells` classifies the nuclei of :func:`pipeline.detection.find_nuclei`
(cytokeratin ring in IHC, the learned detector in H&E) and :func:`measure_node`
groups the tumour cells into deposits, measures them, reads the growth pattern
and stages the node. :func:`measure_node` alone re-measures an edited set of
tumour cells (the review) without re-segmenting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ._validate import check_choice, check_pixel_size
from .measure import assign_deposits, measure_deposits
from .options import AnalysisOptions, option_fields
from .pattern import growth_pattern
from .quality import CONFIRM_WITH_IHC, QUALITY_THRESHOLDS, TOO_LITTLE_TISSUE, he_finding_reason, negative_call_reason
from .results import NodeResult
from .staging import NOT_ASSESSABLE, node_category, node_pn_category
from .defaults import (DAB_CANDIDATE_SIZE_RATIO, DAB_CONTRAST, IHC_NEIGHBOUR_UM, IHC_NEST_MIN_CELLS,
                       IHC_NEST_MIN_GAP_RATIO, STAIN_KINDS)
from .he_cells import load_he_cell_model
from .tumor import classify_ihc, dab_background, he_tumour_probability, pale_nuclei
from .spatial import count_within

__all__ = ["TumourCells", "find_tumour_cells", "measure_node", "CONTEXT_FIELDS"]

#: Coarsest pixel size (µm) at which an H&E growth pattern is called; coarser it is
#: ``"not_assessable"`` (the H&E detector's range is 0.25-1.0 µm/px, its training 0.78-1.21).
HE_PATTERN_MAX_PIXEL_UM = QUALITY_THRESHOLDS["max_he_pixel_size_um"]

#: NodeResult fields that :func:`measure_node` takes as they are (what the image was).
CONTEXT_FIELDS = ("image", "shape", "nucleus_count", "tissue_area_mm2", "stain_reason",
                  "stain_vectors_source", "flags", "parameters", "overview",
                  "overview_pixel_size_um", "tumour_map", "pixel_size_source", "input_sha256",
                  "run_parameters", "review", "quality", "not_assessable_reason", "nuclei",
                  "nucleus_centres_um", "outlines")


@dataclass(frozen=True, eq=False)
class TumourCells:
    """The tumour cells among an image's nuclei.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per tumour cell: ``cell_id`` (1..K), then the nucleus columns
        (``nucleus_id``, ``y_um``, ``x_um``, ``radius_um``, ...) and, in H&E,
        ``tumor_probability``.
    probability : (N,) ndarray or None
        Tumour probability of every nucleus (H&E), None in IHC.
    parameters : dict
        What the classification recorded (e.g. the lymphocyte reference).
    """

    cells: pd.DataFrame
    probability: np.ndarray | None = field(default=None, repr=False)
    parameters: dict = field(default_factory=dict)


def _confident(nuclei, is_tumor, prob, *, seed, seed_cells, options):
    """Hysteresis on tumour probability: a deposit of candidate cells counts only
    when at least ``seed_cells`` of its cells are confident calls (p >= ``seed``).
    A small group of look-alikes (sinus histiocytes, one endothelial cell the map
    reads as carcinoma) is dropped; a real deposit keeps its less typical cells."""
    if not is_tumor.any():
        return is_tumor
    ids = assign_deposits(nuclei[is_tumor], rule=options.rule, link_um=options.link_um,
                          contact_um=options.contact_um)
    confident = np.bincount(ids, weights=prob[is_tumor] >= seed, minlength=ids.max() + 1)
    keep = np.zeros(len(nuclei), bool)
    keep[np.flatnonzero(is_tumor)] = confident[ids] >= seed_cells
    return keep


def _ihc_cells(nuclei, options):
    """Cytokeratin-positive cells, with hysteresis: a weaker candidate (its ring at
    ``dab_hysteresis`` x the threshold and the contrast, and 1.1 x the lymphocytes'
    size unless stained all round) counts when a clearly positive cell lies within
    ``IHC_NEIGHBOUR_UM``: a lobular file keeps its weakly stained and small
    cells, while faint brown on a lone histiocyte counts for nothing, and weak cells
    never chain into a deposit of their own across a diffusely brown field. Then pale
    nuclei inside a nest join it (:func:`_nest_fill`)."""
    f = options.dab_hysteresis
    strong = classify_ihc(nuclei, dab_threshold=options.dab_threshold, stained_factor=f)
    if f >= 1 or not strong.any() or not {"y_um", "x_um"} <= set(nuclei.columns):
        return strong
    # the weak level, for the hysteresis and the nest fill alike (one DAB background for both)
    level = {"dab_threshold": f * options.dab_threshold, "contrast": f * DAB_CONTRAST, "stained_factor": 1.0}
    level["background"] = dab_background(nuclei, dab_threshold=level["dab_threshold"], contrast=level["contrast"])
    weak = classify_ihc(nuclei, min_size_ratio=DAB_CANDIDATE_SIZE_RATIO, **level) & ~strong
    yx = nuclei[["y_um", "x_um"]].to_numpy(float)
    out = strong.copy()
    if weak.any():
        out[np.flatnonzero(weak)[count_within(yx[weak], yx[strong], radius_um=IHC_NEIGHBOUR_UM) > 0]] = True
    return _nest_fill(nuclei, out, yx, level)


def _nest_fill(nuclei, cells, yx, level):
    """Pale nuclei inside a positive nest: a nucleus paler than ``DAB_PALE_NUCLEUS_RATIO`` x the
    image's lymphocytes (:func:`pipeline.tumor.pale_nuclei`), its ring at the hysteresis
    ``level`` (the :func:`classify_ihc` options of the weak call, its background included),
    counts whatever its size when at least ``IHC_NEST_MIN_CELLS`` tumour cells lie within
    ``IHC_NEIGHBOUR_UM`` and it does not
    touch one of them (centre distance under ``IHC_NEST_MIN_GAP_RATIO`` x the sum of their
    radii: a piece of a split nucleus); repeated until no nucleus is added, so a nest fills
    from its positive cells inwards. A section cuts most carcinoma nuclei off their equator,
    to a lymphocyte's size, where the size rule asks them for an all-round stain that cells
    packed in a nest seldom show; a lymphocyte wedged in the nest has dense chromatin and stays
    out. Never starts a deposit (it needs tumour cells around)."""
    pale = pale_nuclei(nuclei)
    if not (pale & ~cells).any():
        return cells
    candidate = pale & ~cells & classify_ihc(nuclei, min_size_ratio=0, **level)
    cells = cells.copy()
    radius = nuclei["equivalent_diameter_um"].to_numpy(float) / 2
    while True:
        idx = np.flatnonzero(candidate & ~cells)
        if not len(idx):
            return cells
        idx = idx[count_within(yx[idx], yx[cells], radius_um=IHC_NEIGHBOUR_UM) >= IHC_NEST_MIN_CELLS]
        if not len(idx):
            return cells
        # a piece touching a cell is more likely part of its (split) nucleus than a cell of its
        # own: cells of a nest have cytoplasm between their nuclei
        ids = np.flatnonzero(cells)
        dist, near = cKDTree(yx[ids]).query(yx[idx], k=min(4, len(ids)))
        dist, near = dist.reshape(len(idx), -1), near.reshape(len(idx), -1)
        apart = (dist / (radius[idx, None] + radius[ids[near]])).min(axis=1) >= IHC_NEST_MIN_GAP_RATIO
        candidate[idx[~apart]] = False
        if not apart.any():
            return cells
        cells[idx[apart]] = True


def find_tumour_cells(nuclei, stain, options=None) -> TumourCells:
    """Which nuclei are tumour cells.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.detection.find_nuclei` (``FoundNuclei.nuclei``). Not modified.
    stain : {"he", "ihc"} or ImageStats
        The stain of the image (or the image's statistics, whose ``stain`` is used).
    options : AnalysisOptions, optional
        ``dab_threshold`` and ``dab_hysteresis`` (IHC), ``seed_probability`` and ``seed_cells`` (H&E)
        and the linking rule (the hysteresis of both) are used here.

    Returns
    -------
    TumourCells

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"nucleus_id": [1, 2], "y_um": [0.0, 9.0], "x_um": [0.0, 0.0],
    ...                   "radius_um": [3.0, 5.0], "equivalent_diameter_um": [6.0, 10.0],
    ...                   "counterstain_inside": [0.0, 0.0],
    ...                   "counterstain_ring_median": [0.02, 0.4]})
    >>> find_tumour_cells(t, "ihc").cells["nucleus_id"].tolist()
    [2]
    """
    options = AnalysisOptions.from_kwargs(options)
    stain = getattr(stain, "stain", stain)
    check_choice(stain, STAIN_KINDS, name="stain")
    if not isinstance(nuclei, pd.DataFrame):
        raise TypeError(f"nuclei must be a pandas DataFrame, got {type(nuclei).__name__}")
    recorded, prob = {}, None
    if stain == "ihc":
        is_tumor = _ihc_cells(nuclei, options) if len(nuclei) else np.zeros(0, bool)
    else:
        model = load_he_cell_model(options.model)
        prob = he_tumour_probability(nuclei, model=model)
        cut = model.threshold if options.tumour_threshold is None else options.tumour_threshold
        seed = model.seed_threshold if options.seed_probability is None else options.seed_probability
        seed_cells = model.seed_cells if options.seed_cells is None else options.seed_cells
        nuclei = nuclei.assign(tumor_probability=prob)
        is_tumor = _confident(nuclei, prob >= cut, prob, seed=max(cut, seed), seed_cells=seed_cells,
                              options=options)
        recorded["he_model"] = {"name": model.meta.get("name", "he_cell_model"), "digest": model.digest,
                                "threshold": round(float(cut), 4), "seed_threshold": round(float(max(cut, seed)), 4),
                                "seed_cells": int(seed_cells)}
    cells = nuclei[is_tumor].reset_index(drop=True)
    cells.insert(0, "cell_id", np.arange(1, len(cells) + 1, dtype=np.int64))
    return TumourCells(cells=cells, probability=prob, parameters=recorded)


def _with_probabilities(deposits: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """H&E: each deposit's highest and mean tumour probability over its cells (cells a review
    added have none and are left out; NaN when none of its cells has one)."""
    by_deposit = cells.groupby("deposit_id")["tumor_probability"]
    stats = pd.DataFrame({"max_tumor_probability": by_deposit.max(), "mean_tumor_probability": by_deposit.mean()})
    return deposits.merge(stats, left_on="deposit_id", right_index=True, how="left")


def measure_node(cells, *, pixel_size_um, stain="he", options=None, **context_and_options) -> NodeResult:
    """Group tumour cells into deposits, measure them, read the growth pattern, stage the node.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm); other columns
        are kept. Not modified.
    pixel_size_um : float, keyword-only
        µm per pixel of the image the cells came from.
    stain : {"he", "ihc"}, keyword-only
    options : AnalysisOptions, optional, keyword-only
        The linking rule, the category thresholds and the growth-pattern
        cut-offs are used here.
    **context_and_options
        Option names (``rule="contiguous"``, ``link_um=50``, ...) override
        ``options``; :data:`CONTEXT_FIELDS` (``image``, ``shape``,
        ``nucleus_count``, ``flags``, ``parameters``, ...) are stored in the
        result as given.

    Returns
    -------
    NodeResult

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 0.0], "x_um": [0.0, 300.0], "radius_um": [5.0, 5.0]})
    >>> r = measure_node(cells, pixel_size_um=0.5)
    >>> r.category, r.deposits["cell_count"].tolist()
    ('itc', [1, 1])
    """
    names = set(option_fields())
    unknown = sorted(set(context_and_options) - names - set(CONTEXT_FIELDS))
    if unknown:
        raise TypeError(f"measure_node got unknown keyword(s) {unknown}; it takes the analysis "
                        f"options and {', '.join(CONTEXT_FIELDS)}")
    options = AnalysisOptions.from_kwargs(
        options, **{k: v for k, v in context_and_options.items() if k in names})
    context = {k: v for k, v in context_and_options.items() if k in CONTEXT_FIELDS}
    px = check_pixel_size(pixel_size_um)
    check_choice(stain, STAIN_KINDS, name="stain")
    cells = cells.copy()
    ids, deposits = measure_deposits(cells, rule=options.rule, link_um=options.link_um,
                                     contact_um=options.contact_um)
    cells["deposit_id"] = ids
    if "cell_id" not in cells.columns:
        cells.insert(0, "cell_id", np.arange(1, len(cells) + 1, dtype=np.int64))
    # growth pattern: one tumour-cell contact graph, read per cell, per deposit and per node
    shape = tuple(context.get("shape") or (0, 0))
    window = {}
    if context.get("tissue_area_mm2") and shape[0] and shape[1]:
        window = dict(area_um2=float(context["tissue_area_mm2"]) * 1e6,
                      bbox=(0.0, 0.0, shape[0] * px, shape[1] * px))
    growth = growth_pattern(cells, min_cells=options.min_pattern_cells, cohesive_max=options.cohesive_max,
                            single_file_min=options.single_file_min, **window)
    for col in ("group_size", "degree", "nn_distance_um", "dispersed"):
        cells[col] = growth.cells[col].to_numpy()
    per_deposit = growth.deposits
    if len(deposits):
        deposits = deposits.merge(per_deposit, on="deposit_id", how="left")
    else:
        for col in per_deposit.columns:
            if col != "deposit_id":
                deposits[col] = pd.Series(dtype=per_deposit[col].dtype)
    if "tumor_probability" in cells.columns:
        deposits = _with_probabilities(deposits, cells)
    pattern = growth.summary
    largest = float(deposits["longest_diameter_um"].max()) if len(deposits) else 0.0
    category, reason = node_category(largest, len(cells), itc_max_um=options.itc_max_um,
                                     micro_max_um=options.micro_max_um,
                                     itc_max_cells=options.itc_max_cells)
    # no tumour found: is there enough lymph node to call it negative? (judged again after a review)
    context["flags"] = [f for f in context.get("flags") or [] if f not in (CONFIRM_WITH_IHC, TOO_LITTLE_TISSUE)]
    if not len(cells) and not context.get("not_assessable_reason"):
        flag, negative_reason = negative_call_reason(tissue_area_mm2=context.get("tissue_area_mm2") or 0.0,
                                                     flags=context["flags"], measures=context.get("quality") or {})
        if negative_reason:
            category, reason = NOT_ASSESSABLE, negative_reason
            context["flags"] += [flag] if flag else []
    # the image cannot support a stage, or (H&E) tumour was found at a pixel size its own nuclei
    # refute: whatever was found, no category is claimed, and no growth pattern either (nuclei
    # too coarse or blurred for a contact graph, or read at the wrong scale; the cells stay)
    no_stage = context.get("not_assessable_reason")
    if not no_stage and stain == "he" and len(cells):
        no_stage = he_finding_reason(flags=context["flags"], measures=context.get("quality") or {})
    if no_stage:
        category, reason = NOT_ASSESSABLE, str(no_stage)
        pattern = {**pattern, "growth_pattern": NOT_ASSESSABLE, "pattern_borderline": False}
    elif stain == "he" and px > HE_PATTERN_MAX_PIXEL_UM and len(cells):
        # H&E tumour cells are found at 0.25-1.0 µm/px (the detector's range, trained to
        # ~1.2): coarser, lymphocytes join the cells and single files merge into "cohesive"
        # chains, so the contact graph cannot tell cohesive from discohesive growth
        pattern = {**pattern, "growth_pattern": NOT_ASSESSABLE, "pattern_borderline": False}
    parameters = {**dict(context.pop("parameters", None) or {}), **options.staging()}
    # tumour found in H&E: to be confirmed with cytokeratin (kept in step with the cells after a review)
    if stain == "he" and len(cells) and category != NOT_ASSESSABLE:
        context["flags"].append(CONFIRM_WITH_IHC)
    return NodeResult(
        cells=cells.reset_index(drop=True),
        deposits=deposits,
        pixel_size_um=px,
        stain=stain,
        category=category,
        category_reason=reason,
        pn_category=node_pn_category(category),
        rule=options.rule,
        parameters=parameters,
        growth_pattern=pattern["growth_pattern"],
        discohesion_index=float(pattern["discohesion_index"]),
        pattern_borderline=bool(pattern["pattern_borderline"]),
        pattern={k: v for k, v in pattern.items()
                 if k not in ("growth_pattern", "discohesion_index", "pattern_borderline")},
        options=options,
        **context,
    )
