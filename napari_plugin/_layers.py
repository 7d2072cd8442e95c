"""Conversions from a :class:`~pipeline.results.NodeResult` to napari layer data and panel text.

Pure functions (numpy / pandas in, numpy / pandas / dicts out): no viewer and no
Qt, so they are tested on their own. Result layers hold coordinates in µm with
``scale`` (1, 1); they sit on an image layer whose ``scale`` is its pixel size,
so both meet in napari's world coordinates (µm). A pixel (r, c) of the
analysed image is at (r * px, c * px) µm in the library and in napari alike.
What a review is (the edited cells, the exclusion regions, the review record)
is defined by :mod:`pipeline.review`.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from pipeline.review import NEW_CELL_ID, median_radius_um

__all__ = [
    "CELLS_LAYER",
    "DEPOSITS_LAYER",
    "CALIPER_LAYER",
    "EXCLUDE_LAYER",
    "TUMOUR_MAP_LAYER",
    "RESULT_LAYERS",
    "POINT_FEATURES",
    "deposit_colours",
    "cells_layer",
    "deposits_layer",
    "caliper_layer",
    "exclude_layer",
    "tumour_map_layer",
    "result_layers",
    "NOT_ASSESSABLE",
    "category_text",
    "result_line",
    "summary_text",
    "deposit_rows",
    "deposit_view",
]

CELLS_LAYER = "Tumour cells"
DEPOSITS_LAYER = "Deposits"
CALIPER_LAYER = "Largest deposit caliper"
EXCLUDE_LAYER = "Exclude regions"
TUMOUR_MAP_LAYER = "Tumour probability"
#: The layers drawn over the tumour-probability map.
RESULT_LAYERS = (CELLS_LAYER, DEPOSITS_LAYER, CALIPER_LAYER, EXCLUDE_LAYER)

#: Per-point features of the tumour-cell layer.
POINT_FEATURES = ("cell_id", "deposit_id", "group_size", "degree", "dispersed", "radius_um")

_UM = ("µm", "µm")

#: The category of a node the analysis could not stage (pN ``pNX``); a plain string here.
NOT_ASSESSABLE = "not_assessable"
#: Panel text colour of the categories shown apart (the others keep the panel's text colour).
_CATEGORY_COLOURS = {NOT_ASSESSABLE: "#9e9e9e"}
#: Quality flags (pipeline.quality.QUALITY_FLAGS, docs/quality.md) read in amber.
_FLAG_COLOUR = "#e0a000"

# Qualitative palette (Glasbey-like, readable on H&E pink and on IHC brown).
_PALETTE = np.array([
    (0.00, 0.75, 1.00), (1.00, 0.85, 0.00), (0.20, 0.90, 0.20), (1.00, 0.25, 0.85),
    (1.00, 0.55, 0.00), (0.55, 0.35, 1.00), (0.00, 1.00, 0.75), (1.00, 0.35, 0.35),
    (0.70, 1.00, 0.30), (0.30, 0.55, 1.00), (1.00, 0.70, 0.75), (0.60, 0.90, 1.00),
])
_UNASSIGNED = (1.0, 1.0, 1.0)  # a point added by the reviewer, not measured yet
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


def _point_features(cells: pd.DataFrame) -> pd.DataFrame:
    n = len(cells)

    def col(name, dtype, fill):
        if name in cells:
            return cells[name].to_numpy().astype(dtype)
        return np.full(n, fill, dtype=dtype)

    return pd.DataFrame({
        "cell_id": col("cell_id", np.int64, NEW_CELL_ID),
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
        feature_defaults={"cell_id": NEW_CELL_ID, "deposit_id": 0, "group_size": 0, "degree": 0,
                          "dispersed": False, "radius_um": radius},
        size=(2 * features["radius_um"].fillna(radius)).to_numpy() if len(cells) else 2 * radius,
        face_color=_with_alpha(deposit_colours(features["deposit_id"]), _FACE_ALPHA)
        if len(cells) else "white",
        border_color=deposit_colours(features["deposit_id"]) if len(cells) else "white",
        border_width=0.15,
        border_width_is_relative=True,
        metadata={"new_point_size": 2 * radius, "new_cell_id": NEW_CELL_ID},
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
    offset = [0.0, 0.0]
    if len(deposits):
        dep = deposits.iloc[int(np.argmax(deposits["longest_diameter_um"].to_numpy()))]
        line = np.array([[dep["feret_y0_um"], dep["feret_x0_um"]],
                         [dep["feret_y1_um"], dep["feret_x1_um"]]], dtype=float)
        lines.append(line)
        labels.append(_mm(dep["longest_diameter_um"]))
        # the label beside the line, not on it: shifted across it by a tenth of its length
        d = line[1] - line[0]
        norm = float(np.hypot(*d))
        if norm > 0:
            offset = list(np.array([-d[1], d[0]]) / norm * max(10.0, 0.1 * norm))
    kwargs = _base_kwargs(CALIPER_LAYER, translate)
    kwargs.update(
        shape_type="line",
        features=pd.DataFrame({"label": pd.Series(labels, dtype=object)}),
        edge_color="yellow",
        edge_width=3.0,
        text={"string": "{label}", "color": "yellow", "size": 11, "anchor": "center",
              "translation": offset},
        opacity=1.0,
    )
    return (lines, kwargs, "shapes")


def exclude_layer(*, translate=(0.0, 0.0)):
    """Empty Shapes layer-data tuple for the reviewer's exclusion polygons."""
    kwargs = _base_kwargs(EXCLUDE_LAYER, translate)
    kwargs.update(edge_color="magenta", face_color=[1.0, 0.0, 1.0, 0.15], edge_width=3.0)
    return ([], kwargs, "shapes")


