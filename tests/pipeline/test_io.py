import math
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from pipeline._validate import PixelSizeError
from pipeline.io import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    ImageFormatError,
    ImageReadError,
    ImageTooLargeError,
    is_supported,
    read_image,
    read_pixel_size,
    write_calibrated_tiff,
)

APERIO_DESCRIPTION = (
    "Aperio Image Library v10.0.50\r\n2220x2967 [0,100 2220x2967] (256x256) JPEG/RGB Q=70"
    "|AppMag = 20|MPP = 0.4990"
)
MISSING = r"no pixel size in the file .*pass pixel_size_um=\.\.\. \(CLI: --pixel-size UM\)"


@pytest.fixture
def rgb():
    return np.random.default_rng(7).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)


@pytest.fixture
def smooth():
    """A smooth RGB image, for lossy JPEG compression."""
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([4 * y + 40, 3 * x + 20, 200 - 2 * y - x], axis=-1).astype(np.uint8)


def _tiff(path, data, **kwargs):
    kwargs.setdefault("photometric", "rgb")
    tifffile.imwrite(path, data, **kwargs)
    return path


def _assert_one_line(exc_info, path):
    message = str(exc_info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(Path(path).name + ":")


# ------------------------------------------------------------------ calibration forms


@pytest.mark.parametrize(
    ("size", "unit", "expected"),
    [
        (0.2271, "µm", 0.2271),
        (227.1, "nm", 0.2271),
        (0.0005, "mm", 0.5),
        (0.25, "um", 0.25),
        (0.25, None, 0.25),  # the OME default unit is µm
    ],
)
def test_ome_physical_size_units(tmp_path, rgb, size, unit, expected):
    metadata = {"PhysicalSizeX": size, "PhysicalSizeY": size}
    if unit is not None:
        metadata.update(PhysicalSizeXUnit=unit, PhysicalSizeYUnit=unit)
    path = _tiff(tmp_path / "a.ome.tif", rgb, ome=True, metadata=metadata)
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(expected, rel=1e-9)
    assert meta["format"] == "ome-tiff"
    assert meta["pixel_size_source"] == "ome"
    np.testing.assert_array_equal(image, rgb)
    assert read_pixel_size(path) == (pytest.approx(expected, rel=1e-9), "ome")


def test_ome_wins_over_tiff_resolution(tmp_path, rgb):
    path = _tiff(
        tmp_path / "a.ome.tif",
        rgb,
        ome=True,
        metadata={"PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3},
        resolution=(1e4 / 0.9, 1e4 / 0.9),
        resolutionunit="CENTIMETER",
    )
    assert read_pixel_size(path) == (pytest.approx(0.3), "ome")


def test_ome_non_length_unit_is_refused(tmp_path, rgb):
    metadata = {"PhysicalSizeX": 1, "PhysicalSizeXUnit": "pixel", "PhysicalSizeY": 1}
    path = _tiff(tmp_path / "a.ome.tif", rgb, ome=True, metadata=metadata)
    with pytest.raises(PixelSizeError, match="'pixel' is not a length unit.*pixel_size_um="):
        read_image(path)
    assert read_image(path, pixel_size_um=0.5)[1] == 0.5


def test_ome_anisotropic_pixels_refused(tmp_path, rgb):
    metadata = {"PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5}
    path = _tiff(tmp_path / "a.ome.tif", rgb, ome=True, metadata=metadata)
    with pytest.raises(PixelSizeError, match=r"not square.*X = 0\.25 µm, Y = 0\.5 µm"):
        read_image(path)
    # an explicit pixel size overrides the file; the file problem is reported
    _, pixel_size, meta = read_image(path, pixel_size_um=0.3)
    assert pixel_size == 0.3
    assert meta["file_pixel_size_um"] is None
    assert "not square" in meta["file_pixel_size_error"]


def test_nearly_square_pixels_give_the_mean(tmp_path, rgb):
    metadata = {"PhysicalSizeX": 0.2270972430394695, "PhysicalSizeY": 0.22710240047237298}
    path = _tiff(tmp_path / "a.ome.tif", rgb, ome=True, metadata=metadata)
    assert read_image(path)[1] == pytest.approx((0.2270972430394695 + 0.22710240047237298) / 2)


def test_aperio_mpp(tmp_path, rgb):
    path = _tiff(
        tmp_path / "a.svs", rgb, description=APERIO_DESCRIPTION, metadata=None, tile=(16, 16)
    )
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(0.499)
    assert meta["format"] == "svs"
    assert meta["pixel_size_source"] == "aperio-mpp"
    np.testing.assert_array_equal(image, rgb)


def test_aperio_without_mpp_is_missing(tmp_path, rgb):
    description = APERIO_DESCRIPTION.replace("|MPP = 0.4990", "")
    path = _tiff(tmp_path / "a.svs", rgb, description=description, metadata=None)
    with pytest.raises(PixelSizeError, match=MISSING):
        read_image(path)


@pytest.mark.parametrize(
    ("resolution", "unit", "expected"),
    [
        (25400 / 0.5, "INCH", 0.5),
        (1e4 / 0.2271, "CENTIMETER", 0.2271),
        (1e4 / 0.123456, "CENTIMETER", 0.123456),
    ],
)
def test_tiff_resolution(tmp_path, rgb, resolution, unit, expected):
    path = _tiff(tmp_path / "a.tif", rgb, resolution=(resolution, resolution), resolutionunit=unit)
    _, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(expected, rel=1e-6)
    assert (meta["format"], meta["pixel_size_source"]) == ("tiff", "tiff-resolution")
    assert meta["file_pixel_size_um"] == pytest.approx(expected, rel=1e-6)


def test_tiff_resolution_unit_none_is_missing(tmp_path, rgb):
    path = _tiff(tmp_path / "a.tif", rgb, resolution=(4, 4), resolutionunit="NONE")
    with pytest.raises(PixelSizeError, match=MISSING) as info:
        read_image(path)
    _assert_one_line(info, path)
    assert "TIFF resolution" in str(info.value)
    assert read_pixel_size(path) == (None, None)


def test_plain_tifffile_output_is_missing(tmp_path, rgb):
    path = _tiff(tmp_path / "a.tif", rgb)  # tifffile writes 1 pixel per (no unit)
    with pytest.raises(PixelSizeError, match=MISSING):
        read_image(path)


def test_72_dpi_is_not_a_calibration(tmp_path, rgb):
    path = _tiff(tmp_path / "scan.tif", rgb, resolution=(72, 72), resolutionunit="INCH")
    with pytest.raises(
        PixelSizeError, match=r"72 dpi means 352\.778 µm per pixel.*not a microscope calibration"
    ) as info:
        read_image(path)
    _assert_one_line(info, path)
    assert "pixel_size_um=..." in str(info.value)
    with pytest.raises(PixelSizeError, match="not a microscope calibration"):
        read_pixel_size(path)
    _, pixel_size, meta = read_image(path, pixel_size_um=0.25)
    assert pixel_size == 0.25
    assert meta["file_pixel_size_um"] is None
    assert "352.778" in meta["file_pixel_size_error"]


def test_imagej_unit(tmp_path, rgb):
    path = _tiff(
        tmp_path / "fiji.tif", rgb, imagej=True, resolution=(4, 4), metadata={"unit": "micron"}
    )
    assert read_pixel_size(path) == (pytest.approx(0.25), "imagej")


def test_bigtiff(tmp_path, rgb):
    path = _tiff(
        tmp_path / "a.btf",
        rgb,
        bigtiff=True,
        resolution=(1e4 / 0.25, 1e4 / 0.25),
        resolutionunit="CENTIMETER",
    )
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(0.25)
    assert meta["bigtiff"] is True
    np.testing.assert_array_equal(image, rgb)


def test_pyramidal_tiff_returns_base_level(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(300, 200, 3), dtype=np.uint8)
    path = tmp_path / "pyramid.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.2271, pyramid_levels=2)
    with tifffile.TiffFile(path) as tf:
        assert len(tf.pages) == 1 and len(tf.pages[0].subifds) == 2
        assert tf.pages[0].is_tiled
    image, pixel_size, meta = read_image(path)
    np.testing.assert_array_equal(image, rgb)
    assert pixel_size == pytest.approx(0.2271, rel=1e-6)
    assert meta["shape"] == (300, 200)
    assert meta["levels"] == [(300, 200), (150, 100), (75, 50)]


def test_largest_series_is_read(tmp_path, rgb):
    path = tmp_path / "thumb_first.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(rgb[::4, ::4], photometric="rgb", metadata=None)  # a thumbnail first
        tw.write(
            rgb,
            photometric="rgb",
            metadata=None,
            resolution=(1e4 / 0.5, 1e4 / 0.5),
            resolutionunit="CENTIMETER",
        )
    image, pixel_size, _ = read_image(path)
    np.testing.assert_array_equal(image, rgb)
    assert pixel_size == pytest.approx(0.5)


def test_png_phys(tmp_path, rgb):
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path, dpi=(25400 / 0.25, 25400 / 0.25))
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(0.25, rel=1e-6)
    assert (meta["format"], meta["pixel_size_source"]) == ("png", "png-phys")
    np.testing.assert_array_equal(image, rgb)


def test_png_without_phys_is_missing(tmp_path, rgb):
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(PixelSizeError, match=r"no pHYs.*pixel_size_um=") as info:
        read_image(path)
    _assert_one_line(info, path)
    assert read_image(path, pixel_size_um=0.5)[2]["pixel_size_source"] == "argument"


def test_jpeg_jfif_density(tmp_path, smooth):
    path = tmp_path / "a.jpg"
    Image.fromarray(smooth).save(path, dpi=(50800, 50800), quality=95)
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(0.5)
    assert (meta["format"], meta["pixel_size_source"]) == ("jpeg", "jpeg-jfif")
    assert image.shape == smooth.shape and image.dtype == np.uint8
    assert np.abs(image.astype(int) - smooth).mean() < 3  # lossy


def test_jpeg_aspect_only_is_missing(tmp_path, rgb):
    path = tmp_path / "a.jpeg"
    Image.fromarray(rgb).save(path)  # JFIF unit 0: aspect ratio, no size
    with pytest.raises(PixelSizeError, match=r"no JFIF density"):
        read_image(path)


def test_argument_overrides_file(tmp_path, rgb):
    path = _tiff(tmp_path / "a.tif", rgb, resolution=(40000, 40000), resolutionunit="CENTIMETER")
    _, pixel_size, meta = read_image(path, pixel_size_um=0.5)
    assert pixel_size == 0.5
    assert meta["pixel_size_source"] == "argument"
    assert meta["file_pixel_size_um"] == pytest.approx(0.25)
    assert meta["file_pixel_size_source"] == "tiff-resolution"


def test_metadata_keys(tmp_path, rgb):
    path = tmp_path / "a.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5)
    _, _, meta = read_image(path)
    assert meta["path"] == str(path)
    assert meta["shape"] == (40, 60)
    assert meta["levels"] == [(40, 60)]
    assert meta["dtype_in"] == "uint8"
    assert meta["file_pixel_size_um"] == pytest.approx(0.5)
    assert meta["warnings"] == []


# ------------------------------------------------------------------------- layouts


def test_rgba_drops_alpha(tmp_path, rgb):
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    path = _tiff(
        tmp_path / "a.tif",
        rgba,
        extrasamples=["unassalpha"],
        resolution=(40000, 40000),
        resolutionunit="CENTIMETER",
    )
    np.testing.assert_array_equal(read_image(path)[0], rgb)
    png = tmp_path / "a.png"
    Image.fromarray(rgba).save(png)
    np.testing.assert_array_equal(read_image(png, pixel_size_um=0.25)[0], rgb)


def test_16_bit_divided_by_257_and_rounded(tmp_path):
    values = np.array([0, 128, 129, 257, 385, 386, 32767, 32768, 65534, 65535], np.uint16)
    data = np.stack([values, values[::-1], values], axis=-1)[None].repeat(2, axis=0)
    expected = np.array([0, 0, 1, 1, 1, 2, 127, 128, 255, 255], np.uint8)
    np.testing.assert_array_equal(np.round(values / 257), expected)  # the documented rule
    path = _tiff(tmp_path / "a.tif", data)
    image, _, meta = read_image(path, pixel_size_um=0.5)
    np.testing.assert_array_equal(image[0, :, 0], expected)
    np.testing.assert_array_equal(image[1, :, 1], expected[::-1])
    assert meta["dtype_in"] == "uint16"
    png = tmp_path / "a16.png"  # Pillow would truncate 16-bit PNG to the high byte
    png.write_bytes(imagecodecs.png_encode(data))
    image, _, meta = read_image(png, pixel_size_um=0.5)
    np.testing.assert_array_equal(image[0, :, 0], expected)
    assert meta["dtype_in"] == "uint16"


def test_float_in_unit_range(tmp_path):
    data = np.linspace(0, 1, 30, dtype=np.float32).reshape(2, 5, 3)
    path = _tiff(tmp_path / "a.tif", data)
    image, _, meta = read_image(path, pixel_size_um=0.5)
    np.testing.assert_array_equal(image, np.rint(data.astype(np.float64) * 255).astype(np.uint8))
    assert meta["dtype_in"] == "float32"


def test_float_out_of_range_is_refused(tmp_path):
    data = np.full((4, 5, 3), 2.0, np.float32)
    path = _tiff(tmp_path / "a.tif", data)
    with pytest.raises(ImageFormatError, match=r"values in \[2, 2\].*\[0, 1\]"):
        read_image(path, pixel_size_um=0.5)


def test_grayscale_is_refused(tmp_path, rgb):
    path = _tiff(tmp_path / "gray.tif", rgb[..., 0], photometric="minisblack")
    expected = r"^gray\.tif: grayscale image \(40 x 60\); NodeScope needs an RGB brightfield image$"
    with pytest.raises(ImageFormatError, match=expected):
        read_image(path, pixel_size_um=0.5)
    png = tmp_path / "gray.png"
    Image.fromarray(rgb[..., 0]).save(png)
    with pytest.raises(ImageFormatError, match=r"grayscale image \(40 x 60\)"):
        read_image(png, pixel_size_um=0.5)


def test_read_pixel_size_ignores_layout(tmp_path, rgb):
    path = _tiff(
        tmp_path / "gray.tif",
        rgb[..., 0],
        photometric="minisblack",
        resolution=(40000, 40000),
        resolutionunit="CENTIMETER",
    )
    assert read_pixel_size(path) == (pytest.approx(0.25), "tiff-resolution")
    with pytest.raises(ImageFormatError, match="grayscale"):
        read_image(path)


def test_grayscale_with_one_sample_axis_is_refused(tmp_path, rgb):
    path = _tiff(tmp_path / "gray.tif", rgb[..., :1], photometric="minisblack")  # axes YXQ
    with pytest.raises(ImageFormatError, match=r"grayscale image \(40 x 60\)"):
        read_image(path, pixel_size_um=0.5)


def test_planar_is_transposed(tmp_path, rgb):
    planar = np.ascontiguousarray(np.moveaxis(rgb, -1, 0))
    path = _tiff(tmp_path / "planar.tif", planar, planarconfig="separate")
    image = read_image(path, pixel_size_um=0.5)[0]
    np.testing.assert_array_equal(image, rgb)
    assert image.flags.c_contiguous
    ome = _tiff(
        tmp_path / "planar.ome.tif",
        planar,
        photometric="minisblack",
        ome=True,
        metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5},
    )
    image, pixel_size, _ = read_image(ome)
    np.testing.assert_array_equal(image, rgb)
    assert pixel_size == 0.5


def test_palette_is_expanded(tmp_path, rgb):
    colormap = np.zeros((3, 256), np.uint16)
    colormap[0] = np.arange(256) * 257
    colormap[2] = 65535 - np.arange(256) * 257
    path = _tiff(tmp_path / "pal.tif", rgb[..., 0], photometric="palette", colormap=colormap)
    image = read_image(path, pixel_size_um=0.5)[0]
    np.testing.assert_array_equal(image[..., 0], rgb[..., 0])
    np.testing.assert_array_equal(image[..., 2], 255 - rgb[..., 0])


@pytest.mark.parametrize(
    ("shape", "kwargs", "match"),
    [
        ((40, 60, 2), {"photometric": "minisblack", "planarconfig": "contig"}, "2-channel"),
        ((40, 60, 5), {"photometric": "minisblack", "planarconfig": "contig"}, "5-channel"),
        ((2, 40, 60, 3), {}, r"not a single 2-D RGB image \(shape 2 x 40 x 60 x 3"),
        ((40, 60, 4), {"photometric": "separated"}, "CMYK"),
    ],
)
def test_bad_layouts_are_refused(tmp_path, shape, kwargs, match):
    path = _tiff(tmp_path / "bad.tif", np.zeros(shape, np.uint8), **kwargs)
    with pytest.raises(ImageFormatError, match=match) as info:
        read_image(path, pixel_size_um=0.5)
    _assert_one_line(info, path)


def test_signed_integers_are_refused(tmp_path):
    path = _tiff(tmp_path / "int.tif", np.zeros((4, 5, 3), np.int16))
    with pytest.raises(ImageFormatError, match="unsupported sample type int16"):
        read_image(path, pixel_size_um=0.5)


def test_output_is_new_c_contiguous_uint8(tmp_path, rgb):
    before = rgb.copy()
    path = tmp_path / "a.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5)
    np.testing.assert_array_equal(rgb, before)  # the writer does not modify its input
    image = read_image(path)[0]
    assert image.dtype == np.uint8 and image.shape == (40, 60, 3)
    assert image.flags.c_contiguous and image.flags.writeable
    assert not np.shares_memory(image, rgb)
    png = tmp_path / "a.png"
    Image.fromarray(rgb).save(png)
    image = read_image(png, pixel_size_um=0.5)[0]
    assert image.flags.c_contiguous and image.flags.writeable


# ---------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.tif"):
        read_image(tmp_path / "nothere.tif")
    with pytest.raises(FileNotFoundError):
        read_pixel_size(tmp_path / "nothere.tif")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.tif"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"^empty\.tif: empty file \(0 bytes\)") as info:
        read_image(path, pixel_size_um=0.5)
    _assert_one_line(info, path)


def test_text_file_named_tif(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("hello, this is not an image\n")
    with pytest.raises(ImageReadError, match=r"^notes\.tif: not a TIFF, PNG or JPEG image"):
        read_image(path, pixel_size_um=0.5)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImageReadError, match=r"^notes\.txt: unsupported format") as info:
        read_image(path)
    _assert_one_line(info, path)


def test_content_wins_over_extension(tmp_path, rgb):
    png = tmp_path / "really_png.svs"
    Image.fromarray(rgb).save(png, format="PNG", dpi=(25400 / 0.5, 25400 / 0.5))
    image, pixel_size, meta = read_image(png)
    np.testing.assert_array_equal(image, rgb)
    assert pixel_size == pytest.approx(0.5)
    assert (meta["format"], meta["pixel_size_source"]) == ("png", "png-phys")
    tif = tmp_path / "really_tiff.dat"
    write_calibrated_tiff(tif, rgb, pixel_size_um=0.5)
    assert read_image(tif)[2]["format"] == "tiff"


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_tiff(tmp_path, rgb, compression):
    big = np.random.default_rng(3).integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    full = tmp_path / "full.tif"
    write_calibrated_tiff(full, big, pixel_size_um=0.5, compression=compression)
    data = full.read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[: len(data) // 2])  # the IFD comes first: cut mid-strip
    assert read_pixel_size(path) == (pytest.approx(0.5), "tiff-resolution")  # no pixels read
    with pytest.raises(ImageReadError, match="corrupt or truncated") as info:
        read_image(path)
    _assert_one_line(info, path)
    path.write_bytes(data[:40])  # cut inside the header
    with pytest.raises(ImageReadError, match="corrupt or truncated") as info:
        read_image(path, pixel_size_um=0.5)
    _assert_one_line(info, path)


def test_truncated_png(tmp_path, rgb):
    full = tmp_path / "full.png"
    Image.fromarray(rgb).save(full, dpi=(50800, 50800))
    path = tmp_path / "cut.png"
    path.write_bytes(full.read_bytes()[:-3000])
    with pytest.raises(ImageReadError, match=r"^cut\.png: cannot decode"):
        read_image(path)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (0, "must be > 0"),
        (-0.5, "must be > 0"),
        (math.nan, "must be finite"),
        (500, "not a microscope calibration"),
        ("0.5", "must be a number"),
    ],
)
def test_bad_pixel_size_argument(tmp_path, rgb, value, match):
    path = tmp_path / "a.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5)
    with pytest.raises(PixelSizeError, match=match) as info:
        read_image(path, pixel_size_um=value)
    _assert_one_line(info, path)
    assert "pixel_size_um" in str(info.value)
    with pytest.raises(PixelSizeError, match=match):
        write_calibrated_tiff(tmp_path / "b.tif", rgb, pixel_size_um=value)


