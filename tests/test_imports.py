"""Every module of the package imports on its own, in an interpreter that has not imported
anything of the package yet: no import cycle hides behind the order in which the app
happens to import things."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bot

PACKAGE = Path(bot.__file__).parent

# One interpreter loads every library the package uses (not the package), then forks a
# child per module: each child starts with no module of the package loaded, and the
# libraries are not loaded again for each of the ~90 modules.
CHECK = r"""
import importlib, os, sys, traceback
libraries, modules = sys.argv[1].split(","), sys.argv[2].split(",")
for library in libraries:
    try:
        importlib.import_module(library)
    except ImportError:
        pass  # optional; the child imports it if it needs it
assert not [m for m in sys.modules if m == "bot" or m.startswith("bot.")]
failed, running = 0, 0
for name in modules:
    if running >= os.cpu_count():
        failed += os.wait()[1] != 0
        running -= 1
    if os.fork() == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            print(f"{name}: {traceback.format_exc().strip().splitlines()[-1]}", flush=True)
            os._exit(1)
        os._exit(0)
    running += 1
while running:
    failed += os.wait()[1] != 0
    running -= 1
sys.exit(1 if failed else 0)
"""


def modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in relative.parts:
            continue  # Alembic loads those files itself
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        names.append(".".join(parts))
    return names


def libraries() -> list[str]:
    """Top-level names the package imports, other than itself."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return sorted(name for name in found if name.split(".")[0] != "bot")


def test_every_module_imports_alone() -> None:
    names = modules()
    assert len(names) > 50
    result = subprocess.run([sys.executable, "-c", CHECK, ",".join(libraries()), ",".join(names)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
