"""``python -m pykit``: the pykit command line (``python -m pykit --cmake-dir`` as pybind11 has it)."""
import sys

from pykit.cli.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
