"""napari reader: open a slide with its pixel size, so every napari length is in µm.

Pyramidal TIFF / SVS files open lazily as a multiscale layer
(:func:`pipeline.io.open_levels`: only the tiles on screen are decoded). Other
files are read whole with :func:`pipeline.io.read_image`, except very large
single-level TIFFs, which are opened lazily too. Sizes and pixel sizes come
from :func:`pipeline.io.image_info` (header only); every path takes the same
base image of a multi-image TIFF. The reader never raises: a file it cannot
open gives ``None`` so that napari can try another reader.
"""

from __future__ import annotations

import os
from pathlib import Path

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
        from pipeline.io import ImageReadError, is_supported, verify_pixel_data

        p = Path(path)
        if not is_supported(p) or not p.is_file():
            return None
        try:
            verify_pixel_data(p)
        except ImageReadError:
            return None  # empty, corrupt, not an image, or truncated / inflated header
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


def _strided_views(base):
    """A huge level and its strided views down to about ``_MIN_LEVEL_SIDE`` (napari draws those)."""
    import dask.array as da

    base = da.from_zarr(base)
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
    from pipeline.io import ImageFormatError, image_info, open_levels, read_image

    p = Path(path)
    info = image_info(p)
    px = info.pixel_size_um
    levels = None
    if len(info.levels) > 1 or info.shape[0] * info.shape[1] > WHOLE_READ_MAX_PIXELS:
        try:
            levels = list(open_levels(p))  # the files stay open with the layer
        except ImageFormatError:
            levels = None  # PNG / JPEG, or samples that need a conversion: read whole
    if levels is None:
        rgb, _, _ = read_image(p, pixel_size_um=px if px is not None else 1.0)
        data, multiscale = rgb, False
        shapes = [rgb.shape[:2]]
    else:
        if len(levels) == 1:
            levels = _strided_views(levels[0])
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
            "pixel_size_source": info.pixel_size_source if px is not None else None,
            "pixel_size_error": info.file_pixel_size_error,
            "levels": shapes,
        },
    }
    if px is not None:
        kwargs["units"] = _UM
    return (data, kwargs, "image")
