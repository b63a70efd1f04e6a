"""`pykit inspect --parse` (pykit/surgeon/parse_online.py): the real parser's verdicts next to the
offline table's. TensorRT is not here, so a stand-in parser (bytes -> outcome, the contract of
pykit._trt.parse_onnx) decides; what is tested is the per-node extraction and the comparison."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from pykit.cli.__main__ import main
from pykit.surgeon.parse_online import parse_online, single_node_models


def _model():
    """x -> Relu -> Reshape(shape from a Constant node) -> ScatterElements(reduction=add) -> y."""
    nodes = [h.make_node("Relu", ["x"], ["r"], name="relu"),
             h.make_node("Constant", [], ["shape"], name="shape_const",
                         value=onnx.numpy_helper.from_array(np.array([4, 3], np.int64))),
             h.make_node("Reshape", ["r", "shape"], ["r2"], name="reshape"),
             h.make_node("ScatterElements", ["r2", "idx", "upd"], ["y"], name="scatter", axis=0, reduction="add")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2, 6]),
                                      h.make_tensor_value_info("idx", T.INT64, [2, 3]),
                                      h.make_tensor_value_info("upd", T.FLOAT, [2, 3])],
                         [h.make_tensor_value_info("y", T.FLOAT, [4, 3])])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 16)], ir_version=8)


def refusing(*ops, message="No importer registered for op"):
    """A stand-in parser that refuses every node of the given op types, as TensorRT's does: it stops
    at the first one."""
    seen = []

    def parse(blob: bytes):
        m = onnx.load_from_string(blob)
        seen.append(m)
        for k, n in enumerate(m.graph.node):
            if n.op_type in ops:
                return {"parsed": False, "errors": [{"node": k, "node_name": n.name, "op_type": n.op_type, "code": 8,
                                                     "description": f"{message}: {n.op_type}"}]}
        return {"parsed": True, "errors": []}
    parse.seen = seen
    return parse


def test_every_node_but_constants_is_parsed_alone_with_its_constants_kept():
    parts = {name: (op, m) for _, name, op, m, _ in single_node_models(_model())}
    assert set(parts) == {"relu", "reshape", "scatter"}  # the Constant node is not parsed alone
    reshape = parts["reshape"][1]
    onnx.checker.check_model(reshape, full_check=True)
    assert [i.name for i in reshape.graph.input] == ["r"]  # computed input: a graph input, typed
    assert [t.name for t in reshape.graph.initializer] == ["shape"]  # the Constant's value stays constant
    assert list(onnx.numpy_helper.to_array(reshape.graph.initializer[0])) == [4, 3]
    dims = [d.dim_value for d in reshape.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 6]  # from shape inference


def test_the_parser_refusing_what_the_table_calls_wrong_semantics_is_a_disagreement():
    # TensorRT 8.5's table says its ScatterElements importer ignores reduction (imports, wrongly)
    report = parse_online(_model(), "8.5", parse=refusing("ScatterElements"), version="8.5.3")
    assert not report.whole_ok and "scatter (ScatterElements)" in report.whole_errors[0]
    (bad,) = report.disagreements
    assert (bad.node, bad.offline, bad.parser_ok) == ("scatter", "wrong-semantics", False)
    assert "DISAGREE scatter (ScatterElements): table [wrong-semantics] imports; parser refuses" in report.text()


def test_agreement_both_ways():
    # the parser imports everything: wrong-semantics means it imports, so no disagreement
    report = parse_online(_model(), "8.5", parse=refusing(), version="8.5.3")
    assert report.whole_ok and not report.disagreements and len(report.nodes) == 3
    # a node the table calls native but the parser refuses: a disagreement naming the node
    report = parse_online(_model(), "8.5", parse=refusing("Relu"), version="8.5.3")
    assert [(v.node, v.offline) for v in report.disagreements] == [("relu", "native")]


def test_a_node_the_table_calls_unsupported_and_the_parser_refuses_agrees():
    m = _model()
    m.graph.node[0].op_type = "Bernoulli"  # no importer in 8.5's table
    report = parse_online(m, "8.5", parse=refusing("Bernoulli"), version="8.5.3")
    verdicts = {v.node: v for v in report.nodes}
    assert verdicts["relu"].offline in ("unsupported", "not-in-table") and verdicts["relu"].agrees


def test_cli_parse_without_tensorrt_is_one_clear_error_and_prints_nothing(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(_model(), str(path))
    try:
        import pykit._trt  # noqa: F401
        pytest.skip("pykit._trt is built here: the error path is not reachable")
    except ImportError:
        pass
    assert main(["inspect", str(path), "--parse"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "needs TensorRT" in err and "--parse" in err


def test_a_tensor_a_node_reads_twice_is_one_input_of_its_single_node_model():
    # TensorRT's parser refuses a graph that declares one input twice ("inName != knownInput")
    graph = h.make_graph([h.make_node("Mul", ["x", "x"], ["y"], name="square")], "g",
                         [h.make_tensor_value_info("x", T.FLOAT, [3])], [h.make_tensor_value_info("y", T.FLOAT, [3])])
    (_, _, _, alone, _), = single_node_models(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    assert [i.name for i in alone.graph.input] == ["x"]
    onnx.checker.check_model(alone, full_check=True)


def test_whole_model_verdict_rules_over_isolation_artifacts():
    # a parser that refuses a Reshape alone (its shape then looks like a plain network input, as
    # TensorRT 8.5 does) but imports it inside the model: no disagreement, nothing parsed alone
    def parse(blob: bytes):
        m = onnx.load_from_string(blob)
        parse.calls += 1
        alone = len(m.graph.node) == 1 and m.graph.node[0].op_type == "Reshape"
        return {"parsed": not alone, "errors": [{"node": 0, "description": "Invalid Node"}] if alone else []}
    parse.calls = 0
    report = parse_online(_model(), "8.5", parse=parse, version="8.5.3")
    assert report.whole_ok and parse.calls == 1
    assert all(v.parser_ok for v in report.nodes) and not report.disagreements


def test_nodes_before_the_one_the_parser_stopped_at_were_imported():
    parse = refusing("Reshape", message="Invalid Node")
    report = parse_online(_model(), "8.5", parse=parse, version="8.5.3")
    verdicts = {v.node: v for v in report.nodes}
    assert verdicts["relu"].parser_ok and not verdicts["reshape"].parser_ok
    assert "Invalid Node" in verdicts["reshape"].error
    # parsed: the whole model, then only what follows the node it stopped at (the scatter) alone
    assert [[n.name for n in m.graph.node] for m in parse.seen] == [[n.name for n in _model().graph.node], ["scatter"]]


def test_an_if_node_alone_gets_the_outer_tensors_its_branches_read():
    then_g = h.make_graph([h.make_node("Relu", ["x"], ["t"])], "then", [], [h.make_tensor_value_info("t", T.FLOAT, [3])])
    else_g = h.make_graph([h.make_node("Neg", ["x"], ["e"])], "else", [], [h.make_tensor_value_info("e", T.FLOAT, [3])])
    nodes = [h.make_node("ReduceSum", ["x"], ["s"], keepdims=0, name="sum"),
             h.make_node("Greater", ["s", "zero"], ["c"], name="gt"),
             h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="if")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [3])],
                         [h.make_tensor_value_info("y", T.FLOAT, [3])],
                         [onnx.numpy_helper.from_array(np.array(0, np.float32), "zero")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)], ir_version=8)
    parts = {name: m for _, name, _, m, _ in single_node_models(model)}
    alone = parts["if"]
    assert [i.name for i in alone.graph.input] == ["c", "x"]  # the condition and what both branches read
    onnx.checker.check_model(alone, full_check=True)


def refusing_names(*names, message="Invalid Node"):
    """A stand-in parser refusing the nodes of these names (in a whole model or alone)."""
    def parse(blob: bytes):
        m = onnx.load_from_string(blob)
        for k, n in enumerate(m.graph.node):
            if n.name in names:
                return {"parsed": False, "errors": [{"node": k, "node_name": n.name, "op_type": n.op_type, "code": 6,
                                                     "description": f"{message} - {n.name}"}]}
        return {"parsed": True, "errors": []}
    return parse


def test_the_node_the_parse_stopped_at_is_explained_by_a_flagged_node_feeding_it():
    # the scatter is flagged (8.5 ignores its reduction); the whole parse stopping at a node after it
    # is put down to it, as the Reshape after 8.5's mis-imported ReduceMean-18 was on the H200
    m = _model()
    m.graph.node.append(h.make_node("Relu", ["y"], ["z"], name="after"))
    m.graph.output[0].CopyFrom(h.make_tensor_value_info("z", T.FLOAT, [4, 3]))
    report = parse_online(m, "8.5", parse=refusing_names("after"), version="8.5.3")
    after = {v.node: v for v in report.nodes}["after"]
    assert not after.parser_ok and after.agrees and "downstream of scatter [wrong-semantics]" in after.line()
    assert not report.disagreements
    # with nothing flagged before it, the same refusal is a disagreement
    plain = parse_online(m, "8.5", parse=refusing_names("relu"), version="8.5.3")
    assert [v.node for v in plain.disagreements] == ["relu"]


def test_a_node_refused_alone_with_computed_integer_inputs_is_inconclusive():
    # parsed alone, a Reshape whose shape the model computes gets that shape as a network input;
    # TensorRT 8.5 refuses that (seen on the H200), which says nothing about the model
    nodes = [h.make_node("Relu", ["x"], ["r"], name="first"),
             h.make_node("Shape", ["x"], ["s"], name="shape"),
             h.make_node("Reshape", ["r", "s"], ["y"], name="reshape")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2, 6])],
                         [h.make_tensor_value_info("y", T.FLOAT, [2, 6])])
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 16)], ir_version=8)
    report = parse_online(m, "8.5", parse=refusing_names("first", "reshape"), version="8.5.3")
    reshape = {v.node: v for v in report.nodes}["reshape"]
    assert not reshape.parser_ok and reshape.agrees and "inconclusive" in reshape.line() and "s" in reshape.alone
    assert [v.node for v in report.disagreements] == ["first"]


def test_a_recorded_run_is_judged_against_the_current_table():
    from pykit.surgeon.parse_online import from_record

    report = parse_online(_model(), "8.5", parse=refusing("ScatterElements"), version="8.5.3")
    record = {"whole_ok": report.whole_ok, "errors": report.whole_errors,
              "refused": [v.line() for v in report.nodes if not v.parser_ok], "not_parsed": report.not_parsed}
    again = from_record(_model(), record, "8.5")
    assert [(v.node, v.parser_ok) for v in again.nodes] == [(v.node, v.parser_ok) for v in report.nodes]
    assert [v.line() for v in again.disagreements] == [v.line() for v in report.disagreements]
    # parsed whole: every node imported, whatever single-node lines a record holds
    whole = from_record(_model(), {**record, "whole_ok": True}, "8.5")
    assert all(v.parser_ok for v in whole.nodes)
