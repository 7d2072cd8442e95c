"""Every analysis choice in one place: :class:`AnalysisOptions`.

One frozen dataclass holds each option with its default, unit and meaning. It is
validated once, on construction; the command line, the napari widget, the batch
(its resume key) and ``summary.json["parameters"]`` all derive from it. Each
default value and list of choices is written once, with its source, in
:mod:`pipeline.defaults`, which the stage modules use for their own functions'
defaults too.

Examples
--------
>>> from pipeline.options import AnalysisOptions
>>> opts = AnalysisOptions(stain="ihc", link_um=50)
>>> opts.link_um, opts.rule
(50.0, 'camelyon')
>>> opts.replace(rule="contiguous").rule
'contiguous'
>>> AnalysisOptions(stain="pas")
Traceback (most recent call last):
...
ValueError: stain must be one of 'auto', 'he', 'ihc', got 'pas'
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field

from ._validate import check_choice, check_positive
from .defaults import (
    CAMELYON_LINK_UM,
    COHESIVE_MAX,
    CONTACT_UM,
    DAB_HYSTERESIS,
    DAB_THRESHOLD,
    IN_MEMORY_TILE_PX,
    ITC_MAX_CELLS,
    ITC_MAX_UM,
    MICRO_MAX_UM,
    MIN_PATTERN_CELLS,
    NUCLEUS_PIXEL_SIZE_UM,
    RULES,
    SAMPLE_TILES,
    SINGLE_FILE_MIN,
    STAIN_KINDS,
    WHOLE_SLIDE_TILE_PX,
    WSI_THRESHOLD_MP,
)

__all__ = [
    "AnalysisOptions",
    "STAINS",
    "RULES",
    "MODES",
    "option_help",
    "option_fields",
]

#: Stain choices: ``"auto"`` decides from the image, or H&E / haematoxylin + DAB.
STAINS = ("auto", *STAIN_KINDS)

#: How an image is read: whole into memory, or tile by tile from its file.
MODES = ("in-memory", "whole-slide")


def _opt(default, help, *, unit="", choices=None, cli=None):
    """A dataclass field carrying its documentation (and its CLI flag, if exposed)."""
    meta = {"help": help, "unit": unit, "choices": choices, "cli": cli}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class AnalysisOptions:
    """The choices of one analysis, validated on construction.

    Attributes
    ----------
    stain : {"auto", "he", "ihc"}
        ``"auto"`` decides H&E vs haematoxylin + DAB from the image
        (:func:`pipeline.stains.detect_stain`) and says why.
    rule : {"camelyon", "contiguous"}
        Deposit linking rule (:func:`pipeline.measure.assign_deposits`).
    link_um : float
        Linking distance of the camelyon rule, µm (CAMELYON16: 75).
    contact_um : float
        Largest nuclear-outline gap that counts as contact for the contiguous
        rule, µm.
    dab_threshold : float
        Median DAB optical density of a cytoplasm ring above which a cell is
        cytokeratin-positive (IHC).
    dab_hysteresis : float
        IHC hysteresis, in (0, 1]: a cell whose ring reaches this fraction of
        ``dab_threshold`` (and of the contrast over the local background) joins
        the tumour cells when a cell over ``dab_threshold`` lies within 20 µm
        (weakly stained lobular cells in a file of positive ones); alone it does
        not count. At the same level a pale nucleus among 3 or more tumour cells
        joins their nest whatever its size (``pipeline.stages._nest_fill``).
        1 switches both off.
    model : str or None
        H&E tumour-cell model file (``nodescope train`` makes one); None: the
        shipped model (``pipeline/models/he_cell_model.json``).
    tumour_threshold : float or None
        H&E operating point: a nucleus is a tumour cell when its tumour
        probability is at least this. None: the model's own operating point
        (chosen on validation data; see its model card).
    seed_probability : float or None
        An H&E deposit counts only when ``seed_cells`` of its cells have a tumour
        probability of at least this (hysteresis against small groups of
        look-alike cells; it sets the specificity). None: the model's own (chosen
        on validation data; see its model card).
    seed_cells : int or None
        How many cells of an H&E deposit must reach ``seed_probability`` (>= 1).
        None: the model's own (the shipped model: 2, so that one confident cell
        alone is not a deposit; docs/he_model.md).
    itc_max_um, micro_max_um : float
        Largest deposit of an ITC node / a micrometastasis, µm (AJCC 8th: 200, 2000).
    itc_max_cells : int
        Most tumour cells an ITC node may hold (AJCC 8th: 200).
    min_pattern_cells : int
        Fewest tumour cells for a growth-pattern call (fewer: ``"none"``).
    cohesive_max, single_file_min : float
        Discohesion-index cut-offs of the cohesive / single-file calls.
    tile_px : int or None
        Processing tile side, pixels; memory grows with it, not with the image.
        None: 512 for an image in memory, 2048 for a slide read from its file.
    nucleus_pixel_size_um : float
        Pixel size at which nuclei are segmented and measured, µm: an image
        with finer pixels is averaged down by the largest whole factor that
        keeps its pixels at most this size (0.25 µm/px by 2 to 0.5). 0: the
        image's own pixels. Cell positions, outlines and the label image stay
        in the image's own pixels.
    sample_tiles : int
        Full-resolution samples (512 x 512 pixels, spread over the tissue) from
        which background, stain vectors and the nuclear threshold are estimated.
    wsi_threshold_mp : float
        TIFF-family files above this many megapixels are analysed tile by tile
        from the file (whole-slide mode) instead of being loaded whole.
    all_nuclei : bool
        Keep every segmented nucleus in the result (``NodeResult.nuclei``) with
        ``is_tumour`` and, in H&E, ``tumor_probability``; exported as
        ``nuclei.csv`` and as "Tumor" / "Other" detections in ``objects.geojson``.
    """

    stain: str = _opt("auto", "auto decides H&E vs IHC from the image.", choices=STAINS, cli="--stain")
    rule: str = _opt("camelyon", "Deposit linking rule: camelyon (link within --link-um) or "
                     "contiguous (touching cells only).", choices=RULES, cli="--rule")
    link_um: float = _opt(CAMELYON_LINK_UM, "Linking distance of the camelyon rule.", unit="µm",
                          cli="--link-um")
    contact_um: float = _opt(CONTACT_UM, "Largest gap between nuclear outlines that counts as "
                             "contact for the contiguous rule.", unit="µm", cli="--contact-um")
    dab_threshold: float = _opt(DAB_THRESHOLD, "Median DAB optical density of a cytoplasm ring "
                                "above which an IHC cell is positive.", unit="OD", cli="--dab-threshold")
    dab_hysteresis: float = _opt(DAB_HYSTERESIS, "IHC: a cell whose ring reaches this fraction of "
                                 "--dab-threshold counts next to (20 µm) a cell over it (1: off).",
                                 cli="--dab-hysteresis")
    model: str | None = _opt(None, "H&E tumour-cell model file made by `nodescope train` "
                             "(default: the shipped model).", cli="--model")
    tumour_threshold: float | None = _opt(None, "H&E operating point: tumour probability at or above "
                                          "which a nucleus is a tumour cell (default: the model's).",
                                          cli="--tumour-threshold")
    seed_probability: float | None = _opt(None, "An H&E deposit needs --seed-cells cells with at least this "
                                          "tumour probability (default: the model's).", cli="--seed-probability")
    seed_cells: int | None = _opt(None, "How many cells of an H&E deposit must reach --seed-probability "
                                  "(default: the model's).", unit="cells", cli="--seed-cells")
    itc_max_um: float = _opt(ITC_MAX_UM, "Largest deposit of an ITC node (AJCC 8th).", unit="µm")
    micro_max_um: float = _opt(MICRO_MAX_UM, "Largest deposit of a micrometastasis (AJCC 8th).",
                               unit="µm")
    itc_max_cells: int = _opt(ITC_MAX_CELLS, "Most tumour cells of an ITC node (AJCC 8th).",
                              unit="cells")
    min_pattern_cells: int = _opt(MIN_PATTERN_CELLS, "Fewest tumour cells for a growth-pattern call.",
                                  unit="cells")
    cohesive_max: float = _opt(COHESIVE_MAX, "Discohesion index at or below which growth is cohesive.")
    single_file_min: float = _opt(SINGLE_FILE_MIN, "Discohesion index at or above which growth is "
                                  "single-file.")
    tile_px: int | None = _opt(None, "Processing tile side (None: 512 in memory, 2048 for a slide "
                               "read from its file).", unit="px")
    nucleus_pixel_size_um: float = _opt(NUCLEUS_PIXEL_SIZE_UM, "Segment nuclei at this pixel size: finer "
                                        "images are averaged down by a whole factor (0: the image's "
                                        "own).", unit="µm", cli="--nucleus-pixel-size")
    sample_tiles: int = _opt(SAMPLE_TILES, "Full-resolution samples for the stain and threshold estimates.")
    wsi_threshold_mp: float = _opt(WSI_THRESHOLD_MP, "TIFF/SVS images above this many megapixels are analysed "
                                   "tile by tile from the file.", unit="MP", cli="--wsi-threshold-mp")
    all_nuclei: bool = _opt(False, "Keep every segmented nucleus with its class and tumour probability "
                            "(nuclei.csv; every nucleus in objects.geojson).", cli="--all-nuclei")

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise the values once, here
        check_choice(self.stain, STAINS, name="stain")
        check_choice(self.rule, RULES, name="rule")
        for name in ("link_um", "contact_um", "wsi_threshold_mp", "nucleus_pixel_size_um"):
            set_(self, name, check_positive(getattr(self, name), name=name, allow_zero=True))
        for name in ("dab_threshold", "itc_max_um", "micro_max_um"):
            set_(self, name, check_positive(getattr(self, name), name=name))
        value = check_positive(self.dab_hysteresis, name="dab_hysteresis")
        if value > 1:
            raise ValueError(f"dab_hysteresis must be in (0, 1] (1 switches it off), got {value!r}")
        set_(self, "dab_hysteresis", value)
        for name in ("seed_probability", "cohesive_max", "single_file_min"):
            if getattr(self, name) is None and name == "seed_probability":
                continue
            value = check_positive(getattr(self, name), name=name, allow_zero=True)
            if value > 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
            set_(self, name, value)
        if self.model is not None:
            if not isinstance(self.model, (str, os.PathLike)):
                raise TypeError(f"model must be a path to a model file, got {self.model!r}")
            set_(self, "model", os.fspath(self.model))
        if self.seed_cells is not None:  # None: the model's
            set_(self, "seed_cells", _count(self.seed_cells, "seed_cells", low=1))
        if self.tumour_threshold is not None:
            value = check_positive(self.tumour_threshold, name="tumour_threshold")
            if value >= 1:
                raise ValueError(f"tumour_threshold must be between 0 and 1, got {value!r}")
            set_(self, "tumour_threshold", value)
        if self.micro_max_um <= self.itc_max_um:
            raise ValueError(f"micro_max_um ({self.micro_max_um:g} µm) must be larger than "
                             f"itc_max_um ({self.itc_max_um:g} µm)")
        if self.single_file_min < self.cohesive_max:
            raise ValueError(f"single_file_min ({self.single_file_min:g}) must be >= "
                             f"cohesive_max ({self.cohesive_max:g})")
        set_(self, "itc_max_cells", _count(self.itc_max_cells, "itc_max_cells", low=0))
        set_(self, "min_pattern_cells", _count(self.min_pattern_cells, "min_pattern_cells", low=1))
        set_(self, "sample_tiles", _count(self.sample_tiles, "sample_tiles", low=1))
        if self.tile_px is not None:
            tile = _count(self.tile_px, "tile_px", low=None)
            if tile < 64:
                raise ValueError(f"tile_px must be >= 64 pixels, got {self.tile_px}")
            set_(self, "tile_px", tile)

    def replace(self, **changes) -> AnalysisOptions:
        """A copy with some options changed (validated again).

        Raises
        ------
        TypeError
            For a name that is not an option.
        """
        unknown = sorted(set(changes) - set(option_fields()))
        if unknown:
            raise TypeError(f"unknown analysis option(s) {unknown}; the options are "
                            f"{', '.join(option_fields())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, options: AnalysisOptions | None = None, **overrides) -> AnalysisOptions:
        """``options`` (default: all defaults) with ``overrides`` applied.

        Lets functions accept both ``options=AnalysisOptions(...)`` and option
        keywords (``stain="ihc"``).
        """
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise TypeError(f"options must be an AnalysisOptions, got {type(options).__name__}")
        return options.replace(**overrides) if overrides else options

    def as_dict(self) -> dict:
        """Every option by name (JSON-ready), in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def nucleus_factor(self, pixel_size_um: float) -> int:
        """The whole factor by which an image of ``pixel_size_um`` is averaged down for its
        nuclei (1: its own pixels).

        Examples
        --------
        >>> [AnalysisOptions().nucleus_factor(px) for px in (0.25, 0.23, 0.5, 1.0, 0.1)]
        [2, 2, 1, 1, 5]
        """
        if self.nucleus_pixel_size_um <= 0:
            return 1
        return max(1, int(self.nucleus_pixel_size_um / float(pixel_size_um) + 1e-6))

    def tile_px_for(self, mode: str) -> int:
        """The tile side for a reading mode (``tile_px``, or the mode's default)."""
        check_choice(mode, MODES, name="mode")
        if self.tile_px is not None:
            return self.tile_px
        return IN_MEMORY_TILE_PX if mode == "in-memory" else WHOLE_SLIDE_TILE_PX

    def recorded(self, mode: str) -> dict:
        """The options as recorded in ``summary.json["parameters"]`` for a reading mode.

        Only options that shape the result are kept; the reading thresholds of a
        batch (``wsi_threshold_mp``, ``sample_tiles``) are in its resume key.
        """
        out = {"stain": self.stain, "dab_threshold": self.dab_threshold,
               "dab_hysteresis": self.dab_hysteresis, "tile_px": self.tile_px_for(mode),
               "nucleus_pixel_size_um": self.nucleus_pixel_size_um}
        if self.model is not None:
            out["model"] = self.model
        if mode == "whole-slide":
            out["mode"] = mode
        if self.seed_probability is not None:
            out["seed_probability"] = self.seed_probability
        if self.seed_cells is not None:
            out["seed_cells"] = self.seed_cells
        return out

    def staging(self) -> dict:
        """The grouping, staging and growth-pattern options, as recorded in ``parameters``."""
        return {"rule": self.rule, "link_um": self.link_um, "contact_um": self.contact_um,
                "itc_max_um": self.itc_max_um, "micro_max_um": self.micro_max_um,
                "itc_max_cells": self.itc_max_cells, "min_pattern_cells": self.min_pattern_cells,
                "cohesive_max": self.cohesive_max, "single_file_min": self.single_file_min}


def _count(value, name, *, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return value


def option_fields() -> tuple[str, ...]:
    """Names of the analysis options, in declaration order.

    Examples
    --------
    >>> option_fields()[:3]
    ('stain', 'rule', 'link_um')
    """
    return tuple(f.name for f in dataclasses.fields(AnalysisOptions))


def option_help(name: str) -> dict:
    """Documentation of one option: ``default``, ``help``, ``unit``, ``choices``, ``cli`` flag.

    Examples
    --------
    >>> option_help("link_um")["default"], option_help("link_um")["unit"]
    (75.0, 'µm')
    """
    for f in dataclasses.fields(AnalysisOptions):
        if f.name == name:
            return {"default": f.default, **f.metadata}
    raise KeyError(f"no analysis option {name!r}; the options are {', '.join(option_fields())}")
