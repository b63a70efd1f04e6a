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
    """{'v2/<file>': text, 'v3/<file>': text}: every file of the v2 plugin, the v3 glue."""
    from pykit import scaffold

    out = {}
    for api in ("v2", "v3"):
        plan = scaffold.make_plan(**GOLDEN_ARGS, api=api)
        files = scaffold.render(plan)
        for rel, text in files.items():
            if api == "v2" or rel.endswith("_plugin_v3.cpp"):
                out[f"{api}/{rel}"] = text
    return out


if __name__ == "__main__":
    import shutil

    shutil.rmtree(GOLDEN, ignore_errors=True)
    for rel, text in golden_files().items():
        path = GOLDEN / (rel + ".golden")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(golden_files())} golden files under {GOLDEN}")
