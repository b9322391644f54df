"""Structural rules of the codebase, checked so they stay true.

- Imports run one way: ``bot`` -> ``ingest``. The write side never imports the
  read side or Slack code.
- No import cycles anywhere, and inside ``bot`` imports go from the surfaces
  (``cli``, ``server``, ``slack``, ``eval``) down through the composition root
  (``app``) and operations (``ops``) to the answering core, never back up.
- Every setting and every CLI command and option is documented in the README
  (the sqlite-utils ``test_docs.py`` idea).
- The store seam stays closed: no module outside ``ingest/store/`` runs SQL or
  touches a store's connection (``ingest/store/contract.py`` is the only way in).
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from bot.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ingest_never_imports_bot_or_slack() -> None:
    offenders = []
    for path in (REPO / "ingest").rglob("*.py"):
        for name in imported_modules(path):
            if name.split(".")[0] in {"bot", "slack_bolt", "slack_sdk"}:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


SQL_CALLS = frozenset({"execute", "executemany", "executescript"})


def seam_breaches(source: str, label: str) -> list[str]:
    """``.execute(``-style calls and ``.conn`` uses in one module, as ``label:line .what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and (node.attr in SQL_CALLS or node.attr == "conn"):
            found.append(f"{label}:{node.lineno} .{node.attr}")
    return found


def test_nothing_above_the_store_runs_sql_or_touches_its_connection() -> None:
    store = REPO / "ingest" / "store"
    breaches = [
        breach
        for package in ("bot", "ingest")
        for path in sorted((REPO / package).rglob("*.py"))
        if store not in path.parents
        for breach in seam_breaches(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]
    assert breaches == [], "move this SQL into ingest/store/ behind StoreContract"


def test_the_seam_check_sees_sql_and_connections() -> None:
    probe = "def f(store, c):\n    store.conn.execute('SELECT 1')\n    c.executemany('x', [])\n"
    assert sorted(seam_breaches(probe, "probe.py")) == [
        "probe.py:2 .conn", "probe.py:2 .execute", "probe.py:3 .executemany"
    ]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in ("bot", "ingest")
        for path in (REPO / package).rglob("*.py")
    }


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports: every import statement, including
    those inside functions and under ``TYPE_CHECKING`` (a cycle hidden in a function is
    still a cycle in the design). ``from pkg import mod`` counts as importing ``pkg.mod``."""
    modules = our_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        targets.add(full)
                    elif node.module in modules:
                        targets.add(node.module)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


LAYERS = {
    # layer: what it may import inside bot (besides itself); ingest is always allowed
    "core": set(),
    "ops": {"core"},
    "app": {"core", "ops"},
    "eval": {"core", "ops", "app"},
    "slack": {"core", "ops", "app"},
    "server": {"core", "ops", "app", "slack"},
    "cli": {"core", "ops", "app", "slack", "server", "eval"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__",):
        return "cli"  # the package itself and ``python -m bot``
    if parts[1] in LAYERS and parts[1] != "core":
        return parts[1]
    return "core"  # bot/answer.py, retrieve.py, llm.py, answer_cache.py, records.py


def test_bot_imports_go_from_the_surfaces_down_to_the_core() -> None:
    offenders = []
    for module, targets in import_graph().items():
        if not module.startswith("bot"):
            continue
        mine = layer(module)
        for target in targets:
            if target.startswith("bot") and layer(target) not in LAYERS[mine] | {mine}:
                offenders.append(f"{module} ({mine}) imports {target} ({layer(target)})")
    assert offenders == []


def settings_variables() -> set[str]:
    source = (REPO / "ingest" / "settings.py").read_text(encoding="utf-8")
    found = set(re.findall(r"""env(?:\.get)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    found |= set(
        re.findall(r"""_(?:str|int|bool|share)\(env,\s*["']([A-Z][A-Z0-9_]+)["']""", source)
    )
    found |= set(re.findall(r"""env\[["']([A-Z][A-Z0-9_]+)["']\]""", source))
    return found


def test_every_setting_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    variables = settings_variables() | {"DOCBOT_CONFIG"}
    assert len(variables) > 15
    missing = sorted(v for v in variables if f"`{v}`" not in readme)
    assert missing == [], f"settings missing from README.md: {missing}"


def test_every_cli_command_and_option_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    missing = []
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        if f"docbot {name}" not in readme:
            missing.append(f"docbot {name}")
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and option not in readme:
                    missing.append(f"docbot {name} {option}")
    assert missing == [], f"undocumented in README.md: {missing}"


def readme_tree() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## How it works") :]
    start = section.index("```") + 3
    return section[start : section.index("```", start)]


def test_the_readme_tree_names_every_package_and_module() -> None:
    tree = readme_tree()
    names = set(re.findall(r"[\w.]+\.py|\w+/", tree))
    missing = []
    for package in ("bot", "ingest"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name in ("__init__.py", "__main__.py"):
                folder = path.parent
                if folder.name not in (package,) and f"{folder.name}/" not in names:
                    missing.append(str(folder.relative_to(REPO)) + "/")
            elif path.name not in names:
                missing.append(str(path.relative_to(REPO)))
    assert sorted(set(missing)) == [], "add these to README.md's How it works tree"


def test_every_test_the_readme_names_exists() -> None:
    """The README backs its promises about failed and killed syncs with named tests;
    a renamed or deleted test must not leave a promise unbacked."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", readme)
    assert len(named) >= 20
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (REPO / path).is_file()
        or not re.search(rf"^def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.M)
    ]
    assert missing == [], f"README.md names tests that do not exist: {missing}"
