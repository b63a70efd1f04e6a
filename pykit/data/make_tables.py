"""Regenerate the TensorRT ONNX-parser support tables (trt_*.json) in this folder.

Sources: onnx/onnx-tensorrt docs/operators.md at the refs named below (read from a local git
snapshot: ``python -m pykit.data.make_tables /path/to/onnx-tensorrt.git``), plus the importer facts
in SEMANTICS (read from builtin_op_importers.cpp / onnxOpImporters.cpp at the same refs). The 10.15
table was transcribed from operators.md of the 10.x branch ("TensorRT 10.15 supports operators in
the inclusive range of opset 9 to opset 24"); no operators.md for TensorRT 11 was available, so the
11 table is the 10.15 one, marked as assumed. IR limits: the IR version of the ONNX release that
introduced the parser's maximum opset (onnx.helper.VERSION_TABLE): opset 17 -> IR 8 (ONNX 1.12),
opset 20 -> IR 9 (ONNX 1.15), opset 24 -> IR 12 (ONNX 1.19).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ROW = re.compile(r"^\|\s*([A-Za-z0-9_]+)\s*\|\s*(Y|N)[^|]*\|?\s*([^|]*)\|?\s*([^|]*)")

# version -> (git ref, opset min, opset max, ir max, doc header line)
GIT_VERSIONS = {
    "8.5": ("8.5-GA", 7, 17, 8),
    "8.6": ("8.6-GA", 7, 17, 8),
    "10.0": ("10.1-GA", 9, 20, 9),
}

SCATTER_WRONG_8 = [
    {"op": "ScatterND", "attribute": "reduction", "unless": "none", "effect": "wrong",
     "message": "the importer ignores 'reduction' and builds a plain scatter (silently wrong results)",
     "source": "builtin_op_importers.cpp DEFINE_BUILTIN_OP_IMPORTER(ScatterND): addScatterLayer(kND), no attribute read"},
    {"op": "ScatterElements", "attribute": "reduction", "unless": "none", "effect": "wrong",
     "message": "the importer ignores 'reduction' and builds a plain scatter (silently wrong results)",
     "source": "builtin_op_importers.cpp DEFINE_BUILTIN_OP_IMPORTER(ScatterElements): addScatterLayer(kELEMENT), reads 'axis' only"},
]
SCATTER_10 = [
    {"op": "ScatterND", "attribute": "reduction", "unless": "none", "effect": "rejected",
     "message": "the importer rejects 'reduction' (kUNSUPPORTED_NODE_ATTR: \"Attribute reduction is not supported.\")",
     "source": "onnxOpImporters.cpp DEFINE_BUILTIN_OP_IMPORTER(ScatterND): ASSERT_NODE(!attrs.count(\"reduction\"))"},
    {"op": "ScatterElements", "attribute": "reduction", "unless": "none", "effect": "external",
     "message": "imported through TensorRT's own 'ScatterElements' plugin (libnvinfer_plugin must be loaded)",
     "source": "onnxOpImporters.cpp scatterPluginHelper: importPluginCreator(\"ScatterElements\", \"1\")"},
]
SEMANTICS = {"8.5": SCATTER_WRONG_8, "8.6": SCATTER_WRONG_8, "10.0": SCATTER_10, "10.15": SCATTER_10, "11": SCATTER_10}

# TensorRT 10.15 operators.md, transcribed (operator -> supported; restrictions kept where a rule needs them)
OPS_10_15_N = """AffineGrid Bernoulli BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor Col2Im CenterCropPad Compress
ConcatFromSequence ConvInteger DFT Det DynamicQuantizeLinear ImageDecoder MatMulInteger MaxRoiPool MaxUnpool
MelWeightMatrix Multinomial NegativeLogLikelihoodLoss Optional OptionalGetElement OptionalHasElement QLinearConv
QLinearMatMul RegexFullMatch SequenceAt SequenceConstruct SequenceEmpty SequenceErase SequenceInsert SequenceLength
SequenceMap SoftmaxCrossEntropyLoss SplitToSequence StringConcat StringNormalizer StringSplit TfIdfVectorizer Unique""".split()
OPS_10_15_Y = """Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh Attention AveragePool BatchNormalization
BlackmanWindow Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DeformConv
DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements
GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU
HammingWindow HannWindow HardSigmoid HardSwish Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN
LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean
MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu
QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2
ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize
ReverseSequence RMSNormalization RNN RoiAlign RotaryEmbedding Round STFT ScaledTanh Scan Scatter ScatterElements ScatterND
Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
Tanh TensorScatter ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor""".split()
RESTRICTIONS_10_15 = {
    "ScatterND": "`reduction` other than `none` is not supported",
    "LayerNormalization": "Only the first output `Y` is supported.",
    "Hardmax": "`axis` dimension of input must be a build-time constant",
}


def parse_operators_md(text: str) -> dict:
    ops = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if not m or m.group(1) == "Operator":
            continue
        ops[m.group(1)] = {"supported": m.group(2) == "Y", "restrictions": m.group(4).strip()}
    return ops


def _table(version, ref, commit, opset_min, opset_max, ir_max, ops, note=""):
    return {
        "trt": version,
        "source": {"repo": "onnx/onnx-tensorrt", "ref": ref, "commit": commit, "path": "docs/operators.md",
                   "note": note},
        "opset_min": opset_min, "opset_max": opset_max, "ir_max": ir_max,
        "ir_note": "IR version of the ONNX release that introduced opset %d (onnx.helper.VERSION_TABLE)" % opset_max,
        "semantics": SEMANTICS[version],
        "ops": dict(sorted(ops.items())),
    }


def main(git_dir: str) -> None:
    for version, (ref, lo, hi, ir) in GIT_VERSIONS.items():
        text = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{ref}:docs/operators.md"],
                              check=True, capture_output=True, text=True).stdout
        commit = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", ref],
                                check=True, capture_output=True, text=True).stdout.strip()
        note = "the 10.1-GA doc is titled 'TensorRT 10.0 supports ... opset 9 to opset 20'" if version == "10.0" else ""
        table = _table(version, ref, commit, lo, hi, ir, parse_operators_md(text), note)
        (HERE / f"trt_{version}.json").write_text(json.dumps(table, indent=1) + "\n")
    ops = {op: {"supported": False, "restrictions": ""} for op in OPS_10_15_N}
    ops.update({op: {"supported": True, "restrictions": RESTRICTIONS_10_15.get(op, "")} for op in OPS_10_15_Y})
    t = _table("10.15", "10.x branch", "", 9, 24, 12, ops,
               "transcribed from the 10.x branch's docs/operators.md (TensorRT 10.15); restrictions column abbreviated")
    (HERE / "trt_10.15.json").write_text(json.dumps(t, indent=1) + "\n")
    t = _table("11", "(none)", "", 9, 24, 12, ops,
               "ASSUMED equal to 10.15: no onnx-tensorrt operators.md for TensorRT 11 was available; verify before relying on it")
    (HERE / "trt_11.json").write_text(json.dumps(t, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/onnx+onnx-tensorrt/repo")
