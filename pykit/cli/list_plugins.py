"""List the plugins found in plugin folders, from their specs."""
from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--verbose", "-v", action="store_true", help="also show tensors and tolerances")


def run(args) -> int:
    from pykit import registry
    from pykit.report import text_table

    specs = registry.discover()
    rows = []
    for s in specs:
        attrs = ", ".join(
            f"{a.name}:{a.type}" + ("" if a.required else f"={a.default}") for a in s.attributes
        )
        rows.append([s.name, s.version, s.namespace, ",".join(s.precisions), attrs or "-"])
    print(text_table(["plugin", "version", "namespace", "precisions", "attributes"], rows))
    if args.verbose:
        for s in specs:
            print(f"\n{s.name} ({s.folder}): {s.summary}")
            for kind, tensors in (("in", s.inputs), ("out", s.outputs)):
                for t in tensors:
                    print(f"  {kind:3} {t.name}: rank {list(t.ranks)}, {t.dtypes}  {t.doc}")
            for p, tol in s.tolerances.items():
                print(f"  tolerance {p}: {tol.describe()}  ({tol.why})")
    return 0
