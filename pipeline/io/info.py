"""Describe an image file (:func:`image_info`) and open its levels lazily (:func:`open_levels`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from .._validate import PixelSizeError
from .calibration import check_pixel_size_argument, missing_message, resolve_pixel_size
from .convert import check_sample_type
from .errors import ImageFormatError, ImageReadError, as_path
from .read import Opened
from .source import TIFF_FORMATS, Source
from .tiff import data_problem, lazy_levels

__all__ = ["ImageInfo", "Levels", "image_info", "open_levels"]


@dataclass(frozen=True)
class ImageInfo:
    """What an image file declares about itself, read from its header only.

    Attributes
    ----------
    path : str
        The file.
    format : str
        ``"tiff"``, ``"ome-tiff"``, ``"svs"``, ``"png"`` or ``"jpeg"``, from the
        content (not the name).
    shape : (int, int)
        Rows and columns of the base (full-resolution) image.
    levels : tuple of (int, int)
        Rows and columns of every pyramid level, base first; ``(shape,)`` when
        the file is not pyramidal.
    pixel_size_um : float or None
        µm per pixel of the base image: the argument, else the file's usable
        calibration, else None.
    pixel_size_source : str
        ``"argument"``, where the file's value came from (``"ome"``,
        ``"aperio-mpp"``, ``"tiff-resolution"``, ``"imagej"``, ``"png-phys"``,
        ``"jpeg-jfif"``), or ``"missing"``.
    pixel_size_error : str or None
        When ``pixel_size_um`` is None, the one-line message of the
        :class:`~pipeline._validate.PixelSizeError` that
        :func:`pipeline.io.read_image` raises for this file (no calibration, or
        one that cannot be used); None otherwise.
    file_pixel_size_error : str or None
        Why the calibration the file declares cannot be used (e.g. 72 dpi),
        also when an argument overrides it; None when the file declares none
        or a usable one.
    dtype : str
        Sample type as stored, e.g. ``"uint8"``, ``"uint16"``, ``"float32"``.
    samples : int
        Samples per pixel as stored: 3 (RGB), 4 (RGBA), 1 (palette index) or
        2 (palette index and alpha).
    compression : str
        Compression of the base image: tifffile's name in lower case for TIFF
        (``"none"``, ``"lzw"``, ``"adobe_deflate"``, ``"jpeg"``,
        ``"aperio_jp2000_rgb"``, ...), ``"deflate"`` for PNG, ``"jpeg"`` for JPEG.
    tiled : bool
        Whether the base image is stored in tiles (TIFF only).
    bigtiff : bool
        Whether the file is a BigTIFF.
    series : int or None
        Index of the base image in tifffile's ``TiffFile.series``
        (:func:`pipeline.io.tiff.base_series`); None for PNG and JPEG.
    """

    path: str
    format: str
    shape: tuple[int, int]
    levels: tuple[tuple[int, int], ...]
    pixel_size_um: float | None
    pixel_size_source: str
    pixel_size_error: str | None
    file_pixel_size_error: str | None
    dtype: str
    samples: int
    compression: str
    tiled: bool
    bigtiff: bool
    series: int | None

    @property
    def megapixels(self) -> float:
        """Rows x columns of the base image, in millions of pixels."""
        return self.shape[0] * self.shape[1] / 1e6


def _describe(src: Source, pixel_size_um: float | None) -> ImageInfo:
    """ImageInfo of an opened file; ImageFormatError for layouts read_image refuses."""
    check_sample_type(src)
    try:
        file_value, file_error = resolve_pixel_size(src.name, src.calibration), None
    except PixelSizeError as exc:
        file_value, file_error = None, str(exc)
    if pixel_size_um is not None:
        value, source, error = pixel_size_um, "argument", None
    elif file_value is not None:
        value, source, error = file_value, src.calibration.source, None
    else:
        value, source = None, "missing"
        error = file_error or missing_message(src.name, src.format)
    return ImageInfo(
        path=str(src.path),
        format=src.format,
        shape=tuple(src.shape),
        levels=tuple(tuple(lv) for lv in src.levels) or (tuple(src.shape),),
        pixel_size_um=value,
        pixel_size_source=source,
        pixel_size_error=error,
        file_pixel_size_error=file_error,
        dtype=str(src.dtype),
        samples=int(src.samples),
        compression=src.compression,
        tiled=src.tiled,
        bigtiff=src.bigtiff,
        series=src.extra.get("series_index"),
    )


def image_info(path, *, pixel_size_um=None) -> ImageInfo:
    """Describe an image file from its header: size, pyramid levels, format and pixel size.

    No pixel is decoded and no size limit applies, so slides of any size
    (beyond a gigapixel too) are described in milliseconds. The base image
    is the one :func:`pipeline.io.read_image` reads (for TIFF files with
    several images: :func:`pipeline.io.tiff.base_series`).

    Parameters
    ----------
    path : str or os.PathLike
        Image file (TIFF, BigTIFF, OME-TIFF, SVS, PNG or JPEG, recognised by content).
    pixel_size_um : float, optional, keyword-only
        µm per pixel, in (0, 100]; overrides the file's calibration.

    Returns
    -------
    ImageInfo
        A frozen record; ``pixel_size_um`` is None (``pixel_size_source``
        ``"missing"``) when the file has no usable calibration and none was
        given: that is not an error here.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ImageReadError
        When the file is empty, corrupt, or not a TIFF, PNG or JPEG image
        (the same one-line messages as :func:`pipeline.io.read_image`).
    ImageFormatError
        When the layout is one :func:`pipeline.io.read_image` refuses from the
        header (grayscale, 2 or more than 4 channels, stacks, CMYK, signed
        samples). Float value ranges are not checked (that needs the pixels).
    PixelSizeError
        When ``pixel_size_um`` is given but invalid.
    TypeError
        When ``path`` is not a str or os.PathLike.

    Notes
    -----
    Whether the file holds all the pixel data its header declares is not
    checked (see :func:`pipeline.io.verify_pixel_data`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from pipeline.io import write_calibrated_tiff
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "slide.tif"
    ...     write_calibrated_tiff(path, np.zeros((512, 384, 3), np.uint8), pixel_size_um=0.5,
    ...                           pyramid_levels=1)
    ...     info = image_info(path)
    >>> info.format, info.shape, info.levels, info.tiled
    ('tiff', (512, 384), ((512, 384), (256, 192)), True)
    >>> info.pixel_size_um, info.pixel_size_source, info.megapixels
    (0.5, 'tiff-resolution', 0.196608)

    A file without a calibration is described all the same:

    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "snap.png"
    ...     Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(path)
    ...     info = image_info(path)
    >>> info.format, info.shape, info.pixel_size_um, info.pixel_size_source
    ('png', (4, 6), None, 'missing')
    """
    p = as_path(path)
    pixel_size_um = check_pixel_size_argument(p.name, pixel_size_um)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Opened(p) as src:
            return _describe(src, pixel_size_um)


class Levels(Sequence):
    """The pyramid levels of one TIFF-family image, decoded tile by tile on access.

    A read-only sequence of zarr arrays, base first, each (rows, cols, 3 or 4)
    uint8; indexing one decodes only the tiles it covers. Returned by
    :func:`open_levels`.

    Attributes
    ----------
    info : ImageInfo
        The file's description (pixel size included).
    """

    def __init__(self, arrays, info: ImageInfo, store):
        self._arrays = tuple(arrays)
        self.info = info
        self._store = store

    def __len__(self) -> int:
        return len(self._arrays)

    def __getitem__(self, index):
        return self._arrays[index]

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(a.shape)) for a in self._arrays)
        return f"<Levels of {self.info.path}: {shapes}>"

    def close(self) -> None:
        """Release the open file (the arrays reopen it if read again)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> bool:
        self.close()
        return False


def open_levels(path, *, pixel_size_um=None) -> Levels:
    """Open the pyramid levels of a TIFF, OME-TIFF or SVS file lazily, with its pixel size.

    The base image is the one every NodeScope reader uses
    (:func:`pipeline.io.tiff.base_series`). Nothing is decoded until an array
    is indexed; then only the tiles (or strips) covering the region are.

    Parameters
    ----------
    path : str or os.PathLike
        TIFF-family file, pyramidal or not.
    pixel_size_um : float, optional, keyword-only
        µm per pixel of the base level, in (0, 100]; overrides the file's.

    Returns
    -------
    Levels
        Zarr arrays, base first, each (rows, cols, 3 or 4) uint8; ``.info`` is
        the :class:`ImageInfo` (``info.pixel_size_um`` is None when the file
        has no usable calibration and none was given). Close it when done.

    Raises
    ------
    FileNotFoundError, ImageReadError, PixelSizeError, TypeError
        As :func:`image_info`; ImageReadError also when the file does not hold
        all the pixel data its header declares (:func:`pipeline.io.verify_pixel_data`),
        so a truncated file or a header declaring an absurd size never opens.
    ImageFormatError
        When :func:`image_info` refuses the layout, for PNG and JPEG files,
        and for images that need a conversion (16-bit, float, planar,
        palette): only 8-bit interleaved RGB(A) opens lazily; read the others
        whole with :func:`pipeline.io.read_image`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from pipeline.io import write_calibrated_tiff
    >>> rgb = np.arange(512 * 512 * 3, dtype=np.uint64).astype(np.uint8).reshape(512, 512, 3)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "slide.tif"
    ...     write_calibrated_tiff(path, rgb, pixel_size_um=0.5, pyramid_levels=2)
    ...     with open_levels(path) as levels:
    ...         shapes = [a.shape for a in levels]
    ...         region = levels[0][100:110, 200:220]
    ...         px = levels.info.pixel_size_um
    >>> shapes, px
    ([(512, 512, 3), (256, 256, 3), (128, 128, 3)], 0.5)
    >>> bool((region == rgb[100:110, 200:220]).all())
    True
    """
    p = as_path(path)
    pixel_size_um = check_pixel_size_argument(p.name, pixel_size_um)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Opened(p) as src:
            info = _describe(src, pixel_size_um)
            if src.format not in TIFF_FORMATS:
                raise ImageFormatError(
                    f"{src.name}: a {src.format.upper()} image has no tiles to open lazily; "
                    "read it whole with pipeline.io.read_image"
                )
            problem = data_problem(src)
            if problem is not None:
                raise ImageReadError(f"{src.name}: {problem}; the file is corrupt or truncated")
            store, arrays = lazy_levels(src)
    return Levels(arrays, info, store)
