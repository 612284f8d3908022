"""Every test docs/threat-model.md cites exists: the promise table is a claim about the
suite, so a renamed or deleted test must show here, not in a reader's trust."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `tests/x.py::name`, `tests/x.py`, and `::name` (the file named last before it)
CITATION = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def cited_tests(text: str) -> list[tuple[str, str | None]]:
    """(file, name or None) for each citation, in order; a bare ``::name`` takes the file
    cited last before it (a citation may wrap onto the next line)."""
    cited: list[tuple[str, str | None]] = []
    last: str | None = None
    for line in text.splitlines():
        for match in CITATION.finditer(line):
            file, name = match.groups()
            if file is None and name is None:
                continue
            last = file or last
            assert last is not None, f"`::{name}` cites no file before it on: {line[:80]}"
            cited.append((last, name))
    return cited


def missing_tests(cited: list[tuple[str, str | None]]) -> list[str]:
    """The cited files, or tests in them, that do not exist."""
    missing = []
    for file, name in cited:
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
        elif name is not None and name not in _tests_in(path):
            missing.append(f"{file}::{name}")
    return missing


def test_every_test_the_threat_model_cites_exists() -> None:
    text = (ROOT / "docs" / "threat-model.md").read_text()
    cited = cited_tests(text)
    assert len(cited) > 50  # the table is read at all
    missing = missing_tests(cited)
    assert not missing, f"docs/threat-model.md cites tests that do not exist: {missing}"


def test_every_test_the_deployment_guide_cites_exists() -> None:
    cited = cited_tests((ROOT / "docs" / "deploy.md").read_text())
    assert cited  # the guide cites its tests
    missing = missing_tests(cited)
    assert not missing, f"docs/deploy.md cites tests that do not exist: {missing}"


def test_the_citation_check_can_fail() -> None:
    line = "`tests/a.py::one`, `::two`; `tests/b.py` and `::three`"
    assert cited_tests(line) == [
        ("tests/a.py", "one"),
        ("tests/a.py", "two"),
        ("tests/b.py", None),
        ("tests/b.py", "three"),
    ]
