"""One way to the database. SQLAlchemy is imported, and the unit of work's session
(``uow.session``, ``ctx.uow.session``) used, only under bot/storage/ and in the query modules
listed below (set-based reads and reports over many rows). Everything else — the handlers,
the channels, the POS API, the loyalty services, delivery, the scheduler, the core, the
command line — reaches the database through the repositories of the unit of work
(``uow.customers``, ``uow.reviews``, …): a query it needs becomes a repository method named
after what it answers (bot/storage/repositories/).

And handlers see plain values, not ORM rows: the context carries the person and their card as
frozen snapshots (bot/core/person.py), none of its fields is typed with a table, and a handler
module does not import the tables (bot/storage/models.py), so it cannot build a row; a row a
repository returns it types with a read-only view (bot/storage/views.py), and what it changes
goes through a repository's command."""

from __future__ import annotations

import ast
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import bot
from bot.core.context import Context
from bot.storage import models

PACKAGE = Path(bot.__file__).parent
STORAGE = "storage"
# Query modules: they build their own SQL, set-based over many rows (bot/storage/repositories/
# __init__.py says why). A module leaves this list when it no longer needs to be on it.
QUERY_MODULES = frozenset({
    "console/stats.py",  # the console's figures
    "console/export.py",  # the export, page by page
    "marketing/segments.py",  # the segments and their members
    "marketing/segment_snapshot.py",  # the nightly snapshot of every customer's segment
    "marketing/reports.py",  # the triggers' report
    "marketing/broadcasts.py",  # a broadcast's audience, recipients, progress and report
    # the triggers' candidates, selected as of a moment
    "marketing/triggers/base.py",
    "marketing/triggers/balance_digest.py",
    "marketing/triggers/birthday.py",
    "marketing/triggers/expiry_warning.py",
    "marketing/triggers/holidays.py",
    "marketing/triggers/review_request.py",
    "marketing/triggers/tier_nudge.py",
    "marketing/triggers/win_back.py",
})
# the layers that never held a query module; the rule started with them
ABOVE_THE_REPOSITORIES = ("handlers", "channels", "api")


def name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def modules() -> list[Path]:
    """Every module of the bot but the storage's and the query modules."""
    return sorted(path for path in PACKAGE.rglob("*.py")
                  if path.relative_to(PACKAGE).parts[0] != STORAGE
                  and name(path) not in QUERY_MODULES)


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


@pytest.mark.parametrize("path", modules(), ids=name)
def test_the_module_reaches_the_database_only_through_repositories(path):
    assert violations(path.read_text(encoding="utf-8")) == []


def test_every_layer_is_checked():
    checked = {path.relative_to(PACKAGE).parts[0] for path in modules()}
    assert set(ABOVE_THE_REPOSITORIES) <= checked
    assert {"loyalty", "delivery", "scheduler", "core", "console", "marketing"} <= checked
    assert {"app.py", "cli.py", "config.py"} <= checked
    assert STORAGE not in checked
    assert len(modules()) > 100


def test_no_query_module_is_above_the_repositories():
    assert not {module.split("/")[0] for module in QUERY_MODULES} & set(ABOVE_THE_REPOSITORIES)


@pytest.mark.parametrize("module", sorted(QUERY_MODULES))
def test_a_query_module_listed_exists_and_builds_sql(module):
    """A stale entry would let a module that grows SQL later pass unnoticed."""
    path = PACKAGE / module
    assert path.is_file()
    assert violations(path.read_text(encoding="utf-8")) != []


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


# --- handlers see plain values -----------------------------------------------------------------

MODELS = "bot.storage.models"


def handler_modules() -> list[Path]:
    return sorted((PACKAGE / "handlers").rglob("*.py"))


def _imports_tables(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == MODELS for alias in node.names)
    if isinstance(node, ast.ImportFrom) and node.level == 0:
        return node.module == MODELS or (node.module == "bot.storage" and any(
            alias.name == "models" for alias in node.names))
    return False


def tables_imported(source: str) -> list[str]:
    """Where ``source`` imports the ORM tables, as «line: what» (under TYPE_CHECKING too)."""
    return [f"{node.lineno}: imports {MODELS}" for node in ast.walk(ast.parse(source))
            if _imports_tables(node)]


