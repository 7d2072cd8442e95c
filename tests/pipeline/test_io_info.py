"""pipeline.io.image_info, pipeline.io.open_levels, and the one series rule every reader uses."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile
from typer.testing import CliRunner

from napari_plugin import _reader
from napari_plugin._reader import layer_data
from pipeline.cli import app
from pipeline.io import (
    ImageFormatError,
    ImageInfo,
    ImageReadError,
    PixelSizeError,
    image_info,
    open_levels,
    read_image,
    read_pixel_size,
    write_calibrated_tiff,
)
from pipeline.slide import Slide

RGB = np.random.default_rng(5).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
CAL = {"resolution": (2e4, 2e4), "resolutionunit": "CENTIMETER"}  # 0.5 µm per pixel
APERIO = "Aperio Image Library v12.0.15\r\n"


def _huge_tiff(path, side=200_000):
    """A 12 kB TIFF whose header declares side x side RGB pixels (ImageWidth/Length patched)."""
    write_calibrated_tiff(path, np.full((64, 64, 3), 200, np.uint8), pixel_size_um=0.5,
                          compression=None)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tf:
        tags = tf.pages[0].tags
        for name in ("ImageWidth", "ImageLength"):
            tag = tags[name]  # entry: code, type (4 = LONG), count, value
            struct.pack_into("<HHII", data, tag.offset, tag.code, 4, 1, side)
    path.write_bytes(bytes(data))
    return path


def _formats(folder: Path) -> dict[str, Path]:
    """One small calibrated file per format: {format: path}."""
    paths = {
        "tiff": folder / "a.tif",
        "ome-tiff": folder / "a.ome.tif",
        "svs": folder / "a.svs",
        "png": folder / "a.png",
        "jpeg": folder / "a.jpg",
    }
    write_calibrated_tiff(paths["tiff"], RGB, pixel_size_um=0.5, compression="lzw")
    tifffile.imwrite(paths["ome-tiff"], RGB, photometric="rgb", ome=True, tile=(16, 16),
                     metadata={"PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
    tifffile.imwrite(paths["svs"], RGB, photometric="rgb", tile=(16, 16), metadata=None,
                     description=APERIO + "60x40 (16x16) RGB|AppMag = 20|MPP = 0.4990")
    Image.fromarray(RGB).save(paths["png"], dpi=(50800, 50800))
    Image.fromarray(RGB).save(paths["jpeg"], dpi=(50800, 50800), quality=95)
    return paths


@pytest.fixture
def formats(tmp_path):
    return _formats(tmp_path)


# ------------------------------------------------------------------------- image_info


@pytest.mark.parametrize(("fmt", "px", "source", "compression", "tiled"), [
    ("tiff", 0.5, "tiff-resolution", "lzw", False),
    ("ome-tiff", 0.25, "ome", "none", True),
    ("svs", 0.499, "aperio-mpp", "none", True),
    ("png", 0.5, "png-phys", "deflate", False),
    ("jpeg", 0.5, "jpeg-jfif", "jpeg", False),
])
def test_image_info_on_each_format(formats, fmt, px, source, compression, tiled):
    info = image_info(formats[fmt])
    assert isinstance(info, ImageInfo)
    assert info.path == str(formats[fmt])
    assert info.format == fmt
    assert info.shape == (40, 60) and info.levels == ((40, 60),)
    assert info.pixel_size_um == pytest.approx(px, rel=1e-6)
    assert info.pixel_size_source == source
    assert info.pixel_size_error is None and info.file_pixel_size_error is None
    assert (info.dtype, info.samples) == ("uint8", 3)
    assert (info.compression, info.tiled, info.bigtiff) == (compression, tiled, False)
    assert info.series == (None if fmt in ("png", "jpeg") else 0)
    assert info.megapixels == pytest.approx(0.0024)
    # the same shape, format and pixel size as reading the pixels
    image, pixel_size, meta = read_image(formats[fmt])
    assert image.shape[:2] == info.shape and meta["format"] == info.format
    assert (pixel_size, meta["pixel_size_source"]) == (info.pixel_size_um, info.pixel_size_source)


def test_image_info_is_frozen(formats):
    info = image_info(formats["tiff"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.pixel_size_um = 1.0


def test_image_info_decodes_no_pixels(formats, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pixels decoded")

    for owner, attribute in [(tifffile.TiffPage, "decode"), (tifffile.TiffPage, "asarray"),
                             (tifffile.TiffPageSeries, "asarray"), (ImageFile.ImageFile, "load"),
                             (imagecodecs, "png_decode")]:
        monkeypatch.setattr(owner, attribute, refuse)
    for fmt, path in formats.items():
        assert image_info(path).shape == (40, 60), fmt
        with pytest.raises(ImageReadError, match="cannot decode"):  # the decoders are patched
            read_image(path)


def test_image_info_describes_a_slide_of_any_size(tmp_path):
    path = _huge_tiff(tmp_path / "huge.tif")  # 40 gigapixels declared, 12 kB on disk
    info = image_info(path)
    assert info.shape == (200_000, 200_000) and info.megapixels == 40_000
    assert info.pixel_size_um == pytest.approx(0.5)
    with pytest.raises(ImageReadError, match="3,125 strips but lists 1"):
        open_levels(path)  # whose pixel data is then found missing


def test_image_info_reports_a_missing_pixel_size(tmp_path):
    path = tmp_path / "nocal.tif"
    tifffile.imwrite(path, RGB, photometric="rgb")
    info = image_info(path)
    assert (info.pixel_size_um, info.pixel_size_source) == (None, "missing")
    assert info.file_pixel_size_error is None
    with pytest.raises(PixelSizeError) as raised:
        read_image(path)
    assert info.pixel_size_error == str(raised.value)
    given = image_info(path, pixel_size_um=0.3)
    assert (given.pixel_size_um, given.pixel_size_source, given.pixel_size_error) == (
        0.3, "argument", None)


def test_image_info_reports_an_unusable_pixel_size(tmp_path):
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, RGB, photometric="rgb", resolution=(72, 72), resolutionunit="INCH")
    info = image_info(path)
    assert (info.pixel_size_um, info.pixel_size_source) == (None, "missing")
    with pytest.raises(PixelSizeError) as raised:
        read_pixel_size(path)
    assert info.pixel_size_error == info.file_pixel_size_error == str(raised.value)
    assert "72 dpi means 352.778 µm per pixel" in info.pixel_size_error
    given = image_info(path, pixel_size_um=0.25)
    assert given.pixel_size_um == 0.25 and given.pixel_size_error is None
    assert given.file_pixel_size_error == info.file_pixel_size_error


def _cmyk(path):
    tifffile.imwrite(path, np.zeros((4, 5, 4), np.uint8), photometric="separated")


def _cut_header(path):
    write_calibrated_tiff(path, RGB, pixel_size_um=0.5)
    path.write_bytes(path.read_bytes()[:40])


@pytest.mark.parametrize(("name", "build"), [
    ("empty.tif", lambda p: p.write_bytes(b"")),
    ("notes.tif", lambda p: p.write_text("hello, this is not an image\n")),
    ("pic.gif", lambda p: Image.fromarray(RGB).save(p)),
    ("header.tif", _cut_header),
    ("gray.tif", lambda p: tifffile.imwrite(p, RGB[..., 0], **CAL)),
    ("gray.png", lambda p: Image.fromarray(RGB[..., 0]).save(p)),
    ("cmyk.tif", _cmyk),
    ("int16.tif", lambda p: tifffile.imwrite(p, np.zeros((4, 5, 3), np.int16), photometric="rgb")),
    ("two.tif", lambda p: tifffile.imwrite(p, np.zeros((2, 4, 5, 3), np.uint8), photometric="rgb")),
])
def test_image_info_refuses_bad_headers_as_read_image_does(tmp_path, name, build):
    path = tmp_path / name
    build(path)
    with pytest.raises(ImageReadError) as expected:
        read_image(path, pixel_size_um=0.5)
    with pytest.raises(type(expected.value)) as raised:
        image_info(path)
    assert str(raised.value) == str(expected.value)
    assert str(raised.value).startswith(name + ":") and "\n" not in str(raised.value)


def test_image_info_argument_errors(formats, tmp_path):
    with pytest.raises(PixelSizeError, match=r"^a\.tif: pixel_size_um must be > 0"):
        image_info(formats["tiff"], pixel_size_um=0)
    with pytest.raises(FileNotFoundError, match=r"nothere\.tif"):
        image_info(tmp_path / "nothere.tif")
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike, got int"):
        image_info(3)


# ------------------------------------------------------------------------- open_levels


def test_open_levels_reads_regions_lazily(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, size=(300, 200, 3), dtype=np.uint8)
    path = tmp_path / "pyramid.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.25, pyramid_levels=2)
    with open_levels(path) as levels:
        assert len(levels) == 3
        assert [tuple(a.shape) for a in levels] == [(300, 200, 3), (150, 100, 3), (75, 50, 3)]
        assert not any(isinstance(a, np.ndarray) for a in levels)
        np.testing.assert_array_equal(np.asarray(levels[0][120:180, 10:70]), rgb[120:180, 10:70])
        assert levels.info == image_info(path)
        assert levels.info.pixel_size_um == pytest.approx(0.25)
    with open_levels(path, pixel_size_um=0.5) as levels:
        assert (levels.info.pixel_size_um, levels.info.pixel_size_source) == (0.5, "argument")


def test_open_levels_without_pixel_size(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, RGB, photometric="rgb", tile=(16, 16))
    with open_levels(path) as levels:
        assert levels.info.pixel_size_um is None and levels.info.pixel_size_source == "missing"
        np.testing.assert_array_equal(np.asarray(levels[0][:]), RGB)


@pytest.mark.parametrize(("name", "build", "error", "match"), [
    ("a.png", lambda p: Image.fromarray(RGB).save(p), ImageFormatError,
     r"^a\.png: a PNG image has no tiles to open lazily; read it whole"),
    ("rgb16.tif", lambda p: tifffile.imwrite(p, RGB.astype(np.uint16), photometric="rgb"),
     ImageFormatError, r"^rgb16\.tif: uint16 samples; whole-slide mode needs 8-bit RGB$"),
    ("planar.tif", lambda p: tifffile.imwrite(p, np.moveaxis(RGB, -1, 0), photometric="rgb",
                                              planarconfig="separate"),
     ImageFormatError, r"^planar\.tif: layout SYX \(3, 40, 60\) is not interleaved RGB"),
    ("gray.tif", lambda p: tifffile.imwrite(p, RGB[..., 0]), ImageFormatError,
     r"^gray\.tif: grayscale image \(40 x 60\)"),
    ("huge.tif", _huge_tiff, ImageReadError,
     (r"^huge\.tif: the header declares 200000 x 200000 pixels in 3,125 strips but lists 1; "
      r"the file is corrupt or truncated$")),
])
def test_open_levels_refuses(tmp_path, name, build, error, match):
    path = tmp_path / name
    build(path)
    with pytest.raises(error, match=match) as raised:
        open_levels(path)
    assert type(raised.value) is error


# ------------------------------------------------------------------- the series rule


def _multi_series(path, kind):
    """A small base image (pixel size 0.5) stored with extra images; returns the base."""
    base = np.random.default_rng(9).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    small = np.full((24, 32, 3), 7, np.uint8)
    with tifffile.TiffWriter(path) as tw:
        if kind == "thumbnail first":
            tw.write(small, photometric="rgb", metadata=None)
        if kind == "svs with a large macro":  # an Aperio layout: baseline, thumbnail, label, macro
            tw.write(base, photometric="rgb", tile=(32, 32), metadata=None,
                     description=APERIO + "128x96 (32x32) RGB|AppMag = 20|MPP = 0.5")
            tw.write(small, photometric="rgb", metadata=None, description=APERIO + "thumbnail")
            tw.write(small, photometric="rgb", metadata=None, subfiletype=1,
                     description=APERIO + "label")
            tw.write(np.full((160, 400, 3), 9, np.uint8), photometric="rgb", metadata=None,
                     subfiletype=9, description=APERIO + "macro")
            return base
        tw.write(base, photometric="rgb", tile=(32, 32), metadata=None, **CAL)
        if kind == "label after":  # not a 2x reduction, so not taken as a pyramid level
            tw.write(np.full((50, 50, 3), 7, np.uint8), photometric="rgb", metadata=None)
    return base


@pytest.mark.parametrize("kind", ["thumbnail first", "label after", "svs with a large macro"])
def test_every_reader_takes_the_same_base_image(tmp_path, kind, monkeypatch):
    path = tmp_path / ("slide.svs" if kind.startswith("svs") else "slide.tif")
    base = _multi_series(path, kind)
    with tifffile.TiffFile(path) as tf:
        assert len(tf.series) > 1
        expected = [i for i, s in enumerate(tf.series) if s.shape[:2] == base.shape[:2]]
    info = image_info(path)
    assert info.shape == base.shape[:2] and [info.series] == expected
    assert info.pixel_size_um == pytest.approx(0.5)
    image, _, _ = read_image(path)
    np.testing.assert_array_equal(image, base)
    with Slide(path) as slide:
        assert slide.shape == info.shape and slide.level_shapes == list(info.levels)
        np.testing.assert_array_equal(slide.read_level(0), base)
    with open_levels(path) as levels:
        np.testing.assert_array_equal(np.asarray(levels[0][:]), base)
    data, _, _ = layer_data(path)  # small: read whole
    np.testing.assert_array_equal(np.asarray(data), base)
    monkeypatch.setattr(_reader, "WHOLE_READ_MAX_PIXELS", 0)  # now opened lazily
    data, kwargs, _ = layer_data(path)
    assert not isinstance(data, np.ndarray)
    np.testing.assert_array_equal(np.asarray(data), base)
    assert kwargs["metadata"]["levels"] == [base.shape[:2]]


@pytest.mark.realdata
@pytest.mark.parametrize(("relative", "px", "levels"), [
    ("svs/CMU-1-Small-Region.svs", None, [(2967, 2220)]),  # + thumbnail, label, macro
    ("svs/tcga-cr-7395-01a-01-ts1.svs", 0.25, [(3567, 4443), (1783, 2221)]),  # no MPP
    ("openslide-crops/OS-2-ndpi.ome.tif", None, [(2202, 2202)]),
])
def test_real_slides_open_the_same_base_image_everywhere(realdata_dir, relative, px, levels):
    path = realdata_dir / relative
    if not path.exists():
        pytest.skip(f"{relative} not in the real data folder")
    info = image_info(path, pixel_size_um=px)
    assert list(info.levels) == levels and info.series == 0
    with Slide(path, pixel_size_um=px) as slide:
        assert slide.level_shapes == levels
        corner = slide.read(0, 64, 0, 64)
    with open_levels(path, pixel_size_um=px) as lazy:
        assert [tuple(a.shape[:2]) for a in lazy] == levels
    data, _, _ = layer_data(path)
    first = data[0] if isinstance(data, list) else data
    np.testing.assert_array_equal(np.asarray(first[:64, :64]), corner)


# ---------------------------------------------------------------------- nodescope info


def test_info_command_reads_headers_only(tmp_path):
    huge = _huge_tiff(tmp_path / "huge.tif")
    nocal = tmp_path / "nocal.tif"
    tifffile.imwrite(nocal, RGB, photometric="rgb")
    res = CliRunner().invoke(app, ["info", str(huge), str(nocal)])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines == [
        "huge.tif: 200000 x 200000 px, tiff, 0.5 µm/px (tiff-resolution), 100.00 x 100.00 mm",
        ("nocal.tif: no pixel size in the file (no OME PhysicalSizeX, Aperio MPP or TIFF "
         "resolution); pass --pixel-size UM"),  # the command line speaks its own options
    ]
    res = CliRunner().invoke(app, ["info", str(nocal), "--pixel-size", "0.25"])
    assert res.exit_code == 0
    expected = "nocal.tif: 60 x 40 px, tiff, 0.25 µm/px (argument), 0.01 x 0.01 mm"
    assert res.output.strip() == expected
