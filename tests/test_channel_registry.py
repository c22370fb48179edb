"""Channels declare what they are (bot/channels/kind.py), one registry lists them
(bot/channels/registry.py), and the rest of the program asks the registry instead of naming a
channel: a new messenger is a module under bot/channels/, a line in the registry, its config
section, its label in the catalogs.

What counts as naming a channel, checked on the syntax tree of every module of bot/ outside
bot/channels/, bot/config.py (its sections), bot/storage/models.py and the migrations (the
tables a channel keeps, such as ``whatsapp_sends``, are part of the schema):

- a string literal that is a channel's name or label, or starts with ``<name>:`` (an admin
  id like "telegram:1"), in any case;
- for a name that is no ordinary word (telegram, viber, whatsapp): also an identifier that
  contains it (``telegram_per_second``, ``WhatsAppSend``, an import of bot.channels.viber)
  and a string literal that has it as a word («Paid messages (Viber)»). The web chat's "web"
  is also aiohttp's ``web`` and the word in "web.public_url"; those stay allowed.

Docstrings and comments may name channels: they explain, they don't decide anything.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot
from bot.channels.base import Channel
from bot.channels.registry import kinds
from bot.cli import parser
from tests.chat import OWNER, text_of
from tests.test_segments import AT, fill, identity, settings  # noqa: F401  (fixture: its admin)

PACKAGE = Path(bot.__file__).parent
# the schema, with the one table that names a channel (WhatsApp's message ids) and its
# queries; and the process roles, whose «web» is a web server process, not the web chat
ALLOWED = ("channels/", "config.py", "storage/models.py", "storage/migrations/",
           "storage/repositories/platform_ids.py", "roles.py")
# names that are also words of code and prose: aiohttp's web, Python's max (MAX, issue 16)
ORDINARY_WORDS = {"web", "max"}


def docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.add(id(first.value))
    return found


def identifiers(node: ast.AST) -> Iterator[str]:
    match node:
        case ast.Name(id=name) | ast.Attribute(attr=name) | ast.arg(arg=name):
            yield name
        case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name) | ast.ClassDef(name=name):
            yield name
        case ast.keyword(arg=str() as name):
            yield name
        case ast.alias(name=name, asname=asname):
            yield name
            if asname:
                yield asname
        case ast.ImportFrom(module=str() as module):
            yield module


def names_a_channel(text: str, name: str, label: str) -> bool:
    literal = text.strip().lower()
    if literal in (name, label.lower()) or literal.startswith(name + ":"):
        return True
    return name not in ORDINARY_WORDS and re.search(rf"\b{name}\b", text, re.IGNORECASE) is not None


def channel_names_in(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = docstrings(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        for kind in kinds():
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in skipped and names_a_channel(node.value, kind.name, kind.label)):
                yield f"{line}: the string {node.value!r} names {kind.name}"
            if kind.name not in ORDINARY_WORDS:
                for identifier in identifiers(node):
                    if kind.name in identifier.lower().replace("_", ""):
                        yield f"{line}: the identifier {identifier} names {kind.name}"


def outside_the_channels() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py"))
            if not path.relative_to(PACKAGE).as_posix().startswith(ALLOWED)]


def test_no_channel_is_named_outside_the_channels():
    found = [f"{path.relative_to(PACKAGE.parent)}:{where}"
             for path in outside_the_channels() for where in channel_names_in(path)]
    assert found == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Telegram and the web chat, in prose."""\n'
                      '# viber, in a comment\n'
                      'limit = settings.outbox.telegram_per_second\n'
                      'SKIPPED = ("viber",)\n'
                      'ADMIN = "web:abc"\n'
                      'hint = _("Pictures can be attached in WhatsApp.")\n'
                      'label = N_("Web chat")\n'
                      'from aiohttp import web\n'
                      'url = "web.public_url"\n')
    assert sorted(int(where.split(":")[0]) for where in channel_names_in(sample)) == [3, 4, 5, 6, 7]


def test_every_adapter_is_in_the_registry():
    """A module under bot/channels/ with an adapter declares its kind, and the registry lists
    it: the registry is the one place every channel is known."""
    listed = {kind.name: kind for kind in kinds()}
    assert len(listed) == len(kinds())
    adapters = []
    for path in sorted((PACKAGE / "channels").glob("*.py")):
        module = importlib.import_module(f"bot.channels.{path.stem}")
        adapters += [value for value in vars(module).values()
                     if isinstance(value, type) and issubclass(value, Channel)
                     and value is not Channel and value.__module__ == module.__name__]
    assert adapters, "the adapters were not found"
    for adapter in adapters:
        assert adapter.kind is not None and listed.get(adapter.name) is adapter.kind, adapter


def test_channel_commands_come_from_the_registry():
    args = parser().parse_args(["viber", "set-webhook"])
    assert (args.command, args.channel_command) == ("viber", "set-webhook")
    with pytest.raises(SystemExit):
        parser().parse_args(["telegram", "set-webhook"])  # Telegram has no actions of its own


@pytest.mark.parametrize(("language", "lines"), [
    ("ru", ["Telegram: 10 (59 %)", "Viber: 1 (5,9 %)", "Веб-чат: 6 (35 %)",
            "WhatsApp: 2 (12 %)"]),
    ("en", ["Telegram: 10 (59%)", "Viber: 1 (5.9%)", "Web chat: 6 (35%)", "WhatsApp: 2 (12%)"]),
])
async def test_segments_show_every_channel_by_its_label(app, chat, clock, language, lines):
    """/segments → Channels names each messenger as people know it, not by its code."""
    ids = await fill(app)
    async with app.core.unit_of_work() as uow:
        uow.session.add_all([identity("viber", 101, ids[1]), identity("whatsapp", 102, ids[2]),
                             identity("whatsapp", 103, ids[3])])
        await uow.commit()
    clock.set(AT)
    owner = chat(OWNER, language=language)
    await owner.send("/segments")
    shown = text_of(await owner.press("segments:channel")).replace("\xa0", " ")
    assert shown.splitlines()[1:-1] == lines  # between the heading and the note
