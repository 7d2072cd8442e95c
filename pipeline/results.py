"""The results model: one immutable dataclass for a node, shared by the CLI, the plugin and exports.

A :class:`NodeResult` is built once, by :func:`pipeline.stages.measure_node`;
later layers never modify it: they derive a new one with
:meth:`NodeResult.replace` (the batch adds the input's hash, the review adds
what the reviewer changed). :data:`SUMMARY_FIELDS` documents every key of
:meth:`NodeResult.summary` (``summary.json``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__

__all__ = ["NodeResult", "CELL_COLUMNS", "SUMMARY_FIELDS"]

#: Columns every tumour-cell table has (µm; deposit_id 0 = not in a deposit).
CELL_COLUMNS = ("cell_id", "y_um", "x_um", "radius_um", "deposit_id")

#: The keys of ``summary.json`` (:meth:`NodeResult.summary`), in order, with their meaning.
SUMMARY_FIELDS = {
    "image": "file name of the analysed image (None for an array)",
    "path": "the image's path relative to the input folder of the batch (POSIX form; "
            "None outside a batch); tells apart images of the same name",
    "input_root": "absolute path of that input folder (batch runs)",
    "pixel_size_um": "µm per pixel of the analysed (base) resolution",
    "stain": "'he' or 'ihc'",
    "stain_reason": "why that stain (measured evidence), or 'given'",
    "rule": "deposit-linking rule",
    "category": "'negative', 'itc', 'micrometastasis', 'macrometastasis' or 'not_assessable' "
                "(the image cannot support a stage; never counted as negative)",
    "category_reason": "the criterion that decided the category, or why the image is not assessable",
    "pn_category": "the pN category this node alone implies ('pNX' when not assessable)",
    "largest_deposit_um": "longest diameter (maximum Feret) of the largest deposit, µm",
    "largest_deposit_cells": "tumour cells of that deposit",
    "deposit_count": "number of deposits",
    "tumor_cell_count": "number of tumour cells",
    "nucleus_count": "nuclei segmented in the tissue",
    "tissue_area_mm2": "tissue area, mm²",
    "image_shape": "[rows, cols] of the analysed image, pixels",
    "flags": "quality flags (pipeline.quality.QUALITY_FLAGS, docs/quality.md), e.g. 'blurry'",
    "quality": "the quality measures behind the flags (focus ratio, tissue fraction, nuclear "
               "density, implied pixel size, ...; docs/quality.md)",
    "version": "NodeScope version",
    "parameters": "the analysis options that shaped the result and the image's measured "
                  "statistics (stain vectors, background, nuclear threshold, ...)",
    "growth_pattern": "'cohesive', 'mixed', 'single_file', 'none' (too few cells) or 'not_assessable' "
                      "(the image cannot support a stage)",
    "discohesion_index": "fraction of tumour cells growing dispersed (0 cohesive .. 1 single file)",
    "pattern_borderline": "true when the discohesion index computed at 0.95-1.05 x the linking distance "
                          "reaches a cut-off of the call or comes within 0.02 of it (growth_pattern is then 'mixed'; "
                          "docs/growth_pattern.md)",
    "pattern": "growth-pattern measures of the node (docs/growth_pattern.md)",
    "pixel_size_source": "where the pixel size came from (file metadata, user, ...)",
    "input_sha256": "SHA-256 of the input file (batch runs)",
    "run_parameters": "the batch's resume key: every option and the given pixel size",
    "review": "what a reviewer changed (only after a review)",
}


@dataclass(frozen=True, eq=False)
class NodeResult:
    """Everything NodeScope found in one lymph-node image.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per tumour cell: ``cell_id``, ``y_um``, ``x_um`` (centre, µm),
        ``radius_um`` (equivalent nuclear radius), ``deposit_id``, the nuclear
        features that classified it and its growth-pattern columns
        (``group_size``, ``degree``, ``nn_distance_um``, ``dispersed``).
    deposits : pandas.DataFrame
        One row per deposit, largest first (see :func:`pipeline.measure.group_deposits`),
        with its growth-pattern measures.
    pixel_size_um : float
        µm per pixel of the analysed image.
    stain : {"he", "ihc"}
    category : str
        ``"negative"``, ``"itc"``, ``"micrometastasis"``, ``"macrometastasis"``, or
        ``"not_assessable"`` when the image cannot support a stage (the reason in
        ``category_reason``; never counted as negative).
    category_reason : str
    pn_category : str
        pN category this node alone implies (pN0, pN0(i+), pN1mi, pN1).
    rule : str
        Deposit-linking rule.
    nucleus_count : int
        All nuclei segmented in the tissue.
    image : str or None
        File name, when the image came from a file.
    shape : tuple of int
        (rows, cols) of the image in pixels.
    stain_reason, stain_vectors_source : str
    tissue_area_mm2 : float
    flags : list of str
        Quality flags (:data:`pipeline.quality.QUALITY_FLAGS`), e.g. ``"blurry"``.
    quality : dict
        The quality measures behind the flags (:func:`pipeline.quality.assess_quality`).
    not_assessable_reason : str or None
        Why the image cannot support a stage whatever is found (then ``category`` is
        ``"not_assessable"``). None too when only a negative call is refused (no tumour
        found in too little tissue, or in no lymph node): ``category_reason`` says so,
        and a review that adds tumour cells stages the node.
    parameters : dict
        The options that shaped the result and the image's measured statistics.
    growth_pattern : str
        ``"cohesive"``, ``"mixed"``, ``"single_file"`` or ``"none"``.
    discohesion_index : float
        Fraction of tumour cells growing dispersed (NaN without tumour cells).
    pattern_borderline : bool
        The index's scale interval (``pattern["discohesion_low"]`` ..
        ``pattern["discohesion_high"]``) contains a cut-off of the call, which is
        then ``"mixed"`` (:func:`pipeline.pattern.pattern_summary`).
    pattern : dict
        The node's other growth-pattern measures (:func:`pipeline.pattern.pattern_summary`).
    overview : (P, Q, 3) uint8 ndarray or None
        A low-resolution picture of the whole image (about 2 µm per pixel), for
        overlays of slides too large to hold whole.
    overview_pixel_size_um : float or None
        µm per pixel of ``overview``.
    tumour_map : pipeline.heatmap.TumourMap or None
        H&E: the tissue-level tumour probability map (one value every ~8 µm)
        that the tumour-cell decision used; None in IHC.
    nuclei : pandas.DataFrame or None
        Every segmented nucleus (``nucleus_id``, ``x_um``, ``y_um``, ...) with
        ``is_tumour`` and, in H&E, ``tumor_probability``; only with
        ``AnalysisOptions(all_nuclei=True)``.
    nucleus_centres_um : (K, 2) float32 ndarray or None
        Centre (y, x) in µm of every segmented nucleus, kept by every analysis (8 bytes
        per nucleus) so that the overlay shows what was looked at, even on a negative.
    outlines : pipeline.outlines.NucleusOutlines or None
        The segmented outlines of the tumour cells' nuclei (of every nucleus with
        ``all_nuclei``), by ``nucleus_id``: the GeoJSON draws the cells with them
        (a 12-gon for a cell without one).
    pixel_size_source : str or None
        Where the pixel size came from (file metadata or the user).
    path : str or None
        The image's path relative to the batch's input folder (POSIX form; set
        by the batch), e.g. ``"patA/node1.tif"``.
    input_root : str or None
        Absolute path of that input folder (set by the batch).
    input_sha256 : str or None
        SHA-256 of the input file's bytes (set by the batch).
    run_parameters : dict or None
        The batch's resume key (set by the batch).
    review : dict or None
        Set when a person edited the cells: counts of added and removed cells and
        deposits.
    options : AnalysisOptions or None
        The options the result was computed with (re-measuring a review uses them).
    version : str
        NodeScope version.
    """

    cells: pd.DataFrame
    deposits: pd.DataFrame
    pixel_size_um: float
    stain: str
    category: str
    category_reason: str
    pn_category: str
    rule: str
    nucleus_count: int = 0
    image: str | None = None
    shape: tuple = (0, 0)
    stain_reason: str = ""
    stain_vectors_source: str = ""
    tissue_area_mm2: float = 0.0
    flags: list = field(default_factory=list)
    quality: dict = field(default_factory=dict)
    not_assessable_reason: str | None = None
    parameters: dict = field(default_factory=dict)
    growth_pattern: str = "none"
    discohesion_index: float = float("nan")
    pattern_borderline: bool = False
    pattern: dict = field(default_factory=dict)
    overview: np.ndarray | None = field(default=None, repr=False)
    overview_pixel_size_um: float | None = None
    tumour_map: Any = field(default=None, repr=False)
    nuclei: pd.DataFrame | None = field(default=None, repr=False)
    nucleus_centres_um: np.ndarray | None = field(default=None, repr=False)
    outlines: Any = field(default=None, repr=False)
    pixel_size_source: str | None = None
    path: str | None = None
    input_root: str | None = None
    input_sha256: str | None = None
    run_parameters: dict | None = None
    review: dict | None = None
    options: Any = field(default=None, repr=False)
    version: str = __version__

    def replace(self, **changes) -> NodeResult:
        """A copy with some fields changed (the result itself is never modified).

        Examples
        --------
        >>> import pandas as pd
        >>> from pipeline.measure import empty_deposits
        >>> r = NodeResult(pd.DataFrame(), empty_deposits(), 0.5, "he", "negative",
        ...                "no tumour cells", "pN0", "camelyon")
        >>> r.replace(image="a.tif").image, r.image
        ('a.tif', None)
        """
        return dataclasses.replace(self, **changes)

    @property
    def largest_deposit_um(self) -> float:
        """Longest diameter of the largest deposit, µm (0.0 when there is none)."""
        if len(self.deposits) == 0:
            return 0.0
        return float(self.deposits["longest_diameter_um"].max())

    @property
    def largest_deposit_cells(self) -> int:
        """Cell count of the deposit with the longest diameter (0 when none)."""
        if len(self.deposits) == 0:
            return 0
        i = int(np.argmax(self.deposits["longest_diameter_um"].to_numpy()))
        return int(self.deposits["cell_count"].iloc[i])

    @property
    def tumor_cell_count(self) -> int:
        return int(len(self.cells))

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary: the keys of :data:`SUMMARY_FIELDS`, in order.

        ``review`` is present only after a review.

        Examples
        --------
        >>> import pandas as pd
        >>> from pipeline.measure import empty_deposits
        >>> r = NodeResult(pd.DataFrame(), empty_deposits(), 0.5, "he", "negative",
        ...                "no tumour cells", "pN0", "camelyon")
        >>> r.summary()["largest_deposit_um"]
        0.0
        """
        out = {
            "image": self.image,
            "path": self.path,
            "input_root": self.input_root,
            "pixel_size_um": float(self.pixel_size_um),
            "stain": self.stain,
            "stain_reason": self.stain_reason,
            "rule": self.rule,
            "category": self.category,
            "category_reason": self.category_reason,
            "pn_category": self.pn_category,
            "largest_deposit_um": self.largest_deposit_um,
            "largest_deposit_cells": self.largest_deposit_cells,
            "deposit_count": int(len(self.deposits)),
            "tumor_cell_count": self.tumor_cell_count,
            "nucleus_count": int(self.nucleus_count),
            "tissue_area_mm2": float(self.tissue_area_mm2),
            "image_shape": [int(v) for v in self.shape],
            "flags": list(self.flags),
            "quality": dict(self.quality),
            "version": self.version,
            "parameters": dict(self.parameters),
            "growth_pattern": self.growth_pattern,
            "discohesion_index": float(self.discohesion_index),
            "pattern_borderline": bool(self.pattern_borderline),
            "pattern": dict(self.pattern),
            "pixel_size_source": self.pixel_size_source,
            "input_sha256": self.input_sha256,
            "run_parameters": None if self.run_parameters is None else dict(self.run_parameters),
        }
        if self.review is not None:
            out["review"] = dict(self.review)
        return out
