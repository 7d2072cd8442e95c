"""Read calibrated RGB images: TIFF, BigTIFF, OME-TIFF, pyramidal TIFF, Aperio SVS, PNG, JPEG.

Every measurement in NodeScope is in micrometres, so reading an image means
reading its pixel size as well. :func:`read_image` returns the full-resolution
RGB pixels together with the pixel size in µm per pixel, taken from the file or
from the caller, and never assumed.

The file type is decided by the content (the first bytes), not by the name: a
PNG saved as ``.svs`` is read as a PNG.

Pixel size sources, in order of priority:

1. the ``pixel_size_um`` argument (``"argument"``);
2. OME-XML ``PhysicalSizeX`` / ``PhysicalSizeY`` with their units (``"ome"``);
3. Aperio ``MPP = ...`` in the SVS ImageDescription (``"aperio-mpp"``);
4. TIFF ``XResolution`` / ``YResolution`` with ``ResolutionUnit`` inch or
   centimetre (``"tiff-resolution"``);
5. ImageJ ``unit=`` in the ImageJ description, for TIFF resolutions without a
   TIFF unit (``"imagej"``);
6. PNG ``pHYs`` in pixels per metre (``"png-phys"``);
7. JPEG JFIF density in dots per inch or per centimetre (``"jpeg-jfif"``).

References
----------
.. [1] OME Data Model, ``Pixels`` element, ``PhysicalSizeX`` (default unit µm).
       https://docs.openmicroscopy.org/ome-model/latest/
.. [2] TIFF Revision 6.0, tags 282, 283 and 296 (XResolution, YResolution,
       ResolutionUnit; ResolutionUnit defaults to inch).
.. [3] PNG Specification, 11.3.5.3 ``pHYs`` Physical pixel dimensions.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile
from PIL import JpegImagePlugin, PngImagePlugin

from ._validate import MAX_PIXEL_SIZE_UM, PixelSizeError, check_pixel_size

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageFormatError",
    "ImageReadError",
    "ImageTooLargeError",
    "PIXEL_SIZE_SOURCES",
    "PixelSizeError",
    "SUPPORTED_SUFFIXES",
    "WRITE_COMPRESSIONS",
    "is_supported",
    "read_image",
    "read_pixel_size",
    "verify_pixel_data",
    "write_calibrated_tiff",
]

#: Largest full-resolution image, in pixels (height * width), that
#: :func:`read_image` decodes unless ``max_pixels`` is raised. One billion RGB
#: pixels need 3 GB as uint8 (more while converting 16-bit or float data).
DEFAULT_MAX_PIXELS = 1_000_000_000

#: File name endings that :func:`is_supported` accepts (compared case-insensitively).
SUPPORTED_SUFFIXES = (
    ".tif",
    ".tiff",
    ".svs",
    ".ome.tif",
    ".ome.tiff",
    ".png",
    ".jpg",
    ".jpeg",
    ".btf",
    ".tf8",
)

#: Values of ``metadata["pixel_size_source"]``.
PIXEL_SIZE_SOURCES = (
    "argument",
    "ome",
    "aperio-mpp",
    "tiff-resolution",
    "imagej",
    "png-phys",
    "jpeg-jfif",
)

#: Compressions accepted by :func:`write_calibrated_tiff`.
WRITE_COMPRESSIONS = (None, "none", "zlib", "lzw", "zstd", "packbits", "jpeg")

# Two pixel sizes (X and Y) are "square" when they differ by at most this fraction.
_ANISOTROPY_TOLERANCE = 0.01

_PASS_HINT = "pass pixel_size_um=... (CLI: --pixel-size UM)"

# What was looked for, per format, for the "no pixel size" message.
_TIFF_MISSING = "no OME PhysicalSizeX, Aperio MPP or TIFF resolution"
_MISSING = {
    "tiff": _TIFF_MISSING,
    "ome-tiff": _TIFF_MISSING,
    "svs": _TIFF_MISSING,
    "png": "no pHYs chunk in pixels per metre",
    "jpeg": "no JFIF density in dots per inch or per cm",
}

# Micrometres per unit, for OME UnitsLength and ImageJ "unit=" values.
_UM_PER_UNIT = {
    "m": 1e6,
    "dm": 1e5,
    "cm": 1e4,
    "mm": 1e3,
    "µm": 1.0,  # MICRO SIGN (the OME spelling)
    "μm": 1.0,  # GREEK SMALL LETTER MU
    "um": 1.0,
    "\\u00b5m": 1.0,  # ImageJ writes the micro sign escaped
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "nm": 1e-3,
    "pm": 1e-6,
    "å": 1e-4,
    "angstrom": 1e-4,
    "in": 25400.0,
    "inch": 25400.0,
    "thou": 25.4,
}

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

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"

# Rows are converted in blocks of about this many samples, to bound temporaries.
_BLOCK_SAMPLES = 1 << 24


class ImageReadError(ValueError):
    """A file cannot be read as an image: empty, corrupt, truncated or not an image.

    Base class of :class:`ImageFormatError` and :class:`ImageTooLargeError`.
    The message is one line and starts with the file name.
    """


class ImageFormatError(ImageReadError):
    """An image has a layout NodeScope cannot use (grayscale, 2 channels, stacks, ...)."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the ``max_pixels`` limit allows."""


