"""Reviewing an analysis: a person's edits of the tumour cells, re-measured without re-segmenting.

A :class:`Review` holds an analysed :class:`~pipeline.results.NodeResult` and
what a reviewer changed: the tumour cells kept, moved or added (points in µm
with their cell ids), the cells and deposits deleted, and exclusion regions
(polygons in µm drawn around benign inclusions). :meth:`Review.remeasure`
re-stages the edited cells with :func:`pipeline.stages.measure_node` and the
analysed result's options (the linking rule and distances may be changed),
keeps everything the analysis found about the image (name, shape, nuclei,
tissue area, stain evidence, flags, parameters, overview, ...) and records what
changed in ``result.review`` (:func:`review_record`, keys :data:`REVIEW_FIELDS`).
:meth:`Review.labels` turns the edits into training labels (cells the reviewer
added are tumour, cells they deleted or excluded are not), the table that the
napari Export writes as ``review_labels.csv`` and :func:`pipeline.labels.read_labels`
reads back; :meth:`Review.training_labels` gives them as a
:class:`pipeline.labels.Labels` for :func:`pipeline.training.labelled_features`.

The geometry of the exclusion regions (:func:`~pipeline.regions.shape_polygon`,
:func:`~pipeline.regions.in_regions`) is in :mod:`pipeline.regions`, re-exported
here. The model knows nothing of Qt or napari: the napari plugin draws
:attr:`Review.result` and hands the points and shapes the reviewer left back
to :meth:`Review.set_cells` and :meth:`Review.set_regions`; a script can do
the same.

Coordinates are µm in the frame of the analysed image, as in
``NodeResult.cells``: the pixel (r, c) is at (r * px, c * px).

Examples
--------
>>> import pandas as pd
>>> from pipeline.stages import measure_node
>>> cells = pd.DataFrame({"y_um": [0.0, 10.0, 500.0], "x_um": [0.0, 0.0, 0.0],
...                       "radius_um": [5.0, 5.0, 5.0]})
>>> analysed = measure_node(cells, pixel_size_um=0.5, image="node.tif")
>>> review = Review(analysed)
>>> review.delete_cells([3])
1
>>> review.add_cells([[0.0, 20.0]]).tolist()
[4]
>>> review.add_region([[5, -10], [5, 10], [15, 10], [15, -10]])  # around cell 2
>>> result = review.remeasure(link_um=50)
>>> result.cells["cell_id"].tolist(), result.image, result.parameters["link_um"]
([1, 4], 'node.tif', 50.0)
>>> result.review
{'reviewed': True, 'cells_added': 1, 'cells_removed': 2, 'cells_excluded': 1, 'deposits_before': 2, 'deposits_after': 1, 'excluded_regions': 1}
>>> len(analysed.cells)  # the analysed result is never modified
3
>>> review.labels().values.tolist()  # added: tumour; deleted or excluded: other
[['node.tif', 20.0, 0.0, 'tumour'], ['node.tif', 0.0, 10.0, 'other'], ['node.tif', 0.0, 500.0, 'other']]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .options import AnalysisOptions
from .regions import SHAPE_TYPES, in_regions, points_array, shape_polygon
from .results import NodeResult
from .stages import CONTEXT_FIELDS, measure_node

__all__ = [
    "Review",
    "REVIEW_FIELDS",
    "LABEL_COLUMNS",
    "SHAPE_TYPES",
    "NEW_CELL_ID",
    "cells_from_points",
    "median_radius_um",
    "shape_polygon",
    "in_regions",
    "review_record",
]

#: The keys of a review record (``NodeResult.review``), in order, with their meaning.
REVIEW_FIELDS = {
    "reviewed": "always True: a person edited the tumour cells",
    "cells_added": "cells in the re-measured result that the analysis did not find",
    "cells_removed": "analysed cells not in the re-measured result (deleted or excluded)",
    "cells_excluded": "cells dropped because they lie in an exclusion region",
    "deposits_before": "deposits of the analysed result",
    "deposits_after": "deposits of the re-measured result",
    "excluded_regions": "exclusion regions (polygons, rectangles, ellipses) applied",
}

#: Columns of :meth:`Review.labels` (those of a ``review_labels.csv``).
LABEL_COLUMNS = ("image", "x_um", "y_um", "label")

#: ``cell_id`` of a point the reviewer added (any id <= 0 marks an added point).
NEW_CELL_ID = -1

#: Columns :func:`pipeline.stages.measure_node` recomputes; dropped from an edited cell table.
_DERIVED_COLUMNS = ("deposit_id", "group_size", "degree", "nn_distance_um", "dispersed",
                    "group_id")
_CELL_KEYS = ("cell_id", "y_um", "x_um", "radius_um")
#: The options :func:`measure_node` uses (those a re-measure may change).
_STAGING_OPTIONS = tuple(AnalysisOptions().staging())


def median_radius_um(cells: pd.DataFrame, default: float = 5.0) -> float:
    """Median ``radius_um`` of a cell table (``default`` when there is none).

    Examples
    --------
    >>> import pandas as pd
    >>> median_radius_um(pd.DataFrame({"radius_um": [4.0, 6.0, 7.0]}))
    6.0
    >>> median_radius_um(pd.DataFrame())
    5.0
    """
    if len(cells) == 0 or "radius_um" not in cells:
        return float(default)
    value = float(np.nanmedian(cells["radius_um"].to_numpy(dtype=float)))
    return value if np.isfinite(value) and value > 0 else float(default)


def cells_from_points(points_yx, features: pd.DataFrame, original_cells: pd.DataFrame, *,
                      radius_um=None) -> pd.DataFrame:
    """The tumour-cell table a reviewer left as points.

    Parameters
    ----------
    points_yx : (N, 2) array_like
        Point centres (y, x), µm.
    features : pandas.DataFrame
        One row per point: ``cell_id`` (<= 0 marks a point the reviewer added)
        and optionally ``radius_um``. Not modified.
    original_cells : pandas.DataFrame
        The known cells (those of the analysed result); their nuclear features,
        and their radius where ``features`` has none, are carried over for
        points that are still there. Not modified.
    radius_um : float, optional, keyword-only
        Radius of added cells, µm (default: median of ``original_cells``).

    Returns
    -------
    pandas.DataFrame
        ``cell_id``, ``y_um``, ``x_um``, ``radius_um`` and the original nuclear
        feature columns (NaN for added cells). Added cells (and a repeated id
        after its first point) get new ids after the largest known one. Deposit
        and pattern columns are left out: :func:`pipeline.stages.measure_node`
        recomputes them.

    Raises
    ------
    ValueError
        When ``points_yx`` is not (N, 2) or ``features`` has not N rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> orig = pd.DataFrame({"cell_id": [1, 2], "y_um": [0.0, 5.0], "x_um": [0.0, 5.0],
    ...                      "radius_um": [4.0, 6.0], "area_um2": [50.0, 113.0]})
    >>> feats = pd.DataFrame({"cell_id": [2, -1], "radius_um": [6.0, np.nan]})
    >>> cells_from_points([[5.0, 5.0], [9.0, 9.0]], feats, orig)
       cell_id  y_um  x_um  radius_um  area_um2
    0        2   5.0   5.0        6.0     113.0
    1        3   9.0   9.0        5.0       NaN
    """
    yx = points_array(points_yx, "points_yx")
    n = len(yx)
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    if len(features) != n:
        raise ValueError(f"features has {len(features)} rows for {n} points; give one row per point")
    default_r = float(radius_um) if radius_um is not None else median_radius_um(original_cells)
    ids = (features["cell_id"].to_numpy(dtype=float) if "cell_id" in features
           else np.full(n, NEW_CELL_ID, float))
    ids = np.where(np.isfinite(ids), ids, NEW_CELL_ID).astype(np.int64)
    has_ids = "cell_id" in original_cells and len(original_cells) > 0
    lookup = (original_cells.drop_duplicates("cell_id").set_index("cell_id") if has_ids
              else pd.DataFrame(index=pd.Index([], dtype=np.int64, name="cell_id")))
    known = lookup.index.to_numpy(dtype=np.int64)
    is_new = (ids <= 0) | ~np.isin(ids, known)
    # a repeated id (a copied point) is a new cell after its first occurrence
    _, first = np.unique(ids, return_index=True)
    repeated = np.ones(n, bool)
    repeated[first] = False
    is_new |= repeated
    top = int(max([0, *known.tolist(), *ids[~is_new].tolist()]))
    ids = ids.copy()
    ids[is_new] = np.arange(top + 1, top + 1 + int(is_new.sum()), dtype=np.int64)
    radius = (features["radius_um"].to_numpy(dtype=float) if "radius_um" in features
              else np.full(n, np.nan))
    usable = np.isfinite(radius) & (radius > 0)
    if "radius_um" in lookup and (~usable & ~is_new).any():
        known_r = lookup["radius_um"].reindex(ids).to_numpy(dtype=float)
        take = ~usable & ~is_new & np.isfinite(known_r) & (known_r > 0)
        radius = np.where(take, known_r, radius)
        usable |= take
    radius = np.where(usable, radius, default_r)
    table = pd.DataFrame({"cell_id": ids, "y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": radius})
    extra = [c for c in original_cells.columns if c not in (*_CELL_KEYS, *_DERIVED_COLUMNS)]
    if extra and has_ids:
        table = table.join(lookup[extra], on="cell_id")
    else:
        for c in extra:
            table[c] = pd.Series(np.nan, index=table.index, dtype=float)
    return table


def review_record(original: NodeResult, reviewed_cells: pd.DataFrame, remeasured: NodeResult, *,
                  excluded_regions: int = 0, cells_excluded: int = 0) -> dict:
    """The ``NodeResult.review`` record: what a reviewer changed relative to ``original``.

    Parameters
    ----------
    original : NodeResult
        The analysed result.
    reviewed_cells : pandas.DataFrame
        The cells that were re-measured (``cell_id``).
    remeasured : NodeResult
        The result of re-measuring them.
    excluded_regions, cells_excluded : int, keyword-only
        Exclusion regions applied and the cells they dropped.

    Returns
    -------
    dict
        The keys of :data:`REVIEW_FIELDS`, in order; ``cells_added`` /
        ``cells_removed`` compare cell ids with those of ``original``.

    Examples
    --------
    >>> import pandas as pd
    >>> from pipeline.stages import measure_node
    >>> before = measure_node(pd.DataFrame({"y_um": [0.0, 300.0], "x_um": [0.0, 0.0],
    ...                                     "radius_um": [5.0, 5.0]}), pixel_size_um=0.5)
    >>> kept = before.cells[["cell_id", "y_um", "x_um", "radius_um"]].iloc[:1]
    >>> after = measure_node(kept, pixel_size_um=0.5)
    >>> review_record(before, kept, after)["cells_removed"]
    1
    """
    before = set(original.cells["cell_id"].astype(int)) if len(original.cells) else set()
    after = set(reviewed_cells["cell_id"].astype(int)) if len(reviewed_cells) else set()
    return {
        "reviewed": True,
        "cells_added": len(after - before),
        "cells_removed": len(before - after),
        "cells_excluded": int(cells_excluded),
        "deposits_before": len(original.deposits),
        "deposits_after": len(remeasured.deposits),
        "excluded_regions": int(excluded_regions),
    }


class Review:
    """A reviewer's edits of an analysed node and their re-measured result.

    Parameters
    ----------
    analysed : NodeResult
        The result of the analysis (never modified). Its cells need
        ``cell_id``, ``y_um``, ``x_um`` and ``radius_um``.

    Attributes
    ----------
    analysed : NodeResult
        The reference of the review.
    result : NodeResult
        The result to show: ``analysed`` until the first :meth:`remeasure`,
        then the last re-measured one.
    cells : pandas.DataFrame
        The edited cells (a copy): ``cell_id``, ``y_um``, ``x_um``,
        ``radius_um`` and the nuclear features, including cells an exclusion
        region drops (they come back when the region is removed).
    regions : tuple of (K, 2) ndarray
        The exclusion polygons, µm.
    record : dict or None
        ``result.review``: None before the first :meth:`remeasure`.

    Raises
    ------
    TypeError
        When ``analysed`` is not a NodeResult.
    ValueError
        When its cells lack a needed column.

    Notes
    -----
    Cell ids of added cells are never reused within a review, so an added cell
    keeps its id over several re-measures.
    """

    def __init__(self, analysed: NodeResult):
        if not isinstance(analysed, NodeResult):
            raise TypeError(f"analysed must be a NodeResult, got {type(analysed).__name__}")
        cells = analysed.cells
        missing = [c for c in _CELL_KEYS if c not in cells.columns]
        if missing and len(cells):
            raise ValueError(f"analysed.cells lacks column(s) {missing}; review a result made "
                             "by pipeline.analysis.analyze or pipeline.stages.measure_node")
        if missing:  # an empty table without columns
            cells = pd.DataFrame({"cell_id": pd.Series(dtype=np.int64),
                                  **{k: pd.Series(dtype=float) for k in _CELL_KEYS[1:]}})
        self._analysed = analysed
        self._result = analysed
        self._original = cells[list(_CELL_KEYS[:3])].copy()  # where the analysis put its cells
        cells = cells.drop(columns=[c for c in _DERIVED_COLUMNS if c in cells])
        self._cells = cells.reset_index(drop=True)
        self._known = self._cells  # every cell seen: the analysed ones, then those added
        self._hidden = self._cells.iloc[:0]  # dropped by a region at the last re-measure
        self._regions: tuple[np.ndarray, ...] = ()

    # -------------------------------------------------------------- state

    @property
    def analysed(self) -> NodeResult:
        return self._analysed

    @property
    def result(self) -> NodeResult:
        return self._result

    @property
    def cells(self) -> pd.DataFrame:
        return self._cells.copy()

    @property
    def regions(self) -> tuple[np.ndarray, ...]:
        return tuple(p.copy() for p in self._regions)

    @property
    def record(self) -> dict | None:
        return None if self._result.review is None else dict(self._result.review)

    def __repr__(self) -> str:
        return (f"Review({len(self._cells)} cells, {len(self._regions)} region(s), "
                f"{'re-measured' if self._result is not self._analysed else 'not re-measured'})")

    def _adopt(self, cells: pd.DataFrame) -> None:
        """Make ``cells`` the edited cells; remember the ids of added ones."""
        new = ~cells["cell_id"].isin(self._known["cell_id"])
        if new.any():
            self._known = pd.concat([self._known, cells[new]], ignore_index=True)
        self._cells = cells.reset_index(drop=True)

    def _inside(self, yx: np.ndarray) -> np.ndarray:
        """``yx`` if every point lies on the analysed image, else a ValueError saying which."""
        rows, cols = (tuple(self._analysed.shape) + (0, 0))[:2]
        if not (rows and cols) or not len(yx):
            return yx
        px = self._analysed.pixel_size_um
        extent = np.array([rows * px, cols * px])
        outside = ((yx < 0) | (yx > extent)).any(axis=1)
        if outside.any():
            y, x = yx[np.argmax(outside)]
            raise ValueError(f"{int(outside.sum())} point(s) lie outside the image, e.g. "
                             f"(y, x) = ({y:g}, {x:g}) µm; the image spans 0..{extent[0]:g} µm "
                             f"(y) by 0..{extent[1]:g} µm (x): remove them")
        return yx

    def _features(self, cell_ids, radius_um, n: int) -> pd.DataFrame:
        ids = np.full(n, NEW_CELL_ID, np.int64) if cell_ids is None else np.asarray(cell_ids)
        radius = np.full(n, np.nan) if radius_um is None else np.asarray(radius_um, dtype=float)
        ids = ids.reshape(-1)
        if radius.ndim == 0:
            radius = np.full(n, float(radius))
        for name, values in (("cell_ids", ids), ("radius_um", radius)):
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} points; give one per point")
        return pd.DataFrame({"cell_id": ids, "radius_um": radius})

    # -------------------------------------------------------------- edits

    def set_cells(self, points_yx, cell_ids=None, *, radius_um=None) -> None:
        """Replace the cells by those a reviewer left: points with their cell ids.

        Parameters
        ----------
        points_yx : (N, 2) array_like
            Cell centres (y, x), µm: the cells of :attr:`result` as the reviewer
            left them (moved, deleted, added), on the image. Not modified.
        cell_ids : (N,) array_like of int, optional
            Each point's ``cell_id``; <= 0 (or an unknown id) marks an added
            cell, which gets a new id. Default: all added.
        radius_um : float or (N,) array_like, optional, keyword-only
            Nuclear radii, µm; NaN or missing: a known cell keeps its radius,
            an added one gets the median radius of the analysed cells.

        Raises
        ------
        ValueError
            For points that are not (N, 2), lie outside the analysed image, or
            ``cell_ids`` / ``radius_um`` of another length.

        Notes
        -----
        Cells that an exclusion region dropped at the last :meth:`remeasure`
        are not in :attr:`result`, so they are not among the points: they stay
        in the review (excluded while their region stays).
        """
        yx = self._inside(points_array(points_yx, "points_yx"))
        features = self._features(cell_ids, radius_um, len(yx))
        shown = cells_from_points(yx, features, self._known,
                                  radius_um=median_radius_um(self._analysed.cells))
        hidden = self._hidden[~self._hidden["cell_id"].isin(shown["cell_id"])]
        self._adopt(pd.concat([shown, hidden], ignore_index=True) if len(hidden) else shown)

    def add_cells(self, points_yx, *, radius_um=None) -> np.ndarray:
        """Add cells the analysis missed; returns their new cell ids.

        Parameters
        ----------
        points_yx : (N, 2) array_like
            Cell centres (y, x), µm, on the image.
        radius_um : float or (N,) array_like, optional, keyword-only
            Default: the median radius of the analysed cells.

        Raises
        ------
        ValueError
            For points that are not (N, 2) or lie outside the analysed image.
        """
        yx = self._inside(points_array(points_yx, "points_yx"))
        added = cells_from_points(yx, self._features(None, radius_um, len(yx)), self._known,
                                  radius_um=median_radius_um(self._analysed.cells))
        self._adopt(pd.concat([self._cells, added], ignore_index=True))
        return added["cell_id"].to_numpy(dtype=np.int64)

    def delete_cells(self, cell_ids) -> int:
        """Delete cells by id; returns how many of them were in the review."""
        drop = self._cells["cell_id"].isin(np.asarray(cell_ids, dtype=np.int64).reshape(-1))
        self._cells = self._cells[~drop].reset_index(drop=True)
        return int(drop.sum())

    def delete_deposit(self, deposit_id: int) -> np.ndarray:
        """Delete the cells of one deposit of :attr:`result`; returns their cell ids.

        Raises
        ------
        KeyError
            When :attr:`result` has no deposit ``deposit_id``.
        """
        deposits, cells = self._result.deposits, self._result.cells
        if not (len(deposits) and (deposits["deposit_id"] == int(deposit_id)).any()):
            ids = deposits["deposit_id"].astype(int).tolist() if len(deposits) else []
            raise KeyError(f"no deposit {deposit_id} in the result; its deposits are {ids}")
        members = cells.loc[cells["deposit_id"] == int(deposit_id), "cell_id"].to_numpy(np.int64)
        members = members[np.isin(members, self._cells["cell_id"].to_numpy(np.int64))]
        self.delete_cells(members)
        return members

    def set_regions(self, shapes, shape_types=None) -> None:
        """Replace the exclusion regions.

        Parameters
        ----------
        shapes : sequence of (V, 2) array_like
            Vertices (y, x) of each region, µm (an ellipse: its bounding box's
            4 corners). Not modified.
        shape_types : sequence of str, optional
            One of :data:`SHAPE_TYPES` per shape (default: all ``"polygon"``);
            lines and paths enclose nothing and are ignored.
        """
        shapes = list(shapes)
        kinds = ["polygon"] * len(shapes) if shape_types is None else list(shape_types)
        if len(kinds) != len(shapes):
            raise ValueError(f"shape_types has {len(kinds)} entries for {len(shapes)} shapes")
        polygons = (shape_polygon(v, k) for v, k in zip(shapes, kinds))
        self._regions = tuple(p for p in polygons if p is not None)

    def add_region(self, vertices, shape_type: str = "polygon") -> None:
        """Add one exclusion region (see :meth:`set_regions`)."""
        polygon = shape_polygon(vertices, shape_type)
        if polygon is not None:
            self._regions = (*self._regions, polygon)

    def clear_regions(self) -> None:
        """Remove every exclusion region."""
        self._regions = ()

    # -------------------------------------------------------------- labels

    def labels(self, *, image=None) -> pd.DataFrame:
        """The edits as training labels: added cells are tumour, removed ones are not.

        A cell the reviewer added (and did not put in an exclusion region) is
        labelled ``"tumour"`` at its point; a cell of the analysis that is no
        longer among the edited cells (deleted on its own or with its deposit)
        or lies in an exclusion region is labelled ``"other"`` at the position
        the analysis gave it. Cells kept (or only moved) give no label. The
        edits are those last handed to the review (:meth:`set_cells`,
        :meth:`add_cells`, :meth:`delete_cells`, :meth:`delete_deposit`,
        :meth:`set_regions`, ...), re-measured or not.

        Parameters
        ----------
        image : str, optional, keyword-only
            The ``image`` column (default: the analysed result's ``image``,
            ``""`` when it has none).

        Returns
        -------
        pandas.DataFrame
            :data:`LABEL_COLUMNS`: ``image``, ``x_um``, ``y_um`` (µm, the image's
            frame) and ``label`` (``"tumour"`` or ``"other"``); tumour labels
            first. Written as ``review_labels.csv`` it is read back by
            :func:`pipeline.labels.read_labels`.
        """
        name = image if image is not None else (self._analysed.image or "")
        cells = self._cells
        excluded = in_regions(cells[["y_um", "x_um"]].to_numpy(dtype=float), self._regions)
        kept = cells.loc[~excluded, "cell_id"].to_numpy(dtype=np.int64)
        original = self._original
        was = original["cell_id"].to_numpy(dtype=np.int64)
        added = cells[~excluded & ~cells["cell_id"].isin(was).to_numpy()]
        removed = original[~np.isin(was, kept)]
        table = pd.DataFrame({
            "image": pd.Series([str(name)] * (len(added) + len(removed)), dtype=object),
            "x_um": np.concatenate([added["x_um"].to_numpy(float), removed["x_um"].to_numpy(float)]),
            "y_um": np.concatenate([added["y_um"].to_numpy(float), removed["y_um"].to_numpy(float)]),
            "label": pd.Series(["tumour"] * len(added) + ["other"] * len(removed), dtype=object),
        })
        return table

    def training_labels(self, *, image=None):
        """:meth:`labels` as a :class:`pipeline.labels.Labels` (points, ``tumour`` bool).

        For :func:`pipeline.training.labelled_features`: each point labels the
        nucleus nearest to it.

        Examples
        --------
        >>> import pandas as pd
        >>> from pipeline.stages import measure_node
        >>> cells = pd.DataFrame({"y_um": [5.0, 50.0], "x_um": [5.0, 5.0], "radius_um": [4.0, 4.0]})
        >>> review = Review(measure_node(cells, pixel_size_um=0.5, image="a.tif", shape=(200, 200)))
        >>> _ = review.delete_cells([2]), review.add_cells([[80.0, 20.0]])
        >>> lab = review.training_labels()
        >>> lab.image, lab.counts, lab.points.values.tolist()
        ('a.tif', {'tumour': 1, 'other': 1}, [[80.0, 20.0, True], [50.0, 5.0, False]])
        """
        from .labels import Labels

        table = self.labels(image=image)
        name = str(table["image"].iloc[0]) if len(table) else (
            image if image is not None else (self._analysed.image or ""))
        points = pd.DataFrame({"y_um": table["y_um"].to_numpy(float),
                               "x_um": table["x_um"].to_numpy(float),
                               "tumour": (table["label"] == "tumour").to_numpy(bool)})
        return Labels(source=f"{name or 'image'} (review)", points=points, image=name or None)

    # ---------------------------------------------------------- re-measure

    def options(self) -> AnalysisOptions:
        """The options of the analysed result (rebuilt from its parameters when it has none)."""
        base = self._analysed
        if isinstance(base.options, AnalysisOptions):
            return base.options
        recorded = {k: base.parameters[k] for k in _STAGING_OPTIONS if k in base.parameters}
        recorded.setdefault("rule", base.rule)
        return AnalysisOptions(**recorded)

    def remeasure(self, **option_overrides) -> NodeResult:
        """Re-stage the edited cells (no re-segmentation) and record the review.

        Cells inside an exclusion region are dropped; the rest are grouped,
        measured and staged by :func:`pipeline.stages.measure_node` with the
        analysed result's options and context (image, shape, nuclei, tissue
        area, stain, flags, parameters, overview, pixel-size source, ...).

        Parameters
        ----------
        **option_overrides
            Options of the grouping and staging to change (``rule``,
            ``link_um``, ``contact_um``, ``itc_max_um``, ``micro_max_um``,
            ``itc_max_cells``, ``min_pattern_cells``, ``cohesive_max``,
            ``single_file_min``); None keeps the analysed value.

        Returns
        -------
        NodeResult
            With ``review`` set (:func:`review_record`); also :attr:`result`.

        Raises
        ------
        TypeError
            For an option that re-measuring cannot change (e.g. ``stain``:
            that needs a new analysis).
        ValueError
            For a bad option value.
        """
        unknown = sorted(set(option_overrides) - set(_STAGING_OPTIONS))
        if unknown:
            raise TypeError(f"remeasure cannot change {unknown} (that needs a new analysis); "
                            f"it takes {', '.join(_STAGING_OPTIONS)}")
        changes = {k: v for k, v in option_overrides.items() if v is not None}
        options = self.options().replace(**changes) if changes else self.options()
        cells = self._cells
        excluded = in_regions(cells[["y_um", "x_um"]].to_numpy(dtype=float), self._regions)
        kept = cells[~excluded].reset_index(drop=True)
        base = self._analysed
        context = {k: getattr(base, k) for k in CONTEXT_FIELDS if k != "review"}
        result = measure_node(kept, pixel_size_um=base.pixel_size_um, stain=base.stain,
                              options=options, **context)
        record = review_record(base, kept, result, excluded_regions=len(self._regions),
                               cells_excluded=int(excluded.sum()))
        self._result = result.replace(review=record)
        self._hidden = cells[excluded].reset_index(drop=True)
        return self._result