def test_none_pixel_size_reads_the_file_or_fails(tmp_path, rgb):
    path = _tiff(tmp_path / "a.tif", rgb)
    with pytest.raises(PixelSizeError, match=MISSING):
        read_image(path, pixel_size_um=None)
    with pytest.raises(PixelSizeError, match="pixel_size_um is missing"):
        write_calibrated_tiff(tmp_path / "b.tif", rgb, pixel_size_um=None)


def test_too_large_is_refused_before_decoding(tmp_path, rgb):
    path = tmp_path / "a.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5)
    with pytest.raises(ImageTooLargeError, match=r"40 x 60 = 2,400 pixels.*max_pixels=1,000") as i:
        read_image(path, max_pixels=1000)
    _assert_one_line(i, path)
    assert read_image(path, max_pixels=2400)[0].shape == (40, 60, 3)
    assert DEFAULT_MAX_PIXELS == 1_000_000_000
    with pytest.raises(ValueError, match="max_pixels must be > 0"):
        read_image(path, max_pixels=0)
    with pytest.raises(TypeError, match="max_pixels must be an int"):
        read_image(path, max_pixels=1e6)


def test_pillow_bomb_limit_does_not_apply(tmp_path, rgb, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path, dpi=(50800, 50800))
    assert read_image(path)[0].shape == (40, 60, 3)
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=100)


