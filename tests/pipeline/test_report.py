"""The self-contained HTML batch report."""

import base64
import re

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.report import (
    deposit_histogram_svg,
    discohesion_svg,
    load_patients,
    THUMB_MAX_BYTES,
    render_report,
    thumbnail_data_uri,
    thumbnail_jpeg,
    write_report,
)

TRICKY = 'a<b>&"c".tif'


@pytest.fixture
def batch(tmp_path):
    """Two node folders written by hand: one with a wide overlay, one without any."""
    (tmp_path / "n1").mkdir()
    overlay = np.zeros((400, 800, 3), np.uint8)
    overlay[:, :400] = (0, 0, 255)
    cv2.imwrite(str(tmp_path / "n1" / "overlay.png"), overlay)
    pd.DataFrame({"deposit_id": [1, 2, 3], "longest_diameter_um": [2500.0, 150.0, 12.0]}).to_csv(
        tmp_path / "n1" / "deposits.csv", index=False)
    (tmp_path / "n2").mkdir()
    pd.DataFrame({"deposit_id": pd.Series(dtype=int), "longest_diameter_um": pd.Series(dtype=float)}).to_csv(
        tmp_path / "n2" / "deposits.csv", index=False)
    summaries = [
        {"image": TRICKY, "output": "n1", "category": "macrometastasis", "largest_deposit_um": 2500.0,
         "growth_pattern": "cohesive", "discohesion_index": 0.12, "pn_category": "pN1",
         "tumor_cell_count": 4321, "deposit_count": 3},
        {"image": "patient_9_node_2.tif", "output": "n2", "category": "negative", "largest_deposit_um": 0.0,
         "growth_pattern": "none", "discohesion_index": None, "pn_category": "pN0",
         "tumor_cell_count": 0, "deposit_count": 0},
    ]
    return tmp_path, summaries


def test_report_is_self_contained_and_complete(batch):
    folder, summaries = batch
    patients = pd.DataFrame({"patient": ["P<1>", "P<1>"], "image": [TRICKY, "patient_9_node_2"]})
    errors = [{"file": "/data/broken.tif", "error": "broken.tif: not a TIFF <really>"}]
    path = write_report(folder, summaries, patients=patients, errors=errors)
    assert path == folder / "report.html"
    text = path.read_text(encoding="utf-8")
    assert not list(folder.glob(".*.tmp"))
    # node table: one row per node with the requested columns, all text escaped
    assert "a&lt;b&gt;&amp;&quot;c&quot;.tif" in text and TRICKY not in text
    for header in ("Image", "Category", "Largest deposit (mm)", "Growth pattern", "Discohesion index",
                   "pN category", "Tumour cells"):
        assert f"<th>{header}</th>" in text
    assert ">2.500<" in text and ">4321<" in text and ">0.12<" in text
    assert "patient_9_node_2.tif" in text and "no overlay" in text
    # charts inline, JPEG thumbnails next to the report linking to the full overlay
    assert text.count("<svg") == 2
    assert "0.2 mm" in text and "2 mm" in text
    uris = re.findall(r'src="([^"]+)"', text)
    assert uris == ["thumbs/n1.jpg"] and '<a href="n1/overlay.png">' in text
    data = (folder / "thumbs" / "n1.jpg").read_bytes()
    assert data[:2] == b"\xff\xd8" and len(data) <= THUMB_MAX_BYTES
    thumb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape == (320, 640, 3)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    # patient pN table and failures
    assert "Patients (pN stage)" in text and "P&lt;1&gt;" in text and "<b>pN1</b>" in text
    assert "Failed images (1)" in text and "not a TIFF &lt;really&gt;" in text


def test_report_without_patients_has_no_patient_table(batch):
    folder, summaries = batch
    text = render_report(folder, summaries)
    assert "Patients (pN stage)" not in text and "Failed images" not in text


def test_histogram_bins_on_a_log_scale_with_size_limits():
    svg = deposit_histogram_svg([0.05, 0.3, 0.31, 2.5, 0.0, float("nan")])
    bars = re.findall(r"<title>([^<]*) mm: (\d+)</title>", svg)
    assert sum(int(n) for _, n in bars) == 4  # zero and NaN sizes are left out
    ticks = re.findall(r'text-anchor="middle">([0-9.]+)</text>', svg)
    assert ticks == ["0.01", "0.1", "1", "10"]  # whole decades around the data and both limits
    assert svg.count('stroke-dasharray="5,3"') == 2
    assert "no tumour deposits" in deposit_histogram_svg([])


def test_discohesion_bars_scale_to_one():
    svg = discohesion_svg(["x", "y"], [1.0, 0.25], ["single_file", "cohesive"], width=600)
    widths = [float(w) for w in re.findall(r'<rect x="230" y="\d+" width="([0-9.]+)" height="14"', svg)]
    assert widths == pytest.approx([320.0, 80.0])


def test_embedded_thumbnails_are_jpeg_data_uris(batch):
    folder, summaries = batch
    text = write_report(folder, summaries, embed=True).read_text(encoding="utf-8")
    uris = re.findall(r'src="([^"]+)"', text)
    assert len(uris) == 1 and uris[0].startswith("data:image/jpeg;base64,")
    assert not (folder / "thumbs").exists()


def test_busy_thumbnails_stay_under_the_budget(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (1400, 1400, 3), dtype=np.uint8)  # worst case for JPEG
    cv2.imwrite(str(tmp_path / "noisy.png"), noisy)
    data = thumbnail_jpeg(tmp_path / "noisy.png")
    assert data[:2] == b"\xff\xd8"
    # noise is the worst case: it may exceed the budget, but at the smallest step only
    assert len(data) <= 4 * THUMB_MAX_BYTES
    smooth = cv2.GaussianBlur(noisy, (0, 0), 6)
    cv2.imwrite(str(tmp_path / "smooth.png"), smooth)
    assert len(thumbnail_jpeg(tmp_path / "smooth.png")) <= THUMB_MAX_BYTES


def test_thumbnail_is_never_upscaled(tmp_path):
    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((50, 100, 3), np.uint8))
    uri = thumbnail_data_uri(tmp_path / "small.png")
    img = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (50, 100, 3)
    (tmp_path / "bad.png").write_bytes(b"nope")
    assert thumbnail_data_uri(tmp_path / "bad.png") is None


def test_load_patients_names_missing_columns(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("who,file\nP,a.tif\n")
    with pytest.raises(ValueError, match="needs columns 'patient' and 'image', found who, file"):
        load_patients(bad)
    with pytest.raises(ValueError, match="cannot read the patients table"):
        load_patients(tmp_path / "missing.csv")
    assert load_patients(pd.DataFrame({"patient": ["P"], "image": ["a"]}))["patient"].tolist() == ["P"]
