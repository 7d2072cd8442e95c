"""Whole-slide images read region by region, never whole.

:class:`Slide` opens a (pyramidal) TIFF, OME-TIFF or SVS with
:func:`pipeline.io.open_levels` (tifffile's zarr store, and the base image every
NodeScope reader takes): any region of any pyramid level is decoded on demand,
tile by tile, so memory follows the region asked for, not the slide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import ImageReadError, PixelSizeError, open_levels

__all__ = ["Slide"]


class Slide:
    """A lazily read RGB whole-slide image.

    Parameters
    ----------
    path : path-like
        TIFF, BigTIFF, OME-TIFF or SVS, pyramidal or not.
    pixel_size_um : float, optional, keyword-only
        µm per pixel of the base level; overrides the file's.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    shape : (int, int)
        Base level (rows, cols).
    pixel_size_um : float
        Base-level µm per pixel.
    pixel_size_source : str
        ``"argument"`` or where the file's value came from (``"ome"``, ...).
    level_shapes : list of (int, int)
        Every pyramid level, base first.

    Raises
    ------
    ImageReadError, ImageFormatError, PixelSizeError
        For files tifffile cannot open, layouts other than 8-bit interleaved
        RGB(A) (:func:`pipeline.io.open_levels`), or no pixel size. A
        file whose header declares more pixel data than the file holds
        (truncated, or a corrupt header declaring a huge size) is refused when
        opened (:func:`pipeline.io.verify_pixel_data`), so it never starts a
        long tile-by-tile read. No pixel limit applies: regions are decoded on
        demand, so memory follows the region asked for.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from pipeline.io import write_calibrated_tiff
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "s.tif"
    >>> write_calibrated_tiff(path, np.zeros((512, 512, 3), np.uint8), pixel_size_um=0.5,
    ...                       tile=(256, 256), pyramid_levels=1)
    >>> with Slide(path) as s:
    ...     s.shape, s.level_shapes[1], s.read(0, 10, 0, 20).shape
    ((512, 512), (256, 256), (10, 20, 3))
    """

    def __init__(self, path, *, pixel_size_um=None):
        self.path = Path(path)
        self._levels = None
        levels = open_levels(self.path, pixel_size_um=pixel_size_um)
        info = levels.info
        if info.pixel_size_um is None:
            levels.close()
            raise PixelSizeError(info.pixel_size_error)
        self._levels = levels
        self.pixel_size_um = info.pixel_size_um
        self.pixel_size_source = info.pixel_size_source
        self.level_shapes = [tuple(shape) for shape in info.levels]
        self.shape = self.level_shapes[0]

    def level_pixel_size(self, level: int) -> float:
        """µm per pixel of a pyramid level (from its size relative to the base)."""
        return self.pixel_size_um * self.shape[1] / self.level_shapes[level][1]

    def level_for(self, target_um: float) -> int:
        """The coarsest level whose pixels are no larger than ``target_um``."""
        best = 0
        for i in range(len(self._levels)):
            if self.level_pixel_size(i) <= target_um * 1.001:
                best = i
        return best

    def read(self, y0, y1, x0, x1, *, level=0) -> np.ndarray:
        """Decode one region of a level as an (M, N, 3) uint8 array."""
        arr = self._levels[level]
        try:
            region = np.asarray(arr[..., int(y0):int(y1), int(x0):int(x1), :])
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged tile: name the file, one line
            raise ImageReadError(
                f"{self.path.name}: cannot decode rows {int(y0)}-{int(y1)}, columns "
                f"{int(x0)}-{int(x1)} of level {level} ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:160]}); the file is corrupt or truncated"
            ) from None
        region = region.reshape(region.shape[-3:])[..., :3]  # uint8 (open_levels checks)
        return np.ascontiguousarray(region)

    def read_level(self, level: int) -> np.ndarray:
        """A whole pyramid level (use a small one)."""
        m, n = self.level_shapes[level]
        return self.read(0, m, 0, n, level=level)

    def close(self) -> None:
        """Release the open file."""
        if self._levels is not None:
            self._levels.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __getitem__(self, key):
        """``slide[r0:r1, c0:c1]`` reads that base-level region (a numpy-like view)."""
        rows, cols = key[0], key[1]
        return self.read(rows.start or 0, rows.stop if rows.stop is not None else self.shape[0],
                         cols.start or 0, cols.stop if cols.stop is not None else self.shape[1])