def test_path_type_is_checked():
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        read_image(3)


# -------------------------------------------------------------------- suffixes, writer


def test_is_supported():
    for suffix in SUPPORTED_SUFFIXES:
        assert is_supported("x" + suffix)
        assert is_supported(Path("dir") / ("x" + suffix.upper()))
    assert not is_supported("a.txt")
    assert not is_supported("tif")
    assert not is_supported("a.tif.bak")


@pytest.mark.parametrize("pixel_size", [0.2271, 0.123456789, 0.499, 3.7, 100.0, 0.01])
def test_writer_round_trip_precision(tmp_path, pixel_size):
    path = tmp_path / "a.tif"
    write_calibrated_tiff(path, np.zeros((8, 8, 3), np.uint8), pixel_size_um=pixel_size)
    assert read_pixel_size(path)[0] == pytest.approx(pixel_size, rel=1e-6)
    with tifffile.TiffFile(path) as tf:
        assert tf.pages[0].tags["ResolutionUnit"].value == 3


def test_writer_pyramid_levels_are_calibrated(tmp_path, rgb):
    path = tmp_path / "p.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5, pyramid_levels=2, compression="lzw")
    with tifffile.TiffFile(path) as tf:
        level = tf.series[0].levels[2].keyframe
        assert level.shape == (10, 15, 3)
        num, den = level.tags["XResolution"].value
        assert 1e4 * den / num == pytest.approx(2.0)
        assert level.tilewidth == 256
        reduced = level.asarray()
    block = rgb[:4, :4].reshape(1, 4, 1, 4, 3).astype(float).mean(axis=(1, 3))
    # two successive rounded 2 x 2 means are within 1 of the 4 x 4 mean
    assert np.abs(reduced[0, 0].astype(float) - block[0, 0]).max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rgb": np.zeros((8, 8), np.uint8)}, ValueError, r"\(M, N, 3\) uint8"),
        ({"rgb": np.zeros((8, 8, 3), np.uint16)}, ValueError, "dtype uint16"),
        ({"rgb": [[[0, 0, 0]]]}, TypeError, "numpy array"),
        ({"compression": "gzip"}, ValueError, "compression must be one of"),
        ({"tile": (100, 100)}, ValueError, "multiples of 16"),
        ({"pyramid_levels": -1}, ValueError, "pyramid_levels must be >= 0"),
        ({"pyramid_levels": 5}, ValueError, "too many for a 16 x 16 image"),
    ],
)
def test_writer_validation(tmp_path, kwargs, error, match):
    arguments = {"rgb": np.zeros((16, 16, 3), np.uint8), "pixel_size_um": 0.5, **kwargs}
    rgb = arguments.pop("rgb")
    with pytest.raises(error, match=match):
        write_calibrated_tiff(tmp_path / "a.tif", rgb, **arguments)
    assert not (tmp_path / "a.tif").exists()


