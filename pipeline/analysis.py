"""From a calibrated RGB image to a staged node: the stages chained.

:func:`analyze` runs tissue detection, stain separation, nuclear segmentation and
tumour-cell classification tile by tile (bounded memory, same result for any
tile order), then :func:`measure_node` groups the tumour cells into deposits,
measures them and stages the node. :func:`measure_node` alone re-measures an
edited set of tumour cells (the napari review) without re-segmenting.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pandas as pd

from ._validate import check_choice, check_pixel_size, check_positive
from .measure import RULES, assign_deposits, empty_deposits, summarize_deposits
from .pattern import cell_pattern_table, deposit_pattern_table, group_table, pattern_summary
from .nuclei import NUCLEUS_COLUMNS, nuclear_threshold, nucleus_features, segment_nuclei
from .results import NodeResult
from .staging import node_category, node_pn_category
from .stains import detect_stain, estimate_background, estimate_stain_vectors, separate_stains
from .tissue import tissue_mask
from .tumor import classify_ihc, forest_probability, he_features, load_forest, lymphocyte_reference

__all__ = ["STAINS", "analyze", "analyze_slide", "measure_node", "detect_cells"]

#: Stain choices of :func:`analyze`.
STAINS = ("auto", "he", "ihc")

# Margin around each tile, µm: the largest nucleus (30 µm across) plus its ring (4 µm)
# and smoothing, so that a nucleus whose centre lies in the core is seen whole.
_TILE_MARGIN_UM = 25.0


def _empty_nuclei() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "label" else "float64") for c in NUCLEUS_COLUMNS}
    )


def measure_node(
    cells,
    *,
    pixel_size_um,
    stain="he",
    rule="camelyon",
    link_um=75.0,
    contact_um=3.0,
    itc_max_um=200.0,
    micro_max_um=2000.0,
    itc_max_cells=200,
    min_pattern_cells=10,
    cohesive_max=0.3,
    single_file_min=0.7,
    **context,
) -> NodeResult:
    """Group tumour cells into deposits, measure them and stage the node.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm); other columns
        are kept. Not modified.
    pixel_size_um : float, keyword-only
        µm per pixel of the image the cells came from.
    stain : {"he", "ihc"}, keyword-only
    rule, link_um, contact_um : keyword-only
        Deposit linking, see :func:`pipeline.measure.assign_deposits`.
    itc_max_um, micro_max_um, itc_max_cells : keyword-only
        Category thresholds, see :func:`pipeline.staging.node_category`.
    min_pattern_cells, cohesive_max, single_file_min : keyword-only
        Growth-pattern call, see :func:`pipeline.pattern.pattern_summary`.
    **context
        Further :class:`~pipeline.results.NodeResult` fields (``image``,
        ``nucleus_count``, ``flags``, ...).

    Returns
    -------
    NodeResult

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 0.0], "x_um": [0.0, 300.0], "radius_um": [5.0, 5.0]})
    >>> r = measure_node(cells, pixel_size_um=0.5)
    >>> r.category, r.deposits["cell_count"].tolist()
    ('itc', [1, 1])
    """
    px = check_pixel_size(pixel_size_um)
    check_choice(rule, RULES, name="rule")
    check_choice(stain, ("he", "ihc"), name="stain")
    cells = cells.copy()
    ids = assign_deposits(cells, rule=rule, link_um=link_um, contact_um=contact_um)
    cells["deposit_id"] = ids
    if "cell_id" not in cells.columns:
        cells.insert(0, "cell_id", np.arange(1, len(cells) + 1, dtype=np.int64))
    deposits = summarize_deposits(cells, ids) if len(cells) else empty_deposits()
    # growth pattern: tumour-cell contact graph, per cell, per deposit and per node
    call = dict(min_cells=min_pattern_cells, cohesive_max=cohesive_max, single_file_min=single_file_min)
    per_cell = cell_pattern_table(cells)
    for col in ("group_size", "degree", "nn_distance_um"):
        cells[col] = per_cell[col].to_numpy()
    groups = group_table(cells).set_index("group_id")
    cells["dispersed"] = groups["dispersed"].reindex(per_cell["group_id"]).to_numpy(dtype=bool) \
        if len(cells) else np.zeros(0, bool)
    per_deposit = deposit_pattern_table(cells, **call)
    if len(deposits):
        deposits = deposits.merge(per_deposit, on="deposit_id", how="left")
    else:
        for col in per_deposit.columns:
            if col != "deposit_id":
                deposits[col] = pd.Series(dtype=per_deposit[col].dtype)
    shape = context.get("shape") or (0, 0)
    window = {}
    if context.get("tissue_area_mm2") and shape[0] and shape[1]:
        window = dict(area_um2=float(context["tissue_area_mm2"]) * 1e6,
                      bbox=(0.0, 0.0, shape[0] * px, shape[1] * px))
    pattern = pattern_summary(cells, **call, **window)
    extra = dict(context.pop("extra", {}))
    extra.update(growth_pattern=pattern["growth_pattern"],
                 discohesion_index=float(pattern["discohesion_index"]),
                 pattern={k: v for k, v in pattern.items() if k not in ("growth_pattern", "discohesion_index")})
    largest = float(deposits["longest_diameter_um"].max()) if len(deposits) else 0.0
    category, reason = node_category(
        largest, len(cells), itc_max_um=itc_max_um, micro_max_um=micro_max_um,
        itc_max_cells=itc_max_cells,
    )
    params = dict(context.pop("parameters", {}))
    params.update(rule=rule, link_um=float(link_um), contact_um=float(contact_um),
                  itc_max_um=float(itc_max_um), micro_max_um=float(micro_max_um),
                  itc_max_cells=int(itc_max_cells), min_pattern_cells=int(min_pattern_cells),
                  cohesive_max=float(cohesive_max), single_file_min=float(single_file_min))
    return NodeResult(
        cells=cells.reset_index(drop=True),
        deposits=deposits,
        pixel_size_um=px,
        stain=stain,
        category=category,
        category_reason=reason,
        pn_category=node_pn_category(category),
        rule=rule,
        parameters=params,
        extra=extra,
        **context,
    )


def _tiles(shape, tile_px, margin_px):
    """(core, padded) row/col slices covering an image; cores do not overlap."""
    m, n = shape
    out = []
    for r0 in range(0, m, tile_px):
        for c0 in range(0, n, tile_px):
            r1, c1 = min(m, r0 + tile_px), min(n, c0 + tile_px)
            pr0, pc0 = max(0, r0 - margin_px), max(0, c0 - margin_px)
            pr1, pc1 = min(m, r1 + margin_px), min(n, c1 + margin_px)
            out.append(((r0, r1, c0, c1), (pr0, pr1, pc0, pc1)))
    return out


def _tile_nuclei(rgb, tile, *, tissue, px, vectors, background, threshold, seg_kw):
    """Nuclei of one tile whose centre lies in its core (the margin only gives context)."""
    (r0, r1, c0, c1), (pr0, pr1, pc0, pc1) = tile
    mask = np.asarray(tissue[pr0:pr1, pc0:pc1])
    if not mask[r0 - pr0:r1 - pr0, c0 - pc0:c1 - pc0].any():
        return _empty_nuclei()
    conc = separate_stains(np.asarray(rgb[pr0:pr1, pc0:pc1]), vectors, background=background)
    h, counter = conc[..., 0], conc[..., 1]
    labels = segment_nuclei(h, pixel_size_um=px, mask=mask, threshold=threshold, **seg_kw)
    table = nucleus_features(labels, h, counter, pixel_size_um=px, origin_px=(pr0, pc0))
    y = table["y_um"].to_numpy() / px
    x = table["x_um"].to_numpy() / px
    core = (y >= r0 - 0.5) & (y < r1 - 0.5) & (x >= c0 - 0.5) & (x < c1 - 0.5)
    return table[core]


_WORKER_SLIDES: dict = {}


def _cluster_tile(tile, *, source, job):
    """One tile on a cluster worker; the worker keeps its open slide between tiles."""
    from .slide import Slide

    path, px = source
    slide = _WORKER_SLIDES.get(source)
    if slide is None:
        slide = _WORKER_SLIDES[source] = Slide(path, pixel_size_um=px)
    return _tile_nuclei(slide, tile, **job)


def detect_cells(
    rgb,
    tissue,
    *,
    pixel_size_um,
    vectors,
    background,
    threshold,
    segmentation=None,
    tile_px=512,
    workers=None,
    client=None,
    on_tile=None,
):
    """Segment and measure every nucleus of an image, tile by tile.

    Nuclei are kept by the tile whose core holds their centre, so tiles can be
    processed in any order or in parallel with the same result.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray or pipeline.slide.Slide
        Anything sliced as ``rgb[r0:r1, c0:c1]`` into an RGB region.
    tissue : (M, N) bool ndarray, or a mask sliced the same way
    pixel_size_um : float, keyword-only
    vectors : (2, 3) array, keyword-only
        Stain vectors (haematoxylin first).
    background : (3,) array, keyword-only
        Incident light per channel.
    threshold : float, keyword-only
        Haematoxylin threshold, the same for all tiles.
    segmentation : dict, optional, keyword-only
        Extra keyword arguments for :func:`pipeline.nuclei.segment_nuclei`.
    tile_px : int, keyword-only
        Tile side in pixels.
    workers : int, optional, keyword-only
        Threads (default: all cores, at most 4).
    client : distributed.Client, optional, keyword-only
        Spread the tiles over a Dask cluster instead (``rgb`` must then be a
        :class:`~pipeline.slide.Slide`; each worker reads its tiles from the file).
    on_tile : callable, optional, keyword-only
        Called as ``on_tile(tiles_done, tiles_total)`` after each tile (progress).

    Returns
    -------
    pandas.DataFrame
        The nuclei table (see :data:`pipeline.nuclei.NUCLEUS_COLUMNS`), ``label``
        replaced by a running ``nucleus_id``, in image order.
    """
    px = check_pixel_size(pixel_size_um)
    margin = int(np.ceil(_TILE_MARGIN_UM / px))
    tiles = _tiles(tuple(rgb.shape[:2]), int(tile_px), margin)
    seg_kw = dict(segmentation or {})
    job = dict(tissue=tissue, px=px, vectors=np.asarray(vectors), background=np.asarray(background),
               threshold=float(threshold), seg_kw=seg_kw)

    if client is not None:
        # a dask.distributed cluster: each worker opens the slide file itself
        from .slide import Slide

        if not isinstance(rgb, Slide):
            raise TypeError("a cluster needs a pipeline.slide.Slide (workers read the file), not an array")
        source = (str(rgb.path), rgb.pixel_size_um)
        shared = client.scatter(job, broadcast=True)
        futures = client.map(_cluster_tile, tiles, source=source, job=shared, pure=False, retries=1)
        parts = client.gather(futures)
    else:
        lock = threading.Lock()
        done = [0]

        def run(tile):
            part = _tile_nuclei(rgb, tile, **job)
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
    parts = [p for p in parts if len(p)]
    nuclei = pd.concat(parts, ignore_index=True) if parts else _empty_nuclei()
    nuclei = nuclei.drop(columns="label")
    nuclei.insert(0, "nucleus_id", np.arange(1, len(nuclei) + 1, dtype=np.int64))
    return nuclei


def analyze(
    image,
    *,
    pixel_size_um,
    stain="auto",
    rule="camelyon",
    link_um=75.0,
    dab_threshold=0.15,
    contact_um=3.0,
    itc_max_um=200.0,
    micro_max_um=2000.0,
    itc_max_cells=200,
    tile_px=512,
    workers=None,
    image_name=None,
    sample_tiles=16,
) -> NodeResult:
    """Analyse one lymph-node image: tissue, stains, nuclei, tumour cells, deposits, stage.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray
        Brightfield RGB image (H&E or haematoxylin + DAB), e.g. from
        :func:`pipeline.io.read_image`. Not modified.
    pixel_size_um : float, keyword-only
        µm per pixel. Required: NodeScope never assumes a pixel size.
    stain : {"auto", "he", "ihc"}, keyword-only
        ``"auto"`` decides from the image (:func:`pipeline.stains.detect_stain`)
        and reports why in ``stain_reason``.
    rule : {"camelyon", "contiguous"}, keyword-only
        Deposit linking rule (see :func:`pipeline.measure.assign_deposits`).
    link_um : float, keyword-only
        Linking distance of the camelyon rule (µm).
    dab_threshold : float, keyword-only
        Ring DAB OD above which an IHC cell is tumour.
    contact_um, itc_max_um, micro_max_um, itc_max_cells : keyword-only
        See :func:`measure_node`.
    tile_px : int, keyword-only
        Processing tile side (pixels); memory grows with it, not with the image.
    workers : int, optional, keyword-only
        Threads for the tiles.
    image_name : str, optional, keyword-only
        Recorded in the result.
    sample_tiles : int, keyword-only
        Full-resolution samples (512 x 512 pixels, spread over the tissue) from
        which background, stain vectors and the nuclear threshold are estimated.

    Returns
    -------
    NodeResult

    Raises
    ------
    ValueError, TypeError
        For an image that is not (M, N, 3) uint8 or bad parameters.

    Examples
    --------
    >>> import numpy as np
    >>> glass = np.full((64, 64, 3), 245, np.uint8)
    >>> r = analyze(glass, pixel_size_um=0.5)
    >>> r.category, r.flags
    ('negative', ['no_tissue'])
    """
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"image must be an (M, N, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise TypeError(
            f"image must be uint8, got {rgb.dtype}; read files with pipeline.io.read_image"
        )
    px = check_pixel_size(pixel_size_um)
    params, stage_kw = _check_options(stain, rule, link_um, dab_threshold, tile_px, contact_um,
                                      itc_max_um, micro_max_um, itc_max_cells)
    context = dict(image=image_name, shape=tuple(int(v) for v in rgb.shape[:2]))

    tissue = tissue_mask(rgb, pixel_size_um=px)
    tissue_mm2 = float(tissue.sum()) * px * px / 1e6
    context["tissue_area_mm2"] = tissue_mm2
    empty_cells = pd.DataFrame({c: pd.Series(dtype="float64") for c in ("y_um", "x_um", "radius_um")})
    if not tissue.any():
        chosen = "he" if stain == "auto" else stain
        return measure_node(
            empty_cells, pixel_size_um=px, stain=chosen, flags=["no_tissue"],
            stain_reason="no tissue found" if stain == "auto" else "given", parameters=params,
            **stage_kw, **context,
        )

    # Global quantities from full-resolution samples spread over the tissue (the
    # same procedure as whole-slide mode), so that every tile uses the same ones.
    f = max(1, int(_overview_um(rgb.shape[:2], px) // px))
    small_tissue = tissue[f // 2::f, f // 2::f]
    sub, sub_tissue = _tissue_samples(rgb, tissue, small_tissue, sample_tiles)
    overview = cv2.resize(rgb, (small_tissue.shape[1], small_tissue.shape[0]), interpolation=cv2.INTER_AREA)
    stats = _global_stats(sub, sub_tissue, stain=stain, pixel_size_um=px, overview=(overview, small_tissue))
    nuclei = detect_cells(
        rgb, tissue, pixel_size_um=px, vectors=stats["vectors"], background=stats["background"],
        threshold=stats["threshold"], tile_px=tile_px, workers=workers,
    )
    return _stage(nuclei, stats, pixel_size_um=px, dab_threshold=dab_threshold, params=params,
                  stage_kw=stage_kw, context=context)


def _overview_um(shape, px):
    """Pixel size of the overview image: about 2 µm (a tumour cell is still ~7 pixels
    across, so sparse DAB is seen), coarser for very large slides (<= 8000 pixels)."""
    return max(2.0, px, max(shape) * px / 8000)


def _global_stats(sub, sub_tissue, *, stain, pixel_size_um, overview=None):
    """Background, stain, stain vectors and nuclear threshold from a sample of the image.

    ``overview`` = (low-resolution image, its tissue mask) of the whole tissue, on
    which the stain is detected (a few brown cells may fall outside the samples).
    """
    background = estimate_background(sub, tissue=sub_tissue)
    if stain == "auto":
        look, look_tissue = overview if overview is not None else (sub, sub_tissue)
        chosen, stain_reason = detect_stain(look, mask=look_tissue, background=background)
    else:
        chosen, stain_reason = stain, "given"
    vectors, vec_source = estimate_stain_vectors(sub, stain=chosen, mask=sub_tissue, background=background)
    h_sub = separate_stains(sub, vectors, background=background)[..., 0]
    threshold = nuclear_threshold(cv2.GaussianBlur(h_sub, (0, 0), max(0.3, 0.5 / pixel_size_um)),
                                  mask=sub_tissue)
    return {"background": background, "stain": chosen, "stain_reason": stain_reason,
            "vectors": vectors, "vectors_source": vec_source, "threshold": threshold}


def _confident_deposits(nuclei, is_tumor, prob, *, seed, stage_kw):
    """Hysteresis on tumour probability: a deposit of candidate cells (p >= the
    forest's cut-off) counts only when at least one of its cells is a confident
    call (p >= ``seed``). A small group of look-alikes (sinus histiocytes) is
    dropped; a real deposit keeps its less typical cells."""
    if not is_tumor.any():
        return is_tumor
    cand = nuclei[is_tumor]
    ids = assign_deposits(cand, rule=stage_kw["rule"], link_um=stage_kw["link_um"],
                          contact_um=stage_kw["contact_um"])
    best = np.zeros(ids.max() + 1)
    np.maximum.at(best, ids, prob[is_tumor])
    keep = np.zeros(len(nuclei), bool)
    keep[np.flatnonzero(is_tumor)] = best[ids] >= seed
    return keep


def _stage(nuclei, stats, *, pixel_size_um, dab_threshold, params, stage_kw, context,
           seed_probability=0.8):
    """Classify the nuclei, then group, measure and stage the tumour cells."""
    if stats["stain"] == "ihc":
        is_tumor = classify_ihc(nuclei, dab_threshold=dab_threshold)
        reference = None
    else:
        reference = lymphocyte_reference(nuclei)
        forest = load_forest()
        prob = forest_probability(he_features(nuclei, reference=reference), forest)
        nuclei = nuclei.assign(tumor_probability=prob)
        is_tumor = prob >= forest["threshold"]
        is_tumor = _confident_deposits(nuclei, is_tumor, prob, seed=seed_probability, stage_kw=stage_kw)
    cells = nuclei[is_tumor].reset_index(drop=True)
    cells.insert(0, "cell_id", np.arange(1, len(cells) + 1, dtype=np.int64))
    params = dict(params)
    params["seed_probability"] = float(seed_probability)
    params.update(
        stain_vectors=np.round(stats["vectors"], 4).tolist(),
        background=np.round(stats["background"], 1).tolist(),
        hematoxylin_threshold=round(float(stats["threshold"]), 4),
    )
    if reference is not None:
        params["lymphocyte_reference"] = {k: round(float(v), 4) for k, v in reference.items()}
    return measure_node(
        cells, pixel_size_um=pixel_size_um, stain=stats["stain"], nucleus_count=int(len(nuclei)),
        stain_reason=stats["stain_reason"], stain_vectors_source=stats["vectors_source"],
        parameters=params, **stage_kw, **context,
    )


def _check_options(stain, rule, link_um, dab_threshold, tile_px, contact_um, itc_max_um,
                   micro_max_um, itc_max_cells):
    """Validate the analysis options once; return the recorded parameters and staging options."""
    check_choice(stain, STAINS, name="stain")
    check_choice(rule, RULES, name="rule")
    check_positive(link_um, name="link_um", allow_zero=True)
    check_positive(dab_threshold, name="dab_threshold")
    if int(tile_px) < 64:
        raise ValueError(f"tile_px must be >= 64 pixels, got {tile_px}")
    params = {"stain": stain, "dab_threshold": float(dab_threshold), "tile_px": int(tile_px)}
    stage_kw = dict(rule=rule, link_um=link_um, contact_um=contact_um, itc_max_um=itc_max_um,
                    micro_max_um=micro_max_um, itc_max_cells=itc_max_cells)
    return params, stage_kw


def _tissue_samples(rgb, tissue, small_tissue, n_samples, side=512):
    """Up to ``n_samples`` full-resolution squares spread evenly over the tissue, stacked."""
    shape = tuple(rgb.shape[:2])
    ys, xs = np.nonzero(small_tissue)
    order = np.linspace(0, len(ys) - 1, min(n_samples, len(ys))).astype(int)
    samples, masks = [], []
    for k in order:
        cy = int((ys[k] + 0.5) / small_tissue.shape[0] * shape[0])
        cx = int((xs[k] + 0.5) / small_tissue.shape[1] * shape[1])
        y0 = int(np.clip(cy - side // 2, 0, max(0, shape[0] - side)))
        x0 = int(np.clip(cx - side // 2, 0, max(0, shape[1] - side)))
        y1, x1 = min(shape[0], y0 + side), min(shape[1], x0 + side)
        samples.append(np.asarray(rgb[y0:y1, x0:x1]))
        masks.append(np.asarray(tissue[y0:y1, x0:x1]))
    width = max(a.shape[1] for a in samples)
    sub = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=255)
                          for a in samples])
    sub_tissue = np.concatenate([np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in masks])
    return sub, sub_tissue


class _UpsampledMask:
    """A low-resolution mask read at full resolution, region by region."""

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


def _thumbnail(slide, target_um: float, *, chunk_px: int = 4096):
    """The slide at about ``target_um`` per pixel, from a pyramid level or by streaming tiles."""
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


def analyze_slide(
    slide,
    *,
    stain="auto",
    rule="camelyon",
    link_um=75.0,
    dab_threshold=0.15,
    contact_um=3.0,
    itc_max_um=200.0,
    micro_max_um=2000.0,
    itc_max_cells=200,
    tile_px=2048,
    workers=None,
    image_name=None,
    sample_tiles=16,
    client=None,
    on_tile=None,
):
    """Analyse a whole-slide image tile by tile, never holding it whole in memory.

    Tissue is found on a low-resolution overview (about 2 µm per pixel) so that
    empty glass is never read at full resolution; background, stain vectors and
    the nuclear threshold come from up to ``sample_tiles`` full-resolution
    samples (512 x 512 pixels) spread over the tissue; each tile is then read
    from the file with a margin, its nuclei kept by the tile that holds their
    centre, and the tumour cells of all tiles are grouped, measured and staged
    together, so a deposit spanning tiles is measured whole.

    Parameters
    ----------
    slide : pipeline.slide.Slide
        An open slide (its pixel size is the base level's).
    sample_tiles : int, keyword-only
        Full-resolution samples for the global stain statistics.
    client : distributed.Client, optional, keyword-only
        Spread the tiles of this slide over a Dask cluster's workers.
    on_tile : callable, optional, keyword-only
        Called as ``on_tile(tiles_done, tiles_total)`` after each tile.
    others
        As :func:`analyze`.

    Returns
    -------
    NodeResult
        ``extra["thumbnail_pixel_size_um"]`` gives the scale of the low-resolution
        image returned by ``result.extra`` consumers (see :func:`slide_thumbnail`).
    """
    px = slide.pixel_size_um
    params, stage_kw = _check_options(stain, rule, link_um, dab_threshold, tile_px, contact_um,
                                      itc_max_um, micro_max_um, itc_max_cells)
    params["mode"] = "whole-slide"
    thumb, thumb_um = _thumbnail(slide, _overview_um(slide.shape, px))
    small_tissue = tissue_mask(thumb, pixel_size_um=thumb_um)
    context = dict(image=image_name, shape=tuple(slide.shape),
                   tissue_area_mm2=float(small_tissue.sum()) * thumb_um**2 / 1e6)
    if not small_tissue.any():
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in ("y_um", "x_um", "radius_um")})
        return measure_node(empty, pixel_size_um=px, stain="he" if stain == "auto" else stain,
                            flags=["no_tissue"], stain_reason="no tissue found", parameters=params,
                            **stage_kw, **context)
    tissue = _UpsampledMask(small_tissue, slide.shape)
    sub, sub_tissue = _tissue_samples(slide, tissue, small_tissue, sample_tiles)
    stats = _global_stats(sub, sub_tissue, stain=stain, pixel_size_um=px, overview=(thumb, small_tissue))
    nuclei = detect_cells(slide, tissue, pixel_size_um=px, vectors=stats["vectors"],
                          background=stats["background"], threshold=stats["threshold"],
                          tile_px=tile_px, workers=workers, client=client, on_tile=on_tile)
    result = _stage(nuclei, stats, pixel_size_um=px, dab_threshold=dab_threshold, params=params,
                    stage_kw=stage_kw, context=context)
    result.extra["thumbnail_pixel_size_um"] = thumb_um
    return result
