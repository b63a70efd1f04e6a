"""Writing files so that a failure leaves nothing half-written."""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path


def _new_file_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: an existing file keeps its own, a new one gets
    0666 & ~umask (mkstemp's 0600 would make outputs private unlike every other file written)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic_all(files: dict) -> None:
    """Write every ``{path: bytes}`` or none: each goes to a temporary file beside its path and is
    flushed to disk; only when all are written are they renamed over their paths. If a rename fails,
    the ones already renamed are undone (a file that was there before is put back)."""
    staged = []  # (temporary, final path, hard link to the previous file or None, existed before)
    renamed = []
    try:
        for path, data in files.items():
            path = Path(path)
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
            staged.append((tmp, path, None, path.exists()))
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), _new_file_mode(path))
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        if len(staged) > 1:  # keep what each rename replaces, to put it back if a later one fails
            for k, (tmp, path, _, existed) in enumerate(staged):
                if existed:
                    backup = f"{tmp}.previous"
                    try:
                        os.link(path, backup)
                    except OSError:
                        continue  # no hard links here: that one cannot be put back
                    staged[k] = (tmp, path, backup, existed)
        for tmp, path, backup, existed in staged:
            os.replace(tmp, path)
            renamed.append((path, backup, existed))
    except BaseException:
        for path, backup, existed in renamed:
            try:
                if backup is not None:
                    os.replace(backup, path)
                elif not existed:
                    os.unlink(path)
            except OSError:
                pass
        for tmp, _, backup, _ in staged:
            for leftover in (tmp, backup):
                if leftover is not None:
                    try:
                        os.unlink(leftover)
                    except OSError:
                        pass
        raise
    for _, _, backup, _ in staged:
        if backup is not None:
            try:
                os.unlink(backup)
            except OSError:
                pass


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename over ``path``."""
    write_atomic_all({path: data})


def check_output_is_not_input(output, inputs) -> None:
    """Raise ValueError (one line) if ``output`` is one of ``inputs`` (the same path or the same file
    through a link): writing it would destroy the input. Every command that writes a file derived
    from input files calls this before doing any work."""
    out = Path(output)
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        try:
            same = os.path.samefile(out, inp)
        except OSError:  # one of them does not exist (yet): compare where they would be
            same = out.resolve() == inp.resolve()
        if same:
            raise ValueError(f"{output}: output is the input {inp}; choose another output path")
