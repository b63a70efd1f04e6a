"""`pykit equiv --data`: the patched model against stored expected outputs (ONNX node tests'
test_data_set_0, torch exports' data.npz), a corrupted stored output caught, a bad data set refused
in one line; and a patch inside an If body (a corpus PyG export wrapped in an If, then patched)."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from pykit.surgeon.equiv import body_plugin_nodes, equivalence, load_stored
from pykit.surgeon.model import SurgeryError
from pykit.surgeon.patch import patch_model

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
NODE_TESTS = ["test_scatternd_add", "test_scatternd_max", "test_layer_normalization_4d_axis_negative_1",
              "test_layer_normalization_3d_axis1_epsilon"]
EXPORTS = ["layernorm_bert_opset17", "pyg_scatter_reduce_sum_opset16", "pyg_scatter_mean_opset18_dynamo"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pykit.cli", "equiv", *map(str, args)], capture_output=True, text=True)


def _patched(original, tmp_path):
    result = patch_model(original, trt="8.5")
    assert result.exit_code == 0 and not result.unpatched, result.unpatched
    onnx.save(result.model, str(tmp_path / "patched.onnx"))
    return result.model, tmp_path / "patched.onnx"


def _case(name):
    d = CORPUS / "onnx_node" / name if name.startswith("test_") else CORPUS / name
    return d / "model.onnx", (d / "test_data_set_0" if name.startswith("test_") else d / "data.npz")


@pytest.mark.parametrize("name", NODE_TESTS + EXPORTS)
def test_patched_model_matches_stored_outputs(name, tmp_path):
    model_path, data = _case(name)
    original = onnx.load(str(model_path))
    patched, patched_path = _patched(original, tmp_path)
    feeds, stored = load_stored(original, data)
    assert set(stored) == {o.name for o in original.graph.output}
    (res,) = equivalence(original, patched, ["fp32"], feeds=feeds, stored=stored)
    assert res.verdict == "PASS", res.lines()
    assert all(o.max_vs_stored is not None and o.max_vs_stored <= o.stored_bound for o in res.outputs), res.lines()

    p = cli(model_path, patched_path, "--data", data)
    assert p.returncode == 0, p.stdout + p.stderr
    output_lines = [line for line in p.stdout.splitlines() if line.strip().startswith("output ")]
    assert len(output_lines) == len(stored) and all("stored max|P-S|" in line and "onnxruntime gap" in line
                                                    for line in output_lines), p.stdout


def _corrupt(value):
    bad = np.array(value, copy=True)
    flat = bad.reshape(-1)
    flat[0] += 1e-2 * (float(np.max(np.abs(flat))) + 1.0)  # 100x the stored check's relative tolerance
    return bad


def test_corrupted_stored_output_is_caught(tmp_path):
    model_path, data = _case("test_scatternd_add")
    original = onnx.load(str(model_path))
    _, patched_path = _patched(original, tmp_path)
    bad_set = tmp_path / "test_data_set_0"
    shutil.copytree(data, bad_set)
    out = onnx.load_tensor(str(bad_set / "output_0.pb"))
    onnx.save_tensor(numpy_helper.from_array(_corrupt(numpy_helper.to_array(out)), out.name), str(bad_set / "output_0.pb"))
    p = cli(model_path, patched_path, "--data", bad_set)
    assert p.returncode == 1 and "FAIL" in p.stdout, p.stdout + p.stderr

    model_path, data = _case("pyg_scatter_reduce_sum_opset16")
    original = onnx.load(str(model_path))
    patched, _ = _patched(original, tmp_path)
    feeds, stored = load_stored(original, data)
    good = equivalence(original, patched, ["fp32"], feeds=feeds, stored=stored)[0]
    stored = {k: _corrupt(v) for k, v in stored.items()}
    (res,) = equivalence(original, patched, ["fp32"], feeds=feeds, stored=stored)
    assert good.verdict == "PASS" and res.verdict == "FAIL"
    # only the stored comparison failed: the rewrite and runtime checks are those of the good run
    assert [(o.max_rewrite, o.max_runtime_gap) for o in res.outputs] == [(o.max_rewrite, o.max_runtime_gap) for o in good.outputs]


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_data")
    model_path, data = _case("pyg_scatter_reduce_sum_opset16")
    arrays = dict(np.load(data))
    garbage = d / "garbage" / "test_data_set_0"
    shutil.copytree(_case("test_scatternd_add")[1], garbage)
    (garbage / "input_1.pb").write_bytes(b"\xff\x00 not a tensor")
    np.savez(d / "ghost.npz", **arrays, **{"input:ghost": arrays["input:msg"]})
    np.savez(d / "nokind.npz", **{k.split(":")[1]: v for k, v in arrays.items()})
    np.savez(d / "noidx.npz", **{k: v for k, v in arrays.items() if k != "input:idx"})
    (d / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    return {
        "no such path": (model_path, d / "absent", "absent"),
        "unparsable pb": (_case("test_scatternd_add")[0], garbage, "input_1.pb"),
        "unknown input": (model_path, d / "ghost.npz", "ghost"),
        "key without kind": (model_path, d / "nokind.npz", "nokind.npz"),
        "missing input": (model_path, d / "noidx.npz", "idx"),
        "broken npz": (model_path, d / "broken.npz", "broken.npz"),
    }


@pytest.mark.parametrize("case", ["no such path", "unparsable pb", "unknown input", "key without kind", "missing input",
                                  "broken npz"])
def test_bad_data_is_one_line_exit_2(bad_data, case, tmp_path):
    model_path, data, words = bad_data[case]
    original = onnx.load(str(model_path))
    _, patched_path = _patched(original, tmp_path)
    p = cli(model_path, patched_path, "--data", data)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert words in lines[0] and not p.stdout, lines[0]
    with pytest.raises(SurgeryError, match=words):
        load_stored(original, data)


# ---- a patch inside an If body -------------------------------------------------------------------


def _rename(graph, rename, tag):
    for n in graph.node:
        n.name = f"{n.name}__{tag}"
        n.input[:] = [rename(x) for x in n.input]
        n.output[:] = [rename(x) for x in n.output]
        for a in n.attribute:
            for body in [a.g] if a.type == AttributeProto.GRAPH else a.graphs if a.type == AttributeProto.GRAPHS else []:
                _rename(body, rename, tag)
    for t in graph.initializer:
        t.name = rename(t.name)
    for v in [*graph.input, *graph.output, *graph.value_info]:
        v.name = rename(v.name)


def if_wrapped(model, feeds):
    """The model's graph as both branches of an If on Size(first input) > 0 (a condition the patcher
    cannot fold). The branches keep the main-graph tensors' shapes from a run on ``feeds`` (value_info):
    the export's own nested If gives its outputs none that shape inference can follow."""
    g = onnx.GraphProto()
    g.CopyFrom(model.graph)
    names = [o for n in g.node for o in n.output if o]
    values = dict(zip(names, ReferenceEvaluator(model).run(names, feeds)))
    outputs = {o.name for o in g.output}
    del g.value_info[:]
    g.value_info.extend(helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                        for k, v in values.items() if k not in outputs)
    outer = {i.name for i in g.input}

    def branch(tag):
        body = onnx.GraphProto()
        body.CopyFrom(g)
        _rename(body, lambda n: n if n in outer or not n else f"{n}__{tag}", tag)
        del body.input[:]
        body.name = f"{tag}_branch"
        return body

    nodes = [helper.make_node("Size", [g.input[0].name], ["cond_size"], name="cond_size"),
             helper.make_node("Constant", [], ["cond_zero"], name="cond_zero",
                              value=helper.make_tensor("zero", TensorProto.INT64, [], [0])),
             helper.make_node("Greater", ["cond_size", "cond_zero"], ["cond"], name="cond"),
             helper.make_node("If", ["cond"], [o.name for o in g.output], name="wrap_if",
                              then_branch=branch("then"), else_branch=branch("else"))]
    wrapped = helper.make_model(helper.make_graph(nodes, g.name, list(g.input), list(g.output)),
                                opset_imports=list(model.opset_import), ir_version=model.ir_version)
    onnx.checker.check_model(wrapped)
    return wrapped


