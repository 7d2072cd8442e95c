"""tools/train_he_cells.py: the rules it chooses the seed by, and the shipped card it writes."""

from pathlib import Path

import numpy as np
import pandas as pd
from helpers import load_tool

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    return load_tool("train_he_cells")


def test_the_seed_is_read_on_each_patchs_kth_most_probable_nucleus():
    tool = _tool()
    rng = np.random.default_rng(0)
    p = pd.Series(rng.random(500))
    g = pd.Series(rng.integers(0, 40, 500))
    pd.testing.assert_series_equal(tool.kth_highest(p, g, 1), p.groupby(g).max())
    second = tool.kth_highest(p, g, 2)
    assert (second <= tool.kth_highest(p, g, 1)).all()
    assert second.loc[3] == np.sort(p[g == 3].to_numpy())[-2]
    # a patch with fewer nuclei than k cannot hold a deposit of k confident cells
    assert tool.kth_highest(pd.Series([0.99]), pd.Series(["lone"]), 2).to_dict() == {"lone": 0.0}


def test_the_seed_for_a_specificity_and_its_confidence_bound():
    tool = _tool()
    s = np.linspace(0, 1, 1000)
    assert round(tool.seed_for_specificity(s, 0.9, 0), 3) == 0.9
    assert tool.seed_for_specificity(s, 0.9, 0.95) > tool.seed_for_specificity(s, 0.9, 0)
    assert tool.specificity_lower_bound(900, 1000, 0) == 0.9
    assert 0.88 < tool.specificity_lower_bound(900, 1000, 0.95) < 0.9


def test_the_shipped_model_card_is_the_one_its_model_file_writes():
    from pipeline.he_cells import load_he_cell_model

    model = load_he_cell_model()
    card = (ROOT / "pipeline" / "models" / "MODEL_CARD_he_cell_model.md").read_text(encoding="utf-8")
    assert _tool().model_card(model.meta, model) == card


def test_the_seed_cells_bench_reads_its_rules_and_the_shipped_models_own():
    import importlib.util

    import pytest

    from pipeline.he_cells import load_he_cell_model

    spec = importlib.util.spec_from_file_location("he_seed_cells", ROOT / "bench" / "he_seed_cells.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = load_he_cell_model()
    assert bench.parse_rules("model, 2:0.9,1:0.9144") == [
        (model.seed_cells, model.seed_threshold), (2, 0.9), (1, 0.9144)]
    for bad in ("2", "two:0.9", "4:0.9"):
        with pytest.raises(SystemExit, match="--rules"):
            bench.parse_rules(bad)


def test_the_card_names_patchcamelyon_training_nuclei_only_when_the_gate_learned_from_them():
    import copy

    from pipeline.he_cells import load_he_cell_model

    model = load_he_cell_model()
    meta = copy.deepcopy(model.meta)
    assert "map's training subset" not in _tool().model_card(meta, model)
    meta["training_data"]["patchcamelyon (the map's training subset)"] = {
        "patches_per_class": 1000, "min_context": 0.5, "nuclei": 12523, "tumour_nuclei": 5451}
    card = _tool().model_card(meta, model)
    assert "12523 nuclei (5451 tumour) in the central 32 px of 1000 + 1000 PatchCamelyon patches" in card
