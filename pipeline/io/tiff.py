"""TIFF, BigTIFF, OME-TIFF, pyramidal TIFF and SVS: the one opener and the one series rule.

Every TIFF-family file NodeScope reads (:func:`pipeline.io.read_image`,
:func:`pipeline.io.image_info`, :func:`pipeline.io.open_levels`,
:class:`pipeline.slide.Slide`, the whole-slide dispatch and the napari reader)
is opened by :func:`open_tiff`, which picks the base image with
:func:`base_series`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tifffile

from .calibration import tiff_calibration
from .errors import ImageFormatError, ImageReadError, one_line
from .source import Source

__all__ = [
    "EXTRA_IMAGE_NAMES",
    "base_series",
    "data_problem",
    "decode_tiff",
    "lazy_levels",
    "open_tiff",
]

#: Series names (lower case) of the extra images slide formats store next to the
#: slide: SVS thumbnail, label and macro images (tifffile's names). They never
#: count as the base image.
EXTRA_IMAGE_NAMES = ("thumbnail", "label", "macro")

# TIFF photometric interpretations that are not RGB and cannot be read as RGB.
_UNSUPPORTED_PHOTOMETRIC = {
    4: "transparency mask",
    5: "CMYK (separated)",
    8: "CIE L*a*b*",
    9: "ICC L*a*b*",
    10: "ITU L*a*b*",
    32803: "colour filter array (raw sensor data)",
    32844: "LogL",
    32845: "LogLuv",
    34892: "linear raw",
}


def _rows_cols(axes: str, shape) -> tuple[int, int] | None:
    if "Y" not in axes or "X" not in axes:
        return None
    return int(shape[axes.index("Y")]), int(shape[axes.index("X")])


def base_series(series_list) -> int:
    """Index of the base image among the series of a TIFF file (the series rule).

    The base image is the series with the most pixels (rows x cols) in its
    first, full-resolution level. Series named Thumbnail, Label or Macro
    (:data:`EXTRA_IMAGE_NAMES`: the extra images of an SVS file) never win
    unless the file holds nothing else. Ties go to the first series; a series
    without rows and columns counts 0 pixels.

    Parameters
    ----------
    series_list : sequence of tifffile.TiffPageSeries
        ``TiffFile.series``, not empty.

    Returns
    -------
    int
        Index into ``series_list``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np, tifffile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "thumb_first.tif"
    ...     with tifffile.TiffWriter(path) as tw:
    ...         tw.write(np.zeros((8, 8, 3), np.uint8), photometric="rgb")    # thumbnail
    ...         tw.write(np.zeros((64, 32, 3), np.uint8), photometric="rgb")  # the slide
    ...     with tifffile.TiffFile(path) as tf:
    ...         base_series(tf.series)
    1
    """

    def pixels(series) -> int:
        level = series.levels[0]
        rows_cols = _rows_cols(level.axes, level.shape)
        return rows_cols[0] * rows_cols[1] if rows_cols else 0

    candidates = [
        i for i, s in enumerate(series_list)
        if (s.name or "").strip().lower() not in EXTRA_IMAGE_NAMES
    ] or list(range(len(series_list)))
    return max(candidates, key=lambda i: pixels(series_list[i]))  # max keeps the first


def _tiff_layout(name, shape, axes, page) -> tuple[str, int]:
    """('rgb', 'planar' or 'palette', samples per pixel) of a series, or ImageFormatError."""
    shape_str = " x ".join(str(s) for s in shape)
    if "Y" not in axes or "X" not in axes:
        raise ImageFormatError(
            f"{name}: no 2-D image found (shape {shape_str}, axes {axes}); "
            "NodeScope needs an RGB brightfield image"
        )
    keep = [(a, s) for a, s in zip(axes, shape) if s != 1 or a in "YX"]
    eff_axes = "".join(a for a, _ in keep)
    eff_shape = [s for _, s in keep]
    height, width = shape[axes.index("Y")], shape[axes.index("X")]
    photometric = int(page.photometric)
    if photometric in _UNSUPPORTED_PHOTOMETRIC:
        raise ImageFormatError(
            f"{name}: {_UNSUPPORTED_PHOTOMETRIC[photometric]} image (TIFF photometric "
            f"{photometric}) is not supported; NodeScope needs an RGB brightfield image"
        )
    if eff_axes == "YX":
        if photometric == 3 and page.colormap is not None:
            return "palette", 1
        raise ImageFormatError(
            f"{name}: grayscale image ({height} x {width}); "
            "NodeScope needs an RGB brightfield image"
        )
    if len(eff_axes) == 3 and "YX" in eff_axes:
        other = eff_axes.replace("YX", "")
        channels = eff_shape[eff_axes.index(other)]
        if other in "SC" and (channels == 3 or (channels == 4 and other == "S")):
            return ("rgb" if eff_axes.endswith(other) else "planar"), int(channels)
        if other in "SC":
            raise ImageFormatError(
                f"{name}: {channels}-channel image (shape {shape_str}, axes {axes}); "
                "NodeScope needs an RGB (3-channel) or RGBA image"
            )
    raise ImageFormatError(
        f"{name}: not a single 2-D RGB image (shape {shape_str}, axes {axes}); "
        "NodeScope needs one RGB brightfield image per file - export one plane as RGB"
    )


def open_tiff(p: Path, handles: list, log: list[str]) -> Source:
    """Open a TIFF-family file and describe its base image (:func:`base_series`); no pixels decoded.

    The TiffFile is appended to ``handles`` (the caller closes it); ``log``
    holds the warnings tifffile logged so far, quoted when the file has no
    image. A layout NodeScope refuses is kept in ``Source.layout_error``.
    Raises ImageReadError (one line, file name first) for a damaged structure.
    """
    name = p.name
    try:
        tf = tifffile.TiffFile(p)
    except Exception as exc:  # noqa: BLE001 - decode boundary (MemoryError: absurd tag counts)
        raise ImageReadError(
            f"{name}: cannot read the TIFF structure ({one_line(exc)}); "
            "the file is corrupt or truncated"
        ) from exc
    handles.append(tf)
    try:
        series_list = list(tf.series)
        if not series_list:
            why = f" ({log[0]})" if log else ""
            raise ImageReadError(
                f"{name}: the TIFF contains no readable image{why}; "
                "the file is corrupt or truncated"
            )
        index = base_series(series_list)
        series = series_list[index]
        base = series.levels[0]
        axes, shape = base.axes, tuple(int(s) for s in base.shape)
        page = base.keyframe
        try:
            (layout, samples), layout_error = _tiff_layout(name, shape, axes, page), None
        except ImageFormatError as exc:
            (layout, samples), layout_error = ("", 0), exc
        height, width = shape[axes.index("Y")], shape[axes.index("X")]
        levels = [rc for rc in (_rows_cols(lv.axes, lv.shape) for lv in series.levels) if rc]
        calibration = tiff_calibration(tf, page, (height, width))
        fmt = "svs" if tf.is_svs else ("ome-tiff" if tf.is_ome else "tiff")
        dtype = np.dtype(base.dtype)
        compression = getattr(page.compression, "name", str(page.compression)).lower()
        tiled = bool(page.is_tiled)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - decode boundary (MemoryError: absurd tag counts)
        raise ImageReadError(
            f"{name}: cannot read the TIFF metadata ({one_line(exc)}); "
            "the file is corrupt or truncated"
        ) from exc
    return Source(
        p,
        fmt,
        (height, width),
        levels,
        dtype,
        layout,
        calibration,
        samples=samples,
        compression=compression,
        tiled=tiled,
        bigtiff=bool(tf.is_bigtiff),
        extra={"tiff": tf, "series": series, "series_index": index, "page": page},
        layout_error=layout_error,
    )


def data_problem(src: Source) -> str | None:
    """Why the base level's pixel data cannot all be in the file, or None (header only).

    Every page of the base level must list one strip or tile per chunk its
    size implies, and every listed byte range must end inside the file. A
    header patched to declare a huge size, or a file cut short, fails here
    before any pixel memory is allocated. Empty chunks (offset and byte count
    0, written by some tools for blank tiles) are allowed.
    """
    try:
        return _layout_problem(src)
    except Exception as exc:  # noqa: BLE001 - a damaged header (zero tile size, huge offsets...)
        return f"the strip/tile layout in the header is unreadable ({one_line(exc)})"


def _layout_problem(src: Source) -> str | None:
    size = src.path.stat().st_size
    height, width = src.shape
    if height <= 0 or width <= 0:
        return f"the header declares an empty image ({height} x {width} pixels)"
    for page in src.extra["series"].levels[0].pages:
        if page is None:
            continue
        offsets = np.asarray(page.dataoffsets, dtype=np.uint64).astype(object)
        counts = np.asarray(page.databytecounts, dtype=np.uint64).astype(object)
        key = getattr(page, "keyframe", None) or page
        expected = math.prod(int(c) for c in key.chunked)
        kind = ("tile" if key.is_tiled else "strip") + ("" if expected == 1 else "s")
        if len(offsets) != expected or len(counts) != expected:
            return (
                f"the header declares {height} x {width} pixels in {expected:,} {kind} but "
                f"lists {min(len(offsets), len(counts)):,}"
            )
        end = int((offsets + counts).max()) if len(offsets) else 0
        if end > size:
            return (
                f"the header declares {height} x {width} pixels whose data would end at byte "
                f"{end:,}, but the file has {size:,} bytes"
            )
    return None


def decode_tiff(src: Source) -> np.ndarray:
    """The whole base level as stored ((M, N, S), (S, M, N), or palette-expanded (M, N, 3))."""
    series, page = src.extra["series"], src.extra["page"]
    base = series.levels[0]
    raw = base.asarray()
    if src.layout == "palette":
        raw = raw.reshape(src.shape)
        cmap = np.asarray(page.colormap)
        if cmap.max() < 256:  # some writers store 8-bit values in the 16-bit map
            cmap = cmap.astype(np.uint8)
        return np.moveaxis(cmap[:, raw], 0, -1)
    axes = base.axes
    keep = [s for a, s in zip(axes, raw.shape) if s != 1 or a in "YX"]
    return raw.reshape(keep)


def lazy_levels(src: Source) -> tuple[object, list]:
    """(zarr store, zarr arrays of the base image's levels, base first), decoded on access.

    Only 8-bit interleaved RGB(A) images open this way (ImageFormatError
    otherwise). The store reopens the file by itself when a chunk is read, so
    the TiffFile in ``src`` may be closed afterwards; ``store.close()``
    releases the file.
    """
    import zarr

    name = src.name
    series = src.extra["series"]
    base = series.levels[0]
    if src.layout != "rgb" or not base.axes.endswith("YXS") or base.shape[-1] not in (3, 4):
        raise ImageFormatError(
            f"{name}: layout {base.axes} {tuple(int(s) for s in base.shape)} is not "
            "interleaved RGB; whole-slide mode needs (rows, cols, 3) tiles"
        )
    if src.dtype != np.uint8:
        raise ImageFormatError(f"{name}: {src.dtype} samples; whole-slide mode needs 8-bit RGB")
    try:
        store = series.aszarr()
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds for bad files
        raise ImageReadError(f"{name}: cannot open as a tiled TIFF ({one_line(exc)})") from None
    try:
        node = zarr.open(store, mode="r")
        if hasattr(node, "shape"):  # a single level opens as an array
            arrays = [node]
        else:
            arrays = [node[str(i)] for i in range(len(series.levels))]
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds for bad files
        store.close()
        raise ImageReadError(f"{name}: cannot open as a tiled TIFF ({one_line(exc)})") from None
    return store, arrays
