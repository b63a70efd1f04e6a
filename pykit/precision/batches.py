"""Calibration data streams: TensorRT sampleINT8 batch files, .npy/.npz folders, Python iterables.

Batch-file format (TensorRT sampleINT8 ``BatchStream``, seed 002), little-endian::

    int32 N, C, H, W
    float32 data[N*C*H*W]      # NCHW
    float32 labels[N]          # optional: sampleINT8 accepts a file without labels

Everything here yields :class:`Batch` objects: a dict of named input arrays sharing the leading
(batch) dimension, plus optional labels.  :class:`BatchStream` re-batches any source to a batch
size independent of the file batch size and can skip the first ``skip`` batches and stop after
``max_batches``, as sampleINT8's ``BatchStream(batchSize, maxBatches, ...)`` with ``reset(firstBatch)``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = [
    "Batch",
    "BatchFileError",
    "BatchStream",
    "DATA_KEY",
    "LABEL_KEYS",
    "iter_source",
    "read_batch_file",
    "write_batch_file",
]

#: name given to the array of a batch file or a .npy file (bound to a model's only input)
DATA_KEY = "data"
#: keys of an .npz file (or dict) that hold labels rather than model inputs
LABEL_KEYS = ("labels", "label")

_HEADER = np.dtype("<i4")
_FLOAT = np.dtype("<f4")


class BatchFileError(ValueError):
    """A calibration data file is unreadable; the message names the file and the problem."""


@dataclass
class Batch:
    """Named input arrays with a common leading batch dimension, and optional labels."""

    inputs: dict = field(default_factory=dict)
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0]) if self.inputs else 0


# ----------------------------------------------------------------------------- batch files
def write_batch_file(path, data, labels=None) -> None:
    """Write ``data`` (N, C, H, W) and optional ``labels`` (N,) in the sampleINT8 format."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 4:
        raise ValueError(f"batch data must be 4-D NCHW, got shape {data.shape}")
    parts = [np.asarray(data.shape, dtype=_HEADER).tobytes(), np.ascontiguousarray(data, dtype=_FLOAT).tobytes()]
    if labels is not None:
        labels = np.asarray(labels, dtype=_FLOAT).reshape(-1)
        if labels.size != data.shape[0]:
            raise ValueError(f"{labels.size} labels for {data.shape[0]} samples")
        parts.append(labels.tobytes())
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(b"".join(parts))
    os.replace(tmp, path)


