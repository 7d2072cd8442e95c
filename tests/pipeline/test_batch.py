"""Batches: parallel (local threads and a Dask cluster), resume, exports, logs."""

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import toy_node
from pipeline.batch import file_sha256, node_files, run_batch
from pipeline.io import write_calibrated_tiff
from pipeline.options import AnalysisOptions
from pipeline.parallel import check_scheduler_address, check_workers, run_tasks

NAMES = ["node_a", "node_b", "node_c", "node_d"]
PARAMS = dict(stain="ihc", rule="camelyon", link_um=75.0)


def _make_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    images = {
        "node_a": toy_node(stain="ihc", px=1.0, tumour_yx_um=[(100, 100), (100, 130), (130, 110)]),
        "node_b": toy_node(stain="ihc", px=1.0, tumour_yx_um=[], seed=1),
        "node_c": toy_node(stain="ihc", px=1.0, size_um=400, seed=2,
                           tumour_yx_um=[(y, x) for y in range(100, 300, 16) for x in range(100, 200, 16)]),
        "node_d": toy_node(stain="ihc", px=1.0, seed=3, tumour_yx_um=[(60, 60), (60, 240), (240, 150)]),
    }
    for name, (rgb, _) in images.items():
        write_calibrated_tiff(folder / f"{name}.tif", rgb, pixel_size_um=1.0)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _make_inputs(tmp_path_factory.mktemp("in"))


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """An uninterrupted serial run: what every other way of running must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    report = run_batch(inputs, out, workers=1, **PARAMS)
    assert report.ok and len(report.analysed) == 4
    return out


def _outputs(folder: Path, names=NAMES) -> dict:
    """Bytes of the tables that must not depend on how the batch ran."""
    files = {"summary.csv": (folder / "summary.csv").read_bytes()}
    for name in names:
        for f in ("cells.csv", "deposits.csv", "objects.geojson"):
            files[f"{name}/{f}"] = (folder / name / f).read_bytes()
    return files


def _tmp_files(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def test_threads_reproduce_serial_run(inputs, reference, tmp_path):
    out = tmp_path / "threads"
    report = run_batch(inputs, out, workers=3, **PARAMS)
    assert report.engine == "dask threads (3 workers)"
    assert _outputs(out) == _outputs(reference)
    assert [r["output"] for r in report.rows] == NAMES  # input order, whatever finished first
    summary = json.loads((out / "node_c" / "summary.json").read_text())
    assert summary["input_sha256"] == file_sha256(inputs / "node_c.tif")
    # the resume key: every analysis option (the given ones included) and the pixel size
    assert summary["run_parameters"] == {"pixel_size_um": None, **AnalysisOptions(**PARAMS).as_dict()}
    assert summary["run_parameters"]["wsi_threshold_mp"] == 64.0
    assert summary["category"] == "micrometastasis"
    assert (out / "report.html").is_file() and not (out / "errors.csv").exists()


@pytest.mark.slow
def test_dask_cluster_reproduces_local_run(inputs, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    import dask
    from typer.testing import CliRunner

    from pipeline.cli import app

    # allowed-failures=0: a task whose worker dies is reported at once (then retries=1 applies)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                     dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        out = tmp_path / "cluster"
        res = CliRunner().invoke(app, ["analyze", str(inputs), "--out", str(out), "--scheduler", address,
                                       "--workers", "3", "--stain", "ihc", "--quiet"])
        assert res.exit_code == 0, res.output
        assert "4 image(s) analysed, 0 skipped" in res.output
        assert _outputs(out) == _outputs(reference)
        log = (out / "nodescope.log").read_text()
        assert f"engine: dask.distributed cluster at {address} (2 worker threads), at most 3" in log
        assert log.count("finish ") == 4

        # A worker that dies mid-task: Dask gives up on that task, the others complete.
        seen = {}
        run_tasks(_die_on_two, [1, 2, 3], scheduler=address,
                  on_result=lambda i, v, e: seen.update({i: (v, type(e).__name__ if e else None)}))
        assert seen[0] == (1, None) and seen[2] == (3, None)
        assert seen[1] == (None, "KilledWorker")


def _die_on_two(x):
    if x == 2:
        os._exit(1)  # a worker process crash, not an exception
    return x


@pytest.mark.slow
def test_resume_redoes_only_incomplete_images(inputs, reference, tmp_path, caplog):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "node_b" / "summary.json").unlink()  # as if killed while writing node_b
    (out / "node_b" / ".cells.csv.stray.tmp").write_text("half")
    (out / ".summary.csv.stray.tmp").write_text("half")
    before = {n: (out / n / "cells.csv").stat().st_mtime_ns for n in NAMES}
    with caplog.at_level(logging.INFO, logger="pipeline"):
        report = run_batch(inputs, out, workers=2, **PARAMS)
    assert report.analysed == ["node_b"] and sorted(report.skipped) == ["node_a", "node_c", "node_d"]
    assert len(report.rows) == 4 and _outputs(out) == _outputs(reference)
    assert _tmp_files(out) == []
    for n in ("node_a", "node_c", "node_d"):  # untouched
        assert (out / n / "cells.csv").stat().st_mtime_ns == before[n]
    assert sum("skip node_" in m for m in caplog.messages) == 3
    assert sum("finish node_b.tif" in m for m in caplog.messages) == 1


def test_overwrite_parameters_and_inputs_decide_recomputation(inputs, reference, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(inputs, src)
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    assert len(run_batch(src, out, workers=2, **PARAMS).skipped) == 4
    assert len(run_batch(src, out, workers=2, overwrite=True, **PARAMS).analysed) == 4
    assert _outputs(out) == _outputs(reference)
    # another parameter: every image is redone and records it
    report = run_batch(src, out, workers=2, **dict(PARAMS, link_um=30.0))
    assert len(report.analysed) == 4
    assert json.loads((out / "node_a" / "summary.json").read_text())["run_parameters"]["link_um"] == 30.0
    # a pixel-size override is a parameter too
    assert len(run_batch(src, out, workers=2, pixel_size_um=1.0, **PARAMS).analysed) == 4
    assert len(run_batch(src, out, workers=2, pixel_size_um=1.0, **PARAMS).skipped) == 4
    # a changed input file is redone, alone
    rgb, _ = toy_node(stain="ihc", px=1.0, tumour_yx_um=[(150, 150)], seed=9)
    write_calibrated_tiff(src / "node_d.tif", rgb, pixel_size_um=1.0)
    report = run_batch(src, out, workers=2, pixel_size_um=1.0, **PARAMS)
    assert report.analysed == ["node_d"] and len(report.skipped) == 3
    # asking for more files (parquet) redoes; asking for fewer (no GeoJSON) does not
    report = run_batch(src, out, workers=2, pixel_size_um=1.0, parquet=True, **PARAMS)
    assert len(report.analysed) == 4
    report = run_batch(src, out, workers=2, pixel_size_um=1.0, parquet=True, geojson=False, **PARAMS)
    assert len(report.skipped) == 4


@pytest.mark.slow
def test_kill_9_mid_batch_then_resume(inputs, reference, tmp_path):
    src = tmp_path / "in"
    for k in range(3):  # 12 images: the kill lands while most are still to do
        for name in NAMES:
            dst = src / f"set{k}"
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy(inputs / f"{name}.tif", dst / f"{name}.tif")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.cli", "analyze", str(src), "--out", str(out),
           "--stain", "ihc", "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(out.glob("*/summary.json")):
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.kill()  # SIGKILL
    proc.wait()
    done = len(list(out.glob("*/summary.json")))
    assert 1 <= done < 12
    for folder in out.iterdir():  # whatever is there is whole: every table parses
        for table in folder.glob("*.csv") if folder.is_dir() else []:
            pd.read_csv(table)
    report = run_batch(src, out, workers=2, **PARAMS)
    assert len(report.skipped) == done and len(report.analysed) == 12 - done and report.ok
    assert _tmp_files(out) == []
    names = [r["output"] for r in report.rows]
    assert len(names) == 12
    ref = pd.read_csv(reference / "summary.csv").drop(columns=["output", "path"])
    got = pd.read_csv(out / "summary.csv")
    # the relative input path tells apart the three node_a.tif (image is the file name)
    assert got["path"].tolist() == [f"set{k}/{name}.tif" for k in range(3) for name in NAMES]
    got = got.drop(columns=["output", "path"])
    pd.testing.assert_frame_equal(got, pd.concat([ref] * 3, ignore_index=True))
    for name in names:
        stem = name.split("-")[0]
        for f in node_files(geojson=True):
            if f != "summary.json":
                assert (out / name / f).read_bytes() == (reference / stem / f).read_bytes(), (name, f)


def test_geojson_schema(reference):
    for name in NAMES:
        summary = json.loads((reference / name / "summary.json").read_text())
        rows, cols = summary["image_shape"]
        doc = json.loads((reference / name / "objects.geojson").read_text())
        assert doc["type"] == "FeatureCollection" and isinstance(doc["features"], list)
        kinds = {"annotation": 0, "detection": 0}
        for feature in doc["features"]:
            assert feature["type"] == "Feature"
            geometry, props = feature["geometry"], feature["properties"]
            assert geometry["type"] == "Polygon"
            for ring in geometry["coordinates"]:
                assert len(ring) >= 4 and ring[0] == ring[-1]
                xy = np.asarray(ring, float)
                assert xy.shape[1] == 2
                # full-resolution pixels, (x, y): inside the image (a cell ring may poke out a little)
                assert (xy[:, 0] > -20).all() and (xy[:, 0] < cols + 20).all()
                assert (xy[:, 1] > -20).all() and (xy[:, 1] < rows + 20).all()
            assert props["objectType"] in kinds
            kinds[props["objectType"]] += 1
            assert isinstance(props["classification"]["name"], str) and props["classification"]["name"]
            assert isinstance(props["measurements"], dict)
            assert all(isinstance(v, (int, float)) for v in props["measurements"].values())
        assert kinds["annotation"] == summary["deposit_count"]
        assert kinds["detection"] == summary["tumor_cell_count"]
    # x is the column: the first cell of node_a sits at its x_um / pixel size
    cells = pd.read_csv(reference / "node_a" / "cells.csv")
    doc = json.loads((reference / "node_a" / "objects.geojson").read_text())
    det = [f for f in doc["features"] if f["properties"]["objectType"] == "detection"]
    centre = np.asarray(det[0]["geometry"]["coordinates"][0][:-1]).mean(0)
    np.testing.assert_allclose(centre, [cells["x_um"][0] / 1.0, cells["y_um"][0] / 1.0], atol=0.05)


def test_parquet_tables_match_csv(inputs, tmp_path):
    out = tmp_path / "out"
    run_batch(inputs / "node_c.tif", out, parquet=True, geojson=False, **PARAMS)
    folder = out / "node_c"
    assert not (folder / "objects.geojson").exists()
    cells_pq, cells_csv = pd.read_parquet(folder / "cells.parquet"), pd.read_csv(folder / "cells.csv")
    assert list(cells_pq.columns) == list(cells_csv.columns) and len(cells_pq) == len(cells_csv) > 0
    pd.testing.assert_frame_equal(cells_pq, cells_csv, check_dtype=False, rtol=0, atol=1e-4)  # CSV: 4 decimals
    dep_pq, dep_csv = pd.read_parquet(folder / "deposits.parquet"), pd.read_csv(folder / "deposits.csv")
    assert list(dep_pq.columns) == list(dep_csv.columns)
    outline = json.loads(dep_pq["outline"][0])
    assert len(outline) >= 3 and len(outline[0]) == 2


def test_bad_file_never_stops_a_parallel_batch(inputs, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(inputs, src)
    (src / "broken.tif").write_bytes(b"not a tiff")
    report = run_batch(src, tmp_path / "out", workers=2, **PARAMS)
    assert len(report.rows) == 4 and len(report.errors) == 1
    assert report.errors[0]["error"].startswith("broken.tif")
    assert pd.read_csv(tmp_path / "out" / "errors.csv")["file"].str.endswith("broken.tif").all()
    # a re-run retries the failure and skips the rest
    report = run_batch(src, tmp_path / "out", workers=2, **PARAMS)
    assert len(report.skipped) == 4 and len(report.errors) == 1


def test_error_wording_rewrites_every_recorded_failure(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "broken.tif").write_bytes(b"not a tiff")
    seen = []
    report = run_batch(src, tmp_path / "out", error_wording=lambda m: "WORDED " + m,
                       on_progress=lambda d, t, name, error: seen.append(error), **PARAMS)
    [row] = report.errors
    assert row["error"].startswith("WORDED broken.tif")
    assert pd.read_csv(tmp_path / "out" / "errors.csv")["error"].tolist() == [row["error"]]
    assert seen == [row["error"]]
    assert "WORDED broken.tif" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    with pytest.raises(TypeError, match="error_wording must be a callable"):
        run_batch(src, tmp_path / "out2", error_wording="--pixel-size UM", **PARAMS)


def test_parameter_validation():
    assert check_workers(3) == 3
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        check_workers(0)
    with pytest.raises(TypeError, match="workers must be an integer"):
        check_workers(2.5)
    with pytest.raises(ValueError, match="like tcp://HOST:8786"):
        check_scheduler_address("http://host:8787/status")
    assert check_scheduler_address("10.0.0.5:8786") == "10.0.0.5:8786"


def test_run_tasks_reports_each_outcome_in_the_calling_thread():
    import threading

    caller, seen = threading.get_ident(), []

    def on_result(i, value, exc):
        seen.append((i, value, type(exc).__name__ if exc else None, threading.get_ident() == caller))

    run_tasks(_inverse, [1, 0, 4], workers=2, on_result=on_result)
    assert sorted(seen) == [(0, 1.0, None, True), (1, None, "ZeroDivisionError", True), (2, 0.25, None, True)]


def _inverse(x):
    return 1 / x


def test_output_folder_inside_the_input_folder_is_not_an_input(inputs, tmp_path, monkeypatch):
    src = tmp_path / "in"
    shutil.copytree(inputs, src)
    monkeypatch.chdir(tmp_path)  # relative paths, as typed on a command line
    assert len(run_batch("in", "in/results", workers=2, **PARAMS).analysed) == 4
    report = run_batch("in", "in/results", workers=2, **PARAMS)  # overlay.png files are not images
    assert len(report.skipped) == 4 and report.ok


def test_a_task_that_fails_outside_the_analysis_becomes_an_error_row(inputs, tmp_path, monkeypatch):
    import pipeline.batch as batch

    real = batch.process_image

    def flaky(job):  # what a dead worker looks like from the caller: the task raises
        if job.name == "node_b":
            raise RuntimeError("worker lost")
        return real(job)

    monkeypatch.setattr(batch, "process_image", flaky)
    report = run_batch(inputs, tmp_path / "out", workers=2, **PARAMS)
    assert [r["output"] for r in report.rows] == ["node_a", "node_c", "node_d"]
    assert report.errors == [{"file": str(inputs / "node_b.tif"),
                              "error": "node_b.tif: the worker failed while analysing it (RuntimeError: worker lost)"}]
    assert (tmp_path / "out" / "errors.csv").is_file()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped interrupt
@pytest.mark.parametrize("workers", [1, 2])
def test_a_ctrl_c_lost_in_a_finaliser_still_stops_the_batch(inputs, tmp_path, workers):
    """Python drops a KeyboardInterrupt raised inside ``__del__`` ("Exception ignored"); the
    batch still sees the Ctrl-C between images and stops as after any Ctrl-C."""
    import signal

    from pipeline.batch import BatchInterrupted

    class Finaliser:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)  # its KeyboardInterrupt is raised here, and dropped

    def on_progress(done, n, name, error):
        if done == 1:
            Finaliser()  # collected at once: the Ctrl-C comes and is lost

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even under nohup
    try:
        with pytest.raises(BatchInterrupted) as info:
            run_batch(inputs, tmp_path / "out", workers=workers, on_progress=on_progress, **PARAMS)
    finally:
        signal.signal(signal.SIGINT, previous)
    report = info.value.report
    assert 1 <= len(report.analysed) < 4 and report.unfinished
    assert len(pd.read_csv(tmp_path / "out" / "summary.csv")) == len(report.analysed)
    assert signal.getsignal(signal.SIGINT) is previous  # the batch's own handler is gone
