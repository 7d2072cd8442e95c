"""The results model: one dataclass for a node, shared by the CLI, the plugin and exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__

__all__ = ["NodeResult", "CELL_COLUMNS"]

#: Columns every tumour-cell table has (µm; deposit_id 0 = not in a deposit).
CELL_COLUMNS = ("cell_id", "y_um", "x_um", "radius_um", "deposit_id")


@dataclass
class NodeResult:
    """Everything NodeScope found in one lymph-node image.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per tumour cell: ``cell_id``, ``y_um``, ``x_um`` (centre, µm),
        ``radius_um`` (equivalent nuclear radius), ``deposit_id`` and the nuclear
        features that classified it.
    deposits : pandas.DataFrame
        One row per deposit, largest first (see :func:`pipeline.measure.group_deposits`).
    pixel_size_um : float
        µm per pixel of the analysed image.
    stain : {"he", "ihc"}
    category : str
        ``"negative"``, ``"itc"``, ``"micrometastasis"`` or ``"macrometastasis"``.
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
        E.g. ``"no_tissue"``.
    parameters : dict
        The analysis parameters.
    review : dict or None
        Set when a person edited the cells: counts of added and removed cells and
        deposits.
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
    parameters: dict = field(default_factory=dict)
    review: dict | None = None
    extra: dict = field(default_factory=dict)
    version: str = __version__

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
        """JSON-serialisable summary (the keys of ``summary.json``).

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
            "version": self.version,
            "parameters": dict(self.parameters),
        }
        out.update({k: v for k, v in self.extra.items() if k != "overlay_pixel_size_um"})
        if self.review is not None:
            out["review"] = dict(self.review)
        return out
