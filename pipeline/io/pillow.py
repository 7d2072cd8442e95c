"""PNG and JPEG through Pillow (16-bit RGB PNG through imagecodecs, which keeps all 16 bits)."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
from PIL import JpegImagePlugin, PngImagePlugin

from .calibration import jpeg_calibration, png_calibration
from .errors import ImageFormatError, ImageReadError, one_line
from .source import Source

__all__ = ["decode_pillow", "open_pillow"]

# Samples per pixel of the Pillow modes NodeScope reads (P: a palette index).
_SAMPLES = {"RGB": 3, "RGBA": 4, "P": 1, "PA": 2}


def _png_header(p: Path) -> tuple[int, int]:
    """(bit depth, colour type) from the PNG IHDR chunk."""
    with open(p, "rb") as fh:
        head = fh.read(33)
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise ImageReadError(f"{p.name}: corrupt PNG (no IHDR header); the file is damaged")
    return head[24], head[25]


def open_pillow(p: Path, kind: str, handles: list) -> Source:
    """Open a PNG (``kind="png"``) or JPEG header with Pillow; no pixels decoded.

    The file and the Pillow image are appended to ``handles`` (the caller
    closes them). Pillow's decompression-bomb limit does not apply here.
    """
    name = p.name
    fh = open(p, "rb")
    handles.append(fh)
    bit_depth = 8
    colour_type = None
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
            f"{name}: cannot read the {kind.upper()} header ({one_line(exc)}); "
            "the file is corrupt or truncated"
        ) from exc
    handles.append(im)
    width, height = im.size
    mode = im.mode
    layout, layout_error = "pillow", None
    samples = _SAMPLES.get(mode, 3)
    if kind == "png" and bit_depth == 16 and colour_type in (2, 6):
        layout = "png16"  # Pillow reduces 16-bit RGB to 8 bits by truncation
        samples = 3 if colour_type == 2 else 4
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
    cal = png_calibration(im.info) if kind == "png" else jpeg_calibration(im.info)
    dtype = np.dtype(np.uint16 if bit_depth == 16 else np.uint8)
    return Source(
        p,
        kind,
        (height, width),
        [(height, width)],
        dtype,
        layout,
        cal,
        samples=samples,
        compression="deflate" if kind == "png" else "jpeg",
        extra={"image": im, "mode": mode},
        layout_error=layout_error,
    )


def decode_pillow(src: Source) -> np.ndarray:
    """The whole image as stored ((M, N, 3) or (M, N, 4); palettes expanded to RGBA)."""
    if src.layout == "png16":
        return imagecodecs.png_decode(src.path.read_bytes())
    im = src.extra["image"]
    im.load()
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    return np.array(im)  # a writeable copy (np.asarray would be read-only)
