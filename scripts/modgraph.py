"""The top-level module graph of src/, for keeping the architecture honest (docs/architecture.md):
which module's files name `crate::X` (a `use` or a path); prints the count of modules and edges,
then every import circle (strongly connected component) with the edges inside it. Test files and
`#[cfg(test)] mod tests` bodies are left out (`--all` keeps them). A measuring tool, not a test.

    python3 scripts/modgraph.py [src] [--all]
"""
import os, re, sys
from collections import defaultdict

ROOT = next((a for a in sys.argv[1:] if not a.startswith("--")), "src")
SKIP_TESTS = "--all" not in sys.argv

def module_of(path, depth):
    rel = os.path.relpath(path, ROOT)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod",):
        parts = parts[:-1]
    return "::".join(parts[:depth])

def graph(depth=1):
    edges = defaultdict(set)
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            if SKIP_TESTS and (f.endswith("tests.rs") or "/tests/" in path):
                continue
            text = open(path).read()
            # drop #[cfg(test)] mod tests { ... } bodies roughly: cut at the first cfg(test) mod
            cut = re.search(r"#\[cfg\(test\)\]\s*mod tests \{", text)
            if cut and SKIP_TESTS:
                text = text[:cut.start()]
            src = module_of(path, depth)
            if src in ("main", "lib"):
                continue
            for m in re.finditer(r"crate::((?:\w+::){0,%d}\w+)" % (depth - 1), text):
                dst = "::".join(m.group(1).split("::")[:depth])
                if dst != src and os.path.exists(os.path.join(ROOT, dst.replace("::", "/") + ".rs")) \
                        or os.path.isdir(os.path.join(ROOT, dst.replace("::", "/"))):
                    if dst != src:
                        edges[src].add(dst)
    return edges

def sccs(edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    nodes = set(edges) | {d for v in edges.values() for d in v}
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(comp)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [sorted(c) for c in out if len(c) > 1]

e = graph()
circles = sccs(e)
print(f"modules: {len(set(e) | {d for v in e.values() for d in v})}, edges: {sum(len(v) for v in e.values())}")
print(f"import circles (top-level modules, non-test code): {len(circles)}")
for c in circles:
    inside = sorted((a, b) for a in c for b in e.get(a, ()) if b in c)
    print("  circle of", len(c), ":", ", ".join(c))
    for a, b in inside:
        print("     ", a, "->", b)
