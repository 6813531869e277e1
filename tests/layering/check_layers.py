#!/usr/bin/env python3
"""Checks the shape of the source tree (issue 7, the rooms):

- includes point downward only: server/core never includes server/rpc
  or server/wal, server/wal never includes server/rpc or client, client
  never includes server, common includes only common;
- no include circle among the project's own files;
- no file in server/, client/ or common/ over MAX_LINES lines.

Usage: check_layers.py SOURCE_DIR. Prints every violation; exits 1 if any.
"""

import os
import re
import sys

MAX_LINES = 400
INCLUDE = re.compile(r'^#include "((?:server|client|common)/[^"]+)"', re.M)
# (file prefix, include prefix it must not use)
FORBIDDEN = [
    ("server/core/", "server/rpc/"),
    ("server/core/", "client/"),
    ("server/rpc/", "client/"),
    ("server/core/", "server/wal/"),
    ("server/auth/", "server/rpc/"),
    ("server/auth/", "server/core/"),
    ("server/auth/", "server/wal/"),
    ("server/auth/", "client/"),
    ("server/wal/", "server/rpc/"),
    ("server/wal/", "client/"),
    ("client/", "server/"),
    ("common/", "server/"),
    ("common/", "client/"),
]


def main():
    root = sys.argv[1]
    graph = {}
    problems = []
    for top in ("server", "client", "common"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                lines = text.count("\n")
                if lines > MAX_LINES:
                    problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
                graph[rel] = INCLUDE.findall(text)
                for inc in graph[rel]:
                    for prefix, banned in FORBIDDEN:
                        if rel.startswith(prefix) and inc.startswith(banned):
                            problems.append(f"{rel}: includes {inc} (upward)")

    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                problems.append("include circle: " + " -> ".join(cycle))
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])

    for p in problems:
        print(p)
    print(f"{len(graph)} files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
