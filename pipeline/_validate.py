"""Validation helpers shared by the public functions (validate once, at the boundary)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

#: Largest pixel size accepted as a microscope calibration, in µm per pixel.
MAX_PIXEL_SIZE_UM = 100.0


class PixelSizeError(ValueError):
    """A pixel size is missing, not a number, or outside (0, 100] µm per pixel."""


def check_pixel_size(value, *, name: str = "pixel_size_um", source: str | None = None) -> float:
    """Return ``value`` as a float pixel size in µm, or raise a clear error.

    Parameters
    ----------
    value : float
        Pixel size in micrometres per pixel.
    name : str, keyword-only
        Argument name used in the error message.
    source : str, optional, keyword-only
        Where the value came from (a file name), for the message.

    Raises
    ------
    PixelSizeError
        When ``value`` is None, not a real number, NaN/inf, <= 0 or > 100 µm/px.

    Examples
    --------
    >>> check_pixel_size(0.5)
    0.5
    """
    where = f" (from {source})" if source else ""
    if value is None:
        raise PixelSizeError(f"{name} is missing{where}; give the pixel size in µm per pixel")
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise PixelSizeError(
            f"{name} must be a number of µm per pixel, got {value!r}{where}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise PixelSizeError(f"{name} must be finite, got {value}{where}; give µm per pixel")
    if value <= 0:
        raise PixelSizeError(f"{name} must be > 0 µm per pixel, got {value:g}{where}")
    if value > MAX_PIXEL_SIZE_UM:
        raise PixelSizeError(
            f"{name} = {value:g} µm per pixel{where} is not a microscope calibration "
            f"(must be <= {MAX_PIXEL_SIZE_UM:g}); give the real pixel size in µm"
        )
    return value


def check_choice(value, choices, *, name: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError naming them."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {opts}, got {value!r}")
    return value


def check_positive(value, *, name: str, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite positive float, or raise ValueError naming ``name``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def check_fraction(value, *, name: str, below_one: bool = False) -> float:
    """Return ``value`` as a float in [0, 1] ([0, 1) with ``below_one``), or raise naming ``name``."""
    value = check_positive(value, name=name, allow_zero=True)
    if value > 1 or (below_one and value == 1):
        raise ValueError(f"{name} must be a fraction in [0, 1{')' if below_one else ']'}, got {value!r}")
    return value


def check_pattern_thresholds(min_cells, cohesive_max, single_file_min) -> tuple[int, float, float]:
    """The growth-pattern call's thresholds, checked (see :func:`pipeline.pattern.pattern_summary`)."""
    if isinstance(min_cells, bool) or not isinstance(min_cells, Integral) or min_cells < 1:
        raise ValueError(f"min_cells must be a whole number of cells >= 1, got {min_cells!r}")
    cohesive_max = check_fraction(cohesive_max, name="cohesive_max")
    single_file_min = check_fraction(single_file_min, name="single_file_min")
    if cohesive_max >= single_file_min:
        raise ValueError(f"cohesive_max ({cohesive_max:g}) must be smaller than single_file_min "
                         f"({single_file_min:g}); the indices in between are 'mixed'")
    return int(min_cells), cohesive_max, single_file_min
