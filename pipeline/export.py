"""Writing a node's results to files: summary.json, tables, overlay, GeoJSON.

Every file is written to a temporary name in the same folder and renamed into
place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .overlay import render_overlay
from .results import NodeResult

__all__ = [
    "atomic_write",
    "current_umask",
    "check_writable",
    "deposits_for_csv",
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


def deposits_for_csv(deposits: pd.DataFrame) -> pd.DataFrame:
    """Deposits with the outline as a JSON list of [x_um, y_um] pairs (tables hold scalars)."""
    table = deposits.copy()
    if "outline" in table.columns:
        table["outline"] = [
            json.dumps(np.round(np.asarray(o, float)[:, ::-1], 2).tolist()) if len(o) else "[]"
            for o in table["outline"]
        ]
    return table


def write_table(path, table: pd.DataFrame) -> None:
    """Write a table as CSV or Parquet (by suffix), atomically; floats to 4 decimals in CSV."""
    path = Path(path)
    with atomic_write(path) as tmp:
        if path.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")


def write_geojson(path, result: NodeResult) -> None:
    """QuPath-importable GeoJSON: deposits as annotations, tumour cells as detections.

    Coordinates are full-resolution pixels (x, y), as QuPath expects; features
    are written one by one.
    """
    px = result.pixel_size_um
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        first = True

        def emit(feature):
            nonlocal first
            fh.write(("" if first else ",\n") + json.dumps(_jsonable(feature)))
            first = False

        for _, dep in result.deposits.iterrows():
            ring = (np.asarray(dep["outline"], float)[:, ::-1] / px).round(2).tolist()
            if len(ring) < 3:
                continue
            ring.append(ring[0])
            emit({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "objectType": "annotation",
                    "name": f"Deposit {int(dep['deposit_id'])}",
                    "classification": {"name": "Tumor deposit", "color": [230, 25, 75]},
                    "measurements": {
                        "Cell count": int(dep["cell_count"]),
                        "Longest diameter um": float(dep["longest_diameter_um"]),
                        "Area um^2": float(dep["area_um2"]),
                    },
                },
            })
        theta = np.linspace(0, 2 * np.pi, 13)[:-1]
        for _, cell in result.cells.iterrows():
            r = float(cell["radius_um"]) / px
            cx, cy = float(cell["x_um"]) / px, float(cell["y_um"]) / px
            ring = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], 1).round(2).tolist()
            ring.append(ring[0])
            measurements = {k: float(cell[k]) for k in ("radius_um", "area_um2", "hematoxylin_mean",
                                                        "counterstain_ring", "group_size", "degree")
                            if k in cell.index}
            measurements["Deposit id"] = int(cell.get("deposit_id", 0))
            emit({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "objectType": "detection",
                    "classification": {"name": "Tumor", "color": [200, 0, 0]},
                    "measurements": measurements,
                },
            })
        fh.write("\n]}\n")


def write_node_outputs(out_dir, result: NodeResult, image=None, *, cells_format="csv", geojson=False) -> Path:
    """Write one node's outputs into ``out_dir`` (created if needed).

    Files: ``cells.csv`` (or ``.parquet``), ``deposits.csv``, ``overlay.png``,
    optionally ``objects.geojson``, and ``summary.json`` last.

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
    write_table(out / f"cells.{cells_format}", result.cells)
    write_table(out / "deposits.csv", deposits_for_csv(result.deposits))
    picture, picture_um = _overlay_source(result, image)
    if picture is not None:
        overlay = render_overlay(picture, result, image_pixel_size_um=picture_um)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"{out / 'overlay.png'}: could not encode the overlay")
        with atomic_write(out / "overlay.png") as tmp:
            tmp.write_bytes(buf.tobytes())
    if geojson:
        write_geojson(out / "objects.geojson", result)
    write_json(out / "summary.json", result.summary())
    return out


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
