"""Average the logit maps of several tumour-map networks into one ONNX file.

Members must share the input, the stride and the input pixel size. A member with a smaller
receptive field than the largest is fed the input cropped by the difference (half at the
start, rounded down, the rest at the end), so that every member's output (i, j) lies inside
the same window of the largest field and the maps have one grid (with an odd difference, the
smaller member's field is centred half a pixel before the larger one's). The ensemble's
``logit`` is the mean of the members' logits and ``probability`` its sigmoid, so it is a
drop-in replacement with the same metadata keys (the largest member's geometry). The metadata JSON
of the first member is kept, with the members listed and the test metrics replaced by
the ones given on the command line (measure them with ``bench/real_he.py``).

A member written as ``ENSEMBLE.onnx#k`` is member k of an earlier ensemble written by this
script (e.g. ``pipeline/models/he_tumour_fcn_fp32.onnx#0``), taken out with its own metadata
from that ensemble's ``.json``: members need not be kept as separate files.

Usage: python tools/ensemble_fcn.py A.onnx B.onnx [...] --out pipeline/models/he_tumour_fcn_fp32.onnx

The shipped network is then its 8-bit version: python tools/quantize_fcn.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def member_of(path: Path, k: int):
    """Member k of an ensemble written by this script: its ONNX model (input ``rgb``, outputs ``logit`` and
    ``probability``) and its metadata (the ensemble's geometry and the member's own record)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    meta = json.loads(path.with_suffix(".json").read_text())
    record = meta["ensemble"][k]
    prefix = f"m{k}_"
    crop = record.get("input_crop_px", [0, 0])
    graph = model.graph
    # the member alone, without the crop the ensemble fed it (its metadata below gives its own,
    # smaller field, so a new ensemble crops it again as it needs)
    nodes = [n for n in graph.node if n.name.startswith(prefix)]
    for n in nodes:
        n.input[:] = ["rgb" if i == f"rgb_crop{k}" else i for i in n.input]
    used = {i for n in nodes for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    for n in nodes:
        n.output[:] = ["logit" if o == f"{prefix}logit" else o for o in n.output]
    nodes.append(helper.make_node("Sigmoid", ["logit"], ["probability"]))
    outputs = []
    for name in ("logit", "probability"):
        info = onnx.ValueInfoProto()
        info.CopyFrom(next(o for o in graph.output if o.name == name))
        outputs.append(info)
    one = helper.make_graph(nodes, f"{path.stem}_{k}", list(graph.input), outputs, inits)
    out = helper.make_model(one, opset_imports=[helper.make_opsetid("", 17)], ir_version=model.ir_version)
    onnx.checker.check_model(out)
    mine = dict(meta)
    for key in ("ensemble", "quantization", "onnx_bytes"):
        mine.pop(key, None)
    rf = int(meta["receptive_field_px"]) - sum(crop)
    mine.update({key: record[key] for key in record if key not in ("file", "sha256", "input_crop_px")})
    n = len(meta["ensemble"])
    archs = meta["architecture"].split(": ", 1)[1].split(" | ")
    if "architecture" not in record:  # ensembles written before members kept their own records
        if len(set(archs)) != 1:
            raise SystemExit(f"{path}: members of different architectures without their own records")
        record = {**record, "architecture": archs[k], "parameters": meta["parameters"] // n,
                  "macs_per_input_pixel": round(meta["macs_per_input_pixel"] / n, 1)}
    mine.update({"receptive_field_px": rf, "output_origin_px": (rf - 1) / 2, "parameters": record["parameters"],
                 "macs_per_input_pixel": record["macs_per_input_pixel"], "architecture": record["architecture"],
                 "file": record["file"]})
    return out, mine


def main() -> None:
    import onnx
    from onnx import compose, helper

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import tempfile

    tmp = Path(tempfile.mkdtemp())
    members, metas = [], []
    for arg in map(str, args.members):
        if "#" in arg:  # member k of an earlier ensemble
            path, k = arg.rsplit("#", 1)
            model, meta = member_of(Path(path), int(k))
            members.append(tmp / meta["file"])
            onnx.save(model, str(members[-1]))
        else:
            members.append(Path(arg))
            meta = json.loads(Path(arg).with_suffix(".json").read_text())
        metas.append(meta)
    args.members = members
    for key in ("stride_px", "input_pixel_size_um"):
        if len({json.dumps(m[key]) for m in metas}) != 1:
            raise SystemExit(f"members differ in {key}: cannot average their maps")
    field = max(int(m["receptive_field_px"]) for m in metas)
    # a smaller field is fed the input cropped by the difference: half before (rounded down), the rest after
    spare = [field - int(m["receptive_field_px"]) for m in metas]
    crops = [(d // 2, d - d // 2) for d in spare]
    merged = None
    for k, path in enumerate(args.members):
        model = onnx.load(str(path))
        # the members' own metadata (their geometry) disagree; the ensemble's is in its .json
        del model.metadata_props[:]
        model = compose.add_prefix(model, prefix=f"m{k}_")
        if merged is None:
            merged = model
        else:
            merged = compose.merge_models(merged, model, io_map=[], outputs=None)
    graph = merged.graph
    # one shared input: rename every member's input to "rgb"
    inputs = [i.name for i in graph.input]
    def shared(name):  # member k's input "m{k}_rgb" -> the shared input, or its crop for that member
        k = int(name[1:name.index("_")])
        return "rgb" if crops[k] == (0, 0) else f"rgb_crop{k}"

    for node in graph.node:
        node.input[:] = [shared(name) if name in inputs else name for name in node.input]
    for k, (a, b) in enumerate(crops):
        if (a, b) == (0, 0):
            continue
        # NHWC: rows and columns a .. -b
        graph.initializer.extend([helper.make_tensor(f"crop{k}_starts", onnx.TensorProto.INT64, [2], [a, a]),
                                  helper.make_tensor(f"crop{k}_ends", onnx.TensorProto.INT64, [2], [-b, -b]),
                                  helper.make_tensor(f"crop{k}_axes", onnx.TensorProto.INT64, [2], [1, 2])])
        graph.node.insert(0, helper.make_node("Slice", ["rgb", f"crop{k}_starts", f"crop{k}_ends", f"crop{k}_axes"],
                                              [f"rgb_crop{k}"], name=f"crop{k}"))
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
    meta = dict(metas[[int(m["receptive_field_px"]) for m in metas].index(field)])
    meta["ensemble"] = [{"file": p.name, "input_crop_px": list(c), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()[:16],
                         "test": m.get("test"), "augmentation_range_factors": m.get("augmentation_range_factors"),
                         "training_data": m.get("training_data"), "best_epoch": m.get("best_epoch"),
                         "epochs": m.get("epochs"), "training_minutes_cpu": m.get("training_minutes_cpu"),
                         "parameters": m.get("parameters"), "macs_per_input_pixel": m.get("macs_per_input_pixel"),
                         "architecture": m.get("architecture")}
                        for p, m, c in zip(args.members, metas, crops)]
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
