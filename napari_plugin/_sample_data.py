"""Sample lymph nodes for napari, drawn by :mod:`pipeline.synthetic` (no files needed).

Each sample is a 900 x 900 µm field at 0.5 µm per pixel (1800 x 1800 pixels),
made in well under a second. The layer is in µm and its metadata carries the
pixel size and the synthetic truth (``metadata["truth"]``).
"""

from __future__ import annotations

__all__ = [
    "SAMPLES",
    "make_sample",
    "negative_he",
    "itc_he",
    "micro_idc_he",
    "micro_ilc_ihc",
]

#: Sample key -> (display name, make_node_category arguments).
SAMPLES = {
    "negative_he": (
        "Negative node (H&E)",
        dict(category="negative", stain="he", pattern="cohesive", seed=0),
    ),
    "itc_he": (
        "Isolated tumour cells (H&E)",
        dict(category="itc", stain="he", pattern="cohesive", seed=0),
    ),
    "micro_idc_he": (
        "Micrometastasis, ductal-like cohesive (H&E)",
        dict(category="micrometastasis", stain="he", pattern="cohesive", seed=1),
    ),
    "micro_ilc_ihc": (
        "Micrometastasis, lobular-like single file (cytokeratin IHC)",
        dict(category="micrometastasis", stain="ihc", pattern="single_file", seed=6),
    ),
}

PIXEL_SIZE_UM = 0.5
SIZE_UM = (900.0, 900.0)


def make_sample(key):
    """Layer-data list for the sample ``key`` (one of :data:`SAMPLES`)."""
    from pipeline.synthetic import make_node_category

    if key not in SAMPLES:
        raise ValueError(f"key must be one of {', '.join(map(repr, SAMPLES))}, got {key!r}")
    name, spec = SAMPLES[key]
    spec = dict(spec)
    category = spec.pop("category")
    node = make_node_category(category, pixel_size_um=PIXEL_SIZE_UM, size_um=SIZE_UM, **spec)
    truth = {
        "category": node.category,
        "category_reason": node.category_reason,
        "growth_pattern": node.growth_pattern,
        "tumor_cell_count": node.tumor_cell_count,
        "largest_deposit_um": float(node.deposits["longest_diameter_um"].max())
        if len(node.deposits) else 0.0,
        "stain": node.stain,
        "seed": spec["seed"],
    }
    kwargs = {
        "name": f"sample {key}",
        "rgb": True,
        "scale": (node.pixel_size_um, node.pixel_size_um),
        "units": ("µm", "µm"),
        "metadata": {
            "pixel_size_um": node.pixel_size_um,
            "path": None,
            "pixel_size_source": "synthetic",
            "sample": key,
            "description": name,
            "truth": truth,
        },
    }
    return [(node.rgb, kwargs, "image")]


def negative_he():
    """A negative node in H&E."""
    return make_sample("negative_he")


def itc_he():
    """Isolated tumour cells in H&E."""
    return make_sample("itc_he")


def micro_idc_he():
    """A cohesive (ductal-like) micrometastasis in H&E."""
    return make_sample("micro_idc_he")


def micro_ilc_ihc():
    """A single-file (lobular-like) micrometastasis in cytokeratin IHC."""
    return make_sample("micro_ilc_ihc")
