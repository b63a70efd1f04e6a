"""The fixed spec of the golden snapshot, shared by the tests and the regeneration command:
    python tests/scaffold/scaffold_helpers.py   (rewrites tests/scaffold/golden/ from the templates)"""
from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
# every attribute kind: scalars, a string, arrays with and without defaults, required ones
GOLDEN_ARGS = dict(name="Foo", inputs=["x:float", "idx:int32"], outputs=["y"],
                   attrs=["epsilon:float=1e-5", "axis:int=-1", "mode:str=fast", "n:int", "weights:float[]=1,2",
                          "dims:int[]", "sizes:int[]=3,4", "gains:float[]"],
                   precisions="fp32,fp16,int8")


def golden_files() -> dict[str, str]:
    """{'<file>': text}: every file of the generated plugin."""
    from pykit import scaffold

    return scaffold.render(scaffold.make_plan(**GOLDEN_ARGS))

if __name__ == "__main__":
    import shutil

    shutil.rmtree(GOLDEN, ignore_errors=True)
    for rel, text in golden_files().items():
        path = GOLDEN / (rel + ".golden")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(golden_files())} golden files under {GOLDEN}")
