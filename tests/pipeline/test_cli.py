"""The nodescope command line, run in-process with typer's CliRunner."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import tifffile
from typer.testing import CliRunner

from helpers import toy_node
from pipeline.cli import app
from pipeline.io import write_calibrated_tiff

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_cluster_from_the_environment(monkeypatch):
    monkeypatch.delenv("NODESCOPE_SCHEDULER", raising=False)


@pytest.fixture
def batch(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rgb, _ = toy_node(stain="ihc", px=0.5, tumour_yx_um=[(100, 100), (100, 130), (130, 110)])
    write_calibrated_tiff(src / "node_a.tif", rgb, pixel_size_um=0.5)
    neg, _ = toy_node(stain="he", px=1.0, tumour_yx_um=[])
    write_calibrated_tiff(src / "sub" / "node_b.tif", neg, pixel_size_um=1.0)
    tifffile.imwrite(src / "no_calibration.tif", neg)  # no pixel size: must fail alone
    (src / "broken.tif").write_bytes(b"this is not a tiff")
    return src


def test_analyze_batch_with_failures(batch, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(batch), "--out", str(out), "--quiet"])
    assert res.exit_code == 1, res.output
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["image"]) == ["node_a.tif", "node_b.tif"]
    errors = pd.read_csv(out / "errors.csv")
    assert sorted(p.split("/")[-1] for p in errors["file"]) == ["broken.tif", "no_calibration.tif"]
    msg = errors.set_index(errors["file"].str.split("/").str[-1]).loc["no_calibration.tif", "error"]
    assert msg.startswith("no_calibration.tif: no pixel size") and msg.endswith("pass --pixel-size UM")
    assert "pixel_size_um" not in msg  # the command line's errors.csv speaks its options
    assert "\n" not in "".join(errors["error"])
    for name in ("node_a", "node_b"):
        folder = out / name
        for f in ("summary.json", "deposits.csv", "cells.csv", "overlay.png"):
            assert (folder / f).is_file(), f
    s = json.loads((out / "node_a" / "summary.json").read_text())
    for key, kind in {"image": str, "pixel_size_um": float, "stain": str, "rule": str,
                      "category": str, "category_reason": str, "pn_category": str,
                      "largest_deposit_um": float, "largest_deposit_cells": int,
                      "deposit_count": int, "tumor_cell_count": int, "nucleus_count": int,
                      "version": str, "parameters": dict}.items():
        assert isinstance(s[key], kind), key
    assert s["stain"] == "ihc" and s["category"] == "itc" and s["pn_category"] == "pN0(i+)"
    assert s["tumor_cell_count"] == 3 and s["pixel_size_um"] == 0.5
    b = json.loads((out / "node_b" / "summary.json").read_text())
    assert b["category"] == "negative" and b["largest_deposit_um"] == 0.0
    cells = pd.read_csv(out / "node_a" / "cells.csv")
    assert len(cells) == 3 and {"y_um", "x_um", "deposit_id"} <= set(cells.columns)


def test_pixel_size_option_overrides_and_validates(batch, tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["analyze", str(batch / "no_calibration.tif"), "--out", str(out),
                              "--pixel-size", "1.0", "--stain", "he", "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "no_calibration" / "summary.json").read_text())["pixel_size_um"] == 1.0
    for bad in ("0", "-1", "nan", "500"):
        res = runner.invoke(app, ["analyze", str(batch), "--out", str(out), "--pixel-size", bad])
        assert res.exit_code == 2 and "--pixel-size" in res.output


def test_options_reach_the_analysis(batch, tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["analyze", str(batch / "node_a.tif"), "--out", str(out), "--rule",
                              "contiguous", "--link-um", "30", "--stain", "ihc", "--quiet"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "node_a" / "summary.json").read_text())
    assert s["rule"] == "contiguous" and s["parameters"]["link_um"] == 30.0
    assert s["deposit_count"] == 3  # three separate cells under strict contiguity


def test_missing_input_and_empty_folder(tmp_path):
    res = runner.invoke(app, ["analyze", str(tmp_path / "nope.tif"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no such file" in res.output
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no supported images" in res.output


@pytest.mark.parametrize("command", ["analyze", "info", "train"])
def test_a_folder_of_slides_in_other_formats_says_what_it_skipped(tmp_path, command):
    slides = tmp_path / "slides"
    (slides / "case 2").mkdir(parents=True)
    for name in ("a.ndpi", "case 2/b.NDPI", "case 2/c.mrxs", "notes.txt", ".hidden.tif"):
        (slides / name).write_bytes(b"II*\x00")
    extra = {"analyze": ["--out", str(tmp_path / "o")], "info": [],
             "train": ["--labels", str(tmp_path / "l.csv"), "--out", str(tmp_path / "m.json")]}[command]
    res = runner.invoke(app, [command, str(slides), *extra], terminal_width=200, env={"COLUMNS": "200"})
    assert res.exit_code == 2
    line = " ".join(res.output.split())
    assert f"{slides}: no supported images; skipped 4 files of another kind (.ndpi x2, .mrxs, .txt)" in line
    assert "convert other slide formats to OME-TIFF" in line and ".svs" in line
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_stage_command(tmp_path):
    cats = {"patient_001_node_0": "macrometastasis", "patient_001_node_1": "itc",
            "patient_002_node_0": "itc", "patient_002_node_1": "negative"}
    for name, cat in cats.items():
        (tmp_path / "r" / name).mkdir(parents=True)
        (tmp_path / "r" / name / "summary.json").write_text(json.dumps({"image": f"{name}.tif", "category": cat}))
    res = runner.invoke(app, ["stage", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("patient,pn_stage")
    assert lines[1].startswith("patient_001,pN1,pn1") and lines[2].startswith("patient_002,pN0(i+)")
    mapping = tmp_path / "patients.csv"
    mapping.write_text("patient,image\nP,patient_001_node_0.tif\nP,patient_001_node_1\nQ,patient_002_node_0.tif\nQ,patient_002_node_1.tif\n")
    out = tmp_path / "stages.csv"
    res = runner.invoke(app, ["stage", str(tmp_path / "r"), "--patients", str(mapping), "--sentinel", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert table["pn_stage"].tolist() == ["pN1(sn)", "pN0(i+)(sn)"]
    res = runner.invoke(app, ["stage", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_info_command(batch):
    res = runner.invoke(app, ["info", str(batch / "node_a.tif")])
    assert res.exit_code == 0 and "0.5 µm/px" in res.output


def _patients_csv(tmp_path, images=("node_a.tif", "node_b", "no_calibration.tif", "broken.tif")):
    path = tmp_path / "patients.csv"
    path.write_text("patient,image\n" + "".join(f"P{k % 2},{name}\n" for k, name in enumerate(images)))
    return path


def test_analyze_logs_resumes_and_reports(batch, tmp_path):
    out = tmp_path / "out"
    args = ["analyze", str(batch), "--out", str(out), "--quiet", "--workers", "2", "--parquet",
            "--patients", str(_patients_csv(tmp_path))]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "2 image(s) analysed, 0 skipped (already done), 2 failed" in res.output
    for f in ("cells.parquet", "deposits.parquet", "objects.geojson", "summary.json"):
        assert (out / "node_a" / f).is_file(), f
    log = (out / "nodescope.log").read_text()
    first = log.splitlines()[0]
    assert "nodescope 0.1.0: 4 image(s)" in first and '"link_um": 75.0' in first and '"stain": "auto"' in first
    assert log.count(" start ") == 4 and log.count(" finish ") == 2 and log.count(" error ") == 2
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ", first)
    report = (out / "report.html").read_text()
    assert "Patients (pN stage)" in report and "Failed images (2)" in report and "node_b.tif" in report
    # second run: the finished images are skipped, the failures retried; the log is appended to
    res = runner.invoke(app, args)
    assert "0 image(s) analysed, 2 skipped (already done), 2 failed" in res.output
    log = (out / "nodescope.log").read_text()
    assert log.count("nodescope 0.1.0:") == 2 and log.count(" skip ") == 2
    assert sorted(pd.read_csv(out / "summary.csv")["image"]) == ["node_a.tif", "node_b.tif"]
    res = runner.invoke(app, args + ["--overwrite"])
    assert "2 image(s) analysed, 0 skipped" in res.output
    res = runner.invoke(app, args + ["--link-um", "30"])
    assert "2 image(s) analysed, 0 skipped" in res.output
    assert json.loads((out / "node_a" / "summary.json").read_text())["run_parameters"]["link_um"] == 30.0


def test_export_switches(batch, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(batch / "node_a.tif"), "--out", str(out), "--quiet",
                              "--no-geojson", "--no-report"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "node_a").iterdir()) == [
        "cells.csv", "deposits.csv", "overlay.png", "summary.json"]
    assert not (out / "report.html").exists() and (out / "nodescope.log").is_file()


def test_parallel_options_are_checked_before_any_work(batch, tmp_path, monkeypatch):
    out = tmp_path / "never"
    res = runner.invoke(app, ["analyze", str(batch), "--out", str(out), "--workers", "0"])
    assert res.exit_code == 2 and "--workers" in res.output
    res = runner.invoke(app, ["analyze", str(batch), "--out", str(out), "--scheduler", "http://host:8787/status"])
    assert res.exit_code == 2 and "tcp://HOST:8786" in res.output
    monkeypatch.setenv("NODESCOPE_SCHEDULER", "not an address")
    res = runner.invoke(app, ["analyze", str(batch), "--out", str(out)])
    assert res.exit_code == 2 and "--scheduler" in res.output
    monkeypatch.delenv("NODESCOPE_SCHEDULER")
    res = runner.invoke(app, ["analyze", str(batch), "--out", str(out),
                              "--patients", str(_patients_csv(tmp_path, images=["node_a.tif"]))])
    assert res.exit_code == 2 and "no patient for image(s)" in res.output and "broken.tif" in res.output
    assert not out.exists()


def test_version():
    from pipeline import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"nodescope {__version__}"


@pytest.mark.parametrize("command", ["analyze", "info", "stage", "train"])
def test_help_reads_at_80_columns(command):
    res = runner.invoke(app, [command, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert res.exit_code == 0
    assert "<bool>" not in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    if command in ("analyze", "info", "train"):
        assert re.search(r"--pixel-size UM\s+Pixel size in µm per pixel", res.output)


def test_errors_use_command_line_wording(batch):
    res = runner.invoke(app, ["info", str(batch / "no_calibration.tif")])
    assert res.exit_code == 1
    assert "pass --pixel-size UM" in res.output and "pixel_size_um" not in res.output


def test_seed_cells_reaches_the_analysis_and_is_recorded(tmp_path):
    rgb, _ = toy_node(stain="he", px=1.0, tumour_yx_um=[])
    write_calibrated_tiff(tmp_path / "node.tif", rgb, pixel_size_um=1.0)
    res = runner.invoke(app, ["analyze", str(tmp_path / "node.tif"), "--out", str(tmp_path / "bad"),
                              "--seed-cells", "0"])
    assert res.exit_code == 2 and "--seed-cells" in res.output
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(tmp_path / "node.tif"), "--out", str(out), "--seed-cells", "3",
                              "--quiet"])
    assert res.exit_code == 0, res.output
    params = json.loads((out / "node" / "summary.json").read_text())["parameters"]
    assert params["seed_cells"] == 3  # (the he_model record: tests/pipeline/test_seed_cells.py)
