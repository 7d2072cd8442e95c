"""The shipped H&E tumour-probability network (pipeline/models/he_tumour_fcn.onnx) and its metadata.

Runs with onnxruntime only (no torch, no real data).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

ort = pytest.importorskip("onnxruntime")

MODELS = Path(__file__).resolve().parents[2] / "pipeline" / "models"


@pytest.fixture(scope="module")
def meta():
    return json.loads((MODELS / "he_tumour_fcn.json").read_text())


@pytest.fixture(scope="module")
def session():
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODELS / "he_tumour_fcn.onnx"), so, providers=["CPUExecutionProvider"])


def _logit(session, rgb):
    return session.run(["logit"], {"rgb": rgb[None]})[0][0, 0]


def test_metadata_describes_the_graph(meta, session):
    (inp,) = session.get_inputs()
    assert inp.name == meta["input_name"] == "rgb"
    assert inp.type == "tensor(uint8)" and meta["input_dtype"] == "uint8"
    assert meta["input_layout"] == "NHWC" and inp.shape[3] == 3
    assert all(isinstance(d, str) for d in inp.shape[:3]), "batch, height and width must be dynamic"
    assert [o.name for o in session.get_outputs()] == ["logit", "probability"]
    assert meta["output_origin_px"] == (meta["receptive_field_px"] - 1) / 2
    assert meta["min_input_px"] == meta["receptive_field_px"]
    assert 0.5 < meta["input_pixel_size_um"] < 1.5
    # the shipped map is an ensemble: every member's PCam test figures are on record
    assert len(meta["ensemble"]) >= 1 and meta["onnx_bytes"] > 0
    for member in meta["ensemble"]:
        assert 0.5 < member["test"]["auc"] <= 1.0 and len(member["sha256"]) == 16


@pytest.mark.parametrize("shape", [(80, 80), (96, 96), (87, 150), (161, 97), (203, 240)])
def test_output_shape_follows_stride_and_receptive_field(meta, session, shape):
    s, r = meta["stride_px"], meta["receptive_field_px"]
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    logit, prob = session.run(None, {"rgb": rgb[None]})
    assert logit.shape == prob.shape == (1, 1, (shape[0] - r) // s + 1, (shape[1] - r) // s + 1)
    assert np.isfinite(logit).all()
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logit.astype(np.float64))), atol=1e-6)


def test_patch_of_96_gives_the_3x3_training_map_centred_on_the_patch(meta, session):
    s, o = meta["stride_px"], meta["output_origin_px"]
    logit = _logit(session, np.full((96, 96, 3), 200, np.uint8))
    assert logit.shape == (3, 3)
    centres = o + s * np.arange(3)
    assert centres[1] == (96 - 1) / 2, "the middle output must sit on the patch centre"


def test_window_equals_dense_map(meta, session):
    """Valid padding: a window cut at a multiple of the stride reproduces the dense map's value."""
    s, r = meta["stride_px"], meta["receptive_field_px"]
    rng = np.random.default_rng(1)
    # smooth, tissue-like colours rather than pure noise
    base = rng.integers(0, 256, (31, 29, 3)).astype(np.float32)
    yy, xx = np.mgrid[:250, :230] / 8.0
    img = np.empty((250, 230, 3), np.uint8)
    for c in range(3):
        img[..., c] = np.clip(map_coordinates(base[..., c], [yy, xx], order=1), 0, 255).astype(np.uint8)
    dense = _logit(session, img)
    assert np.isfinite(dense).all()
    for i, j in [(0, 0), (3, 5), (dense.shape[0] - 1, dense.shape[1] - 1), (10, 2)]:
        window = np.ascontiguousarray(img[s * i : s * i + r, s * j : s * j + r])
        assert _logit(session, window).shape == (1, 1)
        assert _logit(session, window)[0, 0] == pytest.approx(dense[i, j], abs=1e-4)
        # a 96 x 96 crop: its centre output is the dense map one step further in
        if s * i + 96 <= img.shape[0] and s * j + 96 <= img.shape[1]:
            crop = np.ascontiguousarray(img[s * i : s * i + 96, s * j : s * j + 96])
            assert _logit(session, crop)[1, 1] == pytest.approx(dense[i + 1, j + 1], abs=1e-4)


@pytest.mark.parametrize("value", [0, 255])
def test_extreme_inputs_give_finite_outputs(session, value):
    logit, prob = session.run(None, {"rgb": np.full((1, 120, 104, 3), value, np.uint8)})
    assert np.isfinite(logit).all() and ((prob >= 0) & (prob <= 1)).all()


def test_shipped_int8_network_follows_its_float_source(meta):
    """tools/quantize_fcn.py: the shipped graph is the 8-bit version of he_tumour_fcn_fp32.onnx,
    with the float source on record, and their maps agree on tissue-like input."""
    import hashlib

    from pipeline.synthetic import make_node

    q = meta["quantization"]
    source = MODELS / q["from"]["file"]
    assert hashlib.sha256(source.read_bytes()).hexdigest()[:16] == q["from"]["sha256"]
    assert q["pcam_test_auc"]["int8"] >= q["pcam_test_auc"]["float"] - 0.005
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    f = ort.InferenceSession(str(source), so, providers=["CPUExecutionProvider"])
    i8 = ort.InferenceSession(str(MODELS / "he_tumour_fcn.onnx"), so, providers=["CPUExecutionProvider"])
    rgb = make_node(size_um=(300, 300), pixel_size_um=0.97, stain="he", pattern="cohesive",
                    deposits=[{"diameter_um": 120}], seed=5).rgb
    pf = f.run(["probability"], {"rgb": rgb[None]})[0]
    pq = i8.run(["probability"], {"rgb": rgb[None]})[0]
    assert pf.shape == pq.shape
    assert np.abs(pf - pq).max() < 0.1
    assert pf.max() > 0.5 and pq.max() > 0.5, "the deposit lights both maps up"
    # 8-bit where it is quantized (members kept wholly in float are named in the record)
    assert (MODELS / "he_tumour_fcn.onnx").stat().st_size < 0.75 * source.stat().st_size


@pytest.mark.parametrize("name", ["he_tumour_fcn.onnx", "he_tumour_fcn_fp32.onnx"])
def test_networks_load_in_the_oldest_supported_onnxruntime(name):
    """pyproject asks for onnxruntime >= 1.17: it reads IR version <= 9 and opset <= 20 of the
    default domain, and refuses a graph stamped with ai.onnx.ml 5 (as ONNX Runtime's quantization
    pre-processing stamps it), used or not."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(MODELS / name))
    assert model.ir_version <= 9
    assert {o.domain for o in model.opset_import} == {""}
    assert all(o.version <= 20 for o in model.opset_import)
    assert {n.domain for n in model.graph.node} == {""}
