"""Conversions between a :class:`~pipeline.results.NodeResult` and napari layer data.

Pure functions (numpy / pandas in, numpy / pandas / dicts out): no viewer and no
Qt, so they are tested on their own. Result layers hold coordinates in µm with
``scale`` (1, 1); they sit on an image layer whose ``scale`` is its pixel size,
so both meet in napari's world coordinates (µm). A pixel (r, c) of the
analysed image is at (r * px, c * px) µm in the library and in napari alike.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

__all__ = [
    "CELLS_LAYER",
    "DEPOSITS_LAYER",
    "CALIPER_LAYER",
    "EXCLUDE_LAYER",
    "POINT_FEATURES",
    "deposit_colours",
    "median_radius_um",
    "cells_layer",
    "deposits_layer",
    "caliper_layer",
    "exclude_layer",
    "result_layers",
    "cells_from_points",
    "shape_polygon",
    "in_regions",
    "review_record",
    "summary_text",
    "deposit_rows",
    "deposit_view",
]

CELLS_LAYER = "Tumour cells"
DEPOSITS_LAYER = "Deposits"
CALIPER_LAYER = "Largest deposit caliper"
EXCLUDE_LAYER = "Exclude regions"

#: Per-point features of the tumour-cell layer.
POINT_FEATURES = ("cell_id", "deposit_id", "group_size", "degree", "dispersed", "radius_um")

#: Columns the deposit pipeline recomputes; dropped from an edited cell table.
_DERIVED_COLUMNS = ("deposit_id", "group_size", "degree", "nn_distance_um", "dispersed",
                    "group_id")

_UM = ("µm", "µm")

# Qualitative palette (Glasbey-like, readable on H&E pink and on IHC brown).
_PALETTE = np.array([
    (0.00, 0.75, 1.00), (1.00, 0.85, 0.00), (0.20, 0.90, 0.20), (1.00, 0.25, 0.85),
    (1.00, 0.55, 0.00), (0.55, 0.35, 1.00), (0.00, 1.00, 0.75), (1.00, 0.35, 0.35),
    (0.70, 1.00, 0.30), (0.30, 0.55, 1.00), (1.00, 0.70, 0.75), (0.60, 0.90, 1.00),
])
_UNASSIGNED = (1.0, 1.0, 1.0)  # a point added by the reviewer, not measured yet
_NEW_CELL_ID = -1
# Points are drawn as rings with a tinted centre, so the nucleus stays visible for review.
_FACE_ALPHA = 0.3


def deposit_colours(deposit_ids) -> np.ndarray:
    """(N, 4) RGBA colours for deposit ids: a fixed colour per id, white for id <= 0.

    Examples
    --------
    >>> deposit_colours([1, 0]).round(2).tolist()
    [[0.0, 0.75, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    ids = np.asarray(deposit_ids, dtype=np.int64).reshape(-1)
    rgb = np.where(
        (ids > 0)[:, None], _PALETTE[(np.maximum(ids, 1) - 1) % len(_PALETTE)], _UNASSIGNED
    )
    return np.concatenate([rgb, np.ones((len(ids), 1))], axis=1)


def _with_alpha(colours: np.ndarray, alpha: float) -> np.ndarray:
    out = np.array(colours, dtype=float, copy=True)
    out[:, 3] = alpha
    return out


def median_radius_um(cells: pd.DataFrame, default: float = 5.0) -> float:
    """Median ``radius_um`` of a cell table (``default`` when the table is empty)."""
    if len(cells) == 0 or "radius_um" not in cells:
        return float(default)
    value = float(np.nanmedian(cells["radius_um"].to_numpy(dtype=float)))
    return value if np.isfinite(value) and value > 0 else float(default)


def _point_features(cells: pd.DataFrame) -> pd.DataFrame:
    n = len(cells)

    def col(name, dtype, fill):
        if name in cells:
            return cells[name].to_numpy().astype(dtype)
        return np.full(n, fill, dtype=dtype)

    return pd.DataFrame({
        "cell_id": col("cell_id", np.int64, _NEW_CELL_ID),
        "deposit_id": col("deposit_id", np.int64, 0),
        "group_size": col("group_size", np.int64, 0),
        "degree": col("degree", np.int64, 0),
        "dispersed": col("dispersed", bool, False),
        "radius_um": col("radius_um", np.float64, np.nan),
    })


def _base_kwargs(name, translate):
    return {"name": name, "scale": (1.0, 1.0), "translate": tuple(float(t) for t in translate),
            "units": _UM}


def cells_layer(result, *, translate=(0.0, 0.0)):
    """Points layer-data tuple of the tumour cells (µm), coloured by deposit.

    Point size is the nucleus diameter (2 ``radius_um``); the ring and a light
    tint of the face take the deposit's colour, so the nucleus stays visible. Features are
    :data:`POINT_FEATURES`. Points the reviewer adds get ``cell_id`` -1,
    ``deposit_id`` 0 and the median radius (``feature_defaults``).
    """
    cells = result.cells
    yx = cells[["y_um", "x_um"]].to_numpy(dtype=float).reshape(-1, 2) if len(cells) else np.zeros((0, 2))
    features = _point_features(cells)
    radius = median_radius_um(cells)
    kwargs = _base_kwargs(CELLS_LAYER, translate)
    kwargs.update(
        features=features,
        feature_defaults={"cell_id": _NEW_CELL_ID, "deposit_id": 0, "group_size": 0, "degree": 0,
                          "dispersed": False, "radius_um": radius},
        size=(2 * features["radius_um"].fillna(radius)).to_numpy() if len(cells) else 2 * radius,
        face_color=_with_alpha(deposit_colours(features["deposit_id"]), _FACE_ALPHA)
        if len(cells) else "white",
        border_color=deposit_colours(features["deposit_id"]) if len(cells) else "white",
        border_width=0.15,
        border_width_is_relative=True,
        metadata={"new_point_size": 2 * radius, "new_cell_id": _NEW_CELL_ID},
    )
    return (yx, kwargs, "points")


def _mm(um: float) -> str:
    return f"{um / 1000:.3f} mm"


def deposits_layer(result, *, translate=(0.0, 0.0)):
    """Shapes layer-data tuple: one polygon per deposit (its ``outline``), labelled.

    The label reads ``#id  diameter mm · n cells``.
    """
    deposits = result.deposits
    polygons, ids, labels, counts, diam = [], [], [], [], []
    for _, dep in deposits.iterrows():
        outline = np.asarray(dep["outline"], float).reshape(-1, 2)
        if len(outline) < 3:
            continue
        polygons.append(outline)
        ids.append(int(dep["deposit_id"]))
        counts.append(int(dep["cell_count"]))
        diam.append(float(dep["longest_diameter_um"]) / 1000)
        labels.append(f"#{ids[-1]}  {_mm(dep['longest_diameter_um'])} · {counts[-1]} cells")
    features = pd.DataFrame({
        "deposit_id": np.asarray(ids, dtype=np.int64),
        "cell_count": np.asarray(counts, dtype=np.int64),
        "longest_diameter_mm": np.asarray(diam, dtype=float),
        "label": pd.Series(labels, dtype=object),
    })
    colours = deposit_colours(ids)
    kwargs = _base_kwargs(DEPOSITS_LAYER, translate)
    kwargs.update(
        shape_type="polygon",
        features=features,
        edge_color=colours if len(ids) else "cyan",
        face_color=np.concatenate([colours[:, :3], np.full((len(ids), 1), 0.12)], axis=1)
        if len(ids) else "transparent",
        edge_width=2.0,
        text={"string": "{label}", "color": "white", "size": 10, "anchor": "upper_left"},
        opacity=1.0,
    )
    return (polygons, kwargs, "shapes")


def caliper_layer(result, *, translate=(0.0, 0.0)):
    """Shapes layer-data tuple: the longest-diameter line of the largest deposit."""
    deposits = result.deposits
    lines, labels = [], []
    if len(deposits):
        dep = deposits.iloc[int(np.argmax(deposits["longest_diameter_um"].to_numpy()))]
        lines.append(np.array([[dep["feret_y0_um"], dep["feret_x0_um"]],
                               [dep["feret_y1_um"], dep["feret_x1_um"]]], dtype=float))
        labels.append(_mm(dep["longest_diameter_um"]))
    kwargs = _base_kwargs(CALIPER_LAYER, translate)
    kwargs.update(
        shape_type="line",
        features=pd.DataFrame({"label": pd.Series(labels, dtype=object)}),
        edge_color="yellow",
        edge_width=3.0,
        text={"string": "{label}", "color": "yellow", "size": 11, "anchor": "center"},
        opacity=1.0,
    )
    return (lines, kwargs, "shapes")


def exclude_layer(*, translate=(0.0, 0.0)):
    """Empty Shapes layer-data tuple for the reviewer's exclusion polygons."""
    kwargs = _base_kwargs(EXCLUDE_LAYER, translate)
    kwargs.update(edge_color="magenta", face_color=[1.0, 0.0, 1.0, 0.15], edge_width=3.0)
    return ([], kwargs, "shapes")


def result_layers(result, *, translate=(0.0, 0.0)):
    """Layer-data tuples of a result: cells, deposits and the caliper line."""
    return [cells_layer(result, translate=translate), deposits_layer(result, translate=translate),
            caliper_layer(result, translate=translate)]


def cells_from_points(points_yx, features: pd.DataFrame, original_cells: pd.DataFrame, *,
                      radius_um=None) -> pd.DataFrame:
    """The tumour-cell table a reviewer left in the points layer.

    Parameters
    ----------
    points_yx : (N, 2) array
        Point centres, µm (the points layer's data).
    features : pandas.DataFrame
        The points' features (``cell_id``, ``radius_um``; ``cell_id`` <= 0 marks a
        point the reviewer added).
    original_cells : pandas.DataFrame
        The cells of the analysed result; their nuclear features are carried over
        for points that are still there. Not modified.
    radius_um : float, optional
        Radius of added cells (default: median of ``original_cells``).

    Returns
    -------
    pandas.DataFrame
        ``cell_id``, ``y_um``, ``x_um``, ``radius_um`` and the original nuclear
        feature columns (NaN for added cells); added cells get new ids after the
        largest known one. Deposit and pattern columns are left out: they are
        recomputed by :func:`pipeline.analysis.measure_node`.

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
    yx = np.asarray(points_yx, dtype=float).reshape(-1, 2)
    n = len(yx)
    if len(features) != n:
        raise ValueError(f"features has {len(features)} rows for {n} points")
    default_r = float(radius_um) if radius_um is not None else median_radius_um(original_cells)
    ids = (features["cell_id"].to_numpy(dtype=float) if "cell_id" in features
           else np.full(n, _NEW_CELL_ID, float))
    ids = np.where(np.isfinite(ids), ids, _NEW_CELL_ID).astype(np.int64)
    known = set(original_cells["cell_id"].astype(np.int64)) if "cell_id" in original_cells else set()
    is_new = (ids <= 0) | ~np.isin(ids, list(known))
    # a duplicated id (a copied point) counts as a new cell after its first occurrence
    _, first = np.unique(ids, return_index=True)
    dup = np.ones(n, bool)
    dup[first] = False
    is_new |= dup
    top = max([0, *known, *ids[~is_new].tolist()])
    ids = ids.copy()
    ids[is_new] = np.arange(top + 1, top + 1 + int(is_new.sum()), dtype=np.int64)
    radius = (features["radius_um"].to_numpy(dtype=float) if "radius_um" in features
              else np.full(n, np.nan))
    radius = np.where(np.isfinite(radius) & (radius > 0), radius, default_r)
    table = pd.DataFrame({"cell_id": ids, "y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": radius})
    extra = [c for c in original_cells.columns
             if c not in ("cell_id", "y_um", "x_um", "radius_um", *_DERIVED_COLUMNS)]
    if extra and len(original_cells):
        lookup = original_cells.drop_duplicates("cell_id").set_index("cell_id")[extra]
        table = table.join(lookup, on="cell_id")
    else:
        for c in extra:
            table[c] = pd.Series(np.nan, index=table.index, dtype=float)
    return table


def shape_polygon(vertices, shape_type: str) -> np.ndarray | None:
    """Polygon (K, 2) of a napari shape in its data coordinates; None for lines and paths.

    Ellipses (given by the 4 corners of their bounding box) are sampled at 64 points.
    """
    v = np.asarray(vertices, dtype=float)[:, -2:]
    if shape_type in ("polygon", "rectangle"):
        return v if len(v) >= 3 else None
    if shape_type == "ellipse" and len(v) == 4:
        centre = v.mean(0)
        a = (v[1] + v[2]) / 2 - centre
        b = (v[0] + v[1]) / 2 - centre
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)[:, None]
        return centre + np.cos(t) * a + np.sin(t) * b
    return None


def in_regions(points_yx, shapes, shape_types) -> np.ndarray:
    """Boolean mask of the points that fall inside any of the shapes (polygons, ellipses).

    Examples
    --------
    >>> square = np.array([[0, 0], [0, 10], [10, 10], [10, 0]])
    >>> in_regions([[5, 5], [20, 5]], [square], ["polygon"]).tolist()
    [True, False]
    """
    from skimage.measure import points_in_poly

    yx = np.asarray(points_yx, dtype=float).reshape(-1, 2)
    inside = np.zeros(len(yx), bool)
    if not len(yx):
        return inside
    for vertices, kind in zip(shapes, shape_types):
        poly = shape_polygon(vertices, kind)
        if poly is not None:
            inside |= points_in_poly(yx, poly)
    return inside


def review_record(original, reviewed_cells: pd.DataFrame, remeasured, *,
                  excluded_regions: int = 0, cells_excluded: int = 0) -> dict:
    """The ``NodeResult.review`` dict: what the reviewer changed relative to ``original``.

    ``cells_added`` / ``cells_removed`` compare cell ids of the re-measured cells
    with those of the analysed result.
    """
    before = set(original.cells["cell_id"].astype(int)) if len(original.cells) else set()
    after = set(reviewed_cells["cell_id"].astype(int)) if len(reviewed_cells) else set()
    return {
        "reviewed": True,
        "cells_added": len(after - before),
        "cells_removed": len(before - after),
        "cells_excluded": int(cells_excluded),
        "deposits_before": int(len(original.deposits)),
        "deposits_after": int(len(remeasured.deposits)),
        "excluded_regions": int(excluded_regions),
    }


def summary_text(result) -> str:
    """The results panel text (HTML, values escaped) of a result.

    Examples
    --------
    >>> import pandas as pd
    >>> from pipeline.analysis import measure_node
    >>> r = measure_node(pd.DataFrame({"y_um": [0.0], "x_um": [0.0], "radius_um": [5.0]}),
    ...                  pixel_size_um=0.5)
    >>> "<b>Category:</b> itc" in summary_text(r), "&lt;" in summary_text(r)
    (True, True)
    """
    s = result.summary()
    e = html.escape

    def row(name, value):
        return f"<b>{name}:</b> {value}"

    lines = [
        row("Category", f"{e(s['category'])} <i>({e(s['category_reason'])})</i>"),
        row("pN", e(s["pn_category"])),
        row("Largest deposit", f"{_mm(s['largest_deposit_um'])} ({s['largest_deposit_cells']} cells)"),
        row("Growth pattern", f"{e(str(s.get('growth_pattern', 'n/a')))} "
                              f"(discohesion index {float(s.get('discohesion_index', 0.0)):.2f})"),
        row("Tumour cells", f"{s['tumor_cell_count']} in {s['deposit_count']} deposit(s)"),
        row("Stain", f"{e(s['stain'])} <i>({e(s['stain_reason'] or 'n/a')})</i>, "
                     f"{s['pixel_size_um']:g} µm/pixel, rule {e(s['rule'])}"),
    ]
    review = s.get("review")
    if review:
        lines.append(row(
            "Reviewed",
            f"+{review['cells_added']} / −{review['cells_removed']} cells, "
            f"{review['excluded_regions']} excluded region(s), deposits "
            f"{review['deposits_before']} → {review['deposits_after']}"))
    return "<br>".join(lines)


def deposit_rows(result) -> list[tuple]:
    """Rows (deposit id, cells, longest diameter mm, growth pattern), largest first."""
    deposits = result.deposits
    if not len(deposits):
        return []
    order = np.argsort(-deposits["longest_diameter_um"].to_numpy(), kind="stable")
    rows = []
    for i in order:
        dep = deposits.iloc[int(i)]
        pattern = dep["growth_pattern"] if "growth_pattern" in deposits else ""
        rows.append((int(dep["deposit_id"]), int(dep["cell_count"]),
                     round(float(dep["longest_diameter_um"]) / 1000, 3),
                     "" if pattern is None or (isinstance(pattern, float) and np.isnan(pattern))
                     else str(pattern)))
    return rows


def deposit_view(result, deposit_id, canvas_size, *, translate=(0.0, 0.0), margin=1.6):
    """Camera (centre (y, x) in world µm, zoom in screen pixels per µm) framing a deposit.

    Examples
    --------
    >>> import pandas as pd
    >>> dep = pd.DataFrame({"deposit_id": [1], "outline": [np.array([[0, 0], [0, 100], [50, 100]])]})
    >>> class R: deposits = dep
    >>> centre, zoom = deposit_view(R, 1, (800, 800))
    >>> centre, round(zoom, 2)
    ((25.0, 50.0), 5.0)
    """
    deposits = result.deposits
    row = deposits[deposits["deposit_id"] == int(deposit_id)]
    if not len(row):
        raise KeyError(f"no deposit with id {deposit_id}")
    outline = np.asarray(row.iloc[0]["outline"], float).reshape(-1, 2)
    lo, hi = outline.min(0), outline.max(0)
    centre = (lo + hi) / 2 + np.asarray(translate, float)[-2:]
    extent = np.maximum(hi - lo, 20.0) * margin  # at least 20 µm across
    zoom = float(np.min(np.asarray(canvas_size, float)[-2:] / extent))
    return (float(centre[0]), float(centre[1])), zoom
