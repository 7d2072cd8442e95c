"""The public generator: :func:`make_node`, :func:`make_node_category`, :class:`SyntheticNode`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd

from .._validate import check_choice, check_pixel_size
from .._version import __version__
from .benign import BENIGN_ANATOMIES, BENIGN_MODELS
from .cells import KINDS, SIMPLE_KINDS, CellSet
from .deposits import DepositSpec, coerce_deposits, fill_regions, min_diameter_um, place_regions
from .geometry import layout_node
from .packing import resolve_overlaps
from .render import render_node
from .staining import sample_acquisition
from .truth import cells_table, deposits_table, growth_pattern, truth_category

__all__ = ["CATEGORIES", "PATTERNS", "STAINS", "SyntheticNode", "make_node", "make_node_category"]

#: Stains the generator can draw: H&E, and cytokeratin IHC (DAB + haematoxylin).
STAINS = ("he", "ihc")
#: Node-level growth patterns.
PATTERNS = ("none", "cohesive", "single_file", "mixed")
#: Node categories (AJCC 8th edition).
CATEGORIES = ("negative", "itc", "micrometastasis", "macrometastasis")

# Finest and coarsest pixel sizes that still resolve lymphocyte nuclei (6-7.5 µm).
_MAX_PIXEL_SIZE_UM = 2.0
_MIN_SIZE_UM = 100.0
_MAX_PIXELS = 300_000_000


@dataclass(repr=False)
class SyntheticNode:
    """A synthetic lymph-node section and its exact truth.

    Attributes
    ----------
    rgb : (M, N, 3) uint8 ndarray
        The image. Pixel (r, c) covers y in [r, r + 1) * ``pixel_size_um`` and
        x in [c, c + 1) * ``pixel_size_um`` micrometres.
    pixel_size_um : float
        Micrometres per pixel.
    stain : {"he", "ihc"}
    cells : pandas.DataFrame
        One row per nucleus: ``cell_id`` (the label value), ``y_um``, ``x_um``
        (centre, µm), ``radius_um`` (equivalent radius sqrt(a b), µm), ``a_um``,
        ``b_um`` (semi-axes, µm), ``angle_rad`` (direction of ``a`` from +x towards
        +y, in [0, pi)), ``kind`` (lymphocyte, histiocyte, germinal_centre,
        endothelial, tumor, stromal, plasma_cell, mitotic_figure: see
        :data:`pipeline.synthetic.cells.KINDS`), ``is_tumor``, ``deposit_id``
        (1..K, -1 for benign cells) and ``dispersed`` (tumour cell drawn single or
        in a single file).
    deposits : pandas.DataFrame
        One row per deposit: ``deposit_id``, ``cell_count``, ``longest_diameter_um``
        (maximum Feret diameter of its nuclei), ``pattern`` (from its dispersed
        fraction), ``dispersed_fraction``, ``centroid_y_um``, ``centroid_x_um``.
    category : str
        AJCC node category of the truth: negative, itc, micrometastasis or macrometastasis.
    category_reason : str
        Which criterion decided the category.
    growth_pattern : str
        none, cohesive (dispersed fraction < 0.2), single_file (> 0.8) or mixed.
    dispersed_fraction : float
        Fraction of all tumour cells that are dispersed (0 without tumour).
    tumor_mask : (M, N) bool ndarray
        Tumour cell bodies: nuclei and cytoplasm.
    nuclei_labels : (M, N) int32 ndarray
        Nucleus instance labels; the value is the ``cell_id`` (0 elsewhere).
    tissue_mask : (M, N) bool ndarray
        Tissue on the slide: the node (capsule included) and any perinodal fat
        lobule (adipocyte lumens included).
    params : dict
        JSON-serialisable record of how the image was made (seed, sizes, stain
        vectors and strengths, glass colour, blur, noise, anatomy; ``benign``,
        ``n_trabeculae``, ``medulla_radius_um`` and ``medullary_sinus_half_width_um``
        only when the benign anatomy is not ``"simple"``).
    """

    rgb: np.ndarray
    pixel_size_um: float
    stain: str
    cells: pd.DataFrame
    deposits: pd.DataFrame
    category: str
    category_reason: str
    growth_pattern: str
    dispersed_fraction: float
    tumor_mask: np.ndarray
    nuclei_labels: np.ndarray
    tissue_mask: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def tumor_cell_count(self) -> int:
        """Number of tumour cells in the section."""
        return int(self.cells["is_tumor"].sum())

    def __repr__(self) -> str:
        return (
            f"SyntheticNode(category={self.category!r}, stain={self.stain!r}, "
            f"shape={self.rgb.shape[:2]}, pixel_size_um={self.pixel_size_um:g}, "
            f"cells={len(self.cells)}, tumor_cells={self.tumor_cell_count}, "
            f"deposits={len(self.deposits)}, growth_pattern={self.growth_pattern!r})"
        )

    def truth_dict(self) -> dict:
        """The truth as plain JSON-serialisable Python objects (no arrays).

        ``cell_counts`` has one entry per kind the node's benign anatomy can
        draw: the six kinds of the ``"simple"`` anatomy, plus ``plasma_cell`` and
        ``mitotic_figure`` for ``"typical"`` and ``"reactive"``.

        Examples
        --------
        >>> import json
        >>> node = make_node(size_um=(200, 200), pixel_size_um=2.0, pattern="none")
        >>> sorted(json.loads(json.dumps(node.truth_dict())))[:4]
        ['category', 'category_reason', 'cell_counts', 'deposits']
        """
        deposits = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in self.deposits.to_dict(orient="records")
        ]
        counts = self.cells["kind"].value_counts()
        kinds = SIMPLE_KINDS if self.params.get("benign", "simple") == "simple" else KINDS
        return {
            "category": self.category,
            "category_reason": self.category_reason,
            "growth_pattern": self.growth_pattern,
            "dispersed_fraction": float(self.dispersed_fraction),
            "tumor_cell_count": self.tumor_cell_count,
            "largest_deposit_um": float(self.deposits["longest_diameter_um"].max()) if len(deposits) else 0.0,
            "deposits": deposits,
            "cell_counts": {k: int(counts.get(k, 0)) for k in kinds},
            "stain": self.stain,
            "pixel_size_um": float(self.pixel_size_um),
            "shape_px": [int(v) for v in self.rgb.shape[:2]],
            "params": self.params,
        }


def _check_size(size_um):
    try:
        h, w = (float(v) for v in size_um)
    except (TypeError, ValueError):
        raise ValueError(f"size_um must be a (height, width) pair in µm, got {size_um!r}") from None
    for v in (h, w):
        if not math.isfinite(v) or v < _MIN_SIZE_UM:
            raise ValueError(
                f"size_um must be finite and >= {_MIN_SIZE_UM:g} µm on each side, got {size_um!r}"
            )
    return h, w


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


def _check_jpeg(quality):
    if quality is None:
        return None
    if isinstance(quality, bool) or not isinstance(quality, Integral) or not 1 <= quality <= 100:
        raise ValueError(f"jpeg_quality must be None or a whole number 1-100, got {quality!r}")
    return int(quality)


def _streams(seed):
    """Independent generators for anatomy, deposits, appearance, staining and pixel noise."""
    children = np.random.SeedSequence(seed).spawn(6)
    return [np.random.default_rng(c) for c in children]


def make_node(
    *,
    size_um=(1000.0, 1000.0),
    pixel_size_um=0.5,
    stain="he",
    pattern="cohesive",
    deposits=None,
    seed=0,
    jpeg_quality=None,
    variation=True,
    benign="simple",
    dab_background_od=None,
) -> SyntheticNode:
    """Draw a synthetic lymph-node section with breast-cancer metastases and its truth.

    The node is laid out in micrometres (capsule, subcapsular sinus, cortex of
    packed lymphocytes, follicles with germinal centres, vessels, perinodal fat,
    tumour deposits) and then rendered at ``pixel_size_um``; the same ``seed``
    gives the same cells at any pixel size.

    Parameters
    ----------
    size_um : (2,) float, keyword-only
        Height and width of the field in µm; the node fills most of it.
    pixel_size_um : float, keyword-only
        µm per pixel, at most 2.
    stain : {"he", "ihc"}, keyword-only
        H&E, or cytokeratin immunohistochemistry (DAB-brown tumour cytoplasm,
        lighter haematoxylin counterstain, no eosin).
    pattern : {"none", "cohesive", "single_file", "mixed"}, keyword-only
        Default arrangement of the deposits: ductal-like sheets, lobular-like
        single files and single cells, or a cohesive core with dispersed cells.
        ``"none"`` draws a negative node.
    deposits : list of dict or DepositSpec, optional, keyword-only
        One entry per deposit (see :class:`DepositSpec`: ``diameter_um``,
        ``center_um``, ``n_cells``, ``pattern``, ``dispersed_fraction``). Default:
        one deposit 15-40 % of the node's width inside the capsule (none for
        ``"none"``);
        ``[]`` gives a negative node.
    seed : int, keyword-only
        Seed of every random choice.
    jpeg_quality : int, optional, keyword-only
        When given (1-100), the image goes through JPEG compression at that quality.
    variation : bool, keyword-only
        Vary staining and scanning per seed (stain vectors rotated up to 8°,
        strengths x0.7-1.3, glass colour 230-250, blur 0.3-0.8 µm, noise 1-4
        grey levels). With False the reference stains are used; the anatomy is
        random either way.
    benign : {"simple", "typical", "reactive"}, keyword-only
        Benign anatomy, i.e. which tumour look-alikes the node holds
        (:mod:`~pipeline.synthetic.benign`). ``"simple"`` (default) is the node
        of earlier versions, unchanged for every seed. ``"typical"`` adds a
        medulla at the hilum (cords with plasma cells, sinuses with
        histiocytes), fibrous trabeculae with spindle fibroblasts, plump high
        endothelial venules, scattered cortical plasma cells and germinal-centre
        mitoses. ``"reactive"`` adds to that follicular hyperplasia (3.5 x the
        follicle density, up to 12 follicles, deeper in the cortex, all with
        large germinal centres, more tingible-body macrophages and mitoses),
        sinus histiocytosis (a subcapsular sinus 1.6 x wider, up to a tenth of
        the node's diameter, and wider medullary sinuses, both packed with
        histiocytes) and more plasma cells in the cords and the cortex. The
        tumour deposits are drawn the same way in all three.
    dab_background_od : float, optional, keyword-only
        IHC only: mean non-specific DAB optical density of the tissue (patchy,
        x0.3-2 over ~300 µm). Default: 0.015-0.05 per seed; real cytokeratin slides
        can show 0.05-0.12 of faint diffuse brown on lymphoid tissue.

    Returns
    -------
    SyntheticNode

    Raises
    ------
    ValueError
        For an unknown stain, pattern or benign anatomy, a bad pixel size, size,
        seed or JPEG quality, malformed deposits, or deposits that do not fit in
        the node.

    Notes
    -----
    Anatomy (all randomised per seed): a fibrous capsule (15-40 µm) with
    elongated fibroblasts; a pale subcapsular sinus (30-80 µm) with histiocytes
    (nuclei 10-14 µm, abundant pale cytoplasm); a cortex of lymphocytes (nuclei
    6-7.5 µm) packed 7.5-9 µm apart; 1-4 follicles whose germinal centres hold
    larger, paler centroblasts (8-11 µm) and tingible-body macrophages; vessels
    lined by endothelial nuclei and holding red cells (no nucleus, not in
    ``cells``); sometimes perinodal fat. With ``benign="typical"`` or
    ``"reactive"`` also plasma cells (round eccentric nuclei of 8-10 µm with
    clock-face chromatin, amphophilic cytoplasm and a perinuclear halo),
    medullary sinus histiocytes, trabecular fibroblasts (10-18 µm spindles),
    plump high endothelial cells and mitotic figures. Cohesive tumour cells have vesicular,
    pleomorphic nuclei of 10-18 µm with nucleoli and abundant cytoplasm;
    dispersed (lobular-like) tumour cells have nuclei of 8-11 µm in files 11-14 µm
    apart. In IHC, tumour cytoplasm is DAB-brown with membrane accent, and a
    few brown specks without a nucleus are scattered over the tissue.

    Cells of one deposit are linked by nuclear gaps of at most 55 µm, so the
    CAMELYON 75 µm rule recovers the deposits; deposits are > 170 µm apart.
    Every random choice comes from streams seeded by ``seed`` that do not depend
    on ``pixel_size_um`` or ``stain``: the same seed gives the same cells table
    at every pixel size and in both stains.

    Examples
    --------
    >>> node = make_node(size_um=(300, 300), pixel_size_um=2.0, pattern="single_file",
    ...                  deposits=[{"diameter_um": 120, "n_cells": 8}], seed=1)
    >>> node.rgb.shape, node.category, node.tumor_cell_count, node.growth_pattern
    ((150, 150, 3), 'itc', 8, 'single_file')
    >>> bool((node.nuclei_labels[node.tumor_mask] > 0).any())
    True
    """
    h, w = _check_size(size_um)
    px = check_pixel_size(pixel_size_um)
    if px > _MAX_PIXEL_SIZE_UM:
        raise ValueError(
            f"pixel_size_um must be <= {_MAX_PIXEL_SIZE_UM:g} µm per pixel to resolve nuclei, got {px:g}"
        )
    n_pixels = round(h / px) * round(w / px)
    if n_pixels > _MAX_PIXELS:
        raise ValueError(
            f"size_um={size_um!r} at pixel_size_um={px:g} makes {n_pixels:,} pixels "
            f"(limit {_MAX_PIXELS:,}); use a larger pixel size or a smaller field"
        )
    check_choice(stain, STAINS, name="stain")
    check_choice(pattern, PATTERNS, name="pattern")
    check_choice(benign, BENIGN_MODELS, name="benign")
    seed = _check_seed(seed)
    jpeg_quality = _check_jpeg(jpeg_quality)
    if not isinstance(variation, (bool, np.bool_)):
        raise ValueError(f"variation must be True or False, got {variation!r}")
    specs = coerce_deposits(deposits)
    rng_default, rng_layout, rng_deposits, rng_look, rng_stain, rng_noise = _streams(seed)
    if pattern == "none":
        if specs:
            raise ValueError(
                "pattern='none' draws a negative node but deposits were given; "
                "choose pattern='cohesive', 'single_file' or 'mixed', or drop deposits"
            )
    default_pattern = "cohesive" if pattern == "none" else pattern

    layout, benign_cells = layout_node(rng_layout, (h, w), anatomy=BENIGN_ANATOMIES[benign])
    if pattern != "none" and deposits is None:
        # one deposit 15-40 % of the room inside the capsule, at least 40 µm
        room = float(min(layout.outline.max(0) - layout.outline.min(0))) - 2 * layout.capsule_um - 20.0
        if room < 100.0:
            raise ValueError(
                f"size_um={size_um!r} leaves no room for a tumour deposit inside the node; "
                "give a larger size_um or pattern='none'"
            )
        specs = [DepositSpec(diameter_um=max(40.0, float(rng_default.uniform(0.15, 0.4) * room)))]
    regions = place_regions(rng_deposits, specs, layout, default_pattern=default_pattern)
    tumor, lumens = fill_regions(rng_deposits, regions, layout)
    layout.lumens = lumens
    # gland lumens are empty
    clear = np.ones(len(benign_cells), bool)
    for cy, cx, r in lumens:
        clear &= np.hypot(benign_cells.y - cy, benign_cells.x - cx) > r + benign_cells.a
    everything = CellSet.concat([benign_cells.subset(clear), tumor])
    keep = resolve_overlaps(everything)
    keep[len(everything) - len(tumor):] = True
    keep &= (everything.y >= 0) & (everything.y < h) & (everything.x >= 0) & (everything.x < w)
    cells = everything.subset(keep)

    acquisition = sample_acquisition(rng_stain, stain=stain, variation=bool(variation))
    if dab_background_od is not None and not (0.0 <= float(dab_background_od) <= 0.5):
        raise ValueError(f"dab_background_od must be an optical density in [0, 0.5], got {dab_background_od!r}")
    image = render_node(layout, cells, stain=stain, pixel_size_um=px, acquisition=acquisition,
                        appearance_rng=rng_look, noise_rng=rng_noise, jpeg_quality=jpeg_quality,
                        dab_background_od=dab_background_od)

    table = cells_table(cells)
    dep_table = deposits_table(table)
    n_tumor = int(table["is_tumor"].sum())
    fraction = float(table.loc[table["is_tumor"], "dispersed"].mean()) if n_tumor else 0.0
    category, reason = truth_category(dep_table, n_tumor)
    params = {
        "generator": f"pipeline.synthetic {__version__}",
        "seed": seed,
        "size_um": [h, w],
        "pixel_size_um": px,
        "stain": stain,
        "pattern": pattern,
        "variation": bool(variation),
        "jpeg_quality": jpeg_quality,
        "deposits_requested": [s.as_dict() for s in specs],
        "deposit_regions": [
            {"deposit_id": r.deposit_id, "diameter_um": r.spec.diameter_um,
             "center_um": [round(float(c), 3) for c in r.center],
             "dispersed_fraction_requested": round(float(r.fraction), 6)}
            for r in regions
        ],
        **acquisition.as_dict(),
        **layout.summary(),
        "n_gland_lumens": int(len(lumens)),
    }
    return SyntheticNode(
        rgb=image.rgb, pixel_size_um=px, stain=stain, cells=table, deposits=dep_table,
        category=category, category_reason=reason, growth_pattern=growth_pattern(fraction, n_tumor),
        dispersed_fraction=fraction, tumor_mask=image.tumor_mask, nuclei_labels=image.labels,
        tissue_mask=image.tissue_mask, params=params,
    )


# ------------------------------------------------------------------ categories

# Room (µm) the node needs around its deposits: capsule, sinus and a margin.
_ROOM_UM = 250.0
# The node's smaller diameter is at least this fraction of the field's smaller side.
_NODE_FILL = 0.80


# ITC deposits are small: less room is needed around them.
_ITC_ROOM_UM = 150.0


def _fit_diameter(size_um, room_um=_ROOM_UM):
    """Largest deposit diameter (µm) that fits in a node drawn in a ``size_um`` field."""
    return _NODE_FILL * min(size_um) - room_um


def make_node_category(
    category,
    *,
    stain="he",
    pattern="cohesive",
    pixel_size_um=0.5,
    seed=0,
    size_um=None,
    jpeg_quality=None,
    variation=True,
    benign="simple",
    dab_background_od=None,
) -> SyntheticNode:
    """Draw a node of a given AJCC category with random, category-typical deposits.

    - ``"negative"``: no tumour (``pattern`` is ignored); node 700-1400 µm.
    - ``"itc"``: one deposit of 3-30 cells, 40-180 µm across; node 700-1200 µm.
    - ``"micrometastasis"``: one deposit of 300-1500 µm, sometimes a second one of
      300-700 µm.
    - ``"macrometastasis"``: one deposit of 2150-2600 µm (node about 3200 µm).

    Parameters
    ----------
    category : {"negative", "itc", "micrometastasis", "macrometastasis"}
    stain, pattern, pixel_size_um, seed, jpeg_quality, variation, benign, dab_background_od
        As for :func:`make_node` (``pattern="none"`` is only valid for negative;
        ``benign="reactive"`` gives a reactive node with germinal centres,
        histiocyte-rich sinuses and plasma cells).
    size_um : (2,) float, optional, keyword-only
        Field size. Default: chosen so that the deposits fit with a margin. When
        given, deposit sizes are drawn from the part of the range that fits.

    Returns
    -------
    SyntheticNode
        Its ``category`` equals the requested one.

    Raises
    ------
    ValueError
        For an unknown category or benign anatomy, or a ``size_um`` too small for
        the category.

    Examples
    --------
    >>> node = make_node_category("itc", pattern="cohesive", pixel_size_um=2.0, seed=3,
    ...                           size_um=(500, 500))
    >>> node.category, 3 <= node.tumor_cell_count <= 30
    ('itc', True)
    >>> neg = make_node_category("negative", benign="reactive", pixel_size_um=2.0, seed=3,
    ...                          size_um=(600, 600))
    >>> neg.category, neg.params["benign"], neg.truth_dict()["cell_counts"]["plasma_cell"] > 0
    ('negative', 'reactive', True)
    """
    check_choice(category, CATEGORIES, name="category")
    check_choice(pattern, PATTERNS, name="pattern")
    check_choice(benign, BENIGN_MODELS, name="benign")
    seed = _check_seed(seed)
    if size_um is not None:
        size_um = _check_size(size_um)
    rng = np.random.default_rng([seed, 0xC47E])
    if category != "negative" and pattern == "none":
        raise ValueError(
            f"pattern='none' only makes a negative node; for category={category!r} choose "
            "'cohesive', 'single_file' or 'mixed'"
        )

    def square(side):
        return (float(side * rng.uniform(0.95, 1.05)), float(side * rng.uniform(0.95, 1.05)))

    f_default = {"cohesive": 0.0, "single_file": 1.0, "mixed": 0.5, "none": 0.0}[pattern]
    if category == "negative":
        size = size_um or square(rng.uniform(700.0, 1400.0))
        return make_node(size_um=size, pixel_size_um=pixel_size_um, stain=stain, pattern="none",
                         deposits=None, seed=seed, jpeg_quality=jpeg_quality, variation=variation,
                         benign=benign, dab_background_od=dab_background_od)
    if category == "itc":
        size = size_um or square(rng.uniform(700.0, 1200.0))
        hi = min(180.0, _fit_diameter(size, _ITC_ROOM_UM))
        n_max = 2
        while n_max < 30 and min_diameter_um(n_max + 1, f_default) <= hi:
            n_max += 1
        if n_max < 3:
            need = min_diameter_um(3, f_default)
            raise ValueError(
                f"size_um={size_um!r} is too small for an ITC deposit; "
                f"give size_um >= {(need + _ITC_ROOM_UM) / _NODE_FILL:.0f} µm per side"
            )
        n = int(rng.integers(3, n_max + 1))
        lo = max(40.0, min_diameter_um(n, f_default))
        specs = [DepositSpec(diameter_um=float(rng.uniform(lo, hi)), n_cells=n)]
    elif category == "micrometastasis":
        two = rng.random() < 0.3
        if size_um is None:
            d1 = rng.uniform(300.0, 1500.0)
            d2 = rng.uniform(300.0, min(d1, 700.0)) if two else 0.0
            side = (d1 + d2 + (175.0 if two else 0.0) + _ROOM_UM) / _NODE_FILL
            size = square(side)
        else:
            size = size_um
            room = _fit_diameter(size)
            if room < 300.0:
                raise ValueError(
                    f"size_um={size_um!r} is too small for a micrometastasis (>= 300 µm deposit); "
                    f"give size_um >= {(300 + _ROOM_UM) / _NODE_FILL:.0f} µm per side"
                )
            two = two and room >= 300.0 + 300.0 + 175.0
            if two:
                d2 = rng.uniform(300.0, min(700.0, room - 475.0))
                d1 = rng.uniform(300.0, min(1500.0, room - d2 - 175.0))
            else:
                d1 = rng.uniform(300.0, min(1500.0, room))
        specs = [DepositSpec(diameter_um=float(d1))]
        if two:
            specs.append(DepositSpec(diameter_um=float(d2)))
    else:
        if size_um is None:
            d1 = rng.uniform(2150.0, 2600.0)
            size = square((d1 + _ROOM_UM + 50.0) / _NODE_FILL)
        else:
            size = size_um
            room = _fit_diameter(size) - 50.0
            if room < 2150.0:
                raise ValueError(
                    f"size_um={size_um!r} is too small for a macrometastasis (> 2000 µm deposit); "
                    f"give size_um >= {(2150 + _ROOM_UM + 50) / _NODE_FILL:.0f} µm per side"
                )
            d1 = rng.uniform(2150.0, min(2600.0, room))
        specs = [DepositSpec(diameter_um=float(d1))]
    return make_node(size_um=size, pixel_size_um=pixel_size_um, stain=stain, pattern=pattern,
                     deposits=specs, seed=seed, jpeg_quality=jpeg_quality, variation=variation,
                     benign=benign, dab_background_od=dab_background_od)