@pytest.mark.parametrize("name", ["pyg_scatter_reduce_amax_opset16", "pyg_scatter_reduce_sum_opset18"])
def test_patch_inside_if_body(name, tmp_path):
    model_path, data = _case(name)
    export = onnx.load(str(model_path))
    feeds, stored = load_stored(export, data)
    original = if_wrapped(export, feeds)
    patched, patched_path = _patched(original, tmp_path)
    in_bodies = body_plugin_nodes(patched)
    assert sorted(path for path, _, _ in in_bodies) == ["main/wrap_if.else_branch", "main/wrap_if.then_branch"]
    assert not [n for n in patched.graph.node if n.domain == in_bodies[0][1].domain]

    fp32, fp16 = equivalence(original, patched, ["fp32", "fp16"], feeds=feeds, stored=stored)
    assert fp32.verdict == "PASS", fp32.lines()
    assert all(o.rewrite_check == "at outputs" and o.max_vs_stored <= o.stored_bound for o in fp32.outputs)
    # the cuts inside the bodies are said to be unreachable, not silently left out
    assert sorted(c.node for c in fp32.cuts) == sorted(n.name for _, n, _ in in_bodies)
    assert all("inside body main/wrap_if" in line for line in fp32.lines() if line.strip().startswith("cut "))
    assert fp16.verdict == "SKIP" and "If/Loop/Scan body" in fp16.skipped

    onnx.save(original, str(tmp_path / "original.onnx"))
    p = cli(tmp_path / "original.onnx", patched_path, "--data", data)
    assert p.returncode == 0 and "not compared (inside body main/wrap_if.then_branch)" in p.stdout, p.stdout + p.stderr

    # the plugin in the taken branch does run: a wrong reduction there fails at the outputs
    wrong = onnx.ModelProto()
    wrong.CopyFrom(patched)
    (body_node,) = [n for path, n, _ in body_plugin_nodes(wrong) if path.endswith("then_branch")]
    (attr,) = [a for a in body_node.attribute if a.name == "reduction"]
    attr.s = b"min" if attr.s != b"min" else b"max"
    (res,) = equivalence(original, wrong, ["fp32"], feeds=feeds, stored=stored)
    assert res.verdict == "FAIL", res.lines()