def read_batch_file(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a sampleINT8 batch file: ``(data float32 NCHW, labels float32 (N,) or None)``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BatchFileError(f"{path}: cannot read batch file: {e.strerror or e}") from None
    if len(raw) < 16:
        raise BatchFileError(f"{path}: truncated batch file: expected a 16-byte header (int32 N, C, H, W), "
                             f"found {len(raw)} bytes")
    dims = np.frombuffer(raw, dtype=_HEADER, count=4).astype(np.int64)
    if np.any(dims <= 0):
        raise BatchFileError(f"{path}: bad batch file header: N, C, H, W = {tuple(int(d) for d in dims)} "
                             f"(all must be positive)")
    n, c, h, w = (int(d) for d in dims)
    count = n * c * h * w
    with_labels = 16 + 4 * (count + n)
    without = 16 + 4 * count
    if len(raw) not in (with_labels, without):
        if len(raw) < without:
            what = "truncated batch file"
        elif len(raw) < with_labels:
            what = "truncated batch file (labels cut short)"
        else:
            what = "batch file has trailing bytes"
        raise BatchFileError(f"{path}: {what}: header N,C,H,W = {n},{c},{h},{w} needs {with_labels} bytes "
                             f"(or {without} without labels), found {len(raw)}")
    data = np.frombuffer(raw, dtype=_FLOAT, count=count, offset=16).astype(np.float32).reshape(n, c, h, w)
    labels = None
    if len(raw) == with_labels:
        labels = np.frombuffer(raw, dtype=_FLOAT, count=n, offset=16 + 4 * count).astype(np.float32)
    return data, labels


# ----------------------------------------------------------------------------- sources
def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def _from_npy(path: Path) -> Batch:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError/EOFError/OSError for bad files
        raise BatchFileError(f"{path}: cannot read .npy file: {e}") from None
    if arr.ndim == 0:
        raise BatchFileError(f"{path}: .npy file holds a scalar; expected an array with a batch dimension")
    return Batch({DATA_KEY: arr})


def _from_npz(path: Path) -> Batch:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise BatchFileError(f"{path}: cannot read .npz file: {e}") from None
    try:
        return _batch_from_mapping(arrays)
    except ValueError as e:
        raise BatchFileError(f"{path}: {e}") from None


def _batch_from_mapping(arrays: dict) -> Batch:
    labels = None
    inputs = {}
    for k, v in arrays.items():
        if k in LABEL_KEYS:
            labels = np.asarray(v).reshape(-1)
        else:
            inputs[k] = np.asarray(v)
    if not inputs:
        raise ValueError("no input arrays (only labels)")
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in inputs.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(f"arrays must share a leading batch dimension, got {sizes}")
    n = next(iter(sizes.values()))
    if labels is not None and labels.size != n:
        raise ValueError(f"{labels.size} labels for a batch of {n}")
    return Batch(inputs, labels)


def _as_batch(item) -> Batch:
    """Coerce one item of a Python iterable into a Batch."""
    if isinstance(item, Batch):
        return item
    if isinstance(item, dict):
        return _batch_from_mapping(item)
    if isinstance(item, tuple) and len(item) == 2:
        b = _as_batch(item[0])
        return Batch(b.inputs, None if item[1] is None else np.asarray(item[1]).reshape(-1))
    arr = np.asarray(item)
    if arr.ndim == 0:
        raise ValueError("a batch must have a leading batch dimension, got a scalar")
    return Batch({DATA_KEY: arr})


def iter_source(source, shuffle_seed: int | None = None) -> Iterator[Batch]:
    """Batches of a data source as stored (no re-batching).

    ``source`` is a batch file, a folder of batch files (all regular non-hidden files, in natural
    order: batch0, batch1, ..., batch10), a folder of .npy/.npz files (natural order; other files
    ignored), a single .npy/.npz file, or a Python iterable of arrays, dicts of arrays (key
    ``labels`` = labels), ``(array_or_dict, labels)`` tuples or :class:`Batch` objects.
    ``shuffle_seed`` shuffles the order of a folder's files (reproducibly), nothing else.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
            numpy_files = [p for p in files if p.suffix in (".npy", ".npz")]
            if numpy_files:
                files = numpy_files
            if not files:
                raise BatchFileError(f"{path}: folder holds no data files")
            if shuffle_seed is not None:
                files = [files[k] for k in np.random.default_rng(shuffle_seed).permutation(len(files))]
            for p in files:
                yield from iter_source(p)
        elif path.is_file():
            if path.suffix == ".npy":
                yield _from_npy(path)
            elif path.suffix == ".npz":
                yield _from_npz(path)
            else:
                data, labels = read_batch_file(path)
                yield Batch({DATA_KEY: data}, labels)
        else:
            raise BatchFileError(f"{path}: no such file or folder")
        return
    if isinstance(source, (np.ndarray, dict, Batch)):
        source = [source]
    for item in source:
        yield _as_batch(item)


class BatchStream:
    """Re-batch a source to ``batch_size`` samples, skipping the first ``skip`` batches.

    ``batch_size=None`` keeps the source's own batches.  The last, short batch is yielded unless
    ``drop_last`` (sampleINT8 drops it: a network with a fixed batch dimension cannot take it).
    ``max_batches`` caps the number of batches yielded after the skip.  ``shuffle_seed`` shuffles
    the order of a folder's files.  Iterating again restarts (not for a one-shot iterator source).
    """

    def __init__(self, source, batch_size: int | None = None, skip: int = 0,
                 max_batches: int | None = None, drop_last: bool = False,
                 shuffle_seed: int | None = None) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        self.source = source
        self.batch_size = batch_size
        self.skip = int(skip)
        self.max_batches = max_batches
        self.drop_last = drop_last
        self.shuffle_seed = shuffle_seed
        if isinstance(source, Iterator):
            # a one-shot iterator can only be walked once; remember that honestly
            self._one_shot = True
        else:
            self._one_shot = False
        self._used = False

    def _rebatched(self) -> Iterator[Batch]:
        if self.batch_size is None:
            yield from iter_source(self.source, self.shuffle_seed)
            return
        bs = self.batch_size
        pending: list[Batch] = []
        have = 0
        keys = None
        for b in iter_source(self.source, self.shuffle_seed):
            if keys is None:
                keys = list(b.inputs)
            elif list(b.inputs) != keys:
                raise ValueError(f"batches name different inputs: {keys} then {list(b.inputs)}")
            pending.append(b)
            have += len(b)
            while have >= bs:
                out, pending, have = _take(pending, bs)
                yield out
        if have and not self.drop_last:
            out, pending, have = _take(pending, have)
            yield out

    def __iter__(self) -> Iterator[Batch]:
        if self._one_shot and self._used:
            raise RuntimeError("this BatchStream wraps a one-shot iterator that was already consumed")
        self._used = True
        yielded = 0
        for k, b in enumerate(self._rebatched()):
            if k < self.skip:
                continue
            if self.max_batches is not None and yielded >= self.max_batches:
                return
            yielded += 1
            yield b

    def num_batches(self) -> int | None:
        """Number of batches this stream yields, from file headers and shapes, without reading the
        data; ``None`` when the source cannot be sized cheaply (e.g. a generator)."""
        sizes = _source_sizes(self.source)
        if sizes is None:
            return None
        if self.batch_size is None:
            n = len(sizes)
        else:
            total = sum(sizes)
            n = total // self.batch_size + (0 if self.drop_last or total % self.batch_size == 0 else 1)
        n = max(0, n - self.skip)
        return n if self.max_batches is None else min(n, self.max_batches)


def _source_sizes(source) -> list[int] | None:
    """Samples per stored batch, cheaply, or None."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
            numpy_files = [p for p in files if p.suffix in (".npy", ".npz")]
            files = numpy_files or files
            out = []
            for p in files:
                s = _source_sizes(p)
                if s is None:
                    return None
                out += s
            return out
        try:
            if path.suffix == ".npy":
                return [int(np.load(path, mmap_mode="r").shape[0])]
            if path.suffix == ".npz":
                return None
            with open(path, "rb") as f:
                head = f.read(16)
            return [int(np.frombuffer(head, dtype=_HEADER, count=1)[0])] if len(head) == 16 else None
        except Exception:
            return None
    if isinstance(source, (list, tuple)):
        try:
            return [len(_as_batch(item)) for item in source]
        except Exception:
            return None
    return None


def _take(pending: list[Batch], n: int):
    """Split the first ``n`` samples off a list of batches."""
    taken: list[Batch] = []
    got = 0
    rest = list(pending)
    while got < n:
        b = rest.pop(0)
        need = n - got
        if len(b) <= need:
            taken.append(b)
            got += len(b)
        else:
            taken.append(Batch({k: v[:need] for k, v in b.inputs.items()},
                               None if b.labels is None else b.labels[:need]))
            rest.insert(0, Batch({k: v[need:] for k, v in b.inputs.items()},
                                 None if b.labels is None else b.labels[need:]))
            got = n
    inputs = {k: np.concatenate([t.inputs[k] for t in taken]) for k in taken[0].inputs}
    labels = None
    if all(t.labels is not None for t in taken):
        labels = np.concatenate([t.labels for t in taken])
    return Batch(inputs, labels), rest, sum(len(b) for b in rest)


def fixed_batch(model) -> int | None:
    """The model's fixed leading dimension if every (non-initializer) input has the same fixed one,
    else None: the batch size sampleINT8's batch files are read in."""
    inits = {i.name for i in model.graph.initializer}
    dims = set()
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = vi.type.tensor_type.shape
        if not shape.dim or not shape.dim[0].HasField("dim_value"):
            return None
        dims.add(shape.dim[0].dim_value)
    return dims.pop() if len(dims) == 1 else None
