#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a cycle.

    scripts/check-module-cycles.py [SRC_DIR]      (default: shared/core/src)

Reads every `crate::<module>` path in each module's files (a module is `src/<name>.rs` or
`src/<name>/`), ignoring `#[cfg(test)]` blocks, and prints the graph's strongly connected
components larger than one module. Data flows one way (walk -> chunk -> embed -> store ->
search); a cycle means two modules can no longer be read, changed or tested apart.
"""

import pathlib
import re
import sys


def module_of(src: pathlib.Path, path: pathlib.Path) -> str | None:
    rel = path.relative_to(src)
    if rel.parts[0] in ("lib.rs", "main.rs"):
        return None
    return rel.parts[0].removesuffix(".rs")


def without_tests(text: str) -> str:
    """The text before the first `#[cfg(test)]` module (tests may reach anywhere)."""
    at = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*mod ", text, re.M)
    return text[: at.start()] if at else text


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "shared/core/src")
    edges: dict[str, set[str]] = {}
    for path in sorted(src.rglob("*.rs")):
        module = module_of(src, path)
        if module is None:
            continue
        text = without_tests(path.read_text())
        used = set(re.findall(r"\bcrate::(\w+)", text))
        # `use crate::{a, b::c}` groups.
        for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
            used.update(re.findall(r"(?:^|,)\s*(\w+)", group))
        edges.setdefault(module, set()).update(used - {module})
    # Only the crate's own modules (not `crate::Index`, a re-export named in a doc link).
    modules = set(edges)
    edges = {m: {t for t in edges[m] if t in modules} for m in modules}

    # Tarjan's strongly connected components.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    for v in sorted(edges):
        print(f"{v} -> {', '.join(sorted(edges[v])) or '(nothing)'}")
    if cycles:
        for c in cycles:
            print(f"import cycle between modules: {' <-> '.join(c)}", file=sys.stderr)
        return 1
    print(f"{src}: {len(modules)} modules, no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
