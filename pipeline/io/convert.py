"""Decoded pixels to (M, N, 3) uint8 RGB, by the rules stated in :func:`pipeline.io.read_image`."""

from __future__ import annotations

import numpy as np

from .errors import ImageFormatError
from .source import Source

__all__ = ["check_sample_type", "to_rgb_uint8"]

# Rows are converted in blocks of about this many samples, to bound temporaries.
_BLOCK_SAMPLES = 1 << 24


def check_sample_type(src: Source) -> None:
    """Raise the ImageFormatError of a layout or sample type :func:`to_rgb_uint8` cannot convert."""
    if src.layout_error is not None:
        raise src.layout_error
    dtype = src.dtype
    if src.layout == "palette" or dtype == np.uint8 or dtype == np.uint16 or dtype.kind == "f":
        return
    raise ImageFormatError(
        f"{src.name}: unsupported sample type {dtype}; NodeScope reads uint8, uint16, or "
        "float RGB with values in [0, 1] - convert the image to 8-bit RGB first"
    )


def to_rgb_uint8(raw: np.ndarray, layout: str, name: str) -> np.ndarray:
    """(M, N, 3) C-contiguous uint8 from a decoded array.

    Alpha is dropped; uint16 is divided by 257 and rounded; float must lie in
    [0, 1] and is multiplied by 255 and rounded; ``layout="planar"`` means
    channels first. ``name`` (the file name) starts every error message.

    Examples
    --------
    >>> to_rgb_uint8(np.array([[[0, 32768, 65535]]], np.uint16), "rgb", "a.tif")
    array([[[  0, 128, 255]]], dtype=uint8)
    """
    if layout == "planar":
        raw = np.moveaxis(raw, 0, -1)
    if raw.ndim != 3 or raw.shape[-1] not in (3, 4):
        shape_str = " x ".join(str(s) for s in raw.shape)
        raise ImageFormatError(
            f"{name}: decoded shape {shape_str} is not RGB; NodeScope needs an RGB image"
        )
    view = raw[..., :3]  # RGBA: drop alpha
    dtype = view.dtype
    if dtype == np.uint8:
        return np.ascontiguousarray(view)
    out = np.empty(view.shape, dtype=np.uint8)
    step = max(1, _BLOCK_SAMPLES // max(1, view.shape[1] * 3))
    if dtype == np.uint16:
        for i in range(0, view.shape[0], step):
            block = view[i : i + step].astype(np.uint32)
            block += 128
            block //= 257  # == round(value / 257); no ties occur for integers
            out[i : i + step] = block
        return out
    if dtype.kind == "f":
        lo = hi = None
        for i in range(0, view.shape[0], step):
            block = view[i : i + step]
            if not np.isfinite(block).all():
                raise ImageFormatError(
                    f"{name}: float image contains NaN or infinite values; "
                    "NodeScope reads float images only with values in [0, 1]"
                )
            blo, bhi = float(block.min()), float(block.max())
            lo = blo if lo is None else min(lo, blo)
            hi = bhi if hi is None else max(hi, bhi)
        if lo is not None and (lo < 0 or hi > 1):
            raise ImageFormatError(
                f"{name}: float image with values in [{lo:.6g}, {hi:.6g}]; NodeScope reads "
                "float images only with values in [0, 1] - convert it to 8-bit RGB first"
            )
        for i in range(0, view.shape[0], step):
            block = view[i : i + step].astype(np.float64)
            block *= 255.0
            np.rint(block, out=block)
            out[i : i + step] = block
        return out
    raise ImageFormatError(  # pragma: no cover - rejected before decoding
        f"{name}: unsupported sample type {dtype}"
    )
