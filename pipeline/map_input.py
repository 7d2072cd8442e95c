"""The tumour map's input: an image or slide read at the network's pixel size, chunk by chunk.

Helpers of :mod:`pipeline.heatmap` (not part of the package's API). Every pixel of a chunk is computed from the image's
own pixels around it (mirrored beyond the image's edges), never from the chunk's edge, so the map
does not depend on how it is chunked.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["resample_dims", "needed_chunks", "source_margin", "read_resampled", "read_mirrored"]


def resample_dims(shape, scale):
    """(rows, cols) of an image of ``shape`` resampled by ``scale`` (model pixels per source pixel), at least 1 each."""
    return max(1, int(round(shape[0] * scale))), max(1, int(round(shape[1] * scale)))


def needed_chunks(origins, mask, dims, step, s):
    """The chunk origins (model pixels) whose outputs lie within two map steps (and one mask
    pixel) of ``mask``, a boolean picture of the whole image at any resolution."""
    if mask.ndim != 2 or not mask.size:
        raise ValueError(f"mask must be a 2-D boolean array covering the image, got shape {mask.shape}")
    fy, fx = mask.shape[0] / dims[0], mask.shape[1] / dims[1]  # mask pixels per model pixel
    reach = 2 * s
    keep = []
    for oy, ox in origins:
        r0 = max(0, int(np.floor((oy - reach) * fy)) - 1)
        r1 = int(np.ceil((min(dims[0], oy + step) + reach) * fy)) + 1
        c0 = max(0, int(np.floor((ox - reach) * fx)) - 1)
        c1 = int(np.ceil((min(dims[1], ox + step) + reach) * fx)) + 1
        if mask[r0:r1, c0:c1].any():
            keep.append((oy, ox))
    return keep


def source_margin(scale):
    """(k, pad): the box-filter side (k x k source pixels per model pixel when shrinking, else 1)
    and the source pixels read beyond a window on each side (the filter's reach and one pixel for
    the interpolation)."""
    k = int(round(1 / scale)) if scale < 1 else 1
    return k, 1 + k


def read_resampled(read, shape, scale, dims, y0, y1, x0, x1) -> np.ndarray:
    """Model-pixel rows y0:y1, cols x0:x1 of the image resampled to the model's pixel size,
    mirrored beyond the image's edges."""
    if scale == 1.0:
        return read_mirrored(read, shape, y0, y1, x0, x1)
    # shrinking: average k x k source pixels first (area) so that fine texture is not aliased.
    # The source region covers the model-pixel window plus the box filter's reach and one pixel
    # for the interpolation: every value used is then computed from real (or image-mirrored)
    # pixels, never from the edge of this read, so a chunk's pixels do not depend on where
    # the chunk starts (the map of a chunk = that part of the whole image's map)
    k, pad = source_margin(scale)
    sy0 = int(np.floor(y0 / scale)) - pad
    sy1 = int(np.ceil(y1 / scale)) + pad
    sx0 = int(np.floor(x0 / scale)) - pad
    sx1 = int(np.ceil(x1 / scale)) + pad
    src = read_mirrored(read, shape, sy0, sy1, sx0, sx1).astype(np.float32)
    # model pixel k sits at source coordinate (k + 0.5) / scale - 0.5
    ky = (np.arange(y0, y1) + 0.5) / scale - 0.5 - sy0
    kx = (np.arange(x0, x1) + 0.5) / scale - 0.5 - sx0
    if k > 1:
        src = cv2.blur(src, (k, k), dst=src)  # in place: the float copy is the chunk's largest array
        # cv2.blur's box ends at its pixel when k is even (pixels i - k/2 .. i + k/2 - 1, centred
        # half a pixel before i): read it half a pixel further on, so that a model pixel is
        # the plain mean of the k x k source pixels under it (0.5 µm/px -> 0.97: 2 x 2), not
        # a blurrier mean half a source pixel off (as before 2026-11-30)
        ky += 0.5 * (1 - k % 2)
        kx += 0.5 * (1 - k % 2)
    # cv2.remap reads coordinates in 1/32 px (INTER_BITS = 5): round them there in float64 first,
    # exact in float32, so that the weights do not depend on the chunk's origin (float32 keeps
    # fewer fraction bits of a larger offset)
    ky = np.round(ky * 32) / 32
    kx = np.round(kx * 32) / 32
    mapy = np.repeat(ky[:, None], len(kx), axis=1).astype(np.float32)
    mapx = np.repeat(kx[None, :], len(ky), axis=0).astype(np.float32)
    dst = cv2.remap(src, mapx, mapy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.round(dst), 0, 255).astype(np.uint8)


def read_mirrored(read, shape, y0, y1, x0, x1) -> np.ndarray:
    """Rows y0:y1 and cols x0:x1 of the image, mirrored (reflect-101) beyond its edges."""
    m, n = shape
    ry0, ry1 = max(0, y0), min(m, y1)
    rx0, rx1 = max(0, x0), min(n, x1)
    if ry1 <= ry0 or rx1 <= rx0:  # entirely outside: mirror the nearest strip
        ry0, ry1 = min(max(0, y0), m - 1), min(max(1, y1), m)
        rx0, rx1 = min(max(0, x0), n - 1), min(max(1, x1), n)
    block = np.asarray(read(ry0, ry1, rx0, rx1))
    pads = ((ry0 - y0, y1 - ry1), (rx0 - x0, x1 - rx1), (0, 0))
    if any(p for pair in pads[:2] for p in pair):
        mode = "reflect" if min(block.shape[:2]) > 1 else "edge"
        block = np.pad(block, pads, mode=mode)
        if block.shape[0] != y1 - y0 or block.shape[1] != x1 - x0:  # pad beyond one reflection
            block = block[: y1 - y0, : x1 - x0]
    return np.ascontiguousarray(block)