# --------------------------------------------------------------------------- helpers


def _as_path(path, *, name: str = "path") -> Path:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` of an exception on one line, shortened to ``limit`` characters."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind


def _sniff(head: bytes) -> str | None:
    if head.startswith(_TIFF_MAGIC):
        return "tiff"
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    return None


def _open_checked(path) -> tuple[Path, str]:
    """Return (path, content kind) or raise FileNotFoundError / ImageReadError."""
    p = _as_path(path)
    name = p.name
    if not p.exists():
        raise FileNotFoundError(f"{name}: no such file: {p}")
    if p.is_dir():
        raise ImageReadError(f"{name}: is a directory, not an image file ({p})")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise ImageReadError(
            f"{name}: empty file (0 bytes); it is not an image - copy or export it again"
        )
    kind = _sniff(head)
    if kind is None:
        if is_supported(p):
            raise ImageReadError(
                f"{name}: not a TIFF, PNG or JPEG image (the file starts with {head[:8]!r}); "
                "the file is corrupt or is not an image"
            )
        suffix = "".join(p.suffixes[-2:]) or "(none)"
        raise ImageReadError(
            f"{name}: unsupported format (extension {suffix!r}, content not TIFF, PNG or "
            f"JPEG); NodeScope reads {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return p, kind


@dataclass
class _Calibration:
    """What a file says about its pixel size (nothing validated yet)."""

    x_um: float | None = None
    y_um: float | None = None
    source: str | None = None
    detail: str = ""  # e.g. "TIFF resolution 72 dpi"
    problem: str | None = None  # a declared but unusable calibration


@dataclass
class _Source:
    """An opened image file: declared geometry plus a way to decode the base level."""

    path: Path
    format: str
    shape: tuple[int, int]
    levels: list[tuple[int, int]]
    dtype: np.dtype
    layout: str  # "rgb" (channels last), "planar" (channels first), "palette", "pillow"
    calibration: _Calibration
    extra: dict = field(default_factory=dict)
    layout_error: ImageFormatError | None = None  # raised by read_image, not read_pixel_size

    @property
    def name(self) -> str:
        return self.path.name


def _resolve_file_pixel_size(name: str, cal: _Calibration) -> float | None:
    """Validated pixel size from a file calibration, None when none, else PixelSizeError."""
    if cal.problem is not None:
        raise PixelSizeError(f"{name}: {cal.problem}; {_PASS_HINT}")
    if cal.x_um is None:
        return None
    x = cal.x_um
    y = cal.y_um if cal.y_um is not None else x
    label = cal.detail or cal.source
    for value in dict.fromkeys((x, y)):
        try:
            check_pixel_size(value, name="pixel size", source=name)
        except PixelSizeError:
            raise PixelSizeError(
                f"{name}: {label} means {value:.6g} µm per pixel, which is not a microscope "
                f"calibration (must be > 0 and <= {MAX_PIXEL_SIZE_UM:g}); if you know the real "
                f"pixel size, {_PASS_HINT}"
            ) from None
    mean = 0.5 * (x + y)
    if abs(x - y) > _ANISOTROPY_TOLERANCE * mean:
        raise PixelSizeError(
            f"{name}: pixels are not square in {label}: X = {x:.6g} µm, Y = {y:.6g} µm "
            f"(differ by {100 * abs(x - y) / mean:.2g} %); NodeScope needs square pixels - "
            f"resample the image first, or, if the metadata is wrong, {_PASS_HINT}"
        )
    return mean


# ---------------------------------------------------------------- TIFF calibration


def _xml_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ome_calibration(xml: str, shape: tuple[int, int]) -> _Calibration | None:
    """PhysicalSizeX/Y of the OME Image whose SizeY x SizeX equals ``shape``."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    pixels = [el for el in root.iter() if _xml_local(el.tag) == "Pixels"]
    if not pixels:
        return None
    chosen = pixels[0]
    for el in pixels:
        if (el.get("SizeY"), el.get("SizeX")) == (str(shape[0]), str(shape[1])):
            chosen = el
            break
    values = []
    for axis in ("X", "Y"):
        raw = chosen.get(f"PhysicalSize{axis}")
        if raw is None:
            values.append(None)
            continue
        unit = chosen.get(f"PhysicalSize{axis}Unit", "µm")
        factor = _UM_PER_UNIT.get(unit.strip().lower()) or _UM_PER_UNIT.get(unit.strip())
        if factor is None:
            return _Calibration(
                source="ome",
                problem=(
                    f"OME PhysicalSize{axis}Unit {unit!r} is not a length unit NodeScope "
                    "can convert to µm"
                ),
            )
        try:
            values.append(float(raw) * factor)
        except ValueError:
            return _Calibration(
                source="ome", problem=f"OME PhysicalSize{axis} {raw!r} is not a number"
            )
    x, y = values
    if x is None and y is None:
        return None
    x = y if x is None else x
    y = x if y is None else y
    return _Calibration(x, y, "ome", "OME PhysicalSizeX/Y")


_MPP_RE = re.compile(r"\|\s*MPP\s*=\s*([^|\r\n]*)")


def _aperio_calibration(description: str) -> _Calibration | None:
    if not description.startswith("Aperio"):
        return None
    match = _MPP_RE.search(description)
    if match is None:
        return None
    raw = match.group(1).strip()
    try:
        mpp = float(raw)
    except ValueError:
        return _Calibration(source="aperio-mpp", problem=f"Aperio MPP {raw!r} is not a number")
    return _Calibration(mpp, mpp, "aperio-mpp", "Aperio MPP")


def _rational(value) -> Fraction | None:
    """A TIFF RATIONAL tag value as a positive Fraction, or None."""
    try:
        if isinstance(value, tuple):
            num, den = value[:2]
            frac = Fraction(int(num), int(den))
        else:
            frac = Fraction(float(value))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return frac if frac > 0 else None


def _tiff_resolution_calibration(page, imagej: dict | None) -> _Calibration | None:
    tags = page.tags
    xtag = tags.get("XResolution")
    if xtag is None:
        return None
    xres = _rational(xtag.value)
    ytag = tags.get("YResolution")
    yres = _rational(ytag.value) if ytag is not None else xres
    if xres is None or yres is None:
        return None
    unit_tag = tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2  # TIFF default: inch
    if unit in (2, 3):
        um_per_unit = 25400 if unit == 2 else 10000
        x = float(um_per_unit / xres)
        y = float(um_per_unit / yres)
        per = "dpi" if unit == 2 else "pixels/cm"
        detail = f"TIFF resolution {float(xres):.6g} {per}"
        return _Calibration(x, y, "tiff-resolution", detail)
    if unit == 1 and imagej:
        raw_unit = str(imagej.get("unit", "")).strip()
        factor = _UM_PER_UNIT.get(raw_unit.lower())
        if factor is not None:
            x = float(factor / xres)
            y = float(factor / yres)
            return _Calibration(x, y, "imagej", f"ImageJ resolution in {raw_unit}")
    return None


def _tiff_calibration(tf, page, shape) -> _Calibration:
    description = page.description or ""
    if tf.is_ome:
        cal = _ome_calibration(tf.ome_metadata or "", shape)
        if cal is not None:
            return cal
    if tf.is_svs or description.startswith("Aperio"):
        cal = _aperio_calibration(description)
        if cal is not None:
            return cal
    imagej = None
    if tf.is_imagej:
        try:
            imagej = tf.imagej_metadata
        except Exception:  # noqa: BLE001 - a broken ImageJ description is just ignored
            imagej = None
    cal = _tiff_resolution_calibration(page, imagej)
    return cal if cal is not None else _Calibration()


# ------------------------------------------------------------------- TIFF layout


def _tiff_layout(name, shape, axes, page) -> str:
    """'rgb', 'planar' or 'palette' for a series, or raise ImageFormatError."""
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
            return "palette"
        raise ImageFormatError(
            f"{name}: grayscale image ({height} x {width}); "
            "NodeScope needs an RGB brightfield image"
        )
    if len(eff_axes) == 3 and "YX" in eff_axes:
        other = eff_axes.replace("YX", "")
        channels = eff_shape[eff_axes.index(other)]
        if other in "SC" and (channels == 3 or (channels == 4 and other == "S")):
            return "rgb" if eff_axes.endswith(other) else "planar"
        if other in "SC":
            raise ImageFormatError(
                f"{name}: {channels}-channel image (shape {shape_str}, axes {axes}); "
                "NodeScope needs an RGB (3-channel) or RGBA image"
            )
    raise ImageFormatError(
        f"{name}: not a single 2-D RGB image (shape {shape_str}, axes {axes}); "
        "NodeScope needs one RGB brightfield image per file - export one plane as RGB"
    )


def _open_tiff(p: Path, stack, log: list[str]) -> _Source:
    name = p.name
    try:
        tf = tifffile.TiffFile(p)
    except Exception as exc:  # noqa: BLE001 - decode boundary (MemoryError: absurd tag counts)
        raise ImageReadError(
            f"{name}: cannot read the TIFF structure ({_one_line(exc)}); "
            "the file is corrupt or truncated"
        ) from exc
    stack.append(tf)
    try:
        series_list = list(tf.series)
        if not series_list:
            why = f" ({log[0]})" if log else ""
            raise ImageReadError(
                f"{name}: the TIFF contains no readable image{why}; "
                "the file is corrupt or truncated"
            )
        if tf.is_svs:
            series = series_list[0]  # Baseline; not Thumbnail, Label or Macro
        else:
            def area(s):
                level = s.levels[0]
                ax, sh = level.axes, level.shape
                if "Y" in ax and "X" in ax:
                    return sh[ax.index("Y")] * sh[ax.index("X")]
                return 0

            series = max(series_list, key=area)  # first of the largest
        base = series.levels[0]
        axes, shape = base.axes, tuple(int(s) for s in base.shape)
        page = base.keyframe
        try:
            layout, layout_error = _tiff_layout(name, shape, axes, page), None
        except ImageFormatError as exc:
            layout, layout_error = "", exc
        height, width = shape[axes.index("Y")], shape[axes.index("X")]
        levels = []
        for level in series.levels:
            la, ls = level.axes, level.shape
            if "Y" in la and "X" in la:
                levels.append((int(ls[la.index("Y")]), int(ls[la.index("X")])))
        calibration = _tiff_calibration(tf, page, (height, width))
        fmt = "svs" if tf.is_svs else ("ome-tiff" if tf.is_ome else "tiff")
        dtype = np.dtype(base.dtype)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - decode boundary (MemoryError: absurd tag counts)
        raise ImageReadError(
            f"{name}: cannot read the TIFF metadata ({_one_line(exc)}); "
            "the file is corrupt or truncated"
        ) from exc
    return _Source(
        p,
        fmt,
        (height, width),
        levels,
        dtype,
        layout,
        calibration,
        extra={"tiff": tf, "series": series, "page": page, "bigtiff": bool(tf.is_bigtiff)},
        layout_error=layout_error,
    )


def _tiff_data_problem(src: _Source) -> str | None:
    """Why the base level's pixel data cannot all be in the file, or None (header only).

    Every page of the base level must list one strip or tile per chunk its
    size implies, and every listed byte range must end inside the file. A
    header patched to declare a huge size, or a file cut short, fails here
    before any pixel memory is allocated. Empty chunks (offset and byte count
    0, written by some tools for blank tiles) are allowed.
    """
    try:
        return _tiff_layout_problem(src)
    except Exception as exc:  # noqa: BLE001 - a damaged header (zero tile size, huge offsets...)
        return f"the strip/tile layout in the header is unreadable ({_one_line(exc)})"


def _tiff_layout_problem(src: _Source) -> str | None:
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
        with _Opened(path) as src:
            if src.format in ("tiff", "ome-tiff", "svs"):
                problem = _tiff_data_problem(src)
                if problem is not None:
                    raise ImageReadError(
                        f"{src.name}: {problem}; the file is corrupt or truncated"
                    )


def _declared_shape(path) -> tuple[str, tuple[int, int]] | None:
    """(format, (rows, cols)) the header declares, without decoding; None when unreadable.

    For TIFF-family files, the base level of the first series (the one
    :class:`pipeline.slide.Slide` reads). Decoder warnings are swallowed (the
    caller reads the file properly later).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _Opened(path) as src:
                if src.format not in ("tiff", "ome-tiff", "svs"):
                    return src.format, src.shape
                level = src.extra["tiff"].series[0].levels[0]
                axes, shape = level.axes, level.shape
                if "Y" not in axes or "X" not in axes:
                    return None
                return src.format, (int(shape[axes.index("Y")]), int(shape[axes.index("X")]))
    except Exception:  # noqa: BLE001 - unreadable: read_image reports what is wrong
        return None


def _decode_tiff(src: _Source) -> np.ndarray:
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


# ------------------------------------------------------------------ PNG and JPEG


def _png_header(p: Path) -> tuple[int, int]:
    """(bit depth, colour type) from the PNG IHDR chunk."""
    with open(p, "rb") as fh:
        head = fh.read(33)
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise ImageReadError(f"{p.name}: corrupt PNG (no IHDR header); the file is damaged")
    return head[24], head[25]


def _open_pillow(p: Path, kind: str, stack) -> _Source:
    name = p.name
    fh = open(p, "rb")
    stack.append(fh)
    bit_depth = 8
    try:
        if kind == "png":
            bit_depth, colour_type = _png_header(p)
            im = PngImagePlugin.PngImageFile(fh)
        else:
            im = JpegImagePlugin.JpegImageFile(fh)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - decode boundary
        raise ImageReadError(
            f"{name}: cannot read the {kind.upper()} header ({_one_line(exc)}); "
            "the file is corrupt or truncated"
        ) from exc
    stack.append(im)
    width, height = im.size
    mode = im.mode
    layout, layout_error = "pillow", None
    if kind == "png" and bit_depth == 16 and colour_type in (2, 6):
        layout = "png16"  # Pillow reduces 16-bit RGB to 8 bits by truncation
    elif mode in ("L", "LA", "1", "I", "F") or mode.startswith("I;"):
        layout_error = ImageFormatError(
            f"{name}: grayscale image ({height} x {width}); "
            "NodeScope needs an RGB brightfield image"
        )
    elif mode not in ("RGB", "RGBA", "P", "PA"):
        layout_error = ImageFormatError(
            f"{name}: {mode} image is not supported ({height} x {width}); "
            "NodeScope needs an RGB brightfield image"
        )
    cal = _Calibration()
    info = im.info
    if kind == "png":
        # Pillow sets info["dpi"] for PNG only when pHYs declares the metre unit.
        dpi = info.get("dpi")
        if dpi:
            x, y = (25400.0 / d if d else None for d in dpi)
            if x is not None and y is not None:
                ppm = float(dpi[0]) / 0.0254
                cal = _Calibration(x, y, "png-phys", f"PNG pHYs {ppm:.6g} pixels/m")
    else:
        unit = info.get("jfif_unit")
        density = info.get("jfif_density")
        if unit in (1, 2) and density and all(density):
            um_per_unit = 25400.0 if unit == 1 else 10000.0
            per = "dpi" if unit == 1 else "pixels/cm"
            cal = _Calibration(
                um_per_unit / density[0],
                um_per_unit / density[1],
                "jpeg-jfif",
                f"JPEG JFIF density {density[0]} {per}",
            )
    dtype = np.dtype(np.uint16 if bit_depth == 16 else np.uint8)
    return _Source(
        p,
        kind,
        (height, width),
        [(height, width)],
        dtype,
        layout,
        cal,
        extra={"image": im, "mode": mode},
        layout_error=layout_error,
    )


def _decode_pillow(src: _Source) -> np.ndarray:
    if src.layout == "png16":
        return imagecodecs.png_decode(src.path.read_bytes())
    im = src.extra["image"]
    im.load()
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    return np.array(im)  # a writeable copy (np.asarray would be read-only)


# ---------------------------------------------------------------- conversion


def _to_rgb_uint8(raw: np.ndarray, layout: str, name: str) -> np.ndarray:
    """(M, N, 3) C-contiguous uint8 from a decoded array (see read_image Notes)."""
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


def _check_layout(src: _Source) -> None:
    if src.layout_error is not None:
        raise src.layout_error
    dtype = src.dtype
    if src.layout == "palette" or dtype == np.uint8 or dtype == np.uint16 or dtype.kind == "f":
        return
    raise ImageFormatError(
        f"{src.name}: unsupported sample type {dtype}; NodeScope reads uint8, uint16, or "
        "float RGB with values in [0, 1] - convert the image to 8-bit RGB first"
    )


class _TifffileLog(logging.Handler):
    """Collect the warnings tifffile logs from this thread while a file is open.

    While attached, tifffile's records do not fall through to logging's
    last-resort stderr output, yet still propagate to any handler the
    application configured itself. Nothing is configured globally.
    """

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call must not break reading
            text = str(record.msg)
        text = "tifffile: " + " ".join(text.split())
        if text not in self.messages:
            self.messages.append(text)


class _Opened:
    """Context manager around an opened source; closes every handle it opened."""

    def __init__(self, path):
        self.path = path
        self._handles: list = []
        self.log = _TifffileLog()
        self._logger = logging.getLogger("tifffile")

    def __enter__(self) -> _Source:
        self._logger.addHandler(self.log)
        try:
            p, kind = _open_checked(self.path)
            if kind == "tiff":
                return _open_tiff(p, self._handles, self.log.messages)
            return _open_pillow(p, kind, self._handles)
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


# ------------------------------------------------------------------- public API


def is_supported(path) -> bool:
    """Return True when the file name ends with one of :data:`SUPPORTED_SUFFIXES`.

    Only the name is looked at (case-insensitively); use it to pick image files
    out of a folder. :func:`read_image` itself decides the type by content.

    Parameters
    ----------
    path : str or os.PathLike
        File name or path; the file need not exist.

    Returns
    -------
    bool
        Whether NodeScope reads files with this extension.

    Raises
    ------
    TypeError
        When ``path`` is not a str or os.PathLike.

    Examples
    --------
    >>> is_supported("slides/CMU-1.SVS")
    True
    >>> is_supported("crop.ome.tiff"), is_supported("notes.txt")
    (True, False)
    """
    lower = _as_path(path).name.lower()
    return lower.endswith(SUPPORTED_SUFFIXES)


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
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "tile.tif"
    ...     write_calibrated_tiff(path, np.zeros((8, 8, 3), np.uint8), pixel_size_um=0.5)
    ...     read_pixel_size(path)
    (0.5, 'tiff-resolution')
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _Opened(path) as src:
            value = _resolve_file_pixel_size(src.name, src.calibration)
    return (value, src.calibration.source if value is not None else None)


def read_image(path, *, pixel_size_um=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Read the full-resolution RGB pixels of an image and its pixel size in µm.

    Parameters
    ----------
    path : str or os.PathLike
        Image file. The type is decided by content (first bytes), not by the
        extension: TIFF, BigTIFF, OME-TIFF, pyramidal TIFF, Aperio SVS, PNG or
        JPEG. For pyramidal files and SVS the base (full-resolution) level is
        read; SVS thumbnail, label and macro images are ignored. For TIFF files
        with several images the largest one is read.
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
    collected in ``metadata["warnings"]`` instead of being shown. Pillow's decompression-bomb limit is not used; ``max_pixels`` is.

    See Also
    --------
    read_pixel_size : Pixel size only, without decoding pixels.
    write_calibrated_tiff : Write an image that this function reads back.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
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
    p = _as_path(path)
    name = p.name
    if pixel_size_um is not None:
        try:
            pixel_size_um = check_pixel_size(pixel_size_um, name="pixel_size_um")
        except PixelSizeError as exc:
            raise PixelSizeError(f"{name}: {exc}") from None
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
        opened = _Opened(p)
        with opened as src:
            _check_layout(src)
            cal = src.calibration
            file_error = None
            try:
                file_value = _resolve_file_pixel_size(name, cal)
            except PixelSizeError as exc:
                if pixel_size_um is None:
                    raise
                file_value, file_error = None, str(exc)
            if pixel_size_um is None and file_value is None:
                raise PixelSizeError(
                    f"{name}: no pixel size in the file ({_MISSING[src.format]}); {_PASS_HINT}"
                )
            height, width = src.shape
            if height * width > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: image is {height} x {width} = {height * width:,} pixels, more than "
                    f"max_pixels={max_pixels:,}; pass a larger max_pixels=... (CLI: "
                    f"--max-megapixels) if you have the memory (about "
                    f"{3 * height * width / 1e9:.1f} GB as 8-bit RGB)"
                )
            is_tiff = src.format in ("tiff", "ome-tiff", "svs")
            if is_tiff:
                problem = _tiff_data_problem(src)
                if problem is not None:
                    raise ImageReadError(f"{name}: {problem}; the file is corrupt or truncated")
            try:
                raw = _decode_tiff(src) if is_tiff else _decode_pillow(src)
                rgb = _to_rgb_uint8(raw, src.layout if src.layout == "planar" else "rgb", name)
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
                    f"{name}: cannot decode the pixel data ({_one_line(exc)}); "
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
        "bigtiff": bool(src.extra.get("bigtiff", False)),
        "warnings": messages,
    }
    return rgb, value, metadata


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
    (ResolutionUnit 3), so :func:`read_image` reads the pixel size back
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
    >>> rgb = np.full((512, 512, 3), 200, dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "slide.tif"
    ...     write_calibrated_tiff(path, rgb, pixel_size_um=0.5, pyramid_levels=2)
    ...     image, pixel_size, meta = read_image(path)
    >>> pixel_size, meta["levels"]
    (0.5, [(512, 512), (256, 256), (128, 128)])
    """
    p = _as_path(path)
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
