"""From a calibrated RGB image to a staged node: the stages chained.

:func:`analyze` runs tissue detection, stain separation, nuclear segmentation and
tumour-cell classification tile by tile (bounded memory, same result for any
tile order), then :func:`measure_node` groups the tumour cells into deposits,
measures them and stages the node. :func:`measure_node` alone re-measures an
edited set of tumour cells (the napari review) without re-segmenting.
"""

from __future__ import annotations

import os
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
from .tumor import classify_he, classify_ihc, lymphocyte_reference

__all__ = ["STAINS", "analyze", "measure_node", "detect_cells"]

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


def detect_cells(
    rgb,
    tissue,
    *,
    pixel_size_um,
    vectors,
    background,
    threshold,
    segmentation=None,
    tile_px=1024,
    workers=None,
):
    """Segment and measure every nucleus of an image, tile by tile.

    Nuclei are kept by the tile whose core holds their centre, so tiles can be
    processed in any order or in parallel with the same result.

    Parameters
    ----------
    rgb : (M, N, 3) uint8 ndarray
    tissue : (M, N) bool ndarray
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

    Returns
    -------
    pandas.DataFrame
        The nuclei table (see :data:`pipeline.nuclei.NUCLEUS_COLUMNS`), ``label``
        replaced by a running ``nucleus_id``, in image order.
    """
    px = check_pixel_size(pixel_size_um)
    margin = int(np.ceil(_TILE_MARGIN_UM / px))
    tiles = _tiles(rgb.shape[:2], int(tile_px), margin)
    seg_kw = dict(segmentation or {})

    def run(tile):
        (r0, r1, c0, c1), (pr0, pr1, pc0, pc1) = tile
        mask = tissue[pr0:pr1, pc0:pc1]
        if not mask[r0 - pr0:r1 - pr0, c0 - pc0:c1 - pc0].any():
            return _empty_nuclei()
        conc = separate_stains(rgb[pr0:pr1, pc0:pc1], vectors, background=background)
        h, counter = conc[..., 0], conc[..., 1]
        labels = segment_nuclei(h, pixel_size_um=px, mask=mask, threshold=threshold, **seg_kw)
        table = nucleus_features(labels, h, counter, pixel_size_um=px, origin_px=(pr0, pc0))
        y = table["y_um"].to_numpy() / px
        x = table["x_um"].to_numpy() / px
        core = (y >= r0 - 0.5) & (y < r1 - 0.5) & (x >= c0 - 0.5) & (x < c1 - 0.5)
        return table[core]

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
    tile_px=1024,
    workers=None,
    image_name=None,
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
    check_choice(stain, STAINS, name="stain")
    check_choice(rule, RULES, name="rule")
    check_positive(link_um, name="link_um", allow_zero=True)
    check_positive(dab_threshold, name="dab_threshold")
    if int(tile_px) < 64:
        raise ValueError(f"tile_px must be >= 64 pixels, got {tile_px}")
    params = {
        "stain": stain,
        "dab_threshold": float(dab_threshold),
        "tile_px": int(tile_px),
    }
    context = dict(image=image_name, shape=tuple(int(v) for v in rgb.shape[:2]))
    stage_kw = dict(rule=rule, link_um=link_um, contact_um=contact_um, itc_max_um=itc_max_um,
                    micro_max_um=micro_max_um, itc_max_cells=itc_max_cells)

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

    # Global quantities from a subsample, so that every tile uses the same ones.
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / 1_000_000))))
    sub, sub_tissue = rgb[::step, ::step], tissue[::step, ::step]
    background = estimate_background(sub, tissue=sub_tissue)
    if stain == "auto":
        chosen, stain_reason = detect_stain(sub, mask=sub_tissue, background=background)
    else:
        chosen, stain_reason = stain, "given"
    vectors, vec_source = estimate_stain_vectors(sub, stain=chosen, mask=sub_tissue, background=background)
    h_sub = separate_stains(sub, vectors, background=background)[..., 0]
    threshold = nuclear_threshold(cv2.GaussianBlur(h_sub, (0, 0), max(0.3, 0.5 / (px * step))), mask=sub_tissue)

    nuclei = detect_cells(
        rgb, tissue, pixel_size_um=px, vectors=vectors, background=background,
        threshold=threshold, tile_px=tile_px, workers=workers,
    )
    if chosen == "ihc":
        is_tumor = classify_ihc(nuclei, dab_threshold=dab_threshold)
        reference = None
    else:
        reference = lymphocyte_reference(nuclei)
        is_tumor = classify_he(nuclei, reference=reference)
    cells = nuclei[is_tumor].reset_index(drop=True)
    cells.insert(0, "cell_id", np.arange(1, len(cells) + 1, dtype=np.int64))
    params.update(
        stain_vectors=np.round(vectors, 4).tolist(),
        background=np.round(background, 1).tolist(),
        hematoxylin_threshold=round(float(threshold), 4),
    )
    if reference is not None:
        params["lymphocyte_reference"] = {k: round(float(v), 4) for k, v in reference.items()}
    return measure_node(
        cells, pixel_size_um=px, stain=chosen, nucleus_count=int(len(nuclei)),
        stain_reason=stain_reason, stain_vectors_source=vec_source, parameters=params,
        **stage_kw, **context,
    )
