"""Stage 1 of an analysis: every nucleus of an image or a whole slide (:func:`find_nuclei`).

Tissue is found, background, stain and stain vectors and the nuclear threshold
are estimated once from full-resolution samples spread over the tissue
(:func:`image_stats`), then every tile is separated into stains and segmented
with those same global quantities, so the result does not depend on tile size
or order. An image held in memory and a :class:`~pipeline.slide.Slide` read
from its file go through the same steps; only where the tissue mask comes from
differs (full resolution in memory, the ~2 µm overview for a slide).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from ._memory import release_freed_memory
from ._validate import check_pixel_size
from .defaults import DAB_OUTER_UM
from .heatmap import TumourMap, tumour_map
from .nuclei import NUCLEUS_COLUMNS, nuclear_threshold, nucleus_features, segment_nuclei
from .options import AnalysisOptions
from .outlines import NucleusOutlines, nucleus_outlines
from .sampling import (
    TILE_MARGIN_UM,
    UpsampledMask,
    overview_pixel_size_um,
    slide_overview,
    tile_grid,
    tissue_samples,
)
from .quality import image_quality
from .stains import (
    detect_stain,
    estimate_background,
    estimate_stain_vectors,
    masked_pixels,
    separate_stains,
    stain_colour_fractions,
)
from .tissue import tissue_mask

__all__ = ["ImageStats", "FoundNuclei", "image_stats", "find_nuclei", "empty_nuclei"]


def empty_nuclei() -> pd.DataFrame:
    """An empty nuclei table with typed columns (``nucleus_id`` first)."""
    cols = ["nucleus_id", *[c for c in NUCLEUS_COLUMNS if c != "label"]]
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "nucleus_id" else "float64") for c in cols})


@dataclass(frozen=True, eq=False)
class ImageStats:
    """Quantities estimated once per image and used by every tile.

    Attributes
    ----------
    background : (3,) ndarray
        Incident light per RGB channel.
    stain : {"he", "ihc"}
    stain_reason : str
        Why that stain (measured evidence), or ``"given"``.
    vectors : (2, 3) ndarray
        Stain vectors, haematoxylin first.
    vectors_source : str
        How the vectors were found.
    threshold : float
        Haematoxylin level (OD) of nuclei.
    quality : dict
        Image-level quality measures (:func:`pipeline.quality.image_quality`).
    """

    background: np.ndarray
    stain: str
    stain_reason: str
    vectors: np.ndarray
    vectors_source: str
    threshold: float
    quality: dict = field(default_factory=dict)

    def recorded(self) -> dict:
        """The statistics as recorded in ``summary.json["parameters"]``."""
        return {"stain_vectors": np.round(self.vectors, 4).tolist(),
                "background": np.round(self.background, 1).tolist(),
                "hematoxylin_threshold": round(float(self.threshold), 4)}


def image_stats(sample, sample_tissue, *, pixel_size_um, stain="auto", overview=None) -> ImageStats:
    """Background, stain, stain vectors and nuclear threshold from a sample of an image.

    Parameters
    ----------
    sample : (M, N, 3) uint8 ndarray
        Full-resolution pixels of the tissue (e.g. stacked samples).
    sample_tissue : (M, N) bool ndarray
    pixel_size_um : float, keyword-only
    stain : {"auto", "he", "ihc"}, keyword-only
    overview : ((P, Q, 3) ndarray, (P, Q) bool ndarray), optional, keyword-only
        A low-resolution picture of the whole tissue and its mask, on which the
        stain is detected (a few brown cells may fall outside the samples).

    Returns
    -------
    ImageStats
    """
    px = check_pixel_size(pixel_size_um)
    background = estimate_background(sample, tissue=sample_tissue)
    # the stain from the whole tissue at low resolution (a few brown cells may fall
    # outside the samples) pooled with the full-resolution samples (a small image's
    # overview holds too few pixels to judge alone)
    look = masked_pixels(sample, sample_tissue)
    if overview is not None:
        look = np.concatenate([masked_pixels(*overview), look])
    colour = stain_colour_fractions(look[None], background=background)
    if stain == "auto":
        chosen, reason = detect_stain(look[None], background=background, fractions=colour)
    else:
        chosen, reason = stain, "given"
    vectors, source = estimate_stain_vectors(sample, stain=chosen, mask=sample_tissue, background=background)
    # the haematoxylin of the samples, 256 rows at a time (one (M, N) array, not the (M, N, 3)
    # concentrations of every stain: the samples can be as large as the image)
    h = np.empty(sample.shape[:2], np.float32)
    for r0 in range(0, sample.shape[0], 256):
        h[r0:r0 + 256] = separate_stains(sample[r0:r0 + 256], vectors, background=background)[..., 0]
    quality = image_quality(sample, h, sample_tissue, pixel_size_um=px, colour=colour)
    h = cv2.GaussianBlur(h, (0, 0), max(0.3, 0.5 / px))  # the sharp one no longer held beside it
    threshold = nuclear_threshold(h, mask=sample_tissue)
    return ImageStats(background=background, stain=chosen, stain_reason=reason, vectors=vectors,
                      vectors_source=source, threshold=float(threshold), quality=quality)


@dataclass(frozen=True, eq=False)
class FoundNuclei:
    """Every nucleus of an image, and how the image was read.

    Attributes
    ----------
    nuclei : pandas.DataFrame
        One row per nucleus (``nucleus_id``, then :data:`pipeline.nuclei.NUCLEUS_COLUMNS`
        without ``label``), in image order; coordinates in µm of the whole image.
    stats : ImageStats or None
        None when the image holds no tissue.
    stain, stain_reason : str
        The stain analysed and why (also set without tissue).
    pixel_size_um : float
    shape : (int, int)
        Rows and columns of the image (base level), pixels.
    tissue_area_mm2 : float
    mode : {"in-memory", "whole-slide"}
    tile_px : int
    overview : (P, Q, 3) uint8 ndarray
        The whole image at about 2 µm per pixel.
    overview_pixel_size_um : float
    flags : list of str
        ``"no_tissue"`` when nothing was found to analyse.
    labels : (M, N) int32 ndarray or None
        Nuclei label image (value = ``nucleus_id``, 0 = background), when asked
        for (``find_nuclei(..., return_labels=True)``, images in memory only).
    tumour_map : pipeline.heatmap.TumourMap or None
        H&E: the tissue-level tumour probability map (:func:`pipeline.heatmap.tumour_map`);
        each nucleus then has its value at its centre in the ``tumour_context`` column
        and the highest value within one map step in ``tumour_context_max``.
    outlines : pipeline.outlines.NucleusOutlines or None
        The outline of every nucleus, by ``nucleus_id`` (:func:`pipeline.outlines.nucleus_outlines`),
        in both read modes.
    """

    nuclei: pd.DataFrame
    stats: ImageStats | None
    stain: str
    stain_reason: str
    pixel_size_um: float
    shape: tuple
    tissue_area_mm2: float
    mode: str
    tile_px: int
    overview: np.ndarray = field(repr=False)
    overview_pixel_size_um: float
    flags: list
    labels: np.ndarray | None = field(default=None, repr=False)
    tumour_map: TumourMap | None = field(default=None, repr=False)
    outlines: NucleusOutlines | None = field(default=None, repr=False)


def _check_rgb(image) -> np.ndarray:
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"image must be an (M, N, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {rgb.dtype}; read files with pipeline.io.read_image")
    return rgb


def find_nuclei(image, *, pixel_size_um=None, options=None, workers=None, client=None,
                on_tile=None, on_map=None, return_labels=False) -> FoundNuclei:
    """Segment and measure every nucleus of an image or a whole slide, tile by tile.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray or pipeline.slide.Slide
        An image in memory, or an open slide (read region by region, never whole).
        Not modified.
    pixel_size_um : float, keyword-only
        µm per pixel; required for an array (a slide carries its own).
    options : AnalysisOptions, optional, keyword-only
        ``stain``, ``tile_px``, ``sample_tiles`` and ``nucleus_pixel_size_um`` are used here.
    workers : int, optional, keyword-only
        Threads for the tiles (default: all cores, at most 4).
    client : distributed.Client, optional, keyword-only
        Spread a slide's tiles over a Dask cluster (each worker reads its tiles
        from the file).
    on_tile : callable, optional, keyword-only
        Called as ``on_tile(tiles_done, tiles_total)`` after each tile.
    on_map : callable, optional, keyword-only
        H&E only: called as ``on_map(chunks_done, chunks_total)`` while the
        tumour-probability map is made (before the tiles; see
        :func:`pipeline.heatmap.tumour_map`).
    return_labels : bool, keyword-only
        Also return the nuclei label image (``FoundNuclei.labels``; an image in
        memory only: a slide's would not fit).

    Returns
    -------
    FoundNuclei

    Examples
    --------
    >>> import numpy as np
    >>> found = find_nuclei(np.full((64, 64, 3), 245, np.uint8), pixel_size_um=0.5)
    >>> len(found.nuclei), found.flags
    (0, ['no_tissue'])
    """
    from .slide import Slide

    options = AnalysisOptions.from_kwargs(options)
    if isinstance(image, Slide):
        if return_labels:
            raise ValueError("return_labels=True needs an image in memory; a whole slide's "
                             "label image would not fit")
        slide = image
        if pixel_size_um is not None and check_pixel_size(pixel_size_um) != slide.pixel_size_um:
            raise ValueError(f"pixel_size_um={pixel_size_um} differs from the slide's "
                             f"{slide.pixel_size_um}; give it when opening the Slide")
        px, mode, shape = slide.pixel_size_um, "whole-slide", tuple(slide.shape)
        overview, overview_um = slide_overview(slide, overview_pixel_size_um(shape, px))
        small_tissue = tissue_mask(overview, pixel_size_um=overview_um)
        tissue_mm2 = float(small_tissue.sum()) * overview_um**2 / 1e6
        tissue = UpsampledMask(small_tissue, shape)
        has_tissue = bool(small_tissue.any())
    else:
        if client is not None:
            raise TypeError("a cluster needs a pipeline.slide.Slide (workers read the file), not an array")
        slide, rgb = None, _check_rgb(image)
        px, mode, shape = check_pixel_size(pixel_size_um), "in-memory", tuple(int(v) for v in rgb.shape[:2])
        tissue = tissue_mask(rgb, pixel_size_um=px)
        tissue_mm2 = float(tissue.sum()) * px * px / 1e6
        f = max(1, int(overview_pixel_size_um(shape, px) // px))
        small_tissue = tissue[min(f // 2, shape[0] - 1)::f, min(f // 2, shape[1] - 1)::f]
        overview = cv2.resize(rgb, (small_tissue.shape[1], small_tissue.shape[0]), interpolation=cv2.INTER_AREA)
        overview_um = px * shape[0] / small_tissue.shape[0]
        has_tissue = bool(tissue.any())
    tile_px = options.tile_px_for(mode)
    common = dict(pixel_size_um=px, shape=shape, tissue_area_mm2=tissue_mm2, mode=mode, tile_px=tile_px,
                  overview=overview, overview_pixel_size_um=float(overview_um))
    if not has_tissue:
        stain = "he" if options.stain == "auto" else options.stain
        reason = "no tissue found" if options.stain == "auto" else "given"
        labels = np.zeros(shape, np.int32) if return_labels else None
        return FoundNuclei(nuclei=empty_nuclei(), stats=None, stain=stain, stain_reason=reason,
                           flags=["no_tissue"], labels=labels, outlines=NucleusOutlines.empty(), **common)
    source = slide if slide is not None else rgb
    if slide is None:
        # the samples that set stains and thresholds are placed and masked as a slide's are
        # (from the tissue of the ~2 µm overview), so that an image read whole and the same
        # image read tile by tile are judged on the same pixels
        small_tissue = tissue_mask(overview, pixel_size_um=overview_um)
        if not small_tissue.any():
            small_tissue = tissue[min(f // 2, shape[0] - 1)::f, min(f // 2, shape[1] - 1)::f]
    sample_mask = tissue if slide is not None else UpsampledMask(small_tissue, shape)
    sample, sample_tissue = tissue_samples(source, sample_mask, small_tissue, options.sample_tiles)
    stats = image_stats(sample, sample_tissue, pixel_size_um=px, stain=options.stain,
                        overview=(overview, small_tissue))
    # the samples (up to a quarter of the image) and what the statistics freed are handed back
    # before the map's and the tiles' arrays are made (pipeline._memory)
    del sample, sample_tissue
    release_freed_memory()
    tmap = None
    if stats.stain == "he":
        # the tissue-level tumour probability around every nucleus (H&E only: in IHC the
        # cytokeratin itself says where the carcinoma is); made before the tiles, whose
        # worker threads' memory would otherwise still be held while it runs (bench/speed.py:
        # end-to-end peak 5.6-5.8 instead of 5.7-6.2 x the RGB bytes, the same results)
        # only where nuclei can be (the tissue the tiles segment in): no network run on glass
        tmap = tumour_map(source, pixel_size_um=px, threads=workers, on_chunk=on_map,
                          mask=tissue if slide is None else small_tissue)
        release_freed_memory()  # what the map's threads freed
    nuclei, outlines, labels = _segment_tiles(source, tissue, pixel_size_um=px, stats=stats,
                                              tile_px=tile_px, factor=options.nucleus_factor(px),
                                              workers=workers, client=client,
                                              on_tile=on_tile, return_labels=return_labels)
    release_freed_memory()  # what the tiles' threads freed
    if tmap is not None:
        y, x = nuclei["y_um"].to_numpy(), nuclei["x_um"].to_numpy()
        nuclei = nuclei.assign(tumour_context=tmap.at(y, x), tumour_context_max=tmap.local_max().at(y, x))
    return FoundNuclei(nuclei=nuclei, stats=stats, stain=stats.stain, stain_reason=stats.stain_reason,
                       flags=[], labels=labels, tumour_map=tmap, outlines=outlines, **common)


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` averaged over k x k blocks (edge pixels repeated to fill the last ones)."""
    pad_r, pad_c = -a.shape[0] % k, -a.shape[1] % k
    if pad_r or pad_c:
        a = cv2.copyMakeBorder(a, 0, pad_r, 0, pad_c, cv2.BORDER_REPLICATE)
    return cv2.resize(a, (a.shape[1] // k, a.shape[0] // k), interpolation=cv2.INTER_AREA)


def _tile_nuclei(image, tile, *, tissue, px, vectors, background, threshold, factor=1, outer_um=None,
                 keep_labels=False):
    """Nuclei of one tile whose centre lies in its core (the margin only gives context):
    (table, outlines numbered by the table's ``label``), and with ``keep_labels`` also the
    label image of the padded tile holding those nuclei only.

    With ``factor`` k > 1 the tile is averaged over k x k blocks and its nuclei segmented
    and measured at k x ``px``; centres, outlines and labels come back in the image's pixels.
    """
    (r0, r1, c0, c1), (pr0, pr1, pc0, pc1) = tile
    mask = np.asarray(tissue[pr0:pr1, pc0:pc1])
    if not mask[r0 - pr0:r1 - pr0, c0 - pc0:c1 - pc0].any():
        return None
    rgb = np.asarray(image[pr0:pr1, pc0:pc1])
    k = int(factor)
    if k > 1:
        rgb = _block_mean(rgb, k)
        mask = _block_mean(mask.astype(np.uint8) * 255, k) >= 128
    conc = separate_stains(rgb, vectors, background=background)
    h, counter = conc[..., 0], conc[..., 1]
    labels = segment_nuclei(h, pixel_size_um=px * k, mask=mask, threshold=threshold)
    # block (i, j) is centred on image pixel (k i + (k - 1) / 2, k j + (k - 1) / 2)
    shift = (k - 1) / 2
    table = nucleus_features(labels, h, counter, pixel_size_um=px * k, outer_um=outer_um,
                             origin_px=((pr0 + shift) / k, (pc0 + shift) / k))
    y = table["y_um"].to_numpy() / px
    x = table["x_um"].to_numpy() / px
    core = (y >= r0 - 0.5) & (y < r1 - 0.5) & (x >= c0 - 0.5) & (x < c1 - 0.5)
    vertices, counts = nucleus_outlines(labels)
    ids = table["label"].to_numpy()[core]
    outlines = NucleusOutlines.from_vertices(
        ids, vertices[ids - 1] * k + np.float32([pr0 + shift, pc0 + shift]), counts[ids - 1],
        centres_px=np.stack([y[core], x[core]], axis=1))
    if not keep_labels:
        return table[core], outlines
    kept = np.zeros(int(labels.max()) + 1, bool)
    kept[ids] = True
    local = np.where(kept[labels], labels, 0)
    if k > 1:
        local = np.repeat(np.repeat(local, k, axis=0), k, axis=1)[:pr1 - pr0, :pc1 - pc0]
    return table[core], outlines, local


def _cluster_tile(tile, *, source, job):
    """One tile on a cluster worker, read from the slide file (opened and closed here)."""
    from .slide import Slide

    path, px = source
    with Slide(path, pixel_size_um=px) as slide:
        return _tile_nuclei(slide, tile, **job)


def _segment_tiles(image, tissue, *, pixel_size_um, stats, tile_px, factor=1, workers=None, client=None,
                   on_tile=None, return_labels=False):
    """Nuclei of every tile, kept by the tile whose core holds their centre (any order, same
    result); returns (nuclei table, label image or None)."""
    px = pixel_size_um
    k = int(factor)
    # whole blocks: every tile's padded window starts on the block grid of the whole image
    margin = int(np.ceil(TILE_MARGIN_UM / px))
    margin += -margin % k
    tiles = tile_grid(tuple(image.shape[:2]), max(k, int(tile_px) // k * k), margin)
    job = dict(tissue=tissue, px=px, factor=k, vectors=np.asarray(stats.vectors),
               background=np.asarray(stats.background), threshold=float(stats.threshold),
               # cytokeratin: the matrix beyond each cell's ring (classify_ihc's brown-matrix rule)
               outer_um=DAB_OUTER_UM if stats.stain == "ihc" else None)
    if client is not None:
        source = (str(image.path), image.pixel_size_um)
        shared = client.scatter(job, broadcast=True)
        futures = client.map(_cluster_tile, tiles, source=source, job=shared, pure=False, retries=1)
        parts = client.gather(futures)
    else:
        lock = threading.Lock()
        done = [0]

        def run(tile):
            part = _tile_nuclei(image, tile, keep_labels=return_labels, **job)
            if on_tile is not None:
                with lock:
                    done[0] += 1
                    on_tile(done[0], len(tiles))
            return part

        n_workers = workers or min(4, os.cpu_count() or 1)
        if n_workers > 1 and len(tiles) > 1:
            with ThreadPoolExecutor(n_workers) as pool:
                parts = list(pool.map(run, tiles))
        else:
            parts = [run(t) for t in tiles]
    label_image = np.zeros(tuple(image.shape[:2]), np.int32) if return_labels else None
    if return_labels:
        start = 1
        for tile, part in zip(tiles, parts):
            if part is None or not len(part[0]):
                continue
            table, _, local = part
            lut = np.zeros(int(local.max()) + 1, np.int32)
            lut[table["label"].to_numpy()] = np.arange(start, start + len(table), dtype=np.int32)
            start += len(table)
            pr0, pr1, pc0, pc1 = tile[1]
            view = label_image[pr0:pr1, pc0:pc1]
            np.copyto(view, lut[local], where=local > 0)
    parts = [p[:2] for p in parts if p is not None and len(p[0])]
    if not parts:
        return empty_nuclei(), NucleusOutlines.empty(), label_image
    nuclei = pd.concat([p[0] for p in parts], ignore_index=True).drop(columns="label")
    nuclei.insert(0, "nucleus_id", np.arange(1, len(nuclei) + 1, dtype=np.int64))
    # each tile's outlines are in its table's order (by label): numbered as the nuclei
    outlines = NucleusOutlines(nuclei["nucleus_id"].to_numpy(),
                               np.concatenate([p[1].offsets for p in parts]),
                               np.concatenate([p[1].counts for p in parts]))
    return nuclei, outlines, label_image
