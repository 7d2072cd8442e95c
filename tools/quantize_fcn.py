"""Quantize the tumour-map network to 8-bit integers (ONNX Runtime static quantization).

The float ensemble written by ``tools/ensemble_fcn.py`` (``he_tumour_fcn_fp32.onnx``) is
turned into the shipped ``he_tumour_fcn.onnx``: every convolution but the two 1 x 1 heads
but the 4 x 4 stems on the raw
RGB and the 1 x 1 heads runs on uint8 activations and int8 weights (QDQ format, per-channel
weights, 7-bit weight range so that CPUs without VNNI instructions cannot saturate); stems,
heads, the mean of the logits and the sigmoid stay in float (quantizing the stems too
doubled the map's error on synthetic nodes, 99th percentile 0.033 -> 0.10, for no speed). Activation ranges are calibrated (min / max) on
seeded PatchCamelyon ``train`` patches and on windows of synthetic nodes (the generator's
tissue, which one member was trained on); the ``test`` split is only scored.

Prints the PatchCamelyon test AUC (patch score = mean of the 3 x 3 logits, as in the model
card) of the float and the integer network, the largest difference between their probability
maps on synthetic nodes, and their speed; writes the ONNX file and its metadata JSON (the
float model's, plus a ``quantization`` record).

Needs ``onnx`` (the ``train`` extra) and onnxruntime; seeded, deterministic.

Usage: python tools/quantize_fcn.py [--float pipeline/models/he_tumour_fcn_fp32.onnx]
                                    [--out pipeline/models/he_tumour_fcn.onnx]
                                    [--data ../shared/realdata/pcam-patches] [--pcam 512] [--nodes 6]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "pipeline" / "models"
DEFAULT_DATA = ROOT.parent / "shared" / "realdata" / "pcam-patches"
SEED = 0


def pcam(folder: Path, split: str, n: int | None, seed: int):
    from PIL import Image

    table = pd.read_csv(folder / "labels.csv")
    table = table[table["split"] == split]
    if n is not None:
        table = table.sample(n, random_state=seed)
    with zipfile.ZipFile(folder / "patches.zip") as z:
        x = np.stack([np.asarray(Image.open(io.BytesIO(z.read(f))).convert("RGB")) for f in table["file"]])
    return x, table["label"].to_numpy()


def synthetic_windows(nodes: int, seed: int, side: int = 256):
    """Windows (side x side px at 0.97 µm/px) of synthetic H&E nodes, with and without tumour."""
    from pipeline.synthetic import make_node_category

    out = []
    for k in range(nodes):
        cat = ("negative", "itc", "micrometastasis", "macrometastasis")[k % 4]
        node = make_node_category(cat, stain="he", pattern="none" if cat == "negative" else
                                  ("cohesive", "single_file")[k % 2], pixel_size_um=0.97, seed=seed + k,
                                  benign=("typical", "reactive")[k % 2])
        rgb = node.rgb
        rng = np.random.default_rng(seed + k)
        for _ in range(4):
            y = int(rng.integers(0, max(1, rgb.shape[0] - side)))
            x = int(rng.integers(0, max(1, rgb.shape[1] - side)))
            out.append(rgb[y:y + side, x:x + side])
    return [w for w in out if w.shape[:2] == (side, side)]


def session(path, threads=2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def patch_logits(sess, x):
    return np.concatenate([sess.run(["logit"], {"rgb": x[i:i + 256]})[0].mean((1, 2, 3))
                           for i in range(0, len(x), 256)])


def main() -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--float", dest="float_path", type=Path, default=MODELS / "he_tumour_fcn_fp32.onnx")
    ap.add_argument("--out", type=Path, default=MODELS / "he_tumour_fcn.onnx")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pcam", type=int, default=512, help="PatchCamelyon train patches for calibration")
    ap.add_argument("--nodes", type=int, default=6, help="synthetic nodes for calibration (4 windows each)")
    ap.add_argument("--float-members", default="",
                    help="comma-separated ensemble members (0, 1, ...) kept wholly in float")
    ap.add_argument("--float-depthwise", action="store_true", help="keep depthwise (grouped) convolutions in float")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))

    calib_pcam, _ = pcam(args.data, "train", args.pcam, SEED)
    calib_synth = synthetic_windows(args.nodes, 310000)
    batches = [{"rgb": calib_pcam[i:i + 64]} for i in range(0, len(calib_pcam), 64)]
    batches += [{"rgb": w[None]} for w in calib_synth]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    model = onnx.load(str(args.float_path))
    # tools/ensemble_fcn.py's merge lists the default opset once per member; the quantizer wants one
    opsets = {(o.domain, o.version) for o in model.opset_import}
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in sorted(opsets))
    casts = {n.output[0] for n in model.graph.node if n.op_type == "Cast"}
    float_members = tuple(f"m{k.strip()}_" for k in args.float_members.split(",") if k.strip())

    def grouped(node):
        return any(a.name == "group" and a.i > 1 for a in node.attribute)

    keep_float = [n.name for n in model.graph.node if n.op_type == "Conv"
                  and (n.output[0].endswith("logit") or n.input[0] in casts
                       or (float_members and n.name.startswith(float_members))
                       or (args.float_depthwise and grouped(n)))]
    with tempfile.TemporaryDirectory() as tmp:
        src, pre = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx"
        onnx.save(model, str(src))
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(args.out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True, op_types_to_quantize=["Conv"], nodes_to_exclude=keep_float)
    # the pre-processing stamps every domain ONNX Runtime knows (ai.onnx.ml 5, com.microsoft, ...);
    # keep the ones the graph uses, with the float model's IR version, so that the oldest
    # onnxruntime NodeScope supports (1.17) loads it
    quantized = onnx.load(str(args.out))
    used = {n.domain for n in quantized.graph.node}
    kept = [(o.domain, o.version) for o in quantized.opset_import if o.domain in used]
    del quantized.opset_import[:]
    quantized.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in kept)
    quantized.ir_version = model.ir_version
    onnx.checker.check_model(quantized)
    onnx.save(quantized, str(args.out))

    f_sess, q_sess = session(args.float_path), session(args.out)
    x, y = pcam(args.data, "test", None, SEED)
    auc_f, auc_q = roc_auc_score(y, patch_logits(f_sess, x)), roc_auc_score(y, patch_logits(q_sess, x))
    diffs = []
    for w in synthetic_windows(4, 320000, side=512):
        pf = f_sess.run(["probability"], {"rgb": w[None]})[0]
        pq = q_sess.run(["probability"], {"rgb": w[None]})[0]
        diffs.append(np.abs(pf - pq))
    diffs = np.concatenate([d.ravel() for d in diffs])
    big = np.random.default_rng(SEED).integers(0, 256, (1, 2048, 2048, 3), dtype=np.uint8)
    speed = {}
    for name, sess in (("float", f_sess), ("int8", q_sess)):
        sess.run(["logit"], {"rgb": big[:, :256, :256]})
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            sess.run(["logit"], {"rgb": big})
            ts.append(time.perf_counter() - t0)
        speed[name] = min(ts)

    meta = json.loads(args.float_path.with_suffix(".json").read_text())
    meta["onnx_bytes"] = args.out.stat().st_size
    meta["quantization"] = {
        "from": {"file": args.float_path.name,
                 "sha256": hashlib.sha256(args.float_path.read_bytes()).hexdigest()[:16]},
        "method": "ONNX Runtime quantize_static, QDQ, uint8 activations, int8 per-channel weights with "
                  "reduce_range (7 bit), every Conv but the stems on the raw RGB and the 1 x 1 heads; stems, heads, "
                  "mean and sigmoid in float"
                  + (f"; members {args.float_members} wholly in float" if float_members else "")
                  + ("; depthwise convolutions in float" if args.float_depthwise else ""),
        "calibration": f"min/max over {len(calib_pcam)} PatchCamelyon train patches (seed {SEED}) and "
                       f"{len(calib_synth)} 256 px windows of {args.nodes} synthetic nodes (seeds 310000+)",
        "pcam_test_auc": {"float": round(float(auc_f), 4), "int8": round(float(auc_q), 4)},
        "synthetic_map_abs_diff": {"median": round(float(np.median(diffs)), 4),
                                   "p99": round(float(np.quantile(diffs, 0.99)), 4),
                                   "max": round(float(diffs.max()), 4)},
        "seconds_per_4_2_mp_2_threads": {k: round(v, 3) for k, v in speed.items()},
        "opset_imports": [[o.domain, o.version] for o in quantized.opset_import],
        "ir_version": int(quantized.ir_version),
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    print(f"PCam test AUC float {auc_f:.4f} -> int8 {auc_q:.4f}; synthetic map |difference| median "
          f"{np.median(diffs):.4f}, 99th percentile {np.quantile(diffs, 0.99):.4f}, max {diffs.max():.4f}; "
          f"4.2 MP on 2 threads {speed['float']:.3f} s -> {speed['int8']:.3f} s; "
          f"written {args.out} ({meta['onnx_bytes'] / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
