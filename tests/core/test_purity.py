"""The functional core stays pure: it imports nothing outside ``bot.core`` and reads no clock.

Every import statement of every module under ``bot/core/`` is checked, including those under
``if TYPE_CHECKING:`` and inside functions, so a settings class or an adapter cannot creep in
"only for typing".
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "bot" / "core"

# Third-party packages the core may use: pydantic parses LL2's wire format (bot/core/models.py).
ALLOWED_THIRD_PARTY = frozenset({"pydantic"})
# Standard-library modules that do I/O, run things or read clocks: never in the core.
FORBIDDEN_STDLIB = frozenset(
    {
        "asyncio",
        "http",
        "io",
        "logging",
        "os",
        "pathlib",
        "random",
        "select",
        "selectors",
        "shutil",
        "socket",
        "sqlite3",
        "ssl",
        "subprocess",
        "tempfile",
        "threading",
        "time",
        "urllib.request",
    }
)
CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter"})


def core_modules() -> list[Path]:
    """Every Python file of the core."""
    return sorted(CORE.rglob("*.py"))


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in ``tree``; relative ones stay inside."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
            found.append((node.lineno, node.module))
    return found


def problems_of(import_name: str) -> str | None:
    """Why the core may not import ``import_name``, or None when it may."""
    top = import_name.split(".")[0]
    if top == "bot":
        return None if import_name.startswith("bot.core") else "outside bot.core"
    if any(import_name == f or import_name.startswith(f + ".") for f in FORBIDDEN_STDLIB):
        return "does I/O or reads a clock"
    if top in sys.stdlib_module_names or top == "__future__":
        return None
    return None if top in ALLOWED_THIRD_PARTY else "a third-party package"


def test_the_checker_catches_what_it_must() -> None:
    """The rule refuses the settings module, adapters, I/O and unknown packages."""
    assert problems_of("bot.config.PollingSettings") == "outside bot.core"
    assert problems_of("bot.store") == "outside bot.core"
    assert problems_of("asyncio") == "does I/O or reads a clock"
    assert problems_of("urllib.request") == "does I/O or reads a clock"
    assert problems_of("discord") == "a third-party package"
    assert problems_of("bot.core.render.limits") is None
    assert problems_of("urllib.parse") is None
    assert problems_of("pydantic") is None


def test_the_checker_sees_imports_under_type_checking_and_in_functions() -> None:
    """Imports hidden under TYPE_CHECKING or inside a function are found too."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from bot.config import PollingSettings\n"
        "def f():\n    import httpx\n"
    )
    names = {name for _, name in imported_modules(ast.parse(source))}
    assert {"bot.config", "httpx"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_nothing_outside_the_core(path: Path) -> None:
    """No module of bot/core imports bot.config, an adapter, discord, or an I/O module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [
        f"line {line}: {name} ({why})"
        for line, name in imported_modules(tree)
        if (why := problems_of(name)) is not None
    ]
    assert not bad, f"{path.relative_to(CORE)} imports " + "; ".join(bad)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_reads_no_clock(path: Path) -> None:
    """No module of bot/core calls datetime.now(), date.today() or a time function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        f"line {node.lineno}: .{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    ]
    assert not calls, f"{path.relative_to(CORE)} reads a clock: " + "; ".join(calls)
