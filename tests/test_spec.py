"""Spec loading: a good spec loads; each kind of bad spec gives one error naming file and key."""
import textwrap

import pytest

from pykit.spec import SpecError, load_spec

GOOD = """
name = "Thing"
version = "1"
precisions = ["fp32", "fp16"]

[[inputs]]
name = "x"
rank = [1, 2]
dtype = { fp32 = "float32", fp16 = "float16" }

[[outputs]]
name = "y"
rank = 2
dtype = { fp32 = "float32", fp16 = "float16" }

[[attributes]]
name = "alpha"
type = "float32"
default = 0.5
min = 0
max = 1

[[attributes]]
name = "mode"
type = "string"
default = "a"
choices = ["a", "b"]

[[attributes]]
name = "count"
type = "int32"
required = true

[tolerance.fp32]
rel = 1e-6
why = "two roundings"

[tolerance.fp16]
rel = 1e-3
why = "binary16 output rounding"
"""


def write(tmp_path, text):
    folder = tmp_path / "thing"
    folder.mkdir(exist_ok=True)
    path = folder / "spec.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_spec_loads(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.key == ("Thing", "1", "pykit")
    assert [a.name for a in spec.attributes] == ["alpha", "mode", "count"]
    assert spec.inputs[0].ranks == (1, 2)
    assert spec.tolerances["fp16"].rel == 1e-3
    assert spec.resolve_attributes({"count": 3}) == {"alpha": 0.5, "mode": "a", "count": 3}
    # the reference and the cases are found by the folder: reference.py's <folder name>() and cases()
    assert (spec.reference, spec.cases) == ("reference:thing", "reference:cases")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('name = "Thing"', 'name = "thing"', "UpperCamelCase"),
        ('version = "1"', 'version = "v1"', "'version'"),
        ('version = "1"', "", "missing required key 'version'"),
        ('precisions = ["fp32", "fp16"]', 'precisions = ["fp32", "bf16x"]', "'precisions'"),
        ('rank = 2', 'rank = 11', "'rank'"),
        ('rank = 2', 'rank = { fp32 = 2 }', "exactly the precisions"),
        ('rank = 2', 'rank = { fp32 = 2, fp16 = [9] }', "'rank'"),
        ('dtype = { fp32 = "float32", fp16 = "float16" }\n\n[[attributes]]',
         'dtype = { fp32 = "float32" }\n\n[[attributes]]', "no entry for precision(s) ['fp16']"),
        ('type = "float32"', 'type = "double"', "'type'"),
        ("default = 0.5", "default = 2.5", "above the maximum"),
        ('default = "a"', 'default = "c"', "is not one of"),
        ("required = true", "required = true\ndefault = 1", "a required attribute has no default"),
        ('why = "two roundings"', 'why = " "', "error model"),
        ("[tolerance.fp16]\nrel = 1e-3", "[tolerance.fp8]\nrel = 1e-3", "tolerance.fp16] is missing"),
        ('name = "Thing"', 'name = "Thing"\nreference = "nothere:ref"', "unknown key(s) ['reference']"),
        ('name = "Thing"', 'name = "Thing"\ncases = "reference:more"', "unknown key(s) ['cases']"),
        ('name = "Thing"', 'name = "Thing"\ncolour = "red"', "unknown key(s) ['colour']"),
        ('name = "count"\ntype = "int32"', 'name = "alpha"\ntype = "int32"', "attribute names must be distinct"),
        ('name = "count"', 'name = "plugin_version"', "reserved"),
    ],
)
def test_bad_spec_names_file_and_key(tmp_path, old, new, message):
    assert old in GOOD, old
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_not_toml(tmp_path):
    path = write(tmp_path, "name = [unclosed")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path)


@pytest.mark.parametrize(
    "given, message",
    [
        ({}, "required attribute 'count' is missing"),
        ({"count": 1, "bogus": 2}, "unknown attribute(s) ['bogus']"),
        ({"count": 2**31}, "does not fit in int32"),
        ({"count": 1.5}, "expected an integer"),
        ({"count": True}, "expected int32"),
        ({"count": 1, "mode": "z"}, "is not one of"),
    ],
)
def test_resolve_attributes_rejects(tmp_path, given, message):
    spec = load_spec(write(tmp_path, GOOD))
    with pytest.raises(SpecError) as err:
        spec.resolve_attributes(given)
    assert message in str(err.value)
    assert "Thing" in str(err.value)


def test_rank_table_narrows_one_precision(tmp_path):
    import numpy as np

    from pykit.validate import fit_rank

    spec = load_spec(write(tmp_path, GOOD.replace("rank = [1, 2]", "rank = { fp32 = [1, 2], fp16 = 2 }", 1)))
    x = spec.inputs[0]
    assert x.ranks == (1, 2) and x.ranks_at("fp32") == (1, 2) and x.ranks_at("fp16") == (2,)
    v = np.arange(3.0)
    assert fit_rank(v, x, "fp32", "case").shape == (3,)      # allowed as is
    assert fit_rank(v, x, "fp16", "case").shape == (1, 3)    # lifted by a leading unit dim, same data
    with pytest.raises(ValueError, match="rank 3; the spec allows \\[2\\] at fp16"):
        fit_rank(np.zeros((1, 1, 3)), x, "fp16", "case")
