"""Where an analysis looks: the overview, the tissue samples and the processing tiles.

The same geometry serves an image held in memory and a slide read from its file
(:class:`pipeline.slide.Slide`): anything sliced as ``image[r0:r1, c0:c1]``.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "SAMPLE_SIDE_PX",
    "TILE_MARGIN_UM",
    "overview_pixel_size_um",
    "tile_grid",
    "tissue_samples",
    "UpsampledMask",
    "slide_overview",
]

#: Side of a full-resolution tissue sample, pixels.
SAMPLE_SIDE_PX = 512

#: Margin around each tile, µm: the largest nucleus (30 µm across) plus its ring
#: (4 µm) and smoothing, so that a nucleus whose centre lies in the core is seen whole.
TILE_MARGIN_UM = 25.0


def overview_pixel_size_um(shape, pixel_size_um: float) -> float:
    """Pixel size of an image's overview: about 2 µm (a tumour cell is still ~7
    pixels across, so sparse DAB is seen), coarser for very large slides (<= 8000
    pixels a side).

    Examples
    --------
    >>> overview_pixel_size_um((1000, 1000), 0.5)
    2.0
    >>> overview_pixel_size_um((100_000, 80_000), 0.25)
    3.125
    """
    return max(2.0, pixel_size_um, max(shape) * pixel_size_um / 8000)


def tile_grid(shape, tile_px: int, margin_px: int) -> list:
    """(core, padded) row/col bounds covering an image; cores do not overlap.

    Each item is ``((r0, r1, c0, c1), (pr0, pr1, pc0, pc1))``.

    Examples
    --------
    >>> tile_grid((100, 150), 100, 10)[1]
    ((0, 100, 100, 150), (0, 100, 90, 150))
    """
    m, n = shape
    out = []
    for r0 in range(0, m, tile_px):
        for c0 in range(0, n, tile_px):
            r1, c1 = min(m, r0 + tile_px), min(n, c0 + tile_px)
            pr0, pc0 = max(0, r0 - margin_px), max(0, c0 - margin_px)
            pr1, pc1 = min(m, r1 + margin_px), min(n, c1 + margin_px)
            out.append(((r0, r1, c0, c1), (pr0, pr1, pc0, pc1)))
    return out


def tissue_samples(image, tissue, small_tissue, n_samples: int, *, side: int = SAMPLE_SIDE_PX):
    """Up to ``n_samples`` full-resolution squares spread evenly over the tissue, stacked.

    Parameters
    ----------
    image : (M, N, 3) array or pipeline.slide.Slide
        Sliced as ``image[r0:r1, c0:c1]``.
    tissue : (M, N) bool array or UpsampledMask
        Full-resolution tissue mask, sliced the same way.
    small_tissue : (m, n) bool ndarray
        Low-resolution tissue mask (where samples are centred).
    n_samples : int
    side : int, keyword-only
        Sample side, pixels.

    Returns
    -------
    sub : (K * side, side, 3) uint8 ndarray
        The samples stacked vertically (narrow ones padded with white).
    sub_tissue : (K * side, side) bool ndarray
    """
    shape = tuple(image.shape[:2])
    ys, xs = np.nonzero(small_tissue)
    order = np.linspace(0, len(ys) - 1, min(n_samples, len(ys))).astype(int)
    samples, masks = [], []
    for k in order:
        cy = int((ys[k] + 0.5) / small_tissue.shape[0] * shape[0])
        cx = int((xs[k] + 0.5) / small_tissue.shape[1] * shape[1])
        y0 = int(np.clip(cy - side // 2, 0, max(0, shape[0] - side)))
        x0 = int(np.clip(cx - side // 2, 0, max(0, shape[1] - side)))
        y1, x1 = min(shape[0], y0 + side), min(shape[1], x0 + side)
        samples.append(np.asarray(image[y0:y1, x0:x1]))
        masks.append(np.asarray(tissue[y0:y1, x0:x1]))
    width = max(a.shape[1] for a in samples)
    sub = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=255)
                          for a in samples])
    sub_tissue = np.concatenate([np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in masks])
    return sub, sub_tissue


class UpsampledMask:
    """A low-resolution mask read at full resolution, region by region.

    Examples
    --------
    >>> import numpy as np
    >>> m = UpsampledMask(np.array([[True, False]]), (4, 8))
    >>> m[0:1, 2:6].tolist()
    [[True, True, False, False]]
    """

    def __init__(self, small: np.ndarray, shape: tuple[int, int]):
        self.small = small
        self.shape = shape
        self.fy = small.shape[0] / shape[0]
        self.fx = small.shape[1] / shape[1]

    def __getitem__(self, key):
        rows, cols = key
        r = np.minimum((np.arange(rows.start, rows.stop) * self.fy).astype(int), self.small.shape[0] - 1)
        c = np.minimum((np.arange(cols.start, cols.stop) * self.fx).astype(int), self.small.shape[1] - 1)
        return self.small[np.ix_(r, c)]


def slide_overview(slide, target_um: float, *, chunk_px: int = 4096):
    """The slide at about ``target_um`` per pixel, from a pyramid level or by streaming tiles.

    Returns
    -------
    overview : (P, Q, 3) uint8 ndarray
    pixel_size_um : float
        Its µm per pixel.
    """
    level = slide.level_for(target_um)
    level_um = slide.level_pixel_size(level)
    factor = max(1, int(target_um // level_um))
    m, n = slide.level_shapes[level]
    out_shape = (max(1, m // factor), max(1, n // factor))
    if factor == 1:
        return slide.read_level(level), level_um
    out = np.zeros((*out_shape, 3), np.uint8)
    step = (chunk_px // factor) * factor
    for y0 in range(0, out_shape[0] * factor, step):
        for x0 in range(0, out_shape[1] * factor, step):
            y1, x1 = min(y0 + step, out_shape[0] * factor), min(x0 + step, out_shape[1] * factor)
            block = slide.read(y0, y1, x0, x1, level=level)
            out[y0 // factor:y1 // factor, x0 // factor:x1 // factor] = cv2.resize(
                block, ((x1 - x0) // factor, (y1 - y0) // factor), interpolation=cv2.INTER_AREA)
    return out, level_um * factor