def test_writer_jpeg_and_tiles(tmp_path, smooth):
    path = tmp_path / "j.tif"
    write_calibrated_tiff(path, smooth, pixel_size_um=0.25, compression="jpeg", tile=(32, 32))
    image, pixel_size, _ = read_image(path)
    assert pixel_size == 0.25
    assert np.abs(image.astype(int) - smooth).mean() < 3


# ------------------------------------------------------------------------ real data


def _real(realdata_dir, relative):
    path = realdata_dir / relative
    if not path.exists():
        pytest.skip(f"{relative} not in the real data folder")
    return path


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("relative", "expected", "shape"),
    [
        ("openslide-crops/OS-1-detail.ome.tif", 0.2271, (1101, 1101)),
        ("openslide-crops/OS-2-ndpi.ome.tif", 0.2271, (2202, 2202)),
        ("openslide-crops/OS-2-vsi.ome.tif", 0.3461, (1445, 1445)),
    ],
)
def test_real_ome_crops(realdata_dir, relative, expected, shape):
    path = _real(realdata_dir, relative)
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(expected, rel=1e-3)
    assert meta["pixel_size_source"] == "ome"
    assert image.shape == (*shape, 3) and image.dtype == np.uint8
    assert meta["warnings"] == []


@pytest.mark.realdata
def test_real_svs_cmu1(realdata_dir):
    path = _real(realdata_dir, "svs/CMU-1-Small-Region.svs")
    image, pixel_size, meta = read_image(path)
    assert pixel_size == pytest.approx(0.499, rel=1e-3)
    assert meta["format"] == "svs" and meta["pixel_size_source"] == "aperio-mpp"
    assert image.shape == (2967, 2220, 3)  # the baseline, not thumbnail/label/macro
    assert image.flags.c_contiguous


@pytest.mark.realdata
def test_real_svs_without_mpp(realdata_dir):
    path = _real(realdata_dir, "svs/tcga-cr-7395-01a-01-ts1.svs")
    with pytest.raises(PixelSizeError, match=MISSING):
        read_image(path)
    assert read_pixel_size(path) == (None, None)
    image, pixel_size, meta = read_image(path, pixel_size_um=0.25)  # JPEG 2000 tiles
    assert pixel_size == 0.25
    assert image.shape == (3567, 4443, 3)
    assert meta["levels"] == [(3567, 4443), (1783, 2221)]


@pytest.mark.realdata
def test_real_monuseg(realdata_dir):
    folder = realdata_dir / "monuseg-breast" / "images"
    paths = sorted(folder.glob("*.tif"))
    if not paths:
        pytest.skip("monuseg-breast images not in the real data folder")
    for path in paths:
        # three carry no resolution, one declares 72 dpi: neither is a calibration
        with pytest.raises(PixelSizeError, match="pixel_size_um="):
            read_image(path)
        image, pixel_size, meta = read_image(path, pixel_size_um=0.25)
        assert image.shape == (1000, 1000, 3)
        assert meta["pixel_size_source"] == "argument"
        assert meta["file_pixel_size_um"] is None
