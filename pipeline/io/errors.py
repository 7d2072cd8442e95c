"""Errors for files that cannot be read, and the helpers that keep their messages on one line."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ImageFormatError", "ImageReadError", "ImageTooLargeError", "as_path", "one_line"]


class ImageReadError(ValueError):
    """A file cannot be read as an image: empty, corrupt, truncated or not an image.

    Base class of :class:`ImageFormatError` and :class:`ImageTooLargeError`.
    The message is one line and starts with the file name.
    """


class ImageFormatError(ImageReadError):
    """An image has a layout NodeScope cannot use (grayscale, 2 channels, stacks, ...)."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the ``max_pixels`` limit allows."""


def as_path(path, *, name: str = "path") -> Path:
    """``path`` as a Path, or TypeError when it is not a str or os.PathLike."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def one_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` of an exception on one line, shortened to ``limit`` characters.

    Examples
    --------
    >>> one_line(ValueError("bad\\n  value"))
    'ValueError: bad value'
    """
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind
