"""One way to the database: the handlers, the channels and the POS API reach it only through
the repositories of the unit of work (``uow.customers``, ``uow.reviews``, …). None of their
modules imports SQLAlchemy or touches the unit of work's session (``uow.session``,
``ctx.uow.session``); a query they need becomes a repository method named after what it
answers (bot/storage/repositories/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bot

PACKAGE = Path(bot.__file__).parent
ABOVE_THE_REPOSITORIES = ("handlers", "channels", "api")


def modules() -> list[Path]:
    return sorted(path for layer in ABOVE_THE_REPOSITORIES
                  for path in (PACKAGE / layer).rglob("*.py"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def _is_uow(node: ast.expr) -> bool:
    return ((isinstance(node, ast.Name) and node.id == "uow")
            or (isinstance(node, ast.Attribute) and node.attr == "uow"))


def violations(source: str) -> list[str]:
    """Where ``source`` goes to the database past the repositories, as «line: what»."""
    found = []
    for node in ast.walk(ast.parse(source)):
        found += [f"{node.lineno}: imports {module}" for module in _imported(node)
                  if module == "sqlalchemy" or module.startswith("sqlalchemy.")]
        if isinstance(node, ast.Attribute) and node.attr == "session" and _is_uow(node.value):
            found.append(f"{node.lineno}: uses {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_the_module_reaches_the_database_only_through_repositories(path):
    assert violations(path.read_text(encoding="utf-8")) == []


def test_every_layer_is_checked():
    checked = {path.relative_to(PACKAGE).parts[0] for path in modules()}
    assert checked == set(ABOVE_THE_REPOSITORIES)
    assert len(modules()) > 40  # the handlers alone are more


@pytest.mark.parametrize(("source", "found"), [
    ("from sqlalchemy import select", ["1: imports sqlalchemy"]),
    ("import sqlalchemy.exc", ["1: imports sqlalchemy.exc"]),
    ("from sqlalchemy.ext.asyncio import AsyncSession", ["1: imports sqlalchemy.ext.asyncio"]),
    ("async def f(ctx):\n    await ctx.uow.session.flush()", ["2: uses ctx.uow.session"]),
    ("async def f(uow):\n    uow.session.add(1)", ["2: uses uow.session"]),
    ("def f(ctx):\n    return ctx.uow.session", ["2: uses ctx.uow.session"]),
])
def test_a_way_past_the_repositories_is_found(source, found):
    assert violations(source) == found


@pytest.mark.parametrize("source", [
    "async def f(ctx):\n    await ctx.uow.customers.lock(1)",
    "from bot.storage.errors import IntegrityError",
    "async def f(self):\n    await self.session.close()",  # an HTTP client's session
    "def f(ctx):\n    return ctx.uow.sessions",  # the factory, for work in its own transactions
])
def test_the_repositories_and_other_sessions_are_allowed(source):
    assert violations(source) == []
