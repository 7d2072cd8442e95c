"""Ground truth of a synthetic node: the cells table, deposits table and category."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..measure import max_feret_diameter_um
from ..staging import node_category
from .cells import KINDS, CellSet
from .shapes import ellipse_outlines

__all__ = [
    "CELL_COLUMNS",
    "DEPOSIT_COLUMNS",
    "cells_table",
    "deposits_table",
    "growth_pattern",
    "truth_category",
]

#: Columns of :attr:`SyntheticNode.cells`.
CELL_COLUMNS = (
    "cell_id", "y_um", "x_um", "radius_um", "a_um", "b_um", "angle_rad", "kind", "is_tumor",
    "deposit_id", "dispersed",
)

#: Columns of :attr:`SyntheticNode.deposits`.
DEPOSIT_COLUMNS = (
    "deposit_id", "cell_count", "longest_diameter_um", "pattern", "dispersed_fraction",
    "centroid_y_um", "centroid_x_um",
)

# Outline vertices per nucleus when measuring deposit diameters.
_OUTLINE_VERTICES = 16


def growth_pattern(dispersed_fraction: float, tumor_cells: int) -> str:
    """Growth pattern from the fraction of dispersed tumour cells.

    ``"none"`` without tumour cells, ``"cohesive"`` below 0.2, ``"single_file"``
    above 0.8, ``"mixed"`` otherwise.

    Examples
    --------
    >>> growth_pattern(0.1, 50), growth_pattern(0.5, 50), growth_pattern(0.9, 50), growth_pattern(0.0, 0)
    ('cohesive', 'mixed', 'single_file', 'none')
    """
    if tumor_cells == 0:
        return "none"
    if dispersed_fraction < 0.2:
        return "cohesive"
    if dispersed_fraction > 0.8:
        return "single_file"
    return "mixed"


def cells_table(cells: CellSet) -> pd.DataFrame:
    """One row per nucleus; ``cell_id`` is the row number + 1 (the label value)."""
    n = len(cells)
    is_tumor = cells.kind == KINDS.index("tumor")
    return pd.DataFrame(
        {
            "cell_id": np.arange(1, n + 1, dtype=np.int32),
            "y_um": cells.y,
            "x_um": cells.x,
            "radius_um": np.sqrt(cells.a * cells.b),
            "a_um": cells.a,
            "b_um": cells.b,
            "angle_rad": np.mod(cells.angle, np.pi),
            "kind": np.asarray(KINDS, dtype=object)[cells.kind],
            "is_tumor": is_tumor,
            "deposit_id": np.where(is_tumor, cells.deposit, -1).astype(np.int32),
            "dispersed": cells.dispersed & is_tumor,
        },
        columns=list(CELL_COLUMNS),
    )


def deposits_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per-deposit truth from a cells table (tumour rows with ``deposit_id`` >= 1).

    The longest diameter is the maximum Feret diameter of the tumour nuclei,
    each taken as a 16-vertex polygon of its ellipse.
    """
    tumor = cells[cells["deposit_id"] > 0]
    rows = []
    for dep, group in tumor.groupby("deposit_id", sort=True):
        outlines = ellipse_outlines(
            group["y_um"].to_numpy(), group["x_um"].to_numpy(), group["a_um"].to_numpy(),
            group["b_um"].to_numpy(), group["angle_rad"].to_numpy(), n_vertices=_OUTLINE_VERTICES,
        )
        fraction = float(group["dispersed"].mean())
        rows.append(
            {
                "deposit_id": int(dep),
                "cell_count": int(len(group)),
                "longest_diameter_um": float(max_feret_diameter_um(list(outlines))),
                "pattern": growth_pattern(fraction, len(group)),
                "dispersed_fraction": fraction,
                "centroid_y_um": float(group["y_um"].mean()),
                "centroid_x_um": float(group["x_um"].mean()),
            }
        )
    table = pd.DataFrame(rows, columns=list(DEPOSIT_COLUMNS))
    return table.astype({"deposit_id": "int64", "cell_count": "int64", "longest_diameter_um": "float64",
                         "dispersed_fraction": "float64", "centroid_y_um": "float64",
                         "centroid_x_um": "float64"})


def truth_category(deposits: pd.DataFrame, tumor_cells: int) -> tuple[str, str]:
    """AJCC category (and the reason) from the deposits table and tumour-cell count."""
    largest = float(deposits["longest_diameter_um"].max()) if len(deposits) else 0.0
    return node_category(largest, int(tumor_cells))