def tumour_map_layer(result, *, translate=(0.0, 0.0)):
    """Image layer-data tuple of an H&E result's tumour-probability map; None without a map.

    The map (:attr:`pipeline.results.NodeResult.tumour_map`, one value every
    ``pixel_size_um`` µm) is drawn with that ``scale`` and translated by the
    map's ``origin_um``, so a grid point sits on the µm point it describes:
    grid point (i, j) is at ``translate + origin_um + (i, j) * pixel_size_um``
    in napari's world coordinates, like the image pixel there. Colour map
    ``inferno`` over a fixed 0-1 range, added to the image at 45 % opacity (a
    low probability adds almost nothing).

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.heatmap import TumourMap
    >>> class R: tumour_map = TumourMap(np.zeros((3, 4), np.float32), 8.0, (4.0, 2.0))
    >>> data, kwargs, kind = tumour_map_layer(R, translate=(100.0, 0.0))
    >>> kind, data.shape, kwargs["scale"], kwargs["translate"], kwargs["contrast_limits"]
    ('image', (3, 4), (8.0, 8.0), (104.0, 2.0), (0.0, 1.0))
    """
    tmap = getattr(result, "tumour_map", None)
    if tmap is None:
        return None
    probability = np.asarray(tmap.probability, dtype=np.float32)
    if probability.ndim != 2:
        raise ValueError(f"tumour_map.probability must be a 2-D grid, got shape {probability.shape}")
    step = float(tmap.pixel_size_um)
    origin = np.asarray(tmap.origin_um, float).reshape(2)
    kwargs = _base_kwargs(TUMOUR_MAP_LAYER, np.asarray(translate, float)[-2:] + origin)
    kwargs.update(
        scale=(step, step),
        colormap="inferno",
        contrast_limits=(0.0, 1.0),
        opacity=0.45,
        blending="additive",
        interpolation2d="linear",
        metadata={"pixel_size_um": step, "origin_um": tuple(float(v) for v in origin)},
    )
    return (probability, kwargs, "image")


def result_layers(result, *, translate=(0.0, 0.0)):
    """Layer-data tuples of a result: cells, deposits and the caliper line."""
    return [cells_layer(result, translate=translate), deposits_layer(result, translate=translate),
            caliper_layer(result, translate=translate)]


def category_text(result) -> str:
    """The category in words: ``not assessable: <reason>`` for a node that could not be staged.

    Examples
    --------
    >>> class R: category, category_reason = "not_assessable", "no tissue"
    >>> category_text(R)
    'not assessable: no tissue'
    >>> R.category = "itc"; category_text(R)
    'itc'
    """
    if result.category == NOT_ASSESSABLE:
        return f"not assessable: {result.category_reason}"
    return str(result.category)


