"""``loyalty-bot outlets add|list`` and ``loyalty-bot keys create|list|revoke``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bot.api.keys import all_keys, create_key, revoke_key
from bot.config import Settings
from bot.storage import database
from bot.storage.errors import IntegrityError
from bot.storage.uow import UnitOfWork


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outlets = commands.add_parser("outlets", help="points of sale").add_subparsers(
        dest="outlets_command", required=True)
    outlets.add_parser("add", help="add an outlet").add_argument("name")
    outlets.add_parser("list", help="list the outlets")
    keys = commands.add_parser("keys", help="POS API keys of the outlets' tills").add_subparsers(
        dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key (printed once, stored hashed)")
    create.add_argument("--outlet", required=True, help="the outlet's name, e.g. Main")
    create.add_argument("--label", help="a note, e.g. the till's name")
    create.add_argument("--admin", action="store_true",
                        help="a back-office key: may also read the reports")
    keys.add_parser("list", help="list the keys (never the keys themselves)")
    keys.add_parser("revoke", help="revoke a key").add_argument(
        "key", metavar="ID_OR_KEY", help="the id shown by `keys list`, or the whole key")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    await database.prepare(settings.database.url)
    engine = database.create_engine(settings.database.url)
    try:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            if args.command == "outlets":
                return await _outlets(uow, args)
            return await _keys(uow, args)
    finally:
        await engine.dispose()


async def _outlets(uow: UnitOfWork, args: argparse.Namespace) -> int:
    if args.outlets_command == "list":
        for outlet in await uow.outlets.all():
            print(f"{outlet.id}\t{outlet.name}")
        return 0
    name = " ".join(args.name.split())
    if not 0 < len(name) <= 64:
        _fail("an outlet's name is 1 to 64 characters")
        return 1
    try:
        outlet = await uow.outlets.add(name, datetime.now(UTC))
        await uow.commit()
    except IntegrityError:
        _fail(f"an outlet named {args.name!r} already exists")
        return 1
    print(f"outlet {outlet.id} added: {outlet.name}")
    return 0


async def _keys(uow: UnitOfWork, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.keys_command == "list":
        for key, outlet in await all_keys(uow):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            print(f"{key.id}\t{outlet}\t{key.role}\t{key.label or '-'}\t{key.created_at:%Y-%m-%d}\t{state}")
        return 0
    if args.keys_command == "create":
        try:
            pos_key, secret = await create_key(uow, args.outlet, args.label, now,
                                               "admin" if args.admin else "till")
        except LookupError as error:
            _fail(f"{error.args[0]} (see `loyalty-bot outlets list`)")
            return 1
        await uow.commit()
        print(f"{pos_key.role} key {pos_key.id} for outlet {args.outlet!r}; "
              "it is shown only now, keep it safe:")
        print(secret)
        return 0
    revoked = await revoke_key(uow, args.key, now)
    if revoked is None:
        _fail(f"no key {args.key!r} (see `loyalty-bot keys list`)")
        return 1
    await uow.commit()
    print(f"key {revoked.id} revoked")
    return 0


def _fail(message: str) -> None:
    print(f"loyalty-bot: {message}", file=sys.stderr)
