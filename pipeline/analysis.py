"""From a calibrated image to a staged node: the stages in sequence.

:func:`analyze` (an image in memory), :func:`analyze_slide` (a slide read tile by
tile from its file) and :func:`analyze_file` (a path: whichever of the two fits
its size) run the same three named stages:

1. :func:`pipeline.detection.find_nuclei`: tissue, stains, every nucleus;
2. :func:`pipeline.stages.find_tumour_cells`: which nuclei are tumour cells;
3. :func:`pipeline.stages.measure_node`: deposits, their diameters, growth
   pattern and the node's category.

Every choice comes from one :class:`~pipeline.options.AnalysisOptions`; option
names may also be given as keywords (``analyze(rgb, pixel_size_um=0.5, stain="ihc")``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .detection import find_nuclei
from .options import AnalysisOptions
from .quality import assess_quality
from .results import NodeResult
from .stages import find_tumour_cells, measure_node

__all__ = ["analyze", "analyze_slide", "analyze_file", "measure_node", "run_stages"]

# tifffile's warnings capture in pipeline.io is not thread-safe (warnings.catch_warnings
# swaps process-wide state), so files are *opened and read* one at a time; the
# analysis, which dominates, runs in parallel.
_READ_LOCK = threading.Lock()


def run_stages(image, *, pixel_size_um=None, options=None, image_name=None, pixel_size_source=None,
               workers=None, client=None, on_tile=None, on_map=None) -> NodeResult:
    """The three stages on an array or a :class:`~pipeline.slide.Slide` (see the module text)."""
    options = AnalysisOptions.from_kwargs(options)
    found = find_nuclei(image, pixel_size_um=pixel_size_um, options=options, workers=workers,
                        client=client, on_tile=on_tile, on_map=on_map)
    tumour = find_tumour_cells(found.nuclei, found.stain, options)
    parameters = options.recorded(found.mode)
    if found.stats is not None:
        parameters.update(found.stats.recorded())
    parameters.update(tumour.parameters)
    if found.tumour_map is not None:  # how the map read this image (pipeline.heatmap.tumour_map)
        fr = found.tumour_map.focus_ratio
        parameters["tumour_map"] = {"pre_blur_px": round(float(found.tumour_map.pre_blur_px), 2),
                                    "focus_ratio": round(float(fr), 4) if np.isfinite(fr) else None,
                                    "rotations": int(found.tumour_map.rotations),
                                    "rotated_above": float(found.tumour_map.rotated_above)}
    quality = assess_quality(pixel_size_um=found.pixel_size_um, shape=found.shape,
                             tissue_area_mm2=found.tissue_area_mm2, nuclei=found.nuclei,
                             measures=found.stats.quality if found.stats is not None else {},
                             tumour_found=None, flags=found.flags,  # negative-call rules: measure_node
                             tumour_ids=tumour.cells["nucleus_id"] if "nucleus_id" in tumour.cells else None,
                             stain_vectors_source=found.stats.vectors_source if found.stats is not None else None,
                             stain=found.stain)
    return measure_node(
        tumour.cells, pixel_size_um=found.pixel_size_um, stain=found.stain, options=options,
        image=image_name, shape=found.shape, nucleus_count=int(len(found.nuclei)),
        tissue_area_mm2=found.tissue_area_mm2, stain_reason=found.stain_reason,
        stain_vectors_source=found.stats.vectors_source if found.stats is not None else "",
        flags=list(quality.flags), quality=quality.measures,
        not_assessable_reason=quality.not_assessable_reason, parameters=parameters, overview=found.overview,
        overview_pixel_size_um=found.overview_pixel_size_um, tumour_map=found.tumour_map,
        pixel_size_source=pixel_size_source, outlines=_exported_outlines(found.outlines, tumour, options),
        nuclei=_all_nuclei(found.nuclei, tumour) if options.all_nuclei else None,
        nucleus_centres_um=np.stack([found.nuclei["y_um"].to_numpy(np.float32),
                                     found.nuclei["x_um"].to_numpy(np.float32)], axis=1),
    )


def _exported_outlines(outlines, tumour, options):
    """The outlines the exports draw: every nucleus' with ``all_nuclei``, else the tumour cells'."""
    if outlines is None or options.all_nuclei:
        return outlines
    return outlines.take(tumour.cells["nucleus_id"] if "nucleus_id" in tumour.cells else [])


def _all_nuclei(nuclei, tumour):
    """Every nucleus with its class (``is_tumour``) and, in H&E, its tumour probability."""
    table = nuclei.copy()
    if tumour.probability is not None:
        table["tumor_probability"] = tumour.probability
    ids = tumour.cells["nucleus_id"] if "nucleus_id" in tumour.cells else []
    table["is_tumour"] = table["nucleus_id"].isin(ids) if "nucleus_id" in table else False
    return table.reset_index(drop=True)


def analyze(image, *, pixel_size_um, options=None, workers=None, image_name=None, on_tile=None,
            on_map=None, **option_overrides) -> NodeResult:
    """Analyse one lymph-node image: tissue, stains, nuclei, tumour cells, deposits, stage.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray
        Brightfield RGB image (H&E or haematoxylin + DAB), e.g. from
        :func:`pipeline.io.read_image`. Not modified.
    pixel_size_um : float, keyword-only
        µm per pixel. Required: NodeScope never assumes a pixel size.
    options : AnalysisOptions, optional, keyword-only
        Every analysis choice (default: all defaults).
    workers : int, optional, keyword-only
        Threads for the tiles (does not change the result).
    image_name : str, optional, keyword-only
        Recorded in the result.
    on_tile : callable, optional, keyword-only
        Called as ``on_tile(tiles_done, tiles_total)`` after each tile of the
        nuclear segmentation.
    on_map : callable, optional, keyword-only
        H&E only: called as ``on_map(chunks_done, chunks_total)`` while the
        tumour-probability map is made, before the tiles.
    **option_overrides
        Any :class:`~pipeline.options.AnalysisOptions` field by name
        (``stain="ihc"``, ``rule="contiguous"``, ``link_um=50``, ``tile_px=1024``, ...).

    Returns
    -------
    NodeResult

    Raises
    ------
    ValueError, TypeError
        For an image that is not (M, N, 3) uint8 or bad options.

    Examples
    --------
    >>> import numpy as np
    >>> glass = np.full((64, 64, 3), 245, np.uint8)
    >>> r = analyze(glass, pixel_size_um=0.5)
    >>> r.category, r.category_reason, r.flags
    ('not_assessable', 'no tissue found', ['no_tissue'])
    """
    from ._validate import check_pixel_size

    check_pixel_size(pixel_size_um)
    options = AnalysisOptions.from_kwargs(options, **option_overrides)
    return run_stages(image, pixel_size_um=pixel_size_um, options=options, image_name=image_name,
                      workers=workers, on_tile=on_tile, on_map=on_map)


def analyze_slide(slide, *, options=None, workers=None, image_name=None, client=None, on_tile=None,
                  on_map=None, **option_overrides) -> NodeResult:
    """Analyse a whole-slide image tile by tile, never holding it whole in memory.

    Tissue is found on a low-resolution overview (about 2 µm per pixel) so that
    empty glass is never read at full resolution; background, stain vectors and
    the nuclear threshold come from ``sample_tiles`` full-resolution samples
    spread over the tissue; each tile is then read from the file with a margin,
    its nuclei kept by the tile that holds their centre, and the tumour cells of
    all tiles are grouped, measured and staged together, so a deposit spanning
    tiles is measured whole.

    Parameters
    ----------
    slide : pipeline.slide.Slide
        An open slide (its pixel size is the base level's).
    options, workers, image_name, **option_overrides
        As :func:`analyze` (``tile_px`` defaults to 2048 here).
    client : distributed.Client, optional, keyword-only
        Spread the tiles of this slide over a Dask cluster's workers.
    on_tile : callable, optional, keyword-only
        Called as ``on_tile(tiles_done, tiles_total)`` after each tile.
    on_map : callable, optional, keyword-only
        H&E only: called as ``on_map(chunks_done, chunks_total)`` while the
        tumour-probability map is made, before the tiles.

    Returns
    -------
    NodeResult
        ``overview`` holds the slide at about 2 µm per pixel
        (``overview_pixel_size_um``), for overlays.
    """
    options = AnalysisOptions.from_kwargs(options, **option_overrides)
    return run_stages(slide, options=options, image_name=image_name, workers=workers, client=client,
                      on_tile=on_tile, on_map=on_map, pixel_size_source=slide.pixel_size_source)


def analyze_file(path, *, pixel_size_um=None, options=None, workers=None, on_tile=None,
                 on_map=None, max_pixels=None, **option_overrides):
    """Read one image file and analyse it the way its size calls for.

    TIFF-family files larger than ``options.wsi_threshold_mp`` megapixels are
    analysed in whole-slide mode (:func:`analyze_slide`: tile by tile from the
    file, never loaded whole); smaller files are read whole
    (:func:`pipeline.io.read_image`) and analysed with :func:`analyze`.

    Parameters
    ----------
    path : path-like
    pixel_size_um : float, optional, keyword-only
        Overrides the file's pixel size (required when the file has none).
    options, workers, **option_overrides
        As :func:`analyze`.
    on_tile : callable, optional, keyword-only
        Called as ``on_tile(tiles_done, tiles_total)`` after each tile (of the
        slide in whole-slide mode, of the image read whole otherwise).
    on_map : callable, optional, keyword-only
        H&E only: called as ``on_map(chunks_done, chunks_total)`` while the
        tumour map is made, before the tiles.
    max_pixels : int, optional, keyword-only
        Largest image loaded whole (see :func:`pipeline.io.read_image`);
        whole-slide mode is exempt.

    Returns
    -------
    result : NodeResult
        With ``pixel_size_source`` set.
    image : (M, N, 3) uint8 ndarray
        The pixels to draw the overlay on: the whole image, or the slide's
        overview in whole-slide mode (``result.overview_pixel_size_um``).
    """
    from .io import DEFAULT_MAX_PIXELS, image_info, read_image
    from .slide import Slide

    options = AnalysisOptions.from_kwargs(options, **option_overrides)
    name = Path(path).name
    with _READ_LOCK:
        whole_slide = _whole_slide(path, options, image_info)
        slide = Slide(path, pixel_size_um=pixel_size_um) if whole_slide else None
    if slide is not None:
        with slide:
            result = analyze_slide(slide, options=options, workers=workers, image_name=name,
                                   on_tile=on_tile, on_map=on_map)
        return result, result.overview
    with _READ_LOCK:
        rgb, px, meta = read_image(path, pixel_size_um=pixel_size_um,
                                   max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    result = run_stages(rgb, pixel_size_um=px, options=options, image_name=name, workers=workers,
                        pixel_size_source=meta.get("pixel_size_source"), on_tile=on_tile, on_map=on_map)
    return result, rgb


def _whole_slide(path, options, image_info) -> bool:
    """True for a TIFF-family file above the whole-slide threshold (header only; False when unreadable)."""
    try:
        info = image_info(path)
    except Exception:  # noqa: BLE001 - read_image then says what is wrong with the file
        return False
    if info.format not in ("tiff", "ome-tiff", "svs"):
        return False
    return info.shape[0] * info.shape[1] > options.wsi_threshold_mp * 1e6