def result_line(result) -> str:
    """The category in words, the tumour cells and deposits: one status line."""
    cells, deposits = len(result.cells), len(result.deposits)
    return (f"{category_text(result)} ({cells} tumour cell{'' if cells == 1 else 's'}, "
            f"{deposits} deposit{'' if deposits == 1 else 's'})")


def _number_mm(um) -> str:
    try:
        value = float(um)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(value) else _mm(value)


def summary_text(result) -> str:
    """The results panel text (HTML, values escaped) of a result.

    A ``not_assessable`` node reads *not assessable: reason* in grey; quality
    flags (``pixel_size_suspect``, ``confirm_with_ihc``, ...) are listed in amber.

    Examples
    --------
    >>> import pandas as pd
    >>> from pipeline.stages import measure_node
    >>> r = measure_node(pd.DataFrame({"y_um": [0.0], "x_um": [0.0], "radius_um": [5.0]}),
    ...                  pixel_size_um=0.5)
    >>> "<b>Category:</b> itc" in summary_text(r), "&lt;" in summary_text(r)
    (True, True)
    """
    s = result.summary()
    e = html.escape

    def row(name, value):
        return f"<b>{name}:</b> {value}"

    category = s["category"]
    if category == NOT_ASSESSABLE:
        shown = e(category_text(result))
    else:
        shown = f"{e(str(category))} <i>({e(str(s['category_reason']))})</i>"
    colour = _CATEGORY_COLOURS.get(category)
    if colour:
        shown = f'<span style="color: {colour};">{shown}</span>'
    cells = s.get("largest_deposit_cells")
    lines = [
        row("Category", shown),
        row("pN", e(str(s["pn_category"]))),
        row("Largest deposit", f"{_number_mm(s['largest_deposit_um'])} "
                               f"({'n/a' if cells is None else cells} cells)"),
        row("Growth pattern", f"{e(str(s.get('growth_pattern', 'n/a')))} "
                              f"(discohesion index {float(s.get('discohesion_index') or 0.0):.2f})"),
        row("Tumour cells", f"{s['tumor_cell_count']} in {s['deposit_count']} deposit(s)"),
        row("Stain", f"{e(str(s['stain']))} <i>({e(s['stain_reason'] or 'n/a')})</i>, "
                     f"{s['pixel_size_um']:g} µm/pixel, rule {e(str(s['rule']))}"),
    ]
    flags = [str(f) for f in (s.get("flags") or [])]
    if flags:  # what the summary, summary.csv and the report say too (docs/quality.md)
        lines.append(row("Flags", f'<span style="color: {_FLAG_COLOUR};">{e(", ".join(flags))}</span>'))
    review = s.get("review")
    if review:
        lines.append(row(
            "Reviewed",
            f"+{review['cells_added']} / −{review['cells_removed']} cells, "
            f"{review['excluded_regions']} excluded region(s), deposits "
            f"{review['deposits_before']} → {review['deposits_after']}"))
    return "<br>".join(lines)


def deposit_rows(result) -> list[tuple]:
    """Rows (deposit id, cells, longest diameter mm, growth pattern, highest tumour probability
    of its cells rounded to 0.001, or "" without one: cytokeratin), largest first."""
    deposits = result.deposits
    if not len(deposits):
        return []
    order = np.argsort(-deposits["longest_diameter_um"].to_numpy(), kind="stable")
    rows = []
    for i in order:
        dep = deposits.iloc[int(i)]
        pattern = dep["growth_pattern"] if "growth_pattern" in deposits else ""
        p = float(dep["max_tumor_probability"]) if "max_tumor_probability" in deposits else float("nan")
        rows.append((int(dep["deposit_id"]), int(dep["cell_count"]),
                     round(float(dep["longest_diameter_um"]) / 1000, 3),
                     "" if pattern is None or (isinstance(pattern, float) and np.isnan(pattern))
                     else str(pattern), round(p, 3) if np.isfinite(p) else ""))
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
