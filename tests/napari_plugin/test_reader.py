"""The reader (napari_plugin._reader) and the manifest, without a viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_plugin._reader import get_reader, layer_data, read_slide
from pipeline.io import write_calibrated_tiff

MANIFEST = Path(__file__).resolve().parents[2] / "napari_plugin" / "napari.yaml"


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (600, 520, 3), dtype=np.uint8)


def _close(levels):
    """Close the tifffile handles behind lazily opened levels."""
    for level in levels:
        store = getattr(level, "store", None)
        if store is not None and hasattr(store, "close"):
            store.close()


def test_manifest_validates_and_declares_contributions():
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "nodescope"
    manifest.validate_imports()
    contrib = manifest.contributions
    assert [w.display_name for w in contrib.widgets] == ["Analyze lymph node"]
    assert {s.key for s in contrib.sample_data} == {
        "negative_he", "itc_he", "micro_idc_he", "micro_ilc_ihc"}
    patterns = contrib.readers[0].filename_patterns
    for pattern in ("*.tif", "*.tiff", "*.ome.tif", "*.svs", "*.png", "*.jpg", "*.jpeg"):
        assert pattern in patterns


@pytest.mark.parametrize("px", [0.25, 0.5])
def test_calibrated_tiff_opens_in_um(tmp_path, rgb, px):
    path = tmp_path / "node.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=px)
    reader = get_reader(str(path))
    assert callable(reader)
    [(data, kwargs, kind)] = reader(str(path))
    assert kind == "image"
    np.testing.assert_array_equal(np.asarray(data), rgb)
    assert kwargs["rgb"] is True
    assert kwargs["scale"] == pytest.approx((px, px))
    assert kwargs["units"] == ("µm", "µm")
    assert kwargs["metadata"]["pixel_size_um"] == pytest.approx(px)
    assert kwargs["metadata"]["path"] == str(path)
    assert kwargs["name"] == "node"


def test_pyramidal_tiff_opens_multiscale_lazily(tmp_path, rgb):
    path = tmp_path / "slide.ome.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5, pyramid_levels=2, tile=(256, 256))
    data, kwargs, _ = layer_data(path)
    try:
        assert kwargs["multiscale"] is True
        assert [tuple(level.shape) for level in data] == [(600, 520, 3), (300, 260, 3),
                                                          (150, 130, 3)]
        assert not any(isinstance(level, np.ndarray) for level in data)  # not loaded
        np.testing.assert_array_equal(np.asarray(data[0][100:140, 200:260]),
                                      rgb[100:140, 200:260])
        assert kwargs["scale"] == pytest.approx((0.5, 0.5))
        assert kwargs["metadata"]["pixel_size_um"] == pytest.approx(0.5)
        assert kwargs["metadata"]["levels"] == [(600, 520), (300, 260), (150, 130)]
        assert kwargs["name"] == "slide"
    finally:
        _close(data)


def test_tiff_without_pixel_size_opens_in_pixels(tmp_path, rgb):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    [(data, kwargs, _)] = read_slide(str(path))
    np.testing.assert_array_equal(np.asarray(data), rgb)
    assert kwargs["scale"] == (1.0, 1.0)
    assert "units" not in kwargs
    assert kwargs["metadata"]["pixel_size_um"] is None


def test_png_without_phys_opens_in_pixels(tmp_path, rgb):
    from PIL import Image

    path = tmp_path / "snap.png"
    Image.fromarray(rgb).save(path)
    [(data, kwargs, _)] = get_reader(str(path))(str(path))
    np.testing.assert_array_equal(data, rgb)
    assert kwargs["metadata"]["pixel_size_um"] is None


def test_72_dpi_jpeg_opens_in_pixels_with_the_reason(tmp_path, rgb):
    from PIL import Image

    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(path, dpi=(72, 72), quality=95)
    [(data, kwargs, _)] = get_reader(str(path))(str(path))
    assert data.shape == rgb.shape
    assert kwargs["metadata"]["pixel_size_um"] is None
    assert "not a microscope calibration" in kwargs["metadata"]["pixel_size_error"]


@pytest.mark.parametrize("name, content", [
    ("garbage.tif", b"this is not an image at all"),
    ("empty.tiff", b""),
    ("notes.txt", b"hello"),
    ("fake.png", b"\x89PNG\r\n\x1a\n truncated"),
])
def test_unreadable_files_give_none(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert get_reader(str(path)) is None
    assert read_slide(str(path)) is None


def test_reader_never_raises_on_odd_input(tmp_path, rgb):
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader(str(tmp_path)) is None
    assert get_reader(None) is None
    assert get_reader(["a.tif", "b.tif"]) is None
    gray = tmp_path / "gray.tif"
    write_calibrated_tiff(tmp_path / "ok.tif", rgb, pixel_size_um=0.5)
    tifffile.imwrite(gray, rgb[..., 0])
    assert read_slide(str(gray)) is None  # grayscale: opened by napari's own reader instead
