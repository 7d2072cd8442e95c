"""Same input and parameters, same tables: across runs, worker counts and tile orders."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import pipeline
from helpers import toy_node
from pipeline.analysis import analyze
from pipeline.batch import file_sha256, run_batch
from pipeline.cli import app
from pipeline.export import deposits_for_csv
from pipeline.io import write_calibrated_tiff
from pipeline.options import AnalysisOptions

TABLES = ("cells.csv", "deposits.csv", "objects.geojson")


@pytest.fixture(autouse=True)
def _no_cluster_from_the_environment(monkeypatch):
    monkeypatch.delenv("NODESCOPE_SCHEDULER", raising=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    nodes = {
        "itc": [(100, 100), (100, 130), (130, 110)],
        "negative": [],
        "micro": [(y, x) for y in range(100, 300, 16) for x in range(100, 200, 16)],
    }
    for k, (name, tumour) in enumerate(nodes.items()):
        rgb, _ = toy_node(stain="ihc", px=1.0, tumour_yx_um=tumour, seed=k, size_um=400 if tumour else 300)
        write_calibrated_tiff(src / f"{name}.tif", rgb, pixel_size_um=1.0)
    return src


def test_one_and_two_workers_give_byte_identical_tables(inputs, tmp_path):
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        res = CliRunner().invoke(app, ["analyze", str(inputs), "--out", str(out), "--stain", "ihc",
                                       "--workers", workers, "--quiet"])
        assert res.exit_code == 0, res.output
        files = {"summary.csv": (out / "summary.csv").read_bytes()}
        for name in ("itc", "negative", "micro"):
            for table in TABLES:
                files[f"{name}/{table}"] = (out / name / table).read_bytes()
        outputs[workers] = files
    assert outputs["1"] == outputs["2"]
    assert b"micrometastasis" in outputs["1"]["summary.csv"]  # a non-trivial batch


def test_tile_order_does_not_matter():
    rgb, _ = toy_node(stain="ihc", px=0.5, size_um=300, tumour_yx_um=[(60, 60), (150, 150), (240, 90)])
    assert rgb.shape[0] > 2 * 256  # several tiles of 256 pixels
    results = [analyze(rgb, pixel_size_um=0.5, stain="ihc", tile_px=256, workers=w) for w in (1, 2, 4)]
    first = results[0]
    assert len(first.cells) == 3
    for other in results[1:]:
        assert other.cells.to_csv() == first.cells.to_csv()
        assert deposits_for_csv(other.deposits).to_csv() == deposits_for_csv(first.deposits).to_csv()
        assert other.summary() == first.summary()


def test_results_record_version_parameters_and_input_hash(inputs, tmp_path):
    run_batch(inputs / "itc.tif", tmp_path / "out", stain="ihc", link_um=60.0)
    s = json.loads((tmp_path / "out" / "itc" / "summary.json").read_text())
    assert s["version"] == pipeline.__version__
    assert s["input_sha256"] == file_sha256(inputs / "itc.tif")
    # the resume key: every analysis option (the given ones included) and the pixel size
    assert s["run_parameters"] == {"pixel_size_um": None,
                                   **AnalysisOptions(stain="ihc", link_um=60.0).as_dict()}
    assert {"stain": "ihc", "link_um": 60.0, "wsi_threshold_mp": 64.0}.items() <= s["run_parameters"].items()
    assert s["parameters"]["link_um"] == 60.0 and s["parameters"]["rule"] == "camelyon"
    assert s["parameters"]["tile_px"] > 0 and s["pixel_size_um"] == 1.0
