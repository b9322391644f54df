"""Structural rules of the codebase, checked so they stay true.

- Imports run one way: ``bot`` -> ``ingest``. The write side never imports the
  read side or Slack code.
- Every setting and every CLI command and option is documented in the README
  (the sqlite-utils ``test_docs.py`` idea).
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


def settings_variables() -> set[str]:
    source = (REPO / "ingest" / "settings.py").read_text(encoding="utf-8")
    found = set(re.findall(r"""env(?:\.get)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    found |= set(re.findall(r"""_(?:str|int)\(env,\s*["']([A-Z][A-Z0-9_]+)["']""", source))
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
