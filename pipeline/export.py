"""Writing a node's results to files: summary.json, tables, overlay, GeoJSON.

Every file is written to a temporary name in the same folder and renamed into
place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from . import numtext
from .geojson import write_geojson_features
from .overlay import render_overlay
from .results import NodeResult

__all__ = [
    "atomic_write",
    "current_umask",
    "check_writable",
    "deposits_for_csv",
    "cells_for_table",
    "x_before_y",
    "write_table",
    "write_json",
    "write_geojson",
    "write_node_outputs",
    "NODE_FILES",
]

#: Files written for every node, in the order they are written (summary.json last:
#: its presence marks a complete result).
NODE_FILES = ("cells.csv", "deposits.csv", "overlay.png", "summary.json")


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it when the OS tells (Linux ``/proc``).

    Elsewhere it is set and restored under a lock (``os.umask`` has no
    read-only form), so two NodeScope threads never race on it.

    Examples
    --------
    >>> 0 <= current_umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


class atomic_write:
    """Context manager yielding a temporary path that is renamed to ``path`` on success.

    On any failure the temporary file is removed, so ``path`` is either its old
    self or complete. The file gets the permissions an ordinary ``open`` would
    give it (``0o666`` less the umask), not the owner-only ``0o600`` of a
    temporary file, so colleagues sharing a server can read the results. An :class:`OSError` (disk full, permission denied, ...)
    comes out with ``filename`` set to ``path`` (not the temporary name), so
    messages name the file being written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            os.close(fd)
        except OSError as exc:
            raise _naming(exc, self.path) from exc
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                os.chmod(self.tmp, 0o666 & ~current_umask())
                os.replace(self.tmp, self.path)
            except OSError as err:
                self.tmp.unlink(missing_ok=True)
                raise _naming(err, self.path) from err
            return False
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:  # the original error matters more
            pass
        if isinstance(exc, OSError) and exc.errno is not None:
            raise _naming(exc, self.path) from exc
        return False


def _naming(exc: OSError, path: Path) -> OSError:
    """The same OS error (same errno, so the same subclass) with ``filename`` = ``path``."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def check_writable(folder) -> None:
    """Raise :class:`OSError` naming ``folder`` unless a file can be created in it.

    The folder must exist. A real write is attempted (a temporary file, removed
    at once) because permission bits do not tell the whole story (root ignores
    them; read-only mounts and full disks do not show in them).

    Examples
    --------
    >>> import tempfile
    >>> check_writable(tempfile.mkdtemp())
    """
    folder = Path(folder)
    try:
        fd, name = tempfile.mkstemp(prefix=".nodescope-write-test.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise _naming(exc, folder) from exc


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None  # JSON has no NaN
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def write_json(path, data) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def x_before_y(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every x column placed just before its y column (``x_um, y_um``).

    Examples
    --------
    >>> list(x_before_y(pd.DataFrame(columns=["id", "y_um", "x_um", "feret_y0_um", "feret_x0_um"])))
    ['id', 'x_um', 'y_um', 'feret_x0_um', 'feret_y0_um']
    """
    cols = list(table.columns)
    pairs = {c: c.replace("y", "x", 1) for c in cols
             if isinstance(c, str) and c.endswith("_um") and "y" in c and c.replace("y", "x", 1) in cols}
    order = []
    for c in cols:
        if c in pairs.values():
            continue  # an x column: written just before its y
        order.extend([pairs[c], c] if c in pairs else [c])
    return table[order]


