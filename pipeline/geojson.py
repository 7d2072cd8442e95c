"""QuPath-native GeoJSON of a node: deposits as annotations, cells as detections.

The text is built in bulk: every coordinate and measurement of a chunk of
cells is computed with NumPy and written as text for the whole chunk at once
(:mod:`pipeline.numtext`), then streamed to the file, so writing takes time
proportional to the number of cells with a small constant (no per-row pandas
access, no recursive conversion).

Cells are drawn with their segmented nucleus outlines
(:class:`pipeline.outlines.NucleusOutlines`, at most 16 vertices each); a cell
without one (added by hand in a review) is a 12-gon of its nucleus' area.

Coordinates are full-resolution pixels (x, y), as QuPath expects;
measurement names follow QuPath's style (``"Area µm^2"``, ``"Max caliper µm"``)
and classifications carry QuPath's default colours.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd

from . import numtext

__all__ = [
    "DEPOSIT_MEASUREMENTS",
    "CELL_MEASUREMENTS",
    "CLASSIFICATIONS",
    "cell_rings_px",
    "cell_polygons_px",
    "write_geojson_features",
]

#: QuPath's default classes used by NodeScope: name and [R, G, B] colour.
CLASSIFICATIONS = {
    "tumour": {"name": "Tumor", "color": [200, 0, 0]},
    "other": {"name": "Other", "color": [255, 200, 0]},
}

#: Deposit (annotation) measurements: deposits-table column -> GeoJSON name.
DEPOSIT_MEASUREMENTS = {
    "area_um2": "Area µm^2",
    "longest_diameter_um": "Max caliper µm",
    "cell_count": "Num tumour cells",
    "tumour_cell_area_um2": "Tumour cell area µm^2",
    "centroid_x_um": "Centroid X µm",
    "centroid_y_um": "Centroid Y µm",
    "discohesion_index": "Discohesion index",
    "fraction_single": "Fraction single cells",
    "fraction_linear": "Fraction linear cells",
    "mean_degree": "Mean contacts",
    "group_count": "Num cell groups",
    "max_tumor_probability": "Max tumour probability",
    "mean_tumor_probability": "Mean tumour probability",
}

#: Cell (detection) measurements: cells-table column -> GeoJSON name.
CELL_MEASUREMENTS = {
    "cell_id": "Cell ID",
    "nucleus_id": "Nucleus ID",
    "x_um": "Centroid X µm",
    "y_um": "Centroid Y µm",
    "area_um2": "Area µm^2",
    "radius_um": "Radius µm",
    "major_axis_um": "Major axis µm",
    "minor_axis_um": "Minor axis µm",
    "eccentricity": "Eccentricity",
    "solidity": "Solidity",
    "hematoxylin_mean": "Hematoxylin OD mean",
    "hematoxylin_std": "Hematoxylin OD std dev",
    "counterstain_inside": "Counterstain OD mean",
    "counterstain_ring": "Counterstain ring OD mean",
    "counterstain_ring_median": "Counterstain ring OD median",
    "tumor_probability": "Tumour probability",
    "deposit_id": "Deposit ID",
    "group_size": "Group size",
    "degree": "Num contacts",
    "nn_distance_um": "Nearest neighbour µm",
    "dispersed": "Dispersed",
}

# Sides of the polygon standing for a nucleus without an outline; its area equals the nucleus area.
_RING_SIDES = 12
_CHUNK = 2048  # cells per piece of text (~1,300 characters each while it is made)


def cell_rings_px(cells: pd.DataFrame, pixel_size_um: float) -> np.ndarray:
    """Closed polygons standing for the nuclei, in full-resolution pixels (x, y).

    Each ring is a regular 12-gon about the cell centre whose area equals the
    nucleus area (``area_um2``; ``pi * radius_um**2`` where that is missing).

    Parameters
    ----------
    cells : pandas.DataFrame
        ``x_um``, ``y_um``, ``radius_um`` and optionally ``area_um2`` (µm, µm²).
    pixel_size_um : float
        µm per pixel of the full-resolution image.

    Returns
    -------
    (N, 13, 2) float ndarray
        Vertices (x, y) in pixels, the last equal to the first.

    Examples
    --------
    >>> cells = pd.DataFrame({"x_um": [10.0], "y_um": [5.0], "radius_um": [2.0]})
    >>> ring = cell_rings_px(cells, 0.5)[0]
    >>> ring.shape, bool((ring[0] == ring[-1]).all())
    ((13, 2), True)
    """
    x = cells["x_um"].to_numpy(float)
    y = cells["y_um"].to_numpy(float)
    r = cells["radius_um"].to_numpy(float)
    area = cells["area_um2"].to_numpy(float) if "area_um2" in cells else np.pi * r**2
    area = np.where(np.isfinite(area) & (area > 0), area, np.pi * r**2)
    n = _RING_SIDES
    rp = np.sqrt(2 * area / (n * math.sin(2 * math.pi / n))) / pixel_size_um
    theta = np.append(np.linspace(0, 2 * np.pi, n, endpoint=False), 0.0)
    xs = x[:, None] / pixel_size_um + rp[:, None] * np.cos(theta)
    ys = y[:, None] / pixel_size_um + rp[:, None] * np.sin(theta)
    return np.stack([xs, ys], axis=-1)


def _measurement_columns(table: pd.DataFrame, names: dict) -> tuple[list, list, list]:
    """The present measurement columns as two stacked groups, integers and floats.

    Returns ``(keys, ints, floats)``: per present column, in ``names``' order, its JSON
    key and where its values are (``("i", k)``: ``ints[k]``, int64; ``("f", k)``:
    ``floats[k]``, float64, non-numbers NaN). Integers and bools are written by
    ``%d`` (bools as 1 / 0), other columns by ``%.6g``.
    """
    keys, ints, floats = [], [], []
    for col in (c for c in names if c in table.columns):
        v = table[col].to_numpy()
        exact = v.dtype.kind in "ib" or (v.dtype.kind == "u" and (not v.size or int(v.max()) < 2**63))
        key = json.dumps(names[col], ensure_ascii=False)
        if exact:
            keys.append((key, "i", len(ints)))
            ints.append(v if v.dtype == np.int64 else v.astype(np.int64))
        else:
            keys.append((key, "f", len(floats)))
            floats.append(pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(float))
    return keys, ints, floats


def _measurement_pieces(keys: list, ints: list, floats: list, start: int, stop: int) -> list:
    """The ``"name":value,...`` pieces of rows ``start:stop`` for :func:`pipeline.numtext.rows`;
    each group written for all its columns by one call (JSON has no NaN: null)."""
    written = {"i": numtext.integers(np.stack([v[start:stop] for v in ints])) if ints else None,
               "f": numtext.general(np.stack([v[start:stop] for v in floats]), nan="null", inf="null")
               if floats else None}
    pieces = []
    for j, (key, kind, row) in enumerate(keys):
        pieces += [("," if j else "") + key + ":", written[kind].take(row)]
    return pieces


def _deposit_features(deposits: pd.DataFrame, pixel_size_um: float):
    """One JSON text per deposit with an outline of >= 3 vertices (few per node)."""
    keys, ints, floats = _measurement_columns(deposits, DEPOSIT_MEASUREMENTS)
    n = len(deposits)
    measurements = (numtext.rows(*_measurement_pieces(keys, ints, floats, 0, n), "\n").decode("utf-8")
                    .split("\n") if keys and n else [""] * n)
    cls = json.dumps(CLASSIFICATIONS["tumour"])
    for i, (dep_id, outline) in enumerate(zip(deposits["deposit_id"], deposits["outline"])):
        ring = np.asarray(outline, float).reshape(-1, 2)
        if len(ring) < 3:
            continue
        ring = np.round(ring[:, ::-1] / pixel_size_um, 2)
        coords = json.dumps(np.vstack([ring, ring[:1]]).tolist())
        yield ('{"type":"Feature","geometry":{"type":"Polygon","coordinates":[' + coords + ']},'
               f'"properties":{{"objectType":"annotation","name":"Deposit {int(dep_id)}",'
               f'"classification":{cls},"measurements":{{{measurements[i]}}}}}}}')


def cell_polygons_px(cells: pd.DataFrame, pixel_size_um: float, *, outlines=None) -> tuple[np.ndarray, np.ndarray]:
    """Closed polygons of the cells in full-resolution pixels (x, y): nucleus outlines where known.

    A cell whose ``nucleus_id`` has an outline in ``outlines`` (the segmented
    nucleus' boundary, :mod:`pipeline.outlines`) is drawn with it, about the
    cell's centre; any other cell (added by hand in a review, or without
    ``outlines``) with the circle-like 12-gon of :func:`cell_rings_px`.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``x_um``, ``y_um``, ``radius_um`` and optionally ``area_um2`` and ``nucleus_id``.
    pixel_size_um : float
        µm per pixel of the full-resolution image.
    outlines : pipeline.outlines.NucleusOutlines, optional, keyword-only

    Returns
    -------
    vertices : (N, V + 1, 2) float ndarray
        Vertices (x, y) in pixels; polygon ``i`` is ``vertices[i, :counts[i] + 1]``,
        its last vertex equal to its first.
    counts : (N,) int ndarray
        Distinct vertices of each polygon (>= 3).

    Examples
    --------
    >>> cells = pd.DataFrame({"x_um": [10.0], "y_um": [5.0], "radius_um": [2.0]})
    >>> vertices, counts = cell_polygons_px(cells, 0.5)
    >>> counts.tolist(), bool((vertices[0, 0] == vertices[0, counts[0]]).all())
    ([12], True)
    """
    n = len(cells)
    circles = cell_rings_px(cells, pixel_size_um)
    v = max(_RING_SIDES, outlines.offsets.shape[1] if outlines is not None else 0)
    vertices = np.zeros((n, v + 1, 2))
    vertices[:, : _RING_SIDES + 1] = circles
    counts = np.full(n, _RING_SIDES, np.int64)
    if outlines is not None and n and "nucleus_id" in cells:
        centres = np.stack([cells["y_um"].to_numpy(float), cells["x_um"].to_numpy(float)], 1) / pixel_size_um
        ids = pd.to_numeric(cells["nucleus_id"], errors="coerce").to_numpy(float)
        rings, k = outlines.polygons_px(ids, centres)
        has = k >= 3
        vertices[has, : rings.shape[1]] = rings[has, :, ::-1]
        counts[has] = k[has]
    rows = np.arange(n)
    vertices[rows, counts] = vertices[rows, 0]
    return vertices, counts


def _cell_chunks(cells: pd.DataFrame, pixel_size_um: float, tumour, outlines=None):
    """The cells' features as text, ``_CHUNK`` cells per string.

    Coordinates and measurements are NumPy arrays for all cells, written one chunk
    at a time by :func:`pipeline.numtext.rows` (the same text as ``%.2f``, ``%.6g``
    and ``%d``), so memory stays bounded for a whole slide's nuclei.
    """
    n = len(cells)
    if n == 0:
        return
    vertices, counts = cell_polygons_px(cells, pixel_size_um, outlines=outlines)
    slots = vertices.shape[1]
    vertices = np.round(vertices, 2)
    if not np.isfinite(vertices[np.arange(slots)[None, :] <= counts[:, None]]).all():
        raise ValueError("cells have non-finite x_um, y_um, radius_um or area_um2; drop those rows first")
    keys, ints, floats = _measurement_columns(cells, CELL_MEASUREMENTS)
    tumour = np.broadcast_to(np.asarray(tumour, bool), (n,))
    classes = (json.dumps(CLASSIFICATIONS["tumour"]), json.dumps(CLASSIFICATIONS["other"]))
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        xs = numtext.fixed(vertices[start:stop, :, 0].T, 2)  # (slots, cells)
        ys = numtext.fixed(vertices[start:stop, :, 1].T, 2)
        pieces = ['{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[']
        for j in range(slots):  # vertex j of every cell, left out past the cell's closing vertex
            has = j <= counts[start:stop]
            pieces += [numtext.constant("[" if j == 0 else ",[", has), xs.take(j).masked(has),
                       numtext.constant(",", has), ys.take(j).masked(has), numtext.constant("]", has)]
        pieces += [']]},"properties":{"objectType":"detection","classification":',
                   numtext.texts(np.where(tumour[start:stop], *classes)), ',"measurements":{']
        pieces += _measurement_pieces(keys, ints, floats, start, stop)
        pieces.append("}}},\n")
        yield numtext.rows(*pieces)[:-2].decode("utf-8")


def write_geojson_features(fh, *, deposits: pd.DataFrame, cells: pd.DataFrame, pixel_size_um: float,
                           tumour=True, outlines=None) -> None:
    """Stream a FeatureCollection of deposits and cells to an open text file.

    Parameters
    ----------
    fh : text file
        Opened for writing (UTF-8).
    deposits : pandas.DataFrame, keyword-only
        Deposits table with ``deposit_id`` and ``outline`` ((K, 2) (y, x) µm).
    cells : pandas.DataFrame, keyword-only
        One row per nucleus to export (``x_um``, ``y_um``, ``radius_um`` µm).
    pixel_size_um : float, keyword-only
        µm per pixel of the full-resolution image.
    tumour : bool or (N,) bool array, keyword-only
        Which cells are tumour cells (class "Tumor"); the others are "Other".
    outlines : pipeline.outlines.NucleusOutlines, optional, keyword-only
        Segmented nucleus outlines by ``nucleus_id``: cells are drawn with them
        (:func:`cell_polygons_px`; a 12-gon of the nucleus' area where none).

    Examples
    --------
    >>> import io
    >>> fh = io.StringIO()
    >>> cells = pd.DataFrame({"x_um": [10.0], "y_um": [5.0], "radius_um": [2.0]})
    >>> deposits = pd.DataFrame({"deposit_id": [], "outline": []})
    >>> write_geojson_features(fh, deposits=deposits, cells=cells, pixel_size_um=0.5)
    >>> json.loads(fh.getvalue())["features"][0]["properties"]["classification"]["name"]
    'Tumor'
    """
    fh.write('{"type": "FeatureCollection", "features": [\n')
    first = True
    parts = _deposit_features(deposits, pixel_size_um) if len(deposits) else ()
    for text in itertools.chain(parts, _cell_chunks(cells, pixel_size_um, tumour, outlines)):
        fh.write(("" if first else ",\n") + text)
        first = False
    fh.write("\n]}\n")
