"""Issue #14 item 7: pykit._trt's C++ errors reach Python as exceptions carrying TensorRT's text,
whatever was imported before (the bug: with pykit._trt imported first, without onnxruntime, every
error was "SystemError: ... returned NULL without setting an exception").

Each check runs in a fresh interpreter that imports pykit._trt FIRST (onnxruntime never imported),
then pykit._host (whose global PluginError translator is in the shared chain), so no earlier import
in the test session can mask the bug."""
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gpu


def _trt_available():
    try:
        from pykit import extensions

        extensions.load("_trt")
    except ImportError as exc:
        return str(exc)
    return None


REASON = _trt_available()


def run_fresh(body: str) -> subprocess.CompletedProcess:
    code = "from pykit import extensions\n_trt = extensions.load('_trt')\nextensions.load('_host')\n" \
           "import sys\nassert 'onnxruntime' not in sys.modules\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(REASON is not None, reason=f"needs pykit._trt (TensorRT): {REASON}")
@pytest.mark.parametrize("call,expected", [
    ("_trt.Builder().build_onnx(b'this is no onnx model', 'fp32', {})", ("RuntimeError",)),
    # the precision may be checked before or after the parse: either error, with its text
    ("_trt.Builder().build_onnx(b'x', 'fp64', {})", ("ValueError", "RuntimeError")),
    ("_trt.Engine(b'this is no TensorRT plan')", ("RuntimeError",)),
])
def test_errors_raise_with_their_message_when_trt_is_imported_first(call, expected):
    proc = run_fresh(f"""
        try:
            {call}
        except Exception as e:
            print("RAISED", type(e).__name__, "|", e)
        else:
            print("NO ERROR")
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith(("RAISED", "NO ERROR")))
    assert "SystemError" not in line, line
    assert line.split()[1] in expected, line
    assert len(line.split("|", 1)[1].strip()) > 10, line  # a message, not an empty exception
