"""Write RGB TIFFs whose resolution tags carry the pixel size: :func:`write_calibrated_tiff`."""

from __future__ import annotations

import math

import numpy as np
import tifffile

from .._validate import check_pixel_size
from .errors import as_path

__all__ = ["WRITE_COMPRESSIONS", "write_calibrated_tiff"]

#: Compressions accepted by :func:`write_calibrated_tiff`.
WRITE_COMPRESSIONS = (None, "none", "zlib", "lzw", "zstd", "packbits", "jpeg")


def _check_tile(tile) -> tuple[int, int]:
    if (
        not isinstance(tile, (tuple, list))
        or len(tile) != 2
        or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in tile)
        or not all(t > 0 and t % 16 == 0 for t in tile)
    ):
        raise ValueError(
            f"tile must be a (height, width) pair of positive multiples of 16, got {tile!r}; "
            "e.g. tile=(256, 256)"
        )
    return int(tile[0]), int(tile[1])


def _halve(rgb: np.ndarray) -> np.ndarray:
    """2 x 2 block mean (rounded) of an (M, N, 3) uint8 array; odd last row/column dropped."""
    m, n = rgb.shape[0] // 2, rgb.shape[1] // 2
    blocks = rgb[: 2 * m, : 2 * n].reshape(m, 2, n, 2, 3).astype(np.uint16)
    total = blocks.sum(axis=(1, 3), dtype=np.uint16)
    return ((total + 2) // 4).astype(np.uint8)


def write_calibrated_tiff(
    path, rgb, *, pixel_size_um, compression="zlib", tile=None, pyramid_levels=0
) -> None:
    """Write an RGB uint8 TIFF whose resolution tags carry the pixel size.

    XResolution and YResolution are written in pixels per centimetre
    (ResolutionUnit 3), so :func:`pipeline.io.read_image` reads the pixel size back
    (relative error below 1e-6).

    Parameters
    ----------
    path : str or os.PathLike
        Output file; overwritten if it exists. Its folder must exist.
    rgb : (M, N, 3) ndarray of uint8
        The image. Not modified.
    pixel_size_um : float, keyword-only
        Pixel size in µm per pixel, in (0, 100].
    compression : {"zlib", "lzw", "zstd", "packbits", "jpeg", "none", None}, keyword-only
        Compression of the pixel data. ``"jpeg"`` is lossy.
    tile : (int, int), optional, keyword-only
        Tile height and width, multiples of 16. Default: strips, or (256, 256)
        when ``pyramid_levels > 0``.
    pyramid_levels : int, optional, keyword-only
        Number of reduced levels to store as SubIFDs of the base image, each
        half the size of the previous one (2 x 2 block mean, odd last row or
        column dropped) and calibrated with twice the pixel size. 0 (default)
        writes a single image. The smallest level must be at least 1 x 1 pixel.

    Raises
    ------
    TypeError
        When ``rgb`` is not a numpy array or ``path`` is not a str or os.PathLike.
    ValueError
        When ``rgb`` is not (M, N, 3) uint8, ``compression`` or ``tile`` is not
        supported, or ``pyramid_levels`` is negative or too large for the image.
    PixelSizeError
        When ``pixel_size_um`` is missing, not a number, <= 0 or > 100.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from pipeline.io import read_image
    >>> rgb = np.full((512, 512, 3), 200, dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "slide.tif"
    ...     write_calibrated_tiff(path, rgb, pixel_size_um=0.5, pyramid_levels=2)
    ...     image, pixel_size, meta = read_image(path)
    >>> pixel_size, meta["levels"]
    (0.5, [(512, 512), (256, 256), (128, 128)])
    """
    p = as_path(path)
    pixel_size_um = check_pixel_size(pixel_size_um, name="pixel_size_um")
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"rgb must be a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"rgb must be an (M, N, 3) uint8 array, got shape {rgb.shape} dtype {rgb.dtype}; "
            "convert with skimage.util.img_as_ubyte and drop any alpha channel"
        )
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"rgb must not be empty, got shape {rgb.shape}")
    if compression not in WRITE_COMPRESSIONS:
        raise ValueError(
            f"compression must be one of {WRITE_COMPRESSIONS}, got {compression!r}"
        )
    if isinstance(pyramid_levels, bool) or not isinstance(pyramid_levels, (int, np.integer)):
        raise TypeError(f"pyramid_levels must be an int, got {type(pyramid_levels).__name__}")
    if pyramid_levels < 0:
        raise ValueError(f"pyramid_levels must be >= 0, got {pyramid_levels}")
    smallest = min(rgb.shape[0], rgb.shape[1]) >> int(pyramid_levels)
    if smallest < 1:
        raise ValueError(
            f"pyramid_levels={pyramid_levels} is too many for a {rgb.shape[0]} x "
            f"{rgb.shape[1]} image (levels would be smaller than 1 pixel); use at most "
            f"{int(math.log2(min(rgb.shape[:2])))}"
        )
    if tile is None and pyramid_levels > 0:
        tile = (256, 256)
    if tile is not None:
        tile = _check_tile(tile)
    codec = None if compression in (None, "none") else compression

    estimate = rgb.nbytes * (4 / 3 if pyramid_levels else 1)
    bigtiff = estimate > 2**32 - 2**26

    def options(level_pixel_size):
        per_cm = 1e4 / level_pixel_size
        return {
            "photometric": "rgb",
            "compression": codec,
            "tile": tile,
            "resolution": (per_cm, per_cm),
            "resolutionunit": "CENTIMETER",
            "metadata": None,
        }

    with tifffile.TiffWriter(p, bigtiff=bigtiff) as tw:
        tw.write(rgb, subifds=int(pyramid_levels) or None, **options(pixel_size_um))
        level = rgb
        for k in range(1, int(pyramid_levels) + 1):
            level = _halve(level)
            tw.write(level, subfiletype=1, **options(pixel_size_um * 2**k))