@pytest.mark.parametrize("path", handler_modules(), ids=lambda path: path.name)
def test_a_handler_does_not_see_the_tables(path):
    assert tables_imported(path.read_text(encoding="utf-8")) == []


def test_every_handler_is_checked():
    assert len(handler_modules()) > 35


@pytest.mark.parametrize(("source", "found"), [
    ("from bot.storage.models import Customer", ["1: imports bot.storage.models"]),
    ("import bot.storage.models", ["1: imports bot.storage.models"]),
    ("from bot.storage import models", ["1: imports bot.storage.models"]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.storage.models import Review",
     ["3: imports bot.storage.models"]),
])
def test_an_import_of_the_tables_is_found(source, found):
    assert tables_imported(source) == found


@pytest.mark.parametrize("source", [
    "from bot.core.person import Member",
    "from bot.storage.errors import IntegrityError",
    "from bot.storage.repositories.customers import NOTIFICATION_SWITCHES",
    "from bot.storage.views import CustomerView",
])
def test_other_imports_are_allowed(source):
    assert tables_imported(source) == []


def tables_in(annotation: object) -> set[type]:
    """The ORM tables an annotation names, however deep (``X | None``, ``list[X]``, …)."""
    if isinstance(annotation, type) and issubclass(annotation, models.Base):
        return {annotation}
    return set().union(*(tables_in(arg) for arg in typing.get_args(annotation)))


def fields_typed_with_tables(cls: type) -> dict[str, set[type]]:
    hints = typing.get_type_hints(cls)
    return {name: tables for name, hint in hints.items() if (tables := tables_in(hint))}


def test_the_context_has_no_field_typed_with_a_table():
    assert typing.get_type_hints(Context)  # the annotations resolve: the check reads them all
    assert fields_typed_with_tables(Context) == {}


@dataclass
class LeakyContext:
    identity: models.Identity
    customer: models.Customer | None
    rows: list[models.Review]
    reread: Callable[[], tuple[int, models.Customer]]
    count: int


def test_a_field_typed_with_a_table_is_found():
    assert fields_typed_with_tables(LeakyContext) == {
        "identity": {models.Identity}, "customer": {models.Customer},
        "rows": {models.Review}, "reread": {models.Customer}}


# Modules that run statements past the session's checks (bot/storage/session.py ``plain``),
# each because it is on a hot path; those that write rows the day book counts tell it
# themselves through session.saw_operation / saw_purchase, as the flush does.
PLAIN_WRITERS = {
    "storage/repositories/lots.py": "saw_operation",  # the ledger's operations, lots, spends
    "storage/repositories/purchases.py": "saw_purchase",  # a new purchase
    "storage/repositories/customers.py": None,  # a purchase's counts on the customer
    "storage/repositories/events.py": None,  # an inbound event's claim
    "storage/repositories/identities.py": None,  # last seen, messenger language
    "storage/day_book.py": None,  # the book's own rows
}
COUNTED_TABLES = ("PointOperation", "Purchase")


def _imports_plain(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module == "bot.storage.session"
               and any(alias.name == "plain" for alias in node.names) for node in ast.walk(tree))


def _core_inserts(tree: ast.Module) -> set[str]:
    """The counted tables a module builds ``insert(Table)`` statements for."""
    return {node.args[0].id for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "insert"
            and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in COUNTED_TABLES}


def _calls(tree: ast.Module, name: str) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
               for node in ast.walk(tree))


def test_only_the_listed_modules_write_past_the_session_and_the_writers_of_facts_tell_the_book():
    """A purchase or a points operation written with a plain statement skips the flush that
    tells the day book and the wallet: only Lots.record and Purchases.add may, and they call
    the same functions the flush calls. A new module using ``plain`` must be listed here."""
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _imports_plain(tree):
            assert name in PLAIN_WRITERS, f"{name} runs plain statements but is not listed"
        inserted = _core_inserts(tree)
        if inserted and not name.startswith("storage/migrations/"):
            teller = PLAIN_WRITERS.get(name)
            assert teller is not None, f"{name} inserts {inserted} past the day book"
            assert _calls(tree, teller), f"{name} inserts {inserted} without {teller}()"
