"""An image file as opened: its type from the first bytes, its declared geometry, no pixels.

:func:`check_file` decides what a path holds (TIFF, PNG or JPEG) from its
content; the format modules (:mod:`pipeline.io.tiff`, :mod:`pipeline.io.pillow`)
turn it into a :class:`Source`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .calibration import Calibration
from .errors import ImageFormatError, ImageReadError, as_path

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TIFF_FORMATS",
    "Source",
    "TifffileLog",
    "check_file",
    "is_supported",
]

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

#: Values of ``format`` for files read through tifffile.
TIFF_FORMATS = ("tiff", "ome-tiff", "svs")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass
class Source:
    """An opened image file: declared geometry plus what is needed to decode the base image.

    ``layout`` is ``"rgb"`` (channels last), ``"planar"`` (channels first),
    ``"palette"``, ``"pillow"`` or ``"png16"``; ``layout_error`` is the
    :class:`ImageFormatError` :func:`pipeline.io.read_image` raises for a layout
    it refuses (kept, not raised, so the pixel size can still be read).
    ``extra`` holds the open handles: for TIFF ``tiff`` (the TiffFile),
    ``series`` (the base image's series), ``series_index`` and ``page`` (its
    first page); for PNG/JPEG ``image`` (the Pillow image) and ``mode``.
    """

    path: Path
    format: str
    shape: tuple[int, int]
    levels: list[tuple[int, int]]
    dtype: np.dtype
    layout: str
    calibration: Calibration
    samples: int = 3
    compression: str = "none"
    tiled: bool = False
    bigtiff: bool = False
    extra: dict = field(default_factory=dict)
    layout_error: ImageFormatError | None = None

    @property
    def name(self) -> str:
        return self.path.name


def is_supported(path) -> bool:
    """Return True when the file name ends with one of :data:`SUPPORTED_SUFFIXES`.

    Only the name is looked at (case-insensitively); use it to pick image files
    out of a folder. :func:`pipeline.io.read_image` itself decides the type by
    content.

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
    lower = as_path(path).name.lower()
    return lower.endswith(SUPPORTED_SUFFIXES)


def _sniff(head: bytes) -> str | None:
    if head.startswith(_TIFF_MAGIC):
        return "tiff"
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    return None


def check_file(path) -> tuple[Path, str]:
    """Return (path, ``"tiff"``, ``"png"`` or ``"jpeg"`` from the content) or raise.

    Raises FileNotFoundError for a missing path, ImageReadError for a folder,
    an empty file, or content that is not TIFF, PNG or JPEG.
    """
    p = as_path(path)
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


class TifffileLog(logging.Handler):
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
