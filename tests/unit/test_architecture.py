"""The layering rules of docs/architecture.md, checked on the source tree itself.

Every ``import`` statement in the project's packages is read with :mod:`ast` (module level and
inside functions alike, since a lazy import is still a dependency) and turned into a graph of
project modules. The tests then check that the graph has no cycles, that the domain layer
depends on no adapter, and that the environment is read in one place only.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "actions", "speech", "knowledge", "bench")
# Adapters and entry points that live inside bot/ but are not the domain layer.
BOT_ADAPTERS = ("bot.channels", "bot.nlu", "bot.ops", "bot.cli", "bot.console", "bot.__main__")
FOREIGN_TO_DOMAIN = ("rasa", "rasa_sdk", "telegram", "sanic", "speech", "actions", "knowledge", "bench",
                     "starlette", "uvicorn", "wechatpy")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:  # Alembic scripts are loaded by Alembic, not imported
                continue
            files[module_name(path)] = path
    return files


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names of every module ``name`` imports (relative imports resolved)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def project_graph() -> dict[str, set[str]]:
    files = source_files()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for imported in imports_of(name, path):
            # "from bot import points" names the module bot.points; "from bot.db import x" names bot.db.
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def is_domain(name: str) -> bool:
    return name.startswith("bot") and not any(name == a or name.startswith(a + ".") for a in BOT_ADAPTERS)


def test_the_checker_sees_the_project():
    graph = project_graph()
    assert {"bot.points", "bot.db", "actions.points", "speech.asr", "knowledge.retriever"} <= set(graph)
    assert "bot.models" in graph["bot.points"]
    # and would see a cycle if there were one
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert strongly_connected(project_graph()) == []


def test_the_domain_layer_imports_no_adapter():
    offenders = []
    files = source_files()
    for name, path in files.items():
        if not is_domain(name):
            continue
        for imported in imports_of(name, path):
            top = imported.split(".")[0]
            adapter = any(imported == a or imported.startswith(a + ".") for a in BOT_ADAPTERS)
            if top in FOREIGN_TO_DOMAIN or adapter:
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_speech_knows_no_database_and_no_rasa():
    offenders = [f"{name} imports {imported}" for name, path in source_files().items() if name.startswith("speech")
                 for imported in imports_of(name, path)
                 if imported.split(".")[0] in ("rasa", "rasa_sdk", "sqlalchemy", "actions")
                 or imported.startswith(("bot.db", "bot.models", "bot.channels"))]
    assert offenders == []


@pytest.mark.parametrize("needle", ["os.environ", "os.getenv", "getenv("])
def test_the_environment_is_read_only_by_the_settings_module(needle):
    allowed = {ROOT / "bot" / "config.py"}
    offenders = [str(path.relative_to(ROOT)) for path in source_files().values()
                 if path not in allowed and needle in path.read_text(encoding="utf-8")]
    assert offenders == []
