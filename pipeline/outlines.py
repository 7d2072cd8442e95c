"""Nucleus outlines: a compact polygon per segmented nucleus, kept for the exports.

:func:`nucleus_outlines` traces every nucleus of a label image at once (one
``cv2.findContours`` over the whole array, no loop over nuclei) and keeps at
most ``max_vertices`` vertices per nucleus, spread evenly along its boundary and
moved half a pixel outwards from the boundary pixels' centres onto their outer
edges, so that the polygon's area is close to the nucleus' segmented area.
:class:`NucleusOutlines` stores them by ``nucleus_id`` in a fixed, small amount
of memory (int16 offsets from the nucleus centre, in 1/8 pixel: 64 bytes per
nucleus for 16 vertices), so a whole slide's millions of nuclei fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["OUTLINE_VERTICES", "OUTLINE_STEP_PX", "nucleus_outlines", "NucleusOutlines"]

#: Most vertices kept per nucleus outline.
OUTLINE_VERTICES = 16
#: Resolution of the stored outlines, pixels (offsets are int16 multiples of it).
OUTLINE_STEP_PX = 1 / 8


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2-D integer array, got shape {labels.shape} and dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0 (0 = background), got {labels.min()}")
    if labels.size and labels.max() >= 2**24:
        raise ValueError(f"labels must be < 2**24, got {labels.max()}; trace a smaller region at a time")
    return labels


def nucleus_outlines(labels, *, max_vertices=OUTLINE_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """Outline of every labelled nucleus as a polygon of at most ``max_vertices`` vertices.

    Where two nuclei touch, the pixels of the lower label along the contact are
    left out so that each nucleus is traced alone; a nucleus cut into pieces by
    that keeps its largest piece. The vertices are spread evenly along the
    traced boundary (every boundary pixel when it has fewer than
    ``max_vertices``), then moved half a pixel outwards, from the centres of the
    boundary pixels to their outer edges.

    Parameters
    ----------
    labels : (M, N) int ndarray
        Nuclei labels 0 (background) .. K, e.g. from :func:`pipeline.nuclei.segment_nuclei`.
        Not modified.
    max_vertices : int, keyword-only
        Most vertices per polygon (>= 3).

    Returns
    -------
    vertices : (K, max_vertices, 2) float32 ndarray
        Vertices (row, col) in pixels of ``labels`` of nucleus ``k`` in row
        ``k - 1``, in boundary order, not repeated at the end; rows past a
        polygon's count are 0.
    counts : (K,) uint8 ndarray
        Vertices of each polygon; 0 for a label that is absent or too thin to
        trace (fewer than three boundary pixels).

    Raises
    ------
    ValueError
        For labels that are not a 2-D integer array of values in [0, 2**24), or
        ``max_vertices`` outside [3, 255].

    Examples
    --------
    >>> lab = np.zeros((12, 12), np.int32); lab[2:10, 3:9] = 1
    >>> vertices, counts = nucleus_outlines(lab, max_vertices=8)
    >>> int(counts[0]), vertices.shape
    (8, (1, 8, 2))
    >>> v = vertices[0].round(1)  # rows 2..9, columns 3..8: outer pixel edges 1.5..9.5, 2.5..8.5
    >>> float(v[:, 0].min()), float(v[:, 0].max()), float(v[:, 1].min()), float(v[:, 1].max())
    (1.5, 9.5, 2.5, 8.5)
    """
    labels = _check_labels(labels)
    if not isinstance(max_vertices, (int, np.integer)) or not 3 <= int(max_vertices) <= 255:
        raise ValueError(f"max_vertices must be an integer in [3, 255], got {max_vertices!r}")
    v_max = int(max_vertices)
    n = int(labels.max()) if labels.size else 0
    vertices = np.zeros((n, v_max, 2), np.float32)
    counts = np.zeros(n, np.uint8)
    if n == 0:
        return vertices, counts
    # keep a pixel unless an 8-neighbour has a higher label: touching nuclei come apart
    labf = labels.astype(np.uint16 if n < 2**16 else np.float32)  # exact either way; uint16 is faster
    higher = cv2.dilate(labf, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    alone = cv2.bitwise_and(cv2.compare(higher, labf, cv2.CMP_EQ), cv2.compare(labf, 0, cv2.CMP_GT))
    contours, _ = cv2.findContours(alone, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return vertices, counts
    length = np.fromiter(map(len, contours), np.int64, len(contours))
    points = np.concatenate(contours).reshape(-1, 2)[:, ::-1]  # (row, col) of boundary pixels
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    owner = labels[points[start, 0], points[start, 1]].astype(np.int64)
    # the longest contour of each label (a nucleus split by the contact rule keeps its largest piece)
    order = np.lexsort((-length, owner))
    first = np.ones(len(order), bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    pick = order[first]
    pick = pick[length[pick] >= 3]
    if not len(pick):
        return vertices, counts
    owner, length, start = owner[pick], length[pick], start[pick]
    m = np.minimum(length, v_max)
    j = np.arange(v_max)
    valid = j < m[:, None]
    index = np.where(valid, start[:, None] + (j * length[:, None]) // m[:, None], start[:, None])
    v = points[index].astype(np.float32)  # (P, V, 2)
    # half a pixel outwards along the normal of the chord joining each vertex's neighbours
    prev = np.where(j == 0, m[:, None] - 1, j - 1)
    nxt = np.where(j + 1 >= m[:, None], 0, j + 1)
    v_prev = np.take_along_axis(v, np.broadcast_to(prev[..., None], v.shape), axis=1)
    v_next = np.take_along_axis(v, np.broadcast_to(nxt[..., None], v.shape), axis=1)
    twice_area = np.where(valid, v[..., 1] * v_next[..., 0] - v_next[..., 1] * v[..., 0], 0).sum(1)
    t = v_next - v_prev
    norm = np.hypot(t[..., 0], t[..., 1])
    norm[norm == 0] = 1
    side = (0.5 * np.sign(twice_area))[:, None] / norm
    v[..., 0] -= t[..., 1] * side
    v[..., 1] += t[..., 0] * side
    v[~valid] = 0
    vertices[owner - 1] = v
    counts[owner - 1] = m
    return vertices, counts


@dataclass(frozen=True, eq=False)
class NucleusOutlines:
    """Outlines of an image's nuclei, stored compactly by ``nucleus_id``.

    Each outline is kept relative to its nucleus' centre (the ``y_um``, ``x_um``
    of the nuclei table), as int16 multiples of :data:`OUTLINE_STEP_PX`, so a
    cell moved in a review carries its outline along.

    Attributes
    ----------
    ids : (N,) int64 ndarray
        ``nucleus_id`` of every outline, increasing.
    offsets : (N, V, 2) int16 ndarray
        Vertices (row, col) minus the nucleus centre, in :data:`OUTLINE_STEP_PX` pixels.
    counts : (N,) uint8 ndarray
        Vertices per outline (0: none, the export draws a circle).

    Examples
    --------
    >>> lab = np.zeros((12, 12), np.int32); lab[2:10, 3:9] = 1
    >>> vertices, counts = nucleus_outlines(lab)
    >>> o = NucleusOutlines.from_vertices([7], vertices, counts, centres_px=[[5.5, 5.5]])
    >>> rings, n = o.polygons_px([7, 8], [[5.5, 5.5], [20.0, 20.0]])
    >>> n.tolist(), float(rings[0, :, 0].max().round(1))
    ([16, 0], 9.5)
    """

    ids: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls, max_vertices=OUTLINE_VERTICES) -> NucleusOutlines:
        """No outlines."""
        return cls(np.zeros(0, np.int64), np.zeros((0, max_vertices, 2), np.int16), np.zeros(0, np.uint8))

    @classmethod
    def from_vertices(cls, ids, vertices, counts, *, centres_px) -> NucleusOutlines:
        """Store polygons (pixels) as offsets from their nuclei's centres ((N, 2) (row, col) px).

        An outline reaching more than 4,000 pixels from its centre is dropped (count 0).
        """
        ids = np.asarray(ids, np.int64)
        vertices = np.asarray(vertices, np.float32)
        counts = np.asarray(counts, np.uint8).copy()
        centres = np.asarray(centres_px, np.float64).reshape(-1, 1, 2)
        if not (len(ids) == len(vertices) == len(counts) == len(centres)):
            raise ValueError(f"ids ({len(ids)}), vertices ({len(vertices)}), counts ({len(counts)}) and "
                             f"centres_px ({len(centres)}) must have one row per nucleus")
        steps = np.round((vertices - centres) / OUTLINE_STEP_PX)
        steps[np.arange(vertices.shape[1])[None, :] >= counts[:, None]] = 0
        far = ~np.isfinite(steps).all(axis=(1, 2)) | (np.abs(np.nan_to_num(steps)) > 32000).any(axis=(1, 2))
        counts[far] = 0
        steps[far] = 0
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], steps.astype(np.int16)[order], counts[order])

    def take(self, nucleus_ids) -> NucleusOutlines:
        """The outlines of some nuclei only (ids without one are left out)."""
        keep = np.isin(self.ids, np.asarray(nucleus_ids, np.int64))
        return NucleusOutlines(self.ids[keep], self.offsets[keep], self.counts[keep])

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """Memory held, bytes."""
        return int(self.ids.nbytes + self.offsets.nbytes + self.counts.nbytes)

    def polygons_px(self, nucleus_ids, centres_px) -> tuple[np.ndarray, np.ndarray]:
        """The outlines of some nuclei placed about the given centres.

        Parameters
        ----------
        nucleus_ids : (N,) array_like
            Nucleus ids; NaN or an unknown id gets no outline (count 0).
        centres_px : (N, 2) array_like
            Centres (row, col) in pixels.

        Returns
        -------
        vertices : (N, V, 2) float64 ndarray
            (row, col) pixels; rows past a polygon's count are the centre.
        counts : (N,) int64 ndarray
        """
        ids = np.asarray(nucleus_ids, np.float64).ravel()
        centres = np.asarray(centres_px, np.float64).reshape(-1, 2)
        n, v = len(ids), self.offsets.shape[1]
        if len(centres) != n:
            raise ValueError(f"nucleus_ids ({n}) and centres_px ({len(centres)}) must have one row per cell")
        if not len(self.ids):
            return np.repeat(centres[:, None, :], v, axis=1), np.zeros(n, np.int64)
        known = np.isfinite(ids)
        where = np.clip(np.searchsorted(self.ids, np.where(known, ids, 0).astype(np.int64)), 0, len(self.ids) - 1)
        known &= self.ids[where] == np.where(known, ids, -1)
        counts = np.where(known, self.counts[where], 0).astype(np.int64)
        offsets = np.where(known[:, None, None], self.offsets[where], 0)
        return centres[:, None, :] + offsets * OUTLINE_STEP_PX, counts
