"""Pixel size from file metadata: OME-XML, Aperio MPP, TIFF resolution, ImageJ, PNG pHYs, JPEG JFIF.

Each reader returns a :class:`Calibration` (what the file says, not yet
validated); :func:`resolve_pixel_size` turns it into a square pixel size in µm
or a one-line :class:`~pipeline._validate.PixelSizeError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from xml.etree import ElementTree

from .._validate import MAX_PIXEL_SIZE_UM, PixelSizeError, check_pixel_size

__all__ = [
    "PASS_HINT",
    "PIXEL_SIZE_SOURCES",
    "Calibration",
    "check_pixel_size_argument",
    "jpeg_calibration",
    "missing_message",
    "png_calibration",
    "resolve_pixel_size",
    "tiff_calibration",
]

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

PASS_HINT = "pass pixel_size_um=... (CLI: --pixel-size UM)"

# Two pixel sizes (X and Y) are "square" when they differ by at most this fraction.
_ANISOTROPY_TOLERANCE = 0.01

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

_MPP_RE = re.compile(r"\|\s*MPP\s*=\s*([^|\r\n]*)")


@dataclass
class Calibration:
    """What a file says about its pixel size (nothing validated yet)."""

    x_um: float | None = None
    y_um: float | None = None
    source: str | None = None
    detail: str = ""  # e.g. "TIFF resolution 72 dpi"
    problem: str | None = None  # a declared but unusable calibration


def check_pixel_size_argument(name: str, value) -> float | None:
    """A caller's ``pixel_size_um`` as a float (None stays None); PixelSizeError naming the file."""
    if value is None:
        return None
    try:
        return check_pixel_size(value, name="pixel_size_um")
    except PixelSizeError as exc:
        raise PixelSizeError(f"{name}: {exc}") from None


def missing_message(name: str, fmt: str) -> str:
    """The one-line message for a file of format ``fmt`` that declares no pixel size."""
    return f"{name}: no pixel size in the file ({_MISSING[fmt]}); {PASS_HINT}"


def resolve_pixel_size(name: str, cal: Calibration) -> float | None:
    """Validated pixel size from a file calibration, None when none, else PixelSizeError.

    Examples
    --------
    >>> resolve_pixel_size("a.tif", Calibration(0.5, 0.502, "ome", "OME PhysicalSizeX/Y"))
    0.501
    >>> resolve_pixel_size("a.tif", Calibration()) is None
    True
    """
    if cal.problem is not None:
        raise PixelSizeError(f"{name}: {cal.problem}; {PASS_HINT}")
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
                f"pixel size, {PASS_HINT}"
            ) from None
    mean = 0.5 * (x + y)
    if abs(x - y) > _ANISOTROPY_TOLERANCE * mean:
        raise PixelSizeError(
            f"{name}: pixels are not square in {label}: X = {x:.6g} µm, Y = {y:.6g} µm "
            f"(differ by {100 * abs(x - y) / mean:.2g} %); NodeScope needs square pixels - "
            f"resample the image first, or, if the metadata is wrong, {PASS_HINT}"
        )
    return mean


# ---------------------------------------------------------------------------- TIFF


def _xml_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ome_calibration(xml: str, shape: tuple[int, int]) -> Calibration | None:
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
            return Calibration(
                source="ome",
                problem=(
                    f"OME PhysicalSize{axis}Unit {unit!r} is not a length unit NodeScope "
                    "can convert to µm"
                ),
            )
        try:
            values.append(float(raw) * factor)
        except ValueError:
            return Calibration(
                source="ome", problem=f"OME PhysicalSize{axis} {raw!r} is not a number"
            )
    x, y = values
    if x is None and y is None:
        return None
    x = y if x is None else x
    y = x if y is None else y
    return Calibration(x, y, "ome", "OME PhysicalSizeX/Y")


def _aperio_calibration(description: str) -> Calibration | None:
    if not description.startswith("Aperio"):
        return None
    match = _MPP_RE.search(description)
    if match is None:
        return None
    raw = match.group(1).strip()
    try:
        mpp = float(raw)
    except ValueError:
        return Calibration(source="aperio-mpp", problem=f"Aperio MPP {raw!r} is not a number")
    return Calibration(mpp, mpp, "aperio-mpp", "Aperio MPP")


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


def _tiff_resolution_calibration(page, imagej: dict | None) -> Calibration | None:
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
        return Calibration(x, y, "tiff-resolution", detail)
    if unit == 1 and imagej:
        raw_unit = str(imagej.get("unit", "")).strip()
        factor = _UM_PER_UNIT.get(raw_unit.lower())
        if factor is not None:
            x = float(factor / xres)
            y = float(factor / yres)
            return Calibration(x, y, "imagej", f"ImageJ resolution in {raw_unit}")
    return None


def tiff_calibration(tf, page, shape: tuple[int, int]) -> Calibration:
    """Calibration of the image ``page`` (rows x cols ``shape``) of the open TiffFile ``tf``.

    OME-XML first, then Aperio MPP, then TIFF resolution (with ImageJ's
    ``unit=`` when the TIFF unit is NONE); an empty Calibration when none.
    """
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
    return cal if cal is not None else Calibration()


# ---------------------------------------------------------------------- PNG, JPEG


def png_calibration(info: dict) -> Calibration:
    """Calibration from a Pillow PNG ``info`` dict (its ``pHYs`` chunk in pixels per metre)."""
    # Pillow sets info["dpi"] for PNG only when pHYs declares the metre unit.
    dpi = info.get("dpi")
    if dpi:
        x, y = (25400.0 / d if d else None for d in dpi)
        if x is not None and y is not None:
            ppm = float(dpi[0]) / 0.0254
            return Calibration(x, y, "png-phys", f"PNG pHYs {ppm:.6g} pixels/m")
    return Calibration()


def jpeg_calibration(info: dict) -> Calibration:
    """Calibration from a Pillow JPEG ``info`` dict (JFIF density per inch or per cm)."""
    unit = info.get("jfif_unit")
    density = info.get("jfif_density")
    if unit in (1, 2) and density and all(density):
        um_per_unit = 25400.0 if unit == 1 else 10000.0
        per = "dpi" if unit == 1 else "pixels/cm"
        return Calibration(
            um_per_unit / density[0],
            um_per_unit / density[1],
            "jpeg-jfif",
            f"JPEG JFIF density {density[0]} {per}",
        )
    return Calibration()
