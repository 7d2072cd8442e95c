"""Mutated image files for fuzzing :func:`pipeline.io.read_image` (bench/fuzz_read.py and tests/test_bad_inputs.py).

Small valid seed files (TIFF in strips and tiles, BigTIFF, OME-TIFF, pyramidal,
planar, 16-bit, PNG, JPEG) are mutated by seeded byte flips, overwrites of
header fields with extreme values, truncations and insertions. Reading a
mutant may succeed or raise one of :data:`ALLOWED`; anything else is a bug.
"""

from __future__ import annotations

import faulthandler
import io
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from pipeline.io import ImageReadError, PixelSizeError, read_image, write_calibrated_tiff

#: What read_image may raise for a damaged file.
ALLOWED = (ImageReadError, PixelSizeError, FileNotFoundError)

#: Images larger than this are refused before decoding (keeps every case small).
MAX_PIXELS = 1_000_000

_EXTREMES = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 200_000, 65_535 * 3)


def seed_files() -> dict[str, bytes]:
    """Small valid images, by name (the name's suffix is kept for the mutants)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(48, 40, 3), dtype=np.uint8)
    seeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def tiff(name, write):
            path = tmp / name
            write(path)
            seeds[name] = path.read_bytes()

        tiff("strips.tif", lambda p: write_calibrated_tiff(p, rgb, pixel_size_um=0.5, compression=None))
        tiff("zlib_tiles.tif", lambda p: write_calibrated_tiff(p, np.tile(rgb, (2, 2, 1)), pixel_size_um=0.5,
                                                                tile=(32, 32)))
        tiff("pyramid.tif", lambda p: write_calibrated_tiff(p, np.tile(rgb, (2, 2, 1)), pixel_size_um=0.5,
                                                             tile=(16, 16), pyramid_levels=2))
        tiff("big.btf", lambda p: tifffile.imwrite(p, rgb, photometric="rgb", bigtiff=True,
                                                   resolution=(2e4, 2e4), resolutionunit="CENTIMETER"))
        tiff("meta.ome.tif", lambda p: tifffile.imwrite(p, rgb, photometric="rgb", ome=True,
                                                        metadata={"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}))
        tiff("planar16.tif", lambda p: tifffile.imwrite(
            p, np.moveaxis(rgb, -1, 0).astype(np.uint16) * 257, photometric="rgb", planarconfig="separate",
            rowsperstrip=8, compression="lzw", resolution=(2e4, 2e4), resolutionunit="CENTIMETER"))
    for fmt, name in (("PNG", "img.png"), ("JPEG", "img.jpg")):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, dpi=(50800, 50800))
        seeds[name] = buf.getvalue()
    return seeds


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One seeded mutation: byte flips, an extreme header field, a truncation or an insertion."""
    buf = bytearray(data)
    if not buf:  # an empty file stays empty (itself a case)
        return data
    kind = int(rng.integers(5))
    header = min(len(buf), 512)
    if kind == 0:  # flip a few random bytes, mostly in the header
        for _ in range(int(rng.integers(1, 9))):
            span = header if rng.random() < 0.7 else len(buf)
            buf[int(rng.integers(span))] = int(rng.integers(256))
    elif kind == 1:  # overwrite a 2- or 4-byte field of the header with an extreme value
        width = 2 if rng.random() < 0.5 else 4
        pos = int(rng.integers(max(1, header - width)))
        value = int(_EXTREMES[int(rng.integers(len(_EXTREMES)))]) & ((1 << (8 * width)) - 1)
        order = "little" if data[:2] != b"MM" else "big"
        buf[pos:pos + width] = value.to_bytes(width, order)
    elif kind == 2:  # truncate
        buf = buf[: int(rng.integers(len(buf)))]
    elif kind == 3:  # insert random bytes
        pos = int(rng.integers(len(buf) + 1))
        buf[pos:pos] = rng.bytes(int(rng.integers(1, 17)))
    else:  # two of the above
        return mutate(mutate(data, rng), rng)
    return bytes(buf)


def read_mutant(path: Path, *, pixel_size_um=None, timeout_s: float = 20.0) -> str:
    """Read one file: ``"ok"`` or the allowed exception's class name; anything else raises.

    ``pixel_size_um`` given: the file's calibration is not needed, so damaged
    pixel data is reached more often. A case that runs longer than
    ``timeout_s`` dumps every thread's traceback and ends the process
    (faulthandler), so a hang fails loudly instead of blocking.
    """
    faulthandler.dump_traceback_later(timeout_s, exit=True)
    try:
        read_image(path, pixel_size_um=pixel_size_um, max_pixels=MAX_PIXELS)
    except ALLOWED as exc:
        message = str(exc)
        if "\n" in message or not message.startswith(path.name):
            raise AssertionError(f"not one line naming the file: {message!r}") from exc
        return type(exc).__name__
    finally:
        faulthandler.cancel_dump_traceback_later()
    return "ok"
