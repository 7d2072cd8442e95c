"""Read whole images (:func:`read_image`), pixel sizes and pixel-data checks, through one opener."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from .._validate import PixelSizeError
from .calibration import check_pixel_size_argument, missing_message, resolve_pixel_size
from .convert import check_sample_type, to_rgb_uint8
from .errors import ImageReadError, ImageTooLargeError, as_path, one_line
from .pillow import decode_pillow, open_pillow
from .source import TIFF_FORMATS, Source, TifffileLog, check_file
from .tiff import data_problem, decode_tiff, open_tiff

__all__ = ["DEFAULT_MAX_PIXELS", "Opened", "read_image", "read_pixel_size", "verify_pixel_data"]

#: Largest full-resolution image, in pixels (height * width), that
#: :func:`read_image` decodes unless ``max_pixels`` is raised. One billion RGB
#: pixels need 3 GB as uint8 (more while converting 16-bit or float data).
DEFAULT_MAX_PIXELS = 1_000_000_000


class Opened:
    """Open an image file for reading (header only); closes every handle it opened on exit.

    ``with Opened(path) as src:`` gives a :class:`~pipeline.io.source.Source`;
    TIFF-family files go through :func:`pipeline.io.tiff.open_tiff`, PNG and
    JPEG through :func:`pipeline.io.pillow.open_pillow`. Warnings tifffile
    logs meanwhile are collected in ``log.messages``.
    """

    def __init__(self, path):
        self.path = path
        self._handles: list = []
        self.log = TifffileLog()
        self._logger = logging.getLogger("tifffile")

    def __enter__(self) -> Source:
        self._logger.addHandler(self.log)
        try:
            p, kind = check_file(self.path)
            if kind == "tiff":
                return open_tiff(p, self._handles, self.log.messages)
            return open_pillow(p, kind, self._handles)
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        while self._handles:
            handle = self._handles.pop()
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real error
                pass
        self._logger.removeHandler(self.log)

    def __exit__(self, *exc_info) -> None:
        self._close()


def verify_pixel_data(path) -> None:
    """Check, from the header only, that a file can hold the pixels it declares.

    For TIFF-family files every strip or tile of the full-resolution image must
    be listed and lie inside the file, so a truncated file, or a corrupt header
    declaring an absurd size, is refused before anything is allocated or
    decoded. PNG and JPEG files are not checked (their decoders stop at the end
    of the data). :func:`read_image` does this itself; whole-slide readers that
    decode region by region (:class:`pipeline.slide.Slide`, the napari reader)
    call it before opening a file lazily.

    Parameters
    ----------
    path : str or os.PathLike
        Image file.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ImageReadError
        When the file is empty, not an image, or its pixel data is incomplete.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from pipeline.io import write_calibrated_tiff
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "tile.tif"
    ...     write_calibrated_tiff(path, np.zeros((64, 64, 3), np.uint8), pixel_size_um=0.5,
    ...                           compression=None)
    ...     _ = path.write_bytes(path.read_bytes()[:5000])   # cut mid-strip
    ...     try:
    ...         verify_pixel_data(path)
    ...     except ImageReadError as exc:
    ...         print(exc)
    tile.tif: the header declares 64 x 64 pixels whose data would end at byte 12,512, but the file has 5,000 bytes; the file is corrupt or truncated
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Opened(path) as src:
            if src.format in TIFF_FORMATS:
                problem = data_problem(src)
                if problem is not None:
                    raise ImageReadError(
                        f"{src.name}: {problem}; the file is corrupt or truncated"
                    )


