"""How many confident cells an H&E deposit needs (``seed_cells``): the model's, or an option."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline import AnalysisOptions, find_tumour_cells
from pipeline.he_cells import GATE_FEATURES, HeCellModel, load_he_cell_model

CELL = {"equivalent_diameter_um": 11.0, "radius_um": 5.5, "minor_axis_um": 9.5, "major_axis_um": 12.5, "solidity": 0.95,
        "hematoxylin_mean": 0.55, "hematoxylin_std": 0.15, "counterstain_ring": 0.35}


def _model(path, *, seed_cells=2):
    """A model whose probability is the tumour map itself (a gate threshold of ~0 never
    discounts), candidates at 0.5 and seeds at 0.9."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(GATE_FEATURES)))
    gate = lgb.train({"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1},
                     lgb.Dataset(x, (x[:, 2] > 0).astype(int)), num_boost_round=5)
    return HeCellModel(gate=gate, gate_threshold=1e-9, threshold=0.5, seed_threshold=0.9,
                       seed_cells=seed_cells, meta={"input_pixel_size_um": [0.25, 1.0]}).save(path)


def _nuclei():
    """Three groups 1 mm apart: A (one confident cell and a candidate), B (two confident
    cells and a candidate), C (one confident cell alone)."""
    rows = [("A", 0.0, 0.95), ("A", 20.0, 0.6), ("B", 1000.0, 0.95), ("B", 1020.0, 0.92),
            ("B", 1040.0, 0.6), ("C", 2000.0, 0.99)]
    return pd.DataFrame([dict(CELL, group=g, y_um=0.0, x_um=x, tumour_context=c, tumour_context_max=c)
                         for g, x, c in rows])


def _groups(cells):
    return sorted(set(cells["group"]))


def test_a_deposit_needs_the_models_number_of_confident_cells(tmp_path):
    path = _model(tmp_path / "m.json", seed_cells=2)
    nuclei = _nuclei()
    before = nuclei.copy()
    found = find_tumour_cells(nuclei, "he", AnalysisOptions(model=str(path)))
    pd.testing.assert_frame_equal(nuclei, before)
    assert _groups(found.cells) == ["B"] and len(found.cells) == 3  # B's candidate joins it
    assert found.parameters["he_model"]["seed_cells"] == 2
    np.testing.assert_allclose(found.probability, nuclei["tumour_context"], atol=1e-9)


@pytest.mark.parametrize("seed_cells, groups", [(1, ["A", "B", "C"]), (2, ["B"]), (3, [])])
def test_the_option_overrides_the_model(tmp_path, seed_cells, groups):
    path = _model(tmp_path / "m.json", seed_cells=2)
    found = find_tumour_cells(_nuclei(), "he", AnalysisOptions(model=str(path), seed_cells=seed_cells))
    assert _groups(found.cells) == groups
    assert found.parameters["he_model"]["seed_cells"] == seed_cells


def test_seed_cells_round_trips_and_old_files_mean_one(tmp_path):
    path = _model(tmp_path / "m.json", seed_cells=3)
    model = load_he_cell_model(path)
    assert model.seed_cells == 3
    data = json.loads(path.read_text())
    assert data["seed_cells"] == 3
    # a file written before the field existed: one seed cell, and the digest a one-cell model has
    del data["seed_cells"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    one = model.replace(seed_cells=1)
    assert load_he_cell_model(old).seed_cells == 1
    assert load_he_cell_model(old).digest == one.digest != model.digest
    data["seed_cells"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad\.json: seed_cells must be a whole number >= 1, got 0"):
        load_he_cell_model(bad)


def test_the_shipped_model_needs_two_confident_cells():
    model = load_he_cell_model()
    assert model.seed_cells == 2
    assert model.meta["validation"]["seed_cells"] == 2
    assert model.threshold < model.seed_threshold < 1


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                          (True, TypeError), ("2", TypeError)])
def test_bad_seed_cells_name_the_option(value, error):
    # the same rule and wording as the other integer options (min_pattern_cells, sample_tiles)
    with pytest.raises(error, match=r"seed_cells must be an integer"):
        AnalysisOptions(seed_cells=value)


def test_seed_cells_takes_a_whole_float():
    assert AnalysisOptions(seed_cells=2.0).seed_cells == 2


def test_seed_cells_is_recorded_and_takes_numpy_integers():
    opts = AnalysisOptions(seed_cells=np.int64(3))
    assert opts.seed_cells == 3 and type(opts.seed_cells) is int
    assert opts.recorded("in-memory")["seed_cells"] == 3
    assert "seed_cells" not in AnalysisOptions().recorded("in-memory")
