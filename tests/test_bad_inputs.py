"""Every kind of bad input gets one clear line, and nothing finished is lost.

One table of cases (:data:`CASES`) drives three layers: the library
(``read_image`` and ``analyze``), the napari reader (never raises) and the CLI
(one batch holding every case at once, plus the cases that only exist on a
command line: pixel-size options, output folders that cannot be written, a
disk that fills up, Ctrl-C). The messages asserted here are the ones listed in
docs/hardening.md.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from fuzzing import mutate, read_mutant, seed_files
from helpers import toy_node
from napari_plugin._reader import get_reader
from pipeline.analysis import analyze
from pipeline.cli import app, cli_wording
from pipeline.io import (
    ImageFormatError,
    ImageReadError,
    ImageTooLargeError,
    PixelSizeError,
    read_image,
    verify_pixel_data,
    write_calibrated_tiff,
)

runner = CliRunner()

RNG = np.random.default_rng(11)
RGB = RNG.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
RGB16 = np.clip(RGB.astype(np.int64) * 257 - 100, 0, 65535).astype(np.uint16)  # not multiples of 257
CAL = {"resolution": (2e4, 2e4), "resolutionunit": "CENTIMETER"}  # 0.5 µm per pixel
HINT = r"; if you know the real pixel size, pass pixel_size_um=\.\.\. \(CLI: --pixel-size UM\)"
SUPPORTED = r"NodeScope reads \.tif, \.tiff, \.svs, \.ome\.tif, \.ome\.tiff, \.png, \.jpg, \.jpeg, \.btf, \.tf8"


def _cli_pattern(pattern: str) -> str:
    """A message pattern of the library as the command line words it (``cli_wording``; the
    command line's default --max-megapixels is 1000)."""
    for library, cli in ((r"pass pixel_size_um=\.\.\. \(CLI: --pixel-size UM\)", "pass --pixel-size UM"),
                         (r"pass a larger max_pixels=\.\.\. \(CLI: --max-megapixels\)", "pass a larger --max-megapixels"),
                         ("more than max_pixels=1,000,000,000;", "more than --max-megapixels 1000;")):
        pattern = pattern.replace(library, cli)
    return pattern


@pytest.fixture(autouse=True)
def _no_cluster_from_the_environment(monkeypatch):
    monkeypatch.delenv("NODESCOPE_SCHEDULER", raising=False)


# ------------------------------------------------------------------ building the files


def _truncated(path):
    big = np.random.default_rng(3).integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    write_calibrated_tiff(path, big, pixel_size_um=0.5, compression=None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the IFD comes first: cut mid-strip


def _huge_tiff(path, side=200_000):
    """A 12 kB TIFF whose IFD declares side x side RGB pixels (ImageWidth/Length patched)."""
    write_calibrated_tiff(path, np.full((64, 64, 3), 200, np.uint8), pixel_size_um=0.5,
                          compression=None)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tf:
        tags = tf.pages[0].tags
        for name in ("ImageWidth", "ImageLength"):
            tag = tags[name]  # entry: code, type (4 = LONG), count, value
            struct.pack_into("<HHII", data, tag.offset, tag.code, 4, 1, side)
    path.write_bytes(bytes(data))


def _huge_png(path, side=200_000):
    """A tiny PNG whose IHDR declares side x side pixels (CRC fixed, so the header is valid)."""
    Image.fromarray(RGB).save(path, dpi=(50800, 50800))
    data = bytearray(path.read_bytes())
    struct.pack_into(">II", data, 16, side, side)  # IHDR data starts at byte 16
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def _pen_image(width=12):
    img = np.full((400, 400, 3), 240, np.uint8)
    img[50:50 + width, :] = (20, 40, 160)  # blue marker
    img[:, 150:150 + width] = (30, 120, 40)  # green marker
    img[250:250 + width, 20:380] = (15, 15, 18)  # black marker
    return img


def _pen_only(path):
    write_calibrated_tiff(path, _pen_image(), pixel_size_um=1.0)


def _ome(value):
    return lambda p: tifffile.imwrite(p, RGB, photometric="rgb", ome=True,
                                      metadata={"PhysicalSizeX": value, "PhysicalSizeY": value})


def _good(path, tumour=((100, 100), (100, 130))):
    rgb, _ = toy_node(stain="ihc", px=1.0, tumour_yx_um=list(tumour))
    write_calibrated_tiff(path, rgb, pixel_size_um=1.0)


# name -> (file name, builder, library outcome, napari reader outcome)
#   library outcome: (exception class, full-match regex) or ("ok", {expected metadata}) or
#                    ("negative", flags) when the image reads and analyses as negative
#   napari outcome: "no reader" (get_reader gives None), "reader gives None", or "layer"
CASES = {
    "zero_byte": (
        "empty.tif", lambda p: p.write_bytes(b""),
        (ImageReadError, r"empty\.tif: empty file \(0 bytes\); it is not an image - copy or export it again"),
        "no reader"),
    "truncated_tiff": (
        "cut.tif", _truncated,
        (ImageReadError, r"cut\.tif: the header declares 200 x 300 pixels whose data would end at byte "
                         r"[\d,]+, but the file has [\d,]+ bytes; the file is corrupt or truncated"),
        "no reader"),
    "text_named_tif": (
        "notes.tif", lambda p: p.write_text("hello, this is not an image\n"),
        (ImageReadError, r"notes\.tif: not a TIFF, PNG or JPEG image \(the file starts with b'hello, t'\); "
                         r"the file is corrupt or is not an image"),
        "no reader"),
    "png_named_svs": (
        "really_png.svs", lambda p: Image.fromarray(RGB).save(p, format="PNG", dpi=(50800, 50800)),
        ("ok", {"format": "png", "pixel_size_source": "png-phys"}),
        "layer"),
    "gif": (
        "pic.gif", lambda p: Image.fromarray(RGB).save(p),
        (ImageReadError, r"pic\.gif: unsupported format \(extension '\.gif', content not TIFF, PNG or JPEG\); "
                         + SUPPORTED),
        "no reader"),
    "bmp": (
        "pic.bmp", lambda p: Image.fromarray(RGB).save(p),
        (ImageReadError, r"pic\.bmp: unsupported format \(extension '\.bmp', content not TIFF, PNG or JPEG\); "
                         + SUPPORTED),
        "no reader"),
    "random_bytes": (
        "noise.xyz", lambda p: p.write_bytes(np.random.default_rng(5).bytes(2000)),
        (ImageReadError, r"noise\.xyz: unsupported format \(extension '\.xyz', content not TIFF, PNG or JPEG\); "
                         + SUPPORTED),
        "no reader"),
    "grayscale": (
        "gray.tif", lambda p: tifffile.imwrite(p, RGB[..., 0], **CAL),
        (ImageFormatError, r"gray\.tif: grayscale image \(40 x 60\); NodeScope needs an RGB brightfield image"),
        "reader gives None"),
    "rgba": (
        "rgba.tif", lambda p: tifffile.imwrite(p, np.dstack([RGB, np.full((40, 60), 9, np.uint8)]),
                                               photometric="rgb", extrasamples=["unassalpha"], **CAL),
        ("ok", {"dtype_in": "uint8"}),
        "layer"),
    "rgb16": (
        "rgb16.tif", lambda p: tifffile.imwrite(p, RGB16, photometric="rgb", **CAL),
        ("ok", {"dtype_in": "uint16"}),
        "layer"),
    "float_in_range": (
        "float01.tif", lambda p: tifffile.imwrite(p, RGB.astype(np.float32) / 255, photometric="rgb", **CAL),
        ("ok", {"dtype_in": "float32"}),
        "layer"),
    "float_out_of_range": (
        "float255.tif", lambda p: tifffile.imwrite(p, RGB.astype(np.float32), photometric="rgb", **CAL),
        (ImageFormatError, r"float255\.tif: float image with values in \[0, 255\]; NodeScope reads float images "
                           r"only with values in \[0, 1\] - convert it to 8-bit RGB first"),
        "reader gives None"),
    "one_pixel": (
        "one.tif", lambda p: write_calibrated_tiff(p, np.full((1, 1, 3), 200, np.uint8), pixel_size_um=0.5),
        ("not_assessable", ["no_tissue"]),
        "layer"),
    "huge_header_tiff": (
        "huge.tif", _huge_tiff,
        (ImageTooLargeError, r"huge\.tif: image is 200000 x 200000 = 40,000,000,000 pixels, more than "
                             r"max_pixels=1,000,000,000; pass a larger max_pixels=\.\.\. \(CLI: --max-megapixels\) "
                             r"if you have the memory \(about 120\.0 GB as 8-bit RGB\)"),
        "no reader"),
    "huge_header_png": (
        "huge.png", _huge_png,
        (ImageTooLargeError, r"huge\.png: image is 200000 x 200000 = 40,000,000,000 pixels, more than "
                             r"max_pixels=1,000,000,000; .*"),
        "reader gives None"),
    "all_glass": (
        "glass.tif", lambda p: write_calibrated_tiff(p, np.full((300, 300, 3), 242, np.uint8), pixel_size_um=1.0),
        ("not_assessable", ["no_tissue"]),
        "layer"),
    "all_black": (
        "black.tif", lambda p: write_calibrated_tiff(p, np.zeros((300, 300, 3), np.uint8), pixel_size_um=1.0),
        ("not_assessable", ["no_tissue"]),
        "layer"),
    "pen_marks_only": (
        "pen.tif", _pen_only,
        ("not_assessable", None),  # no tumour; a halo around the strokes is taken as tissue (see below)
        "layer"),
    "no_pixel_size": (
        "nocal.tif", lambda p: tifffile.imwrite(p, RGB, photometric="rgb"),
        (PixelSizeError, r"nocal\.tif: no pixel size in the file \(no OME PhysicalSizeX, Aperio MPP or TIFF "
                         r"resolution\); pass pixel_size_um=\.\.\. \(CLI: --pixel-size UM\)"),
        "layer"),
    "ome_zero": (
        "zero.ome.tif", _ome(0.0),
        (PixelSizeError, r"zero\.ome\.tif: OME PhysicalSizeX/Y means 0 µm per pixel, which is not a microscope "
                         r"calibration \(must be > 0 and <= 100\)" + HINT),
        "layer"),
    "ome_negative": (
        "negative.ome.tif", _ome(-0.25),
        (PixelSizeError, r"negative\.ome\.tif: OME PhysicalSizeX/Y means -0\.25 µm per pixel, which is not a "
                         r"microscope calibration \(must be > 0 and <= 100\)" + HINT),
        "layer"),
    "ome_nan": (
        "nan.ome.tif", _ome(float("nan")),
        (PixelSizeError, r"nan\.ome\.tif: OME PhysicalSizeX/Y means nan µm per pixel, which is not a microscope "
                         r"calibration \(must be > 0 and <= 100\)" + HINT),
        "layer"),
    "resolution_500um": (
        "res500.tif", lambda p: tifffile.imwrite(p, RGB, photometric="rgb", resolution=(20, 20),
                                                 resolutionunit="CENTIMETER"),
        (PixelSizeError, r"res500\.tif: TIFF resolution 20 pixels/cm means 500 µm per pixel, which is not a "
                         r"microscope calibration \(must be > 0 and <= 100\)" + HINT),
        "layer"),
    "non_ascii_name": (
        "nœud lymphatique 1.tif", _good,
        ("ok", {"format": "tiff"}),
        "layer"),
}

BAD = [k for k, v in CASES.items() if isinstance(v[2][0], type)]
VALID = [k for k in CASES if k not in BAD]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every case's file in one folder: {case: path}."""
    folder = tmp_path_factory.mktemp("bad inputs")
    paths = {}
    for case, (name, build, _, _) in CASES.items():
        path = folder / name
        build(path)
        paths[case] = path
    return paths


# ----------------------------------------------------------------------------- library


@pytest.mark.parametrize("case", BAD)
def test_read_image_refuses_with_one_line(files, case):
    kind, pattern = CASES[case][2]
    with pytest.raises(kind) as info:
        read_image(files[case])
    assert type(info.value) is kind
    assert re.fullmatch(pattern, str(info.value)), str(info.value)


@pytest.mark.parametrize("case", VALID)
def test_valid_odd_images_read(files, case):
    image, px, meta = read_image(files[case])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.flags.c_contiguous
    outcome, expected = CASES[case][2]
    if outcome == "ok":
        assert {k: meta[k] for k in expected} == expected


def test_converted_values(files):
    np.testing.assert_array_equal(read_image(files["rgba"])[0], RGB)  # alpha dropped, not composited
    rgb16 = (RGB16.astype(np.uint32) + 128) // 257  # the /257 rule, rounded to nearest
    np.testing.assert_array_equal(read_image(files["rgb16"])[0], rgb16.astype(np.uint8))
    np.testing.assert_array_equal(read_image(files["float_in_range"])[0], RGB)
    assert read_image(files["png_named_svs"])[1] == pytest.approx(0.5)


@pytest.mark.parametrize("case", [k for k in VALID if CASES[k][2][0] == "not_assessable"])
def test_empty_slides_are_valid_not_assessable_no_tissue(files, case):
    rgb, px, _ = read_image(files[case])
    result = analyze(rgb, pixel_size_um=px, stain="auto")
    flags = CASES[case][2][1]
    assert result.category == "not_assessable"
    if flags is not None:
        assert result.flags == flags
    assert len(result.cells) == 0 and len(result.deposits) == 0
    assert result.summary()["largest_deposit_um"] == 0.0


@pytest.mark.parametrize("width", [12, 100])
def test_pen_marks_only_are_not_tissue(width):
    img = np.full((400, 400, 3), 240, np.uint8)
    img[101:101 + width, 20:380] = (15, 15, 18)  # one black marker stroke on glass
    result = analyze(img, pixel_size_um=1.0)
    assert result.flags == ["no_tissue"]


def test_a_one_pixel_array_is_not_assessable_no_tissue():
    for stain in ("auto", "he", "ihc"):
        result = analyze(np.full((1, 1, 3), 128, np.uint8), pixel_size_um=0.5, stain=stain)
        assert (result.category, result.flags) == ("not_assessable", ["no_tissue"])


def test_huge_header_is_refused_before_allocating(files):
    path = files["huge_header_tiff"]
    assert path.stat().st_size < 20_000
    # the pixel limit goes first; lifted, the header is found not to match the file
    message = (r"huge\.tif: the header declares 200000 x 200000 pixels in 3,125 strips but lists 1; "
               r"the file is corrupt or truncated")
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(path, max_pixels=10**12)
    assert type(info.value) is ImageReadError
    with pytest.raises(ImageReadError, match=message):
        verify_pixel_data(path)  # what whole-slide mode and the napari reader check first
    from pipeline.slide import Slide

    with pytest.raises(ImageReadError, match=message):
        Slide(path)


def test_max_pixels_boundary(files):
    path = files["rgba"]  # 40 x 60
    assert read_image(path, max_pixels=2400)[0].shape == (40, 60, 3)
    with pytest.raises(ImageTooLargeError, match=r"^rgba\.tif: image is 40 x 60 = 2,400 pixels"):
        read_image(path, max_pixels=2399)


# ------------------------------------------------------------------------ napari reader


@pytest.mark.parametrize("case", list(CASES))
def test_napari_reader_never_raises(files, case):
    expected = CASES[case][3]
    reader = get_reader(str(files[case]))
    if expected == "no reader":
        assert reader is None
        return
    assert reader is not None
    layers = reader(str(files[case]))
    if expected == "reader gives None":
        assert layers is None
        return
    [(data, kwargs, kind)] = layers
    assert kind == "image" and kwargs["rgb"] is True
    meta = kwargs["metadata"]
    if case in ("no_pixel_size", "ome_zero", "ome_negative", "ome_nan", "resolution_500um"):
        assert meta["pixel_size_um"] is None and kwargs["scale"] == (1.0, 1.0)  # opened in pixels
        if case != "no_pixel_size":
            assert "not a microscope calibration" in meta["pixel_size_error"]
    else:
        assert meta["pixel_size_um"] > 0 and "units" in kwargs


# ---------------------------------------------------------------------------------- CLI


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_one_batch_with_every_bad_file_and_good_ones(files, tmp_path):
    src = files["zero_byte"].parent
    good = tmp_path / "good"
    good.mkdir()
    _good(good / "node_a.tif")
    _good(good / "node_b.tif", tumour=[])
    out = tmp_path / "out"
    # folders contribute supported names only: the .gif/.bmp/.xyz files are named explicitly
    explicit = [str(files[k]) for k in ("gif", "bmp", "random_bytes")]
    res = runner.invoke(app, ["analyze", str(src), str(good), *explicit, "--out", str(out), "--quiet",
                              "--stain", "ihc"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output

    errors = pd.read_csv(out / "errors.csv")
    failed = {Path(f).name: msg for f, msg in zip(errors["file"], errors["error"])}
    assert set(failed) == {CASES[k][0] for k in BAD}
    for case in BAD:
        name = CASES[case][0]
        pattern = CASES[case][2][1]
        if case == "huge_header_tiff":  # above --wsi-threshold-mp: whole-slide mode, exempt from the limit
            pattern = (r"huge\.tif: the header declares 200000 x 200000 pixels in 3,125 strips but lists 1; "
                       r"the file is corrupt or truncated")
        assert re.fullmatch(_cli_pattern(pattern), failed[name]), (case, failed[name])
    # errors.csv of the command line speaks its options, not the library's keywords
    assert not any("pixel_size_um" in m or "max_pixels" in m for m in failed.values())
    # one line per failure on the terminal, the same as its errors.csv row
    lines = _lines(res.output)
    assert sorted(lines[:-2]) == sorted(failed.values())
    assert all(cli_wording(m) == m for m in failed.values())
    assert lines[-2].startswith(f"11 image(s) analysed, 0 skipped (already done), {len(BAD)} failed; results in")
    assert lines[-1] == f"failures are listed in {(out / 'errors.csv').resolve()}"

    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    rows = summary.set_index("image")
    assert set(rows.index) == {CASES[k][0] for k in VALID} | {"node_a.tif", "node_b.tif"}
    for case in VALID:
        name = CASES[case][0]
        if CASES[case][2][0] == "not_assessable":
            assert rows.loc[name, "category"] == "not_assessable" and rows.loc[name, "tumor_cell_count"] == 0
            if CASES[case][2][1] is not None:
                assert rows.loc[name, "flags"] == "no_tissue", name
    assert rows.loc["node_a.tif", "category"] == "itc" and rows.loc["node_b.tif", "category"] == "negative"
    assert rows.loc["nœud lymphatique 1.tif", "output"] == "nœud lymphatique 1"
    assert rows.loc["really_png.svs", "output"] == "really_png"
    for folder in summary["output"]:
        assert sorted(p.name for p in (out / folder).iterdir()) == [
            "cells.csv", "deposits.csv", "objects.geojson", "overlay.png", "summary.json"]
    # failures leave no folder behind
    made = {p.name for p in out.iterdir() if p.is_dir() and p.name != "thumbs"}  # thumbs: the report's
    assert made == set(summary["output"])
    assert not list(out.rglob("*.tmp"))


def test_non_ascii_names_and_duplicate_stems(files, tmp_path):
    src = tmp_path / "in"
    for sub in ("left", "right"):
        (src / sub).mkdir(parents=True)
        shutil.copy(files["non_ascii_name"], src / sub / "nœud lymphatique 1.tif")
    (src / "right" / "nœud lymphatique 1.tif").write_bytes(b"")  # and one of the two is broken
    _good(src / "left" / "nœud lymphatique 2.tif", tumour=[])
    out = tmp_path / "sortie à part"
    res = runner.invoke(app, ["analyze", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 1
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "thumbs")  # the report's
    assert len(folders) == 2 and "nœud lymphatique 2" in folders
    (dup,) = [f for f in folders if f != "nœud lymphatique 2"]
    assert re.fullmatch(r"nœud lymphatique 1-[0-9a-f]{8}", dup)
    [error] = pd.read_csv(out / "errors.csv")["error"]
    assert error == "nœud lymphatique 1.tif: empty file (0 bytes); it is not an image - copy or export it again"
    # both copies readable: two folders that do not overwrite each other
    (src / "right" / "nœud lymphatique 1.tif").write_bytes(files["non_ascii_name"].read_bytes())
    res = runner.invoke(app, ["analyze", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "1 image(s) analysed, 2 skipped (already done), 0 failed" in res.output
    summary = pd.read_csv(out / "summary.csv")
    assert summary["output"].is_unique and len(summary) == 3
    for folder in summary["output"]:
        s = json.loads((out / folder / "summary.json").read_text(encoding="utf-8"))
        assert s["image"].startswith("nœud lymphatique")
    assert not (out / "errors.csv").exists()


@pytest.mark.parametrize(("value", "message"), [
    ("0", "--pixel-size must be > 0 µm per pixel, got 0"),
    ("-1", "--pixel-size must be > 0 µm per pixel, got -1"),
    ("nan", "--pixel-size must be finite, got nan; give µm per pixel"),
    ("500", "--pixel-size = 500 µm per pixel is not a microscope calibration (must be <= 100); "
            "give the real pixel size in µm"),
])
def test_bad_pixel_size_option_fails_before_any_work(files, tmp_path, value, message):
    out = tmp_path / "never"
    res = runner.invoke(app, ["analyze", str(files["non_ascii_name"]), "--out", str(out),
                              "--pixel-size", value])
    assert res.exit_code == 2
    assert _lines(res.output) == [message]
    assert not out.exists()


def test_pixel_size_option_rescues_a_bad_file_calibration(files, tmp_path):
    out = tmp_path / "out"
    args = [str(files[k]) for k in ("ome_zero", "ome_negative", "ome_nan", "resolution_500um", "no_pixel_size")]
    res = runner.invoke(app, ["analyze", *args, "--out", str(out), "--pixel-size", "0.5", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 5 and (summary["pixel_size_um"] == 0.5).all()


def test_max_megapixels_option(files, tmp_path):
    png = tmp_path / "wide.png"
    Image.fromarray(np.full((300, 400, 3), 240, np.uint8)).save(png, dpi=(25400, 25400))
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(png), "--out", str(out), "--max-megapixels", "0.1", "--quiet"])
    assert res.exit_code == 1
    [error] = pd.read_csv(out / "errors.csv")["error"]
    assert error == ("wide.png: image is 300 x 400 = 120,000 pixels, more than --max-megapixels 0.1; pass a "
                     "larger --max-megapixels if you have the memory (about 0.0 GB as 8-bit RGB)")
    res = runner.invoke(app, ["analyze", str(png), "--out", str(out), "--max-megapixels", "0.12", "--quiet"])
    assert res.exit_code == 0, res.output
    for bad in ("0", "-5", "nan"):
        res = runner.invoke(app, ["analyze", str(png), "--out", str(tmp_path / "no"), "--max-megapixels", bad])
        assert res.exit_code == 2
        assert _lines(res.output) == [f"--max-megapixels must be a number of megapixels > 0, got {float(bad):g}; "
                                      "e.g. 2000"]
    assert not (tmp_path / "no").exists()


def _root_can_write(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("how", ["chmod", "simulated"])
def test_output_folder_not_writable(files, tmp_path, monkeypatch, how):
    out = tmp_path / "readonly"
    out.mkdir()
    if how == "chmod":
        out.chmod(0o500)
        if _root_can_write(out):  # root ignores permission bits (CI runs as root)
            out.chmod(0o700)
            pytest.skip("permission bits do not stop this user (root); see the simulated case")
    else:
        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir).resolve().is_relative_to(out.resolve()):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        res = runner.invoke(app, ["analyze", str(files["non_ascii_name"]), "--out", str(out)])
    finally:
        out.chmod(0o700)
    assert res.exit_code == 2
    assert _lines(res.output) == [
        f"{out}: cannot write to the output folder (permission denied); choose another --out or fix "
        "its permissions"]
    assert list(out.iterdir()) == []  # nothing written, not even the log


def test_image_folder_not_writable_mid_batch(tmp_path, monkeypatch):
    """The output folder passed the check, then one image's folder refuses files."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        _good(src / f"{name}.tif")
    out = tmp_path / "out"
    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "a":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    res = runner.invoke(app, ["analyze", str(src), "--out", str(out), "--quiet", "--stain", "ihc"])
    assert res.exit_code == 1
    expected = (f"a.tif: cannot write {(out / 'a' / 'cells.csv').resolve()}: permission denied "
                "(read-only folder?); choose another --out or fix its permissions")
    assert _lines(res.output)[0] == expected
    assert pd.read_csv(out / "errors.csv")["error"].tolist() == [expected]
    assert pd.read_csv(out / "summary.csv")["output"].tolist() == ["b"]
    assert not (out / "a").exists()


def _fill_disk_on(target_name, monkeypatch):
    """Make pipeline.export fail with ENOSPC half-way through writing ``target_name``'s cells.csv."""
    import pipeline.export as export

    real = export.write_table

    def write_table(path, table):
        path = Path(path)
        if path.parent.name == target_name and path.name == "cells.csv":
            with export.atomic_write(path) as tmp:
                tmp.write_text("y_um,x_um\n1.0,")  # half a file, then the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, table)

    monkeypatch.setattr(export, "write_table", write_table)


def test_disk_full_mid_batch_keeps_finished_images(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        _good(src / f"{name}.tif")
    out = tmp_path / "out"
    _fill_disk_on("b", monkeypatch)
    args = ["analyze", str(src), "--out", str(out), "--workers", "1", "--quiet", "--stain", "ihc"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    expected = (f"b.tif: no space left on device while writing {(out / 'b' / 'cells.csv').resolve()}; "
                "free some space and re-run the same command (finished images are kept)")
    assert _lines(res.output)[0] == expected and "Traceback" not in res.output
    assert pd.read_csv(out / "errors.csv").to_dict("records") == [{"file": str(src / "b.tif"), "error": expected}]
    assert pd.read_csv(out / "summary.csv")["output"].tolist() == ["a", "c"]
    assert not (out / "b").exists() and not list(out.rglob("*.tmp"))  # no half-written folder
    for name in ("a", "c"):
        assert len(pd.read_csv(out / name / "cells.csv")) == 2
        assert json.loads((out / name / "summary.json").read_text())["image"] == f"{name}.tif"
    # --debug adds the traceback
    res = runner.invoke(app, args + ["--debug"])
    assert res.exit_code == 1 and "Traceback (most recent call last)" in res.output
    assert "OSError: [Errno 28]" in res.output
    # space freed: the same command finishes the batch
    monkeypatch.undo()
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "1 image(s) analysed, 2 skipped (already done), 0 failed" in res.output
    assert pd.read_csv(out / "summary.csv")["output"].tolist() == ["a", "b", "c"]
    assert not (out / "errors.csv").exists()


def test_disk_full_on_the_batch_tables(tmp_path, monkeypatch):
    import pipeline.batch as batch

    src = tmp_path / "in"
    src.mkdir()
    _good(src / "a.tif")
    real = batch.write_table

    def write_table(path, table):
        if Path(path).name == "summary.csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, table)

    monkeypatch.setattr(batch, "write_table", write_table)
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 1
    assert _lines(res.output) == [
        f"{out}: cannot write {out / 'summary.csv'}: no space left on device; the image folders are "
        "complete - free some space and re-run the same command to rebuild the tables"]
    assert (out / "a" / "summary.json").is_file()
    monkeypatch.undo()
    res = runner.invoke(app, ["analyze", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 0 and "0 image(s) analysed, 1 skipped" in res.output
    assert pd.read_csv(out / "summary.csv")["output"].tolist() == ["a"]


# ----------------------------------------------------------------------------- Ctrl-C


# Enough small images that a loaded CI machine cannot finish the batch between the first
# summary.json and the Ctrl-C the test sends on seeing it (with 12, once in a few runs the
# whole batch was done first and ended with 0).
BATCH_IMAGES = 36


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    src = tmp_path_factory.mktemp("twelve")
    for k in range(BATCH_IMAGES):
        tumour = [(60 + 20 * (k % 4), 60 + 15 * j) for j in range(k % 3 + 1)]
        _good(src / f"node_{k:02d}.tif", tumour=tumour)
    return src


def _start_batch(cmd, out):
    """Start the CLI batch ``cmd`` and return once its first image is finished.

    The child gets the default Ctrl-C handling even when this test runs with SIGINT
    ignored (a job started in the background by a non-interactive shell, e.g. under
    ``nohup``), where Python would keep ignoring it and never be interrupted.
    """
    # reset SIGINT to its default, then exec the command (a default disposition survives exec)
    reset = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "os.execv(sys.argv[1], sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", reset, *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 60
    while not list(out.glob("*/summary.json")):
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_resumes(twelve, tmp_path, workers):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.cli", "analyze", str(twelve), "--out", str(out),
           "--stain", "ihc", "--workers", workers, "--quiet"]
    proc = _start_batch(cmd, out)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = sorted(p.parent.name for p in out.glob("*/summary.json"))
    assert 1 <= len(done) < BATCH_IMAGES
    lines = _lines(stderr)
    if lines and lines[0].startswith("Interrupted: finishing "):  # images were running: said at once
        assert lines[0].endswith(" running image(s); press Ctrl-C again to stop now"), lines
        lines = lines[1:]
    else:  # none was running at that instant (tiny images between two): the final line at once
        assert workers == "2" or len(lines) == 1, lines
    assert lines == [f"interrupted: {len(done)} finished image(s) kept in {out}; "
                     "run the same command again to resume"]
    # the tables list exactly the finished images; nothing half-written anywhere
    assert sorted(pd.read_csv(out / "summary.csv")["output"]) == done
    assert sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "thumbs") == done
    assert not list(out.rglob("*.tmp"))
    assert "interrupted:" in (out / "nodescope.log").read_text(encoding="utf-8")
    # resume: the same command finishes the rest and skips what was done (on 2 workers:
    # the worker count is no parameter of the results, and it halves the test's time)
    resume = cmd[3:]
    resume[resume.index("--workers") + 1] = "2"
    res = runner.invoke(app, resume)
    assert res.exit_code == 0, res.output
    assert (f"{BATCH_IMAGES - len(done)} image(s) analysed, {len(done)} skipped (already done), 0 failed"
            in res.output)
    assert len(pd.read_csv(out / "summary.csv")) == BATCH_IMAGES


@pytest.mark.slow
def test_second_ctrl_c_stops_now_and_its_count_is_true(twelve, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.cli", "analyze", str(twelve), "--out", str(out),
           "--stain", "ihc", "--workers", "3", "--quiet"]
    proc = _start_batch(cmd, out)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    # 130; or killed by the second SIGINT when the running images had already
    # finished and the batch was on its way out (its message already printed)
    assert proc.returncode in (130, -signal.SIGINT), stderr
    lines = [line for line in _lines(stderr) if "KeyboardInterrupt" not in line]
    done = sorted(p.parent.name for p in out.glob("*/summary.json"))
    time.sleep(1.0)  # nothing is written after the message
    assert sorted(p.parent.name for p in out.glob("*/summary.json")) == done
    assert lines[0].startswith("Interrupted: finishing "), lines
    match = re.fullmatch(r"(stopped|interrupted): (\d+) finished image\(s\) kept in (.+?); (.*)", lines[-1])
    assert match, lines
    assert int(match.group(2)) == len(done)  # the count it prints is the results kept
    assert sorted(pd.read_csv(out / "summary.csv")["output"]) == done
    assert not list(out.rglob("*.tmp"))
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------ fuzz


def test_fuzzed_tiffs_raise_only_read_errors(tmp_path):
    """200 mutants of small valid files: read, or ImageReadError / PixelSizeError in one line.

    bench/fuzz_read.py runs the same check on thousands of cases.
    """
    seeds = seed_files()
    names = sorted(seeds)
    rng = np.random.default_rng(2024)
    seen = {}
    for case in range(200):
        name = names[case % len(names)]
        path = tmp_path / f"case{case:03d}_{name}"
        path.write_bytes(mutate(seeds[name], rng))
        outcome = read_mutant(path, pixel_size_um=0.5 if case % 2 else None, timeout_s=60)
        seen[outcome] = seen.get(outcome, 0) + 1
        if case % 10 == 0:  # the napari reader on the same files: never raises
            reader = get_reader(str(path))
            if reader is not None:
                reader(str(path))
    assert seen.get("ok", 0) > 10 and seen.get("ImageReadError", 0) > 50, seen

