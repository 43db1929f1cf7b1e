#!/usr/bin/env python3
"""Prints the import graph between the crate's top-level modules (src/<m>.rs or
src/<m>/), one line per module with the modules it imports, in layer order
(a module after everything it imports), and fails if there is a cycle.
Usage: python3 scripts/module_graph.py [src]"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"
deps = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        top = os.path.relpath(os.path.join(root, f), src).split(os.sep)[0].removesuffix(".rs")
        if top in ("lib", "main"):
            continue
        text = open(os.path.join(root, f), encoding="utf-8").read()
        # Unit tests may import anything; they are not part of the layering.
        text = re.sub(r"#\[cfg\(test\)\]\s*mod \w+\s*\{.*", "", text, flags=re.S)
        names = set(re.findall(r"crate::(\w+)", text))
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            names |= set(re.findall(r"(?:^|,)\s*(\w+)", group))
        deps.setdefault(top, set()).update(n for n in names if n != top)
deps = {m: {d for d in ds if d in deps} for m, ds in deps.items()}

order, placed = [], set()
while len(placed) < len(deps):
    ready = sorted(m for m in deps if m not in placed and deps[m] <= placed)
    if not ready:
        stuck = sorted(m for m in deps if m not in placed)
        print("cycle among: " + ", ".join(stuck))
        sys.exit(1)
    # One layer: every module whose imports are all in lower layers.
    order.append(ready)
    placed |= set(ready)
for i, layer in enumerate(order):
    for m in layer:
        below = ", ".join(sorted(deps[m])) or "-"
        print(f"layer {i}  {m:<10} imports {below}")
