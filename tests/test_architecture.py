"""The layers of docs/architecture.md, checked: every import in src/afterword, lazy ones
inside functions included, points down. A new upward import fails here, with the module
and the line, before a reviewer has to find it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "afterword"

# what each part may import of the project (besides itself); docs/architecture.md's table
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "words": set(),
    "crypto": {"errors", "words"},
    "switch": {"errors", "words", "crypto"},
    "store": {"errors", "words", "crypto", "switch"},
    "delivery": {"errors", "words", "crypto", "switch"},
    "engine": {"errors", "words", "crypto", "switch", "store", "delivery"},
    "worker": {"errors", "words", "crypto", "switch", "store", "delivery", "engine"},
    "web": {"errors", "words", "crypto", "switch", "delivery", "engine"},
    "client": {"errors", "words", "crypto", "switch"},
    "server": {
        "errors",
        "words",
        "crypto",
        "switch",
        "store",
        "delivery",
        "engine",
        "worker",
        "web",
    },
    "cli": {"*"},
}
# upward or sideways imports that exist today, each to be removed by the issue named
KNOWN: set[tuple[str, str]] = set()


def part_of(module: str) -> str:
    """``afterword.store.db`` -> ``store``; ``afterword.cli`` -> ``cli``."""
    return module.split(".")[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, as (line, dotted name): ``from a import b`` names
    ``a``, and ``a.b`` too when ``b`` is a module of ours (``from afterword import store``,
    ``from afterword.web import owner``); relative imports are resolved."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            source = node.module or ""
            if node.level:
                source = f"{base}.{source}" if source else base
            found.append((node.lineno, source))
            found += [
                (node.lineno, f"{source}.{a.name}")
                for a in node.names
                if is_module(f"{source}.{a.name}")
            ]
    return sorted((line, name) for line, name in found if name.split(".")[0] == "afterword")


def is_module(name: str) -> bool:
    """Whether ``afterword.x.y`` is a module or package of ours (not a name inside one)."""
    parts = name.split(".")[1:]
    where = SRC.joinpath(*parts) if parts else SRC
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def layer_of(path: Path) -> str:
    first = path.relative_to(SRC).parts[0]
    return first.removesuffix(".py")


def violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        layer = layer_of(path)
        allowed = ALLOWED.get(layer, set())
        if "migrations" in path.parts or "*" in allowed or layer == "__init__":
            continue
        where = str(path.relative_to(SRC))
        for line, name in imports(path):
            if name == "afterword":  # the package root: its version, nothing else
                continue
            target = part_of(name)
            if target == layer or target in allowed or (where, target) in KNOWN:
                continue
            found.append(f"{where}:{line} imports {name} ({layer} may not import {target})")
    return found


def test_every_import_points_down() -> None:
    assert violations() == []


def test_the_known_exceptions_still_exist() -> None:
    """An exception that is gone must leave the list, so the list stays the truth."""
    for where, target in sorted(KNOWN):
        names = [part_of(n) for _, n in imports(SRC / where) if n != "afterword"]
        assert target in names, f"{where} no longer imports {target}: drop it from KNOWN"


def test_the_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "afterword"
    (fake / "switch").mkdir(parents=True)
    (fake / "store").mkdir()
    (fake / "store" / "__init__.py").write_text("")
    (fake / "store" / "db.py").write_text("")
    (fake / "switch" / "bad.py").write_text(
        "def f():\n    from afterword.store import db\n"
        "from afterword import store\n"
        "from ..store import db as relative\n"
    )
    monkeypatch.setitem(globals(), "SRC", fake)
    assert violations() == [
        "switch/bad.py:2 imports afterword.store (switch may not import store)",
        "switch/bad.py:2 imports afterword.store.db (switch may not import store)",
        "switch/bad.py:3 imports afterword.store (switch may not import store)",
        "switch/bad.py:4 imports afterword.store (switch may not import store)",
        "switch/bad.py:4 imports afterword.store.db (switch may not import store)",
    ]


def test_a_cycle_through_a_submodule_import_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "afterword"
    (fake / "web").mkdir(parents=True)
    (fake / "web" / "__init__.py").write_text("")
    (fake / "web" / "app.py").write_text("from afterword.web import owner\n")
    (fake / "web" / "owner.py").write_text("from afterword.web.app import LIMIT\n")
    monkeypatch.setitem(globals(), "SRC", fake)
    assert cycles() == [("afterword.web.app", "afterword.web.owner")]


def module_of(path: Path) -> str:
    parts = ["afterword", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cycles() -> list[tuple[str, ...]]:
    """Every pair of modules that import each other, directly or through others (lazy
    imports count: a cycle hidden in a function is still a cycle)."""
    modules = {module_of(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, p in modules.items():
        for _, name in imports(p):
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]  # `from afterword.x import y`: module x
            if name in modules and name != m and name != "afterword":
                graph[m].add(name)
    found = set()
    for start in graph:  # each module that can reach itself, with the path back
        stack = [(start, (start,))]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    found.add(tuple(sorted(path)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    return sorted(found)


# cycles that exist today, each to be broken by the issue named (none since issue 16 moved
# what crypto/release.py and crypto/verify.py both need of a notice into crypto/notice.py)
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def test_nothing_imports_in_a_circle() -> None:
    found = cycles()
    assert [c for c in found if c not in KNOWN_CYCLES] == []
    assert [c for c in KNOWN_CYCLES if c not in found] == [], "a known cycle is gone: drop it"


# a module holds one subject a reader can take in, a function one step: issue 16's sizes
MAX_LINES = 500
MAX_FUNCTION_LINES = 80


def oversized(root: Path) -> list[str]:
    """Modules over MAX_LINES lines and functions over MAX_FUNCTION_LINES, as 'where: n'."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root).as_posix()
        if text.count("\n") > MAX_LINES:
            found.append(f"{where}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    return found


def test_every_module_and_function_stays_small() -> None:
    assert oversized(SRC) == []


def test_the_size_check_can_fail(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "big.py").write_text(f"def f():\n{body}" + "\n" * MAX_LINES)
    assert oversized(tmp_path) == [
        f"big.py: {MAX_FUNCTION_LINES + 1 + MAX_LINES} lines",
        f"big.py:1 f: {MAX_FUNCTION_LINES + 1} lines",
    ]
