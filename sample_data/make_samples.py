"""Regenerate the synthetic sample slides in this folder.

Each sample is a JPEG-compressed RGB TIFF whose resolution tags carry the pixel
size (pixels per centimetre), plus ``<name>.truth.json`` with the truth: AJCC
category, growth pattern, deposits (cell counts, longest diameters), tumour-cell
count and how the image was made. The full truth (every nucleus, label image,
masks) is reproduced exactly by calling the recipe stored under ``"recipe"``.

Usage::

    python sample_data/make_samples.py                 # writes next to this file
    python sample_data/make_samples.py --out /tmp/samples --only node_micro_he_mixed
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import tifffile

from pipeline.synthetic import make_node, make_node_category

JPEG_QUALITY = 90

#: name -> (function, keyword arguments). Seeds are fixed so the set is stable.
SAMPLES = {
    "node_negative_he": (
        "make_node_category",
        dict(category="negative", stain="he", pixel_size_um=1.0, seed=101, size_um=(1200.0, 1300.0)),
    ),
    "node_itc_ihc_single_file": (
        "make_node_category",
        dict(category="itc", stain="ihc", pattern="single_file", pixel_size_um=0.5, seed=102,
             size_um=(800.0, 800.0)),
    ),
    "node_micro_he_cohesive": (
        "make_node_category",
        dict(category="micrometastasis", stain="he", pattern="cohesive", pixel_size_um=0.5,
             seed=103, size_um=(1200.0, 1200.0)),
    ),
    "node_micro_ihc_single_file": (
        "make_node_category",
        dict(category="micrometastasis", stain="ihc", pattern="single_file", pixel_size_um=1.0,
             seed=104, size_um=(1500.0, 1500.0)),
    ),
    "node_macro_he_cohesive": (
        "make_node_category",
        dict(category="macrometastasis", stain="he", pattern="cohesive", pixel_size_um=1.0, seed=105),
    ),
    "node_micro_he_mixed": (
        "make_node",
        dict(size_um=(1400.0, 1400.0), pixel_size_um=1.0, stain="he", pattern="mixed", seed=106,
             deposits=[{"diameter_um": 700.0, "dispersed_fraction": 0.5}]),
    ),
}

_FUNCTIONS = {"make_node": make_node, "make_node_category": make_node_category}


def write_tiff(path: Path, rgb, *, pixel_size_um: float, quality: int = JPEG_QUALITY) -> None:
    """RGB TIFF, JPEG-compressed, with the pixel size in the resolution tags."""
    per_cm = 1e4 / pixel_size_um
    tifffile.imwrite(
        path, rgb, photometric="rgb", resolution=(per_cm, per_cm), resolutionunit="CENTIMETER",
        compression="jpeg", compressionargs={"level": quality}, tile=(256, 256), metadata=None,
    )


def make_sample(name: str, out: Path) -> list[Path]:
    func_name, kwargs = SAMPLES[name]
    node = _FUNCTIONS[func_name](**kwargs)
    image = out / f"{name}.tif"
    write_tiff(image, node.rgb, pixel_size_um=node.pixel_size_um)
    truth = node.truth_dict()
    truth["image"] = image.name
    truth["image_compression"] = f"jpeg (quality {JPEG_QUALITY})"
    truth["recipe"] = {"function": f"pipeline.synthetic.{func_name}", "kwargs": kwargs}
    truth_path = out / f"{name}.truth.json"
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return [image, truth_path]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: the sample_data folder)")
    parser.add_argument("--only", nargs="+", choices=sorted(SAMPLES), metavar="NAME",
                        help=f"write only these samples (of {', '.join(SAMPLES)})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or SAMPLES:
        for path in make_sample(name, args.out):
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
