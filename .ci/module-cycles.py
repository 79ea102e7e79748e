#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a cycle.

Usage: .ci/module-cycles.py CRATE_SRC_DIR...

Every `crate::a::b::…` path in a module's source (comments and test modules left out) is an
edge from that module to `a`, to `a::b` and to `a::b::c`; a module's edges to its own ancestors
and descendants are its parent/child relation, not a dependency. A strongly connected
component of more than one module at any of the three depths is a cycle, printed with the
edges that make it.
"""

import os
import re
import sys

DEPTHS = (1, 2, 3)
TEST_FILES = {"tests.rs", "proptests.rs", "testing.rs"}


def module_of(root, path):
    parts = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def sources(root):
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if not name.endswith(".rs") or name in TEST_FILES or "/tests/" in path:
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read().split("#[cfg(test)]\nmod tests")[0]
            code = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("//"))
            yield module_of(root, path), code


def is_module(root, name):
    return os.path.exists(os.path.join(root, name + ".rs")) or os.path.isdir(
        os.path.join(root, name)
    )


def edges(root, depth):
    graph = {}
    for parts, code in sources(root):
        here = "::".join(parts[:depth])
        for used in re.findall(r"crate::((?:\w+::)*\w+)", code):
            segments = used.split("::")
            if not is_module(root, segments[0]):
                continue  # an item re-exported at the crate root
            there = "::".join(segments[:depth])
            related = there == here or here.startswith(there + "::") or there.startswith(here + "::")
            if here and not related:
                graph.setdefault(here, set()).add(there)
    return graph


def cycles(graph):
    """Tarjan's strongly connected components of more than one node."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for next_node in graph.get(node, ()):
            if next_node not in index:
                visit(next_node)
                low[node] = min(low[node], low[next_node])
            elif next_node in on_stack:
                low[node] = min(low[node], index[next_node])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def main(roots):
    failed = False
    for root in roots:
        for depth in DEPTHS:
            graph = edges(root, depth)
            for component in cycles(graph):
                failed = True
                print(f"{root}: modules in a cycle: {', '.join(component)}")
                for module in component:
                    inside = sorted(t for t in graph.get(module, ()) if t in component)
                    print(f"  {module} -> {', '.join(inside)}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