def cells_for_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The tumour-cell (or nucleus) table as written to cells.csv / .parquet (x before y)."""
    return x_before_y(cells)


def deposits_for_csv(deposits: pd.DataFrame) -> pd.DataFrame:
    """Deposits as written: x before y, the outline a JSON list of [x_um, y_um] pairs."""
    table = x_before_y(deposits)
    if "outline" in table.columns:
        table = table.assign(outline=[
            json.dumps(np.round(np.asarray(o, float)[:, ::-1], 2).tolist()) if len(o) else "[]"
            for o in table["outline"]  # one JSON text per deposit (few per node)
        ])
    return table


_CSV_CHUNK = 16384


def _csv_chunks(table: pd.DataFrame):
    """The text of ``table.to_csv(index=False, float_format="%.4f", lineterminator="\\n")``, chunk by
    chunk, written by :func:`pipeline.numtext.rows` (every number of a chunk at once: about 5 x
    faster than ``%`` per value, 20 x faster than pandas); None when a column is not a plain
    NumPy number or bool."""
    dtypes = [table[c].dtype for c in table.columns]
    if not dtypes or not all(isinstance(d, np.dtype) and d.kind in "iufb" for d in dtypes):
        return None
    header = table.iloc[:0].to_csv(index=False, lineterminator="\n")  # pandas' header, quoting and all
    columns = [table[c].to_numpy() for c in table.columns]
    # a chunk's float columns stacked, so that they are written by one call
    floats = [j for j, d in enumerate(dtypes) if d.kind == "f"]
    row_of = {j: k for k, j in enumerate(floats)}

    def chunks():
        yield header
        for start in range(0, len(table), _CSV_CHUNK):
            stop = start + _CSV_CHUNK
            # a missing value is an empty field, as pandas writes it
            written = numtext.fixed(np.stack([columns[j][start:stop] for j in floats]), 4, nan="") \
                if floats else None
            pieces = []
            for j, column in enumerate(columns):
                kind = dtypes[j].kind
                pieces += ([","] if j else []) + [
                    written.take(row_of[j]) if kind == "f" else
                    numtext.integers(column[start:stop]) if kind in "iu" else numtext.texts(column[start:stop])]
            yield numtext.rows(*pieces, "\n").decode("utf-8")

    return chunks()


def write_table(path, table: pd.DataFrame) -> None:
    """Write a table as CSV or Parquet (by suffix), atomically; floats to 4 decimals in CSV.

    The CSV text is what ``table.to_csv(index=False, float_format="%.4f")`` writes, made in
    bulk for tables of numbers (a whole slide's nuclei).
    """
    path = Path(path)
    with atomic_write(path) as tmp:
        if path.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
            return
        chunks = _csv_chunks(table)
        if chunks is None:
            table.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")
            return
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for text in chunks:
                fh.write(text)


def write_geojson(path, result: NodeResult, *, nuclei=None) -> None:
    """QuPath-importable GeoJSON: deposits as annotations, cells as detections.

    Coordinates are full-resolution pixels (x, y), as QuPath expects;
    measurement names and classes are QuPath's (:mod:`pipeline.geojson`,
    docs/outputs.md). Cells are drawn with their segmented nucleus outlines
    (``result.outlines``; a 12-gon of the nucleus' area for a cell without
    one). The text is streamed in chunks.

    Parameters
    ----------
    path : path-like
    result : NodeResult
    nuclei : pandas.DataFrame, optional, keyword-only
        Every segmented nucleus with a boolean ``is_tumour`` column (and its
        ``tumor_probability`` in H&E): exported instead of the tumour cells,
        the tumour cells as "Tumor", the others as "Other".
    """
    cells, tumour = result.cells, True
    if nuclei is not None:
        cells, tumour = nuclei, nuclei["is_tumour"].to_numpy(bool)
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        write_geojson_features(fh, deposits=result.deposits, cells=cells,
                               pixel_size_um=result.pixel_size_um, tumour=tumour,
                               outlines=result.outlines)


def write_node_outputs(out_dir, result: NodeResult, image=None, *, cells_format="csv", geojson=False) -> Path:
    """Write one node's outputs into ``out_dir`` (created if needed).

    Files: ``cells.csv`` (or ``.parquet``), ``deposits.csv``, ``overlay.png``,
    ``nuclei.csv`` when the result holds every nucleus (``all_nuclei``),
    optionally ``objects.geojson``, and ``summary.json`` last (docs/outputs.md).

    Parameters
    ----------
    out_dir : path-like
    result : NodeResult
    image : (M, N, 3) uint8 ndarray, optional
        The picture to draw the overlay on: the analysed image, or any
        downsampled copy of it (its scale follows from its shape). Default: the
        result's ``overview``; no overlay when there is neither.
    cells_format : {"csv", "parquet"}, keyword-only
    geojson : bool, keyword-only

    Returns
    -------
    pathlib.Path
        The folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    picture, picture_um = _overlay_source(result, image)
    with ThreadPoolExecutor(max_workers=1) as pool:
        encoding = None
        if picture is not None:
            # drawn here (many short OpenCV calls); PNG-encoded and written in the
            # background (one long call that releases the GIL) beside the text outputs
            overlay = render_overlay(picture, result, image_pixel_size_um=picture_um)
            encoding = pool.submit(_write_png, out / "overlay.png", overlay)
        write_table(out / f"cells.{cells_format}", cells_for_table(result.cells))
        write_table(out / "deposits.csv", deposits_for_csv(result.deposits))
        if result.nuclei is not None:
            write_table(out / "nuclei.csv", cells_for_table(result.nuclei))
        if geojson:
            write_geojson(out / "objects.geojson", result, nuclei=result.nuclei)
        if encoding is not None:
            encoding.result()
    write_json(out / "summary.json", result.summary())
    return out


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: could not encode the overlay")
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buf)  # the encoded array itself: no bytes copy of it


def _overlay_source(result: NodeResult, image):
    """The picture to draw on and its µm per pixel."""
    if image is None:
        if result.overview is None:
            return None, None
        return result.overview, result.overview_pixel_size_um
    image = np.asarray(image)
    if image is result.overview:
        return image, result.overview_pixel_size_um
    rows = result.shape[0] if result.shape and result.shape[0] else image.shape[0]
    return image, result.pixel_size_um * rows / image.shape[0]
