"""Patients and batches that cannot mix up: matching by path, not-assessable nodes, complete tables."""

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import toy_node
from pipeline.batch import run_batch
from pipeline.cli import app
from pipeline.export import atomic_write, current_umask
from pipeline.io import write_calibrated_tiff
from pipeline.patients import match_patients, stage_patients
from pipeline.report import render_report
from pipeline.staging import patient_pn_stage

runner = CliRunner()
PARAMS = dict(stain="ihc", rule="camelyon", link_um=75.0)


def _image(path: Path, *, tumour=((60, 60),), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb, _ = toy_node(stain="ihc", px=1.0, size_um=300, tumour_yx_um=list(tumour), seed=seed)
    write_calibrated_tiff(path, rgb, pixel_size_um=1.0)
    return path


@pytest.fixture(scope="module")
def two_patients(tmp_path_factory):
    """patA/node1.tif (tumour) and patB/node1.tif (none), analysed into one folder."""
    root = tmp_path_factory.mktemp("cases")
    data = root / "data"
    _image(data / "patA" / "node1.tif", tumour=[(60, 60), (60, 80), (80, 70)])
    _image(data / "patB" / "node1.tif", tumour=[], seed=1)
    csv = root / "patients.csv"
    csv.write_text("patient,image\nA,data/patA/node1.tif\nB,data/patB/node1.tif\n", encoding="utf-8")
    out = root / "out"
    report = run_batch(data, out, workers=1, patients=csv, **PARAMS)
    assert report.ok and len(report.analysed) == 2
    return root, data, csv, out


# ------------------------------------------------------------------------------ matching


def test_same_file_name_two_patients_matched_by_path(two_patients):
    root, data, csv, out = two_patients
    summary = pd.read_csv(out / "summary.csv")
    assert summary["image"].tolist() == ["node1.tif", "node1.tif"]
    assert summary["path"].tolist() == ["patA/node1.tif", "patB/node1.tif"]
    stages = pd.read_csv(out / "patient_stages.csv")
    assert stages["patient"].tolist() == ["A", "B"]
    assert stages["nodes"].tolist() == [1, 1]
    # nodescope stage on the results folder: both patients, one node each
    res = runner.invoke(app, ["stage", str(out), "--patients", str(csv)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(pd.io.common.StringIO(res.stdout))
    assert table["patient"].tolist() == ["A", "B"] and table["nodes"].tolist() == [1, 1]
    # paths as recorded in summary.csv (relative to the analysed folder) match too
    rel = root / "rel.csv"
    rel.write_text("patient,image\nA,patA/node1.tif\nB,patB/node1.tif\n", encoding="utf-8")
    res = runner.invoke(app, ["stage", str(out), "--patients", str(rel)])
    assert res.exit_code == 0, res.output
    assert "A,pN" in res.stdout and "B,pN0" in res.stdout
    # absolute paths too
    absolute = root / "abs.csv"
    absolute.write_text(f"patient,image\nA,{data / 'patA' / 'node1.tif'}\nB,{data / 'patB' / 'node1.tif'}\n",
                        encoding="utf-8")
    res = runner.invoke(app, ["stage", str(out), "--patients", str(absolute)])
    assert res.exit_code == 0, res.output


def test_ambiguous_bare_name_is_refused(two_patients):
    root, data, csv, out = two_patients
    bare = root / "bare.csv"
    bare.write_text("patient,image\nA,node1.tif\n", encoding="utf-8")
    res = runner.invoke(app, ["stage", str(out), "--patients", str(bare)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"{bare}: image 'node1.tif' matches 2 results (patA/node1.tif, patB/node1.tif); give its path "
        "instead, relative to the patients table or as in the 'path' column of summary.csv")
    res = runner.invoke(app, ["analyze", str(data), "--out", str(root / "out2"), "--patients", str(bare),
                              "--quiet"])
    assert res.exit_code == 2
    assert "matches 2 results" in res.stderr and not (root / "out2" / "summary.csv").exists()


def test_a_node_listed_for_two_patients_is_refused():
    nodes = pd.DataFrame({"image": ["n.tif"], "path": ["a/n.tif"]})
    mapping = pd.DataFrame({"patient": ["A", "B"], "image": ["a/n.tif", "n.tif"]})
    with pytest.raises(ValueError, match=r"a/n.tif is listed for patients 'A' and 'B'; keep one row"):
        match_patients(nodes, mapping)


def test_stage_without_table_refuses_unrelated_images(two_patients):
    _, _, _, out = two_patients
    res = runner.invoke(app, ["stage", str(out)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "cannot tell the patient of patA/node1.tif, patB/node1.tif (not named like "
        "patient_004_node_3.tif); give a patients table (--patients CSV with columns 'patient' and "
        "'image') rather than staging unrelated nodes as one patient")


def test_stage_without_table_uses_camelyon_names():
    nodes = pd.DataFrame({"image": ["patient_004_node_3.tif", "patient_004_node_1.tif",
                                    "patient_007_node_0.tif"],
                          "category": ["macrometastasis", "negative", "itc"]})
    table = stage_patients(nodes)
    assert table["patient"].tolist() == ["patient_004", "patient_007"]
    assert table["pn_stage"].tolist() == ["pN1", "pN0(i+)"]


# ------------------------------------------------------------------------------ not assessable


def test_not_assessable_is_never_negative():
    assert patient_pn_stage(["not_assessable", "itc"]) == "pN0(i+)"
    assert patient_pn_stage(["not_assessable", "not_assessable"]) == "pNX"
    assert patient_pn_stage(["not_assessable"], sentinel=True) == "pNX(sn)"
    assert patient_pn_stage([]) == "pN0"
    with pytest.raises(ValueError, match=r"nodes\[0\] must be one of .*not_assessable; got 'maybe'"):
        patient_pn_stage(["maybe"])
    nodes = pd.DataFrame({
        "image": ["patient_001_node_0.tif", "patient_001_node_1.tif", "patient_002_node_0.tif"],
        "category": ["negative", "not_assessable", "not_assessable"],
        "category_reason": ["no tumour cells", "no tissue found", "out of focus"],
    })
    table = stage_patients(nodes)
    assert table["pn_stage"].tolist() == ["pN0", "pNX"]
    assert table["camelyon17_label"].tolist() == ["pn0", ""]
    assert table["nodes_not_assessable"].tolist() == [
        "patient_001_node_1.tif (no tissue found)", "patient_002_node_0.tif (out of focus)"]


def test_stage_names_the_nodes_left_out(tmp_path):
    for k, (cat, reason) in enumerate([("negative", "no tumour cells"), ("not_assessable", "no tissue")]):
        folder = tmp_path / f"patient_001_node_{k}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({
            "image": f"patient_001_node_{k}.tif", "category": cat, "category_reason": reason,
            "pn_category": "pNX" if cat == "not_assessable" else "pN0"}), encoding="utf-8")
    res = runner.invoke(app, ["stage", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == ("patient_001: left out of the pN stage (pN0), not assessable: "
                                  "patient_001_node_1.tif (no tissue)")
    table = pd.read_csv(pd.io.common.StringIO(res.stdout))
    assert table["pn_stage"].tolist() == ["pN0"]
    assert table["nodes_not_assessable"].tolist() == ["patient_001_node_1.tif (no tissue)"]


def test_stage_names_the_he_nodes_to_confirm_with_cytokeratin(tmp_path):
    """Tumour found in H&E (flag confirm_with_ihc) counts in the pN and is named to confirm."""
    nodes = [("micrometastasis", ["confirm_with_ihc"]), ("itc", []), ("negative", ["blurry"])]
    for k, (cat, flags) in enumerate(nodes):
        folder = tmp_path / f"patient_001_node_{k}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({
            "image": f"patient_001_node_{k}.tif", "category": cat, "category_reason": "",
            "flags": flags}), encoding="utf-8")
    res = runner.invoke(app, ["stage", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == ("patient_001: tumour found in H&E, confirm with cytokeratin IHC: "
                                  "patient_001_node_0.tif")
    table = pd.read_csv(pd.io.common.StringIO(res.stdout), keep_default_na=False)
    assert table["pn_stage"].tolist() == ["pN1mi"]
    assert table["nodes_to_confirm"].tolist() == ["patient_001_node_0.tif"]
    # summary.csv keeps the flags as text: the same answer from a table of nodes
    frame = pd.DataFrame({"image": [f"patient_001_node_{k}.tif" for k in range(3)],
                          "category": [c for c, _ in nodes], "flags": ["confirm_with_ihc", "", "blurry"]})
    assert stage_patients(frame)["nodes_to_confirm"].tolist() == ["patient_001_node_0.tif"]


def test_report_shows_not_assessable_grey_with_reason_flags_stain_and_pixel_size(tmp_path):
    summaries = [
        {"image": "a.tif", "output": "a", "category": "not_assessable", "category_reason": "no tissue found",
         "pn_category": "pNX", "flags": ["no_tissue"], "stain": "he", "pixel_size_um": 0.243},
        {"image": "b.tif", "output": "b", "category": "negative", "category_reason": "no tumour cells",
         "pn_category": "pN0", "flags": [], "stain": "ihc", "pixel_size_um": 0.5},
    ]
    html = render_report(tmp_path, summaries)
    row = html[html.index(">a.tif</td>"):].split("</tr>")[0]
    assert "not assessable" in row and "#d6d6d6" in row and "#e8f5e9" not in row
    assert "no tissue found" in row and "no_tissue" in row and "0.243" in row and "<td>he</td>" in row
    for header in ("<th>Stain</th>", "<th>Pixel size (µm)</th>", "<th>Flags</th>"):
        assert header in html


# ------------------------------------------------------------------------------ re-runs, permissions


def test_rerunning_one_image_keeps_the_others_in_the_tables(two_patients, tmp_path):
    root, data, csv, out = two_patients
    report = run_batch(data / "patA" / "node1.tif", out, workers=1, overwrite=True, **PARAMS)
    assert report.analysed and report.earlier
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2  # the re-run image kept its folder and its recorded path
    assert sorted(summary["path"]) == ["patA/node1.tif", "patB/node1.tif"]
    assert sorted(summary["output"]) == sorted(p.parent.name for p in out.glob("*/summary.json"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "2 node(s) with results" in html and "patA/node1.tif" in html and "patB/node1.tif" in html


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_outputs_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        with atomic_write(tmp_path / "x.csv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.csv").stat().st_mode) == 0o666 & ~mask


def test_batch_outputs_are_readable_by_the_group_and_others(two_patients):
    _, _, _, out = two_patients
    mask = current_umask()
    for f in [out / "summary.csv", out / "report.html", *out.glob("*/summary.json"), *out.glob("*/cells.csv")]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask, f
