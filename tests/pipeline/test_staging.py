import inspect

import pytest

from pipeline.staging import (
    CAMELYON17_STAGES,
    ITC_MAX_CELLS,
    ITC_MAX_UM,
    MICRO_MAX_UM,
    camelyon17_label,
    node_category,
    node_pn_category,
    patient_pn_stage,
    quadratic_weighted_kappa,
)


@pytest.mark.parametrize(
    "size, cells, expected",
    [
        (0.0, 0, "negative"),
        (10.0, 1, "itc"),
        (200.0, 200, "itc"),  # exactly 0.2 mm and 200 cells: still ITC
        (200.0001, 5, "micrometastasis"),
        (200.0, 201, "micrometastasis"),  # > 200 cells even when small
        (2000.0, 10, "micrometastasis"),  # exactly 2.0 mm: still micro
        (2000.0001, 10, "macrometastasis"),
        (5000.0, 100000, "macrometastasis"),
    ],
)
def test_node_category_boundaries(size, cells, expected):
    category, reason = node_category(size, cells)
    assert category == expected
    assert reason


def test_node_category_reasons_name_the_criterion():
    assert "201 tumour cells > 200" in node_category(100.0, 201)[1]
    assert "> 2 mm" in node_category(2500.0, 10)[1]
    assert node_category(0.0, 0)[1] == "no tumour cells"


def test_node_category_configurable_thresholds():
    assert node_category(150.0, 10, itc_max_um=100.0)[0] == "micrometastasis"
    assert node_category(150.0, 10, itc_max_cells=5)[0] == "micrometastasis"
    assert node_category(1500.0, 10, micro_max_um=1000.0)[0] == "macrometastasis"


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((-1.0, 3), {}, ValueError, "largest_deposit_um must be a finite length"),
        ((float("nan"), 3), {}, ValueError, "largest_deposit_um"),
        (("big", 3), {}, TypeError, "largest_deposit_um must be a length"),
        ((10.0, -1), {}, ValueError, "tumor_cell_count must be >= 0"),
        ((10.0, 2.5), {}, TypeError, "whole number"),
        ((10.0, 0), {}, ValueError, "a deposit needs tumour cells"),
        ((10.0, 3), {"itc_max_um": 3000.0}, ValueError, "must be smaller than micro_max_um"),
    ],
)
def test_node_category_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        node_category(*args, **kwargs)


def test_node_pn_category():
    assert [node_pn_category(c) for c in ("negative", "itc", "micrometastasis", "macrometastasis")] == [
        "pN0", "pN0(i+)", "pN1mi", "pN1"
    ]
    with pytest.raises(ValueError, match="category must be one of"):
        node_pn_category("macro")


N, I, MI, MA = "negative", "itc", "micrometastasis", "macrometastasis"


@pytest.mark.parametrize(
    "nodes, expected",
    [
        ([], "pN0"),
        ([N] * 5, "pN0"),
        ([N, I, N, N, N], "pN0(i+)"),
        ([I] * 5, "pN0(i+)"),
        ([N, MI, N, N, N], "pN1mi"),
        ([MI, MI, MI, MI, I], "pN1mi"),  # micrometastases only, however many
        ([MA, N, N, N, N], "pN1"),
        ([MA, MI, MI, I, I], "pN1"),  # ITC nodes are not counted as positive
        ([MA, MI, MI, MI, N], "pN2"),
        ([MA] * 9, "pN2"),
        ([MA] * 10, "pN3"),
        ([MA] + [MI] * 9, "pN3"),
    ],
)
def test_patient_pn_every_row(nodes, expected):
    assert patient_pn_stage(nodes) == expected
    assert patient_pn_stage(nodes, sentinel=True) == expected + "(sn)"


def test_patient_pn_reproduces_camelyon17_labels():
    # 5-node patients as in CAMELYON17 (pn3 cannot occur with five nodes).
    cases = {
        (N, N, N, N, N): "pn0",
        (I, N, N, N, N): "pn0(i+)",
        (MI, I, N, N, N): "pn1mi",
        (MA, MI, N, N, N): "pn1",
        (MA, MA, MI, MI, N): "pn2",
    }
    for nodes, label in cases.items():
        assert camelyon17_label(patient_pn_stage(list(nodes))) == label
    assert set(cases.values()) == set(CAMELYON17_STAGES)


def test_patient_pn_inputs_not_modified_and_errors():
    nodes = [MA, N]
    patient_pn_stage(nodes)
    assert nodes == [MA, N]
    with pytest.raises(ValueError, match=r"nodes\[1\] must be one of"):
        patient_pn_stage([N, "pN1"])
    with pytest.raises(TypeError, match="not a single string"):
        patient_pn_stage("negative")
    with pytest.raises(ValueError, match="stage must be one of"):
        camelyon17_label("pN4")


def test_quadratic_weighted_kappa():
    truth = ["pn0", "pn0(i+)", "pn1mi", "pn1", "pn2"]
    assert quadratic_weighted_kappa(truth, truth) == 1.0
    near = ["pn0", "pn0", "pn1mi", "pn1", "pn2"]
    far = ["pn2", "pn0(i+)", "pn1mi", "pn1", "pn2"]
    k_near, k_far = quadratic_weighted_kappa(truth, near), quadratic_weighted_kappa(truth, far)
    assert 0 < k_far < k_near < 1
    # hand-computed: two classes swapped completely -> -1
    assert quadratic_weighted_kappa(["pn0", "pn2"], ["pn2", "pn0"]) == pytest.approx(-1.0)
    assert quadratic_weighted_kappa(["pn1"] * 3, ["pn1"] * 3) == 1.0


def test_quadratic_weighted_kappa_matches_sklearn_formula():
    # Compare with an independent implementation of the textbook formula.
    import numpy as np

    rng = np.random.default_rng(0)
    labels = list(CAMELYON17_STAGES)
    a = [labels[i] for i in rng.integers(0, 5, 100)]
    b = [labels[min(4, max(0, labels.index(x) + rng.integers(-1, 2)))] for x in a]
    ia, ib = np.array([labels.index(x) for x in a]), np.array([labels.index(x) for x in b])
    num = ((ia - ib) ** 2).mean()
    den = ((ia[:, None] - ib[None, :]) ** 2).mean()
    assert quadratic_weighted_kappa(a, b) == pytest.approx(1 - num / den)


def test_quadratic_weighted_kappa_errors():
    with pytest.raises(ValueError, match="same length"):
        quadratic_weighted_kappa(["pn0"], [])
    with pytest.raises(ValueError, match="not in labels"):
        quadratic_weighted_kappa(["pN0"], ["pn0"])
    with pytest.raises(ValueError, match="empty"):
        quadratic_weighted_kappa([], [])


def test_category_defaults_are_the_module_constants():
    params = inspect.signature(node_category).parameters
    assert params["itc_max_um"].default is ITC_MAX_UM == 200.0
    assert params["micro_max_um"].default is MICRO_MAX_UM == 2000.0
    assert params["itc_max_cells"].default is ITC_MAX_CELLS == 200