def read_pixel_size(path) -> tuple[float | None, str | None]:
    """Read the pixel size a file declares, from its metadata only (no pixels decoded).

    Parameters
    ----------
    path : str or os.PathLike
        Image file (TIFF, BigTIFF, OME-TIFF, SVS, PNG or JPEG, recognised by content).

    Returns
    -------
    pixel_size_um : float or None
        Pixel size in µm per pixel (the mean of X and Y), or None when the file
        has no calibration.
    source : str or None
        ``"ome"``, ``"aperio-mpp"``, ``"tiff-resolution"``, ``"imagej"``,
        ``"png-phys"`` or ``"jpeg-jfif"``; None when the file has no calibration.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ImageReadError
        When the file is empty, corrupt or not a TIFF, PNG or JPEG image.
    PixelSizeError
        When the file declares a calibration that cannot be used: a value
        outside (0, 100] µm per pixel (e.g. 72 dpi = 352.8 µm per pixel, a
        screen resolution, not a microscope calibration), X and Y differing by
        more than 1 %, or a unit that is not a length.

    Notes
    -----
    The image layout is not checked: a grayscale file still reports its
    pixel size here, and :func:`read_image` refuses it.

    See Also
    --------
    read_image : Read the pixels as well.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from pipeline.io import write_calibrated_tiff
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "tile.tif"
    ...     write_calibrated_tiff(path, np.zeros((8, 8, 3), np.uint8), pixel_size_um=0.5)
    ...     read_pixel_size(path)
    (0.5, 'tiff-resolution')
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Opened(path) as src:
            value = resolve_pixel_size(src.name, src.calibration)
    return (value, src.calibration.source if value is not None else None)


def read_image(path, *, pixel_size_um=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Read the full-resolution RGB pixels of an image and its pixel size in µm.

    Parameters
    ----------
    path : str or os.PathLike
        Image file. The type is decided by content (first bytes), not by the
        extension: TIFF, BigTIFF, OME-TIFF, pyramidal TIFF, Aperio SVS, PNG or
        JPEG. For pyramidal files and SVS the base (full-resolution) level is
        read. For TIFF files with several images, the base image is the one
        with the most pixels; SVS thumbnail, label and macro images never
        count (:func:`pipeline.io.tiff.base_series`, the rule every reader uses).
    pixel_size_um : float, optional, keyword-only
        Pixel size in micrometres per pixel, in (0, 100]. Overrides the file's
        calibration. Required when the file has none.
    max_pixels : int, optional, keyword-only
        Refuse images whose base level has more than this many pixels
        (height * width), before any pixel memory is allocated. Default
        :data:`DEFAULT_MAX_PIXELS` (10**9).

    Returns
    -------
    rgb : (M, N, 3) ndarray of uint8
        The image, C-contiguous, a new array.
    pixel_size_um : float
        Pixel size in µm per pixel (square pixels).
    metadata : dict
        ``path`` (str), ``format`` (``"tiff"``, ``"ome-tiff"``, ``"svs"``,
        ``"png"`` or ``"jpeg"``, from the content), ``pixel_size_source``
        (``"argument"``, ``"ome"``, ``"aperio-mpp"``, ``"tiff-resolution"``,
        ``"imagej"``, ``"png-phys"`` or ``"jpeg-jfif"``), ``shape`` ((M, N)),
        ``levels`` (list of (M, N) of the pyramid levels, base first; ``[(M, N)]``
        when not pyramidal), ``file_pixel_size_um`` (the usable pixel size the
        file declares, or None, also when overridden), ``file_pixel_size_source``
        (its source or None), ``file_pixel_size_error`` (why a declared
        calibration was unusable, or None), ``dtype_in`` (sample type in the
        file, e.g. ``"uint16"``), ``bigtiff`` (bool) and ``warnings`` (list of
        one-line warnings from the decoders, not shown to the user).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ImageReadError
        When the file is empty, truncated, corrupt, not an image, or has an
        unsupported extension and unknown content. Whatever a decoder raises
        for a damaged file is turned into this error with a one-line message
        starting with the file name (see :func:`verify_pixel_data` for the
        header check made before decoding).
    ImageFormatError
        When the image is grayscale, has 2 or more than 4 channels, is a stack
        of several planes, has a non-RGB colour space (CMYK, Lab), an
        unsupported sample type, or float values outside [0, 1].
    ImageTooLargeError
        When height * width of the base level exceeds ``max_pixels`` (checked
        before any pixel memory is allocated), or when decoding runs out of
        memory.
    PixelSizeError
        When ``pixel_size_um`` is invalid, or it is not given and the file has
        no usable calibration (none, outside (0, 100] µm per pixel such as
        72 dpi, or X and Y differing by more than 1 %).
    TypeError
        When ``path`` is not a str or os.PathLike, or ``max_pixels`` is not an int.

    Notes
    -----
    Conversion to 8-bit RGB:

    * RGBA: the alpha channel is dropped (not composited).
    * 16-bit: each value is divided by 257 and rounded to the nearest integer,
      which maps 0..65535 linearly onto 0..255 (65535 -> 255, 32768 -> 128).
      Data with fewer significant bits stored in 16 bits (e.g. 12-bit) is
      scaled by the same rule and will look dark.
    * float: accepted only when every value is within [0, 1]; multiplied by
      255 and rounded.
    * channels-first (3, M, N) layouts are transposed to (M, N, 3).
    * TIFF palette images are expanded through their colour map.

    Pixel sizes: OME lengths in m, cm, mm, µm (also ``um``), nm and other
    length units are converted to µm (µm when no unit is given, as the OME
    specification says). TIFF resolution is converted with 25400 µm per inch
    or 10000 µm per centimetre; a missing ResolutionUnit means inch, as in the
    TIFF specification, and ResolutionUnit NONE means no calibration (unless an
    ImageJ ``unit=`` gives the unit). PNG ``pHYs`` is used only with the metre
    unit, JPEG JFIF density only with the inch or centimetre unit; EXIF
    resolution is not used. X and Y may differ by up to 1 %; their mean is
    returned.

    JPEG EXIF orientation is not applied: pixels are returned as stored.
    Decoder warnings (Python warnings and tifffile's logged warnings) are
    collected in ``metadata["warnings"]`` instead of being shown. Pillow's
    decompression-bomb limit is not used; ``max_pixels`` is.

    See Also
    --------
    read_pixel_size : Pixel size only, without decoding pixels.
    image_info : Size, levels, format and pixel size, without decoding pixels.
    open_levels : The pyramid levels, decoded region by region on access.
    write_calibrated_tiff : Write an image that this function reads back.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from pipeline.io import write_calibrated_tiff
    >>> rgb = np.zeros((64, 96, 3), dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "tile.tif"
    ...     write_calibrated_tiff(path, rgb, pixel_size_um=0.25)
    ...     image, pixel_size, meta = read_image(path)
    >>> image.shape, image.dtype, pixel_size
    ((64, 96, 3), dtype('uint8'), 0.25)
    >>> meta["format"], meta["pixel_size_source"]
    ('tiff', 'tiff-resolution')

    An explicit pixel size overrides the file:

    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "tile.tif"
    ...     write_calibrated_tiff(path, rgb, pixel_size_um=0.25)
    ...     _, pixel_size, meta = read_image(path, pixel_size_um=0.5)
    >>> pixel_size, meta["pixel_size_source"], meta["file_pixel_size_um"]
    (0.5, 'argument', 0.25)
    """
    p = as_path(path)
    name = p.name
    pixel_size_um = check_pixel_size_argument(name, pixel_size_um)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise TypeError(
            f"max_pixels must be an int number of pixels, got {type(max_pixels).__name__} "
            f"{max_pixels!r}"
        )
    if max_pixels <= 0:
        raise ValueError(
            f"max_pixels must be > 0, got {max_pixels}; e.g. max_pixels=2_000_000_000"
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = Opened(p)
        with opened as src:
            check_sample_type(src)
            cal = src.calibration
            file_error = None
            try:
                file_value = resolve_pixel_size(name, cal)
            except PixelSizeError as exc:
                if pixel_size_um is None:
                    raise
                file_value, file_error = None, str(exc)
            if pixel_size_um is None and file_value is None:
                raise PixelSizeError(missing_message(name, src.format))
            height, width = src.shape
            if height * width > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: image is {height} x {width} = {height * width:,} pixels, more than "
                    f"max_pixels={max_pixels:,}; pass a larger max_pixels=... (CLI: "
                    f"--max-megapixels) if you have the memory (about "
                    f"{3 * height * width / 1e9:.1f} GB as 8-bit RGB)"
                )
            is_tiff = src.format in TIFF_FORMATS
            if is_tiff:
                problem = data_problem(src)
                if problem is not None:
                    raise ImageReadError(f"{name}: {problem}; the file is corrupt or truncated")
            try:
                raw = decode_tiff(src) if is_tiff else decode_pillow(src)
                rgb = to_rgb_uint8(raw, src.layout if src.layout == "planar" else "rgb", name)
            except ImageReadError:
                raise
            except MemoryError:
                raise ImageTooLargeError(
                    f"{name}: not enough memory to decode {height} x {width} pixels (about "
                    f"{3 * height * width / 1e9:.1f} GB as 8-bit RGB); free memory, or lower "
                    "max_pixels (CLI: --max-megapixels) to refuse such images up front"
                ) from None
            except Exception as exc:  # noqa: BLE001 - decode boundary
                raise ImageReadError(
                    f"{name}: cannot decode the pixel data ({one_line(exc)}); "
                    "the file is corrupt or truncated"
                ) from exc
            del raw
            if rgb.shape[:2] != (height, width):
                raise ImageReadError(
                    f"{name}: decoded {rgb.shape[0]} x {rgb.shape[1]} pixels but the header "
                    f"declares {height} x {width}; the file is corrupt"
                )
    messages = list(opened.log.messages)
    for w in caught:
        text = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        if text not in messages:
            messages.append(text)

    if pixel_size_um is not None:
        value, source = pixel_size_um, "argument"
    else:
        value, source = file_value, cal.source
    metadata = {
        "path": str(p),
        "format": src.format,
        "pixel_size_source": source,
        "shape": (height, width),
        "levels": list(src.levels) or [(height, width)],
        "file_pixel_size_um": file_value,
        "file_pixel_size_source": cal.source if file_value is not None else None,
        "file_pixel_size_error": file_error,
        "dtype_in": str(src.dtype),
        "bigtiff": src.bigtiff,
        "warnings": messages,
    }
    return rgb, value, metadata
