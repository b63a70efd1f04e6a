"""sampleINT8 batch files, .npy/.npz folders and iterables through BatchStream."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from pykit.precision.batches import (BatchFileError, BatchStream, iter_source, read_batch_file,
                                     write_batch_file)


def seed_format_bytes(data, labels):
    """The seed's layout, written independently: int32 N,C,H,W; float32 data; float32 labels (LE)."""
    n, c, h, w = data.shape
    out = struct.pack("<4i", n, c, h, w)
    out += struct.pack(f"<{data.size}f", *data.ravel().tolist())
    if labels is not None:
        out += struct.pack(f"<{n}f", *labels.tolist())
    return out


@pytest.fixture
def batch_dir(tmp_path):
    """5 files of 6 samples each (1x2x3), as sampleINT8 names them: batch0 .. batch4."""
    rng = np.random.default_rng(42)
    data = rng.standard_normal((30, 1, 2, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 30).astype(np.float32)
    d = tmp_path / "batches"
    d.mkdir()
    for k in range(5):
        (d / f"batch{k}").write_bytes(seed_format_bytes(data[6 * k:6 * k + 6], labels[6 * k:6 * k + 6]))
    return d, data, labels


def test_read_seed_format(batch_dir):
    d, data, labels = batch_dir
    got, got_labels = read_batch_file(d / "batch1")
    assert got.dtype == np.float32 and got.shape == (6, 1, 2, 3)
    assert np.array_equal(got, data[6:12])
    assert np.array_equal(got_labels, labels[6:12])


def test_write_matches_seed_bytes(tmp_path, batch_dir):
    _, data, labels = batch_dir
    write_batch_file(tmp_path / "w", data[:4], labels[:4])
    assert (tmp_path / "w").read_bytes() == seed_format_bytes(data[:4], labels[:4])
    write_batch_file(tmp_path / "nolabels", data[:4])
    got, got_labels = read_batch_file(tmp_path / "nolabels")
    assert np.array_equal(got, data[:4]) and got_labels is None


@pytest.mark.parametrize("batch_size, skip", [(None, 0), (6, 2), (4, 0), (4, 3), (7, 1), (12, 1), (30, 0), (1, 29)])
def test_rebatching_and_skip(batch_dir, batch_size, skip):
    d, data, labels = batch_dir
    stream = BatchStream(d, batch_size=batch_size, skip=skip)
    got = list(stream)
    bs = 6 if batch_size is None else batch_size
    starts = list(range(0, 30, bs))[skip:]
    assert len(got) == len(starts) == stream.num_batches()
    for b, s in zip(got, starts):
        assert np.array_equal(b.inputs["data"], data[s:s + bs])
        assert np.array_equal(b.labels, labels[s:s + bs])
    assert list(stream)[0].inputs["data"].shape == got[0].inputs["data"].shape  # restartable


def test_drop_last_and_max_batches(batch_dir):
    d, data, _ = batch_dir
    got = list(BatchStream(d, batch_size=7, drop_last=True))
    assert [len(b) for b in got] == [7, 7, 7, 7]
    got = list(BatchStream(d, batch_size=5, skip=1, max_batches=2))
    assert len(got) == 2 and np.array_equal(got[1].inputs["data"], data[10:15])
    assert BatchStream(d, batch_size=5, skip=1, max_batches=2).num_batches() == 2


def test_natural_file_order(tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for k in range(12):
        write_batch_file(d / f"batch{k}", np.full((1, 1, 1, 1), k, np.float32))
    got = [float(b.inputs["data"].ravel()[0]) for b in iter_source(d)]
    assert got == list(range(12))  # batch10 after batch9, not after batch1
    shuffled = [float(b.inputs["data"].ravel()[0]) for b in BatchStream(d, shuffle_seed=3)]
    assert sorted(shuffled) == got and shuffled != got
    assert shuffled == [float(b.inputs["data"].ravel()[0]) for b in BatchStream(d, shuffle_seed=3)]


def test_truncated_file_errors_name_file_and_sizes(tmp_path, batch_dir):
    d, data, labels = batch_dir
    raw = seed_format_bytes(data[:6], labels[:6])
    full = len(raw)
    cases = {
        "short_header": (raw[:10], "expected a 16-byte header"),
        "short_data": (raw[:100], f"needs {full} bytes (or {full - 24} without labels), found 100"),
        "short_labels": (raw[:-8], f"labels cut short): header N,C,H,W = 6,1,2,3 needs {full} bytes"),
        "trailing": (raw + b"\0\0\0\0", "trailing bytes"),
        "bad_header": (struct.pack("<4i", 0, 1, 2, 3), "all must be positive"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BatchFileError) as err:
            read_batch_file(path)
        assert str(err.value).startswith(str(path)), err.value
        assert fragment in str(err.value), (name, str(err.value))
    (d / "batch5").write_bytes(raw[:100])  # a bad file inside a folder stream is named too
    with pytest.raises(BatchFileError, match="batch5: truncated"):
        list(BatchStream(d, batch_size=4))


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(BatchFileError, match="no such file"):
        list(iter_source(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchFileError, match="no data files"):
        list(iter_source(tmp_path / "empty"))


def test_npy_npz_folders(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((10, 3)).astype(np.float32)
    d = tmp_path / "npy"
    d.mkdir()
    np.save(d / "part0.npy", a[:4])
    np.save(d / "part1.npy", a[4:])
    (d / "README.txt").write_text("not data")
    got = np.concatenate([b.inputs["data"] for b in BatchStream(d, batch_size=3)])
    assert np.array_equal(got, a)
    assert BatchStream(d, batch_size=3).num_batches() == 4
    z = tmp_path / "npz"
    z.mkdir()
    ids = np.arange(10, dtype=np.int64)
    np.savez(z / "0.npz", x=a[:5], ids=ids[:5], labels=np.arange(5))
    np.savez(z / "1.npz", x=a[5:], ids=ids[5:], labels=np.arange(5, 10))
    batches = list(BatchStream(z, batch_size=4, skip=1))
    assert [len(b) for b in batches] == [4, 2]
    assert np.array_equal(batches[0].inputs["x"], a[4:8]) and batches[0].inputs["ids"].dtype == np.int64
    assert np.array_equal(batches[0].labels, np.arange(4, 8))
    np.savez(tmp_path / "bad.npz", x=a[:5], y=a[:3])
    with pytest.raises(BatchFileError, match="bad.npz: arrays must share a leading batch dimension"):
        list(iter_source(tmp_path / "bad.npz"))


def test_python_iterables():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((9, 2)).astype(np.float32)
    lab = np.arange(9)
    assert [len(b) for b in BatchStream([a[:5], a[5:]], batch_size=2)] == [2, 2, 2, 2, 1]
    gen = ((a[k:k + 3], lab[k:k + 3]) for k in range(0, 9, 3))
    stream = BatchStream(gen, batch_size=4, skip=1)
    got = list(stream)
    assert np.array_equal(got[0].inputs["data"], a[4:8]) and np.array_equal(got[0].labels, lab[4:8])
    with pytest.raises(RuntimeError, match="one-shot"):
        list(stream)
    got = list(BatchStream([{"x": a, "labels": lab}], batch_size=5))
    assert np.array_equal(got[1].inputs["x"], a[5:]) and np.array_equal(got[1].labels, lab[5:])
