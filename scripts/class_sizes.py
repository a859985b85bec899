"""Lines per top-level class, largest first: how issue 24 measures classes that do too much.

``raw`` counts from the ``class`` line (or its first decorator) to the class's last line;
``code`` leaves out blank lines, comment-only lines and docstrings.
Usage: ``python scripts/class_sizes.py scheduler_proc/runner/*.py``
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if _is_docstring(first):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def class_sizes(path: Path) -> list[tuple[int, int, str]]:
    """(raw lines, code lines, name) of each top-level class in the file."""
    source = path.read_text()
    tree = ast.parse(source)
    docs, lines = _docstring_lines(tree), source.splitlines()
    sizes = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
            start = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
            numbers = range(start, node.end_lineno + 1)
            code = [n for n in numbers if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith("#")]
            sizes.append((len(numbers), len([n for n in code if n not in docs]), node.name))
    return sizes


def main(paths: list[str]) -> None:
    rows = [(raw, code, name, path) for path in paths for raw, code, name in class_sizes(Path(path))]
    print("  raw  code  class")
    for raw, code, name, path in sorted(rows, reverse=True):
        print(f"{raw:5d} {code:5d}  {name:28s} {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
