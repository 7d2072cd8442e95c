"""napari reader: open a slide with its pixel size, so every napari length is in µm.

Pyramidal TIFF / SVS files open lazily as a multiscale layer through tifffile's
zarr store (only the tiles on screen are decoded). Other files are read whole
with :func:`pipeline.io.read_image`, except very large single-level TIFFs, which
are opened lazily too. The reader never raises: a file it cannot open gives
``None`` so that napari can try another reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["get_reader", "read_slide", "layer_data"]

#: Single-level images up to this many pixels are read whole (and converted by
#: :func:`pipeline.io.read_image`); larger ones open lazily.
WHOLE_READ_MAX_PIXELS = 64_000_000

#: A lazily opened single-level image gets coarser views down to about this side.
_MIN_LEVEL_SIDE = 2048

_UM = ("µm", "µm")


def get_reader(path):
    """Return :func:`read_slide` when NodeScope can open ``path``, else None.

    Only the name and the header are looked at (no pixels decoded): unsupported
    names, empty, corrupt or truncated files (strips or tiles missing or
    beyond the end of the file, :func:`pipeline.io.verify_pixel_data`) give
    None. Files whose layout NodeScope refuses (grayscale, float outside [0, 1])
    get a reader that returns None.
    """
    try:
        if isinstance(path, (list, tuple)):
            if len(path) != 1:
                return None
            path = path[0]
        if not isinstance(path, (str, os.PathLike)):
            return None
        from pipeline.io import ImageReadError, is_supported, read_pixel_size, verify_pixel_data

        p = Path(path)
        if not is_supported(p) or not p.is_file():
            return None
        try:
            read_pixel_size(p)
        except ImageReadError:
            return None  # empty, corrupt or not an image
        except ValueError:
            pass  # a declared but unusable calibration (PixelSizeError): open in pixels
        try:
            verify_pixel_data(p)
        except ImageReadError:
            return None  # truncated, or a header declaring more data than the file holds
    except Exception:  # noqa: BLE001 - a reader must never raise
        return None
    return read_slide


def read_slide(path):
    """Read one slide as a list with one napari layer-data tuple, or None on failure."""
    try:
        if isinstance(path, (list, tuple)):
            if len(path) != 1:
                return None
            path = path[0]
        return [layer_data(path)]
    except Exception:  # noqa: BLE001 - a reader must never raise
        return None


def _pixel_size(path) -> tuple[float | None, str | None, str | None]:
    """(pixel size µm or None, its source, why a declared calibration is unusable)."""
    from pipeline.io import PixelSizeError, read_pixel_size

    try:
        value, source = read_pixel_size(path)
    except PixelSizeError as exc:
        return None, None, str(exc)
    return value, source, None


def _is_tiff(path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _lazy_tiff_levels(path):
    """Zarr arrays of the pyramid levels (base first), or None to read the file whole.

    Only 8-bit chunky RGB(A) series are opened lazily; anything needing a
    conversion (16-bit, float, planar, palette) goes through ``read_image``.
    """
    import tifffile
    import zarr

    from pipeline.io import verify_pixel_data

    verify_pixel_data(path)  # a truncated or inflated header must not open as a huge lazy layer
    tf = tifffile.TiffFile(path)
    try:
        series = list(tf.series)
        if not series:
            return None
        if tf.is_svs:
            chosen = series[0]  # baseline; not thumbnail, label or macro
        else:
            def area(s):
                shape = s.levels[0].shape
                return shape[0] * shape[1] if len(shape) >= 2 else 0

            chosen = max(series, key=area)
        base = chosen.levels[0]
        ok = (base.axes == "YXS" and base.shape[2] in (3, 4) and base.dtype == np.uint8)
        n_pixels = base.shape[0] * base.shape[1] if ok else 0
        if not ok or (len(chosen.levels) == 1 and n_pixels <= WHOLE_READ_MAX_PIXELS):
            return None
        index = series.index(chosen)
    finally:
        tf.close()
    store = tifffile.imread(path, aszarr=True, series=index)
    node = zarr.open(store, mode="r")
    if isinstance(node, zarr.Group):
        keys = sorted(node.array_keys(), key=int)
        levels = [node[k] for k in keys]
    else:
        levels = [node]
    levels = [lv for lv in levels if lv.ndim == 3 and lv.shape[-1] in (3, 4)]
    if len(levels) == 1:
        # one huge level: add strided views so napari never draws the whole base
        import dask.array as da

        base = da.from_zarr(levels[0])
        levels, step = [base], 2
        while max(base.shape[:2]) // step >= _MIN_LEVEL_SIDE:
            levels.append(base[::step, ::step])
            step *= 2
    return levels


def _layer_name(p: Path) -> str:
    lower = p.name.lower()
    for suffix in (".ome.tiff", ".ome.tif"):
        if lower.endswith(suffix):
            return p.name[: -len(suffix)]
    return p.stem


def layer_data(path):
    """The napari layer-data tuple for one slide (raises on failure; see :func:`read_slide`).

    Returns
    -------
    tuple
        ``(data, kwargs, "image")``: ``data`` is an (M, N, 3) array, or a list of
        arrays (base first) for a multiscale layer; ``kwargs`` has ``rgb=True``,
        ``scale`` (pixel size in µm, or 1 when the file has none), ``units``
        (µm when calibrated), and ``metadata`` with ``pixel_size_um`` (float or
        None), ``path``, ``pixel_size_source`` and ``pixel_size_error``.
    """
    from pipeline.io import read_image

    p = Path(path)
    px, source, error = _pixel_size(p)
    levels = _lazy_tiff_levels(p) if _is_tiff(p) else None
    if levels is None:
        rgb, _, _ = read_image(p, pixel_size_um=px if px is not None else 1.0)
        data, multiscale = rgb, False
        shapes = [rgb.shape[:2]]
    else:
        data, multiscale = (levels if len(levels) > 1 else levels[0]), len(levels) > 1
        shapes = [tuple(int(s) for s in lv.shape[:2]) for lv in levels]
    scale = (px, px) if px is not None else (1.0, 1.0)
    kwargs = {
        "name": _layer_name(p),
        "rgb": True,
        "multiscale": multiscale,
        "scale": scale,
        "metadata": {
            "pixel_size_um": px,
            "path": str(p),
            "pixel_size_source": source,
            "pixel_size_error": error,
            "levels": shapes,
        },
    }
    if px is not None:
        kwargs["units"] = _UM
    return (data, kwargs, "image")
