"""Average the logit maps of several tumour-map networks into one ONNX file.

Members must share the input and geometry (receptive field, stride, input pixel size);
the ensemble's ``logit`` is the mean of the members' logits and ``probability`` its
sigmoid, so it is a drop-in replacement with the same metadata keys. The metadata JSON
of the first member is kept, with the members listed and the test metrics replaced by
the ones given on the command line (measure them with ``bench/real_he.py``).

Usage: python tools/ensemble_fcn.py A.onnx B.onnx [...] --out pipeline/models/he_tumour_fcn_fp32.onnx

The shipped network is then its 8-bit version: python tools/quantize_fcn.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def main() -> None:
    import onnx
    from onnx import compose, helper

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    metas = [json.loads(p.with_suffix(".json").read_text()) for p in args.members]
    for key in ("receptive_field_px", "stride_px", "input_pixel_size_um", "output_origin_px"):
        if len({json.dumps(m[key]) for m in metas}) != 1:
            raise SystemExit(f"members differ in {key}: cannot average their maps")
    merged = None
    for k, path in enumerate(args.members):
        model = onnx.load(str(path))
        model = compose.add_prefix(model, prefix=f"m{k}_")
        if merged is None:
            merged = model
        else:
            merged = compose.merge_models(merged, model, io_map=[], outputs=None)
    graph = merged.graph
    # one shared input: rename every member's input to "rgb"
    inputs = [i.name for i in graph.input]
    for node in graph.node:
        node.input[:] = ["rgb" if name in inputs else name for name in node.input]
    rgb = onnx.ValueInfoProto()
    rgb.CopyFrom(graph.input[0])
    rgb.name = "rgb"
    del graph.input[:]
    graph.input.append(rgb)
    logits = [f"m{k}_logit" for k in range(len(args.members))]
    template = {o.name: o for o in graph.output}
    outputs = []
    for name in ("logit", "probability"):
        info = onnx.ValueInfoProto()
        info.CopyFrom(template[f"m0_{name}"])
        info.name = name
        outputs.append(info)
    del graph.output[:]
    graph.node.append(helper.make_node("Sum", logits, ["logit_sum"]))
    graph.initializer.append(helper.make_tensor("n_members", onnx.TensorProto.FLOAT, [], [float(len(logits))]))
    graph.node.append(helper.make_node("Div", ["logit_sum", "n_members"], ["logit"]))
    graph.node.append(helper.make_node("Sigmoid", ["logit"], ["probability"]))
    # drop the members' own probability outputs (dead nodes)
    keep = [n for n in graph.node if not any(o.endswith("_probability") for o in n.output)]
    del graph.node[:]
    graph.node.extend(keep)
    graph.output.extend(outputs)
    onnx.checker.check_model(merged)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(args.out))
    meta = dict(metas[0])
    meta["ensemble"] = [{"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()[:16],
                         "test": m.get("test"), "augmentation_range_factors": m.get("augmentation_range_factors"),
                         "training_data": m.get("training_data"), "best_epoch": m.get("best_epoch"),
                         "epochs": m.get("epochs"), "training_minutes_cpu": m.get("training_minutes_cpu")}
                        for p, m in zip(args.members, metas)]
    meta["parameters"] = sum(m["parameters"] for m in metas)
    meta["macs_per_input_pixel"] = round(sum(m["macs_per_input_pixel"] for m in metas), 1)
    meta["architecture"] = f"mean of the logits of {len(metas)} networks: " + " | ".join(m["architecture"] for m in metas)
    for key in ("history", "operating_points", "default_operating_point", "test", "validation", "checks", "onnx_bytes",
                "onnxruntime_mp_per_s_2_threads_2000px"):
        meta.pop(key, None)
    meta["onnx_bytes"] = args.out.stat().st_size
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"written {args.out} ({meta['onnx_bytes'] / 1024:.0f} KiB, {len(metas)} members)")


if __name__ == "__main__":
    main()
