"""The test suite's own layout (docs/architecture.md, "Tests"): every test module lives in a
tier folder, every tier is one pytest collects by default and the Makefile's fast target
runs or leaves out on purpose, and conftest files do nothing when imported."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import FAST_TIERS, TIERS

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def test_every_test_module_is_in_a_tier():
    outside = [str(path.relative_to(ROOT)) for path in TESTS.rglob("test_*.py")
               if path.relative_to(TESTS).parts[0] not in TIERS]
    assert outside == [], "move these into a tier folder: tests/{unit,domain,actions,speech,e2e,scaleout}/"


def test_pytest_collects_every_tier_and_make_test_fast_the_fast_ones():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert config["testpaths"] == [f"tests/{tier}" for tier in TIERS]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "FAST_TIERS := $(wildcard " + " ".join(f"tests/{tier}" for tier in FAST_TIERS) + ")" in makefile


def test_every_tier_folder_is_a_package():
    assert (TESTS / "__init__.py").exists()
    missing = [tier for tier in TIERS if (TESTS / tier).is_dir() and not (TESTS / tier / "__init__.py").exists()]
    assert missing == [], "same-named test modules in two tiers need the tiers to be packages"


def test_conftest_files_do_nothing_at_import():
    """Module level of every conftest.py: imports, constants, functions, classes; no calls
    that change the process (environment, folders, sys.path), which belong in fixtures."""
    allowed_calls = {"frozenset", "tuple", "set", "dict", "object", "re.compile", "Path", "TypeVar"}
    offenders = []
    for path in TESTS.rglob("conftest.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # docstring
            for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
                name = ast.unparse(call.func)
                if name not in allowed_calls and not name.endswith(("Path", ".resolve", ".parent")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert offenders == []
