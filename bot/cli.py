"""The command line: ``loyalty-bot [--config PATH] run [--role all|web|worker] |
db upgrade|backup|restore | import FILE | outlets add|list | keys create|list|revoke |
triggers run|preview [--at] | demo [--customers N] [--seed N]``, and each channel's own
commands (``ChannelKind.commands``, e.g. ``viber set-webhook``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.api import manage
from bot.channels.registry import find, kinds
from bot.config import CONFIG_ENV, Settings, load_settings
from bot.loyalty.plain_english import counted
from bot.roles import Role
from bot.storage import database

if TYPE_CHECKING:
    from bot.marketing.triggers import Planned  # the commands import what they run, when they run

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers() gives


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="loyalty-bot", description="A loyalty program in messengers.")
    main.add_argument("--config", metavar="PATH",
                      help=f"TOML config file (default: ${CONFIG_ENV}, else ./config.toml if present)")
    main.add_argument("--log-level", default="INFO")
    commands = main.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve the web chat and the configured messengers")
    run.add_argument("--role", type=Role, choices=list(Role), default=Role.ALL,
                     help="all (default): everything in this process; web: the web server and "
                          "the messengers' inbound side; worker: the scheduler and the outbox "
                          "sender (several processes need PostgreSQL)")
    add_db_command(commands)
    manage.add_commands(commands)  # outlets add|list, keys create|list|revoke
    add_import_command(commands)
    add_triggers_command(commands)
    add_demo_command(commands)
    add_stats_command(commands)
    add_channel_commands(commands)
    return main


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_db_command(commands: Commands) -> None:
    db = commands.add_parser("db", help="the database: schema, backups")
    actions = db.add_subparsers(dest="db_command", required=True)
    actions.add_parser("upgrade", help="apply all migrations")
    backup = actions.add_parser(
        "backup", help="copy a SQLite database to a file, consistently, while the app runs",
        description="PostgreSQL: use pg_dump (the command prints how).")
    backup.add_argument("path", help="the backup file to write, e.g. /var/backups/loyalty.db")
    restore = actions.add_parser(
        "restore", help="put a backup in place of the SQLite database; stop the app first",
        description="The database it replaces is kept beside it (loyalty.db.before-restore); "
                    "a backup of an older version is migrated. PostgreSQL: use pg_restore.")
    restore.add_argument("path", help="the backup file, made by `loyalty-bot db backup`")


def add_import_command(commands: Commands) -> None:
    load = commands.add_parser(
        "import", help="load an existing customer base from a CSV file",
        description="Columns: phone (required), name, birthday (DD.MM.YYYY or DD.MM), "
                    "balance (opening points). Delimiter , or ; and UTF-8 (Excel's BOM is fine).")
    load.add_argument("file", help="the CSV file, e.g. customers.csv")
    load.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    load.add_argument("--region", help="how to read phones without a country code "
                                       "(default: shop.phone_region)")
    load.add_argument("--balance-days", type=_positive_int, metavar="N",
                      help="opening balances burn after N days (default: program.purchase_points_days)")
    load.add_argument("--no-rejected-file", action="store_true",
                      help="don't write the rejected rows next to the file "
                           "(customers.csv → customers.rejected.csv)")


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DDTHH:MM") from exc


def add_triggers_command(commands: Commands) -> None:
    triggers = commands.add_parser("triggers", help="the automatic triggers pass")
    actions = triggers.add_subparsers(dest="triggers_command", required=True)
    for name, text in (("run", "perform the pass as of a moment (e.g. to catch up a missed day)"),
                       ("preview", "print who would get what and the points it costs; send nothing")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--at", type=_moment, metavar="YYYY-MM-DDTHH:MM",
                            help="as of this moment, in the shop's time zone unless it has an "
                                 "offset (default: now)")


def add_stats_command(commands: Commands) -> None:
    stats = commands.add_parser("stats", help="the console's running totals (the day book)")
    actions = stats.add_subparsers(dest="stats_command", required=True)
    actions.add_parser("rebuild", help="count the day book again from the receipts and the ledger "
                                       "(after writing to the database by hand)")
    check = actions.add_parser("check", help="count the day book from the stored rows and compare "
                                             "it with the kept one; exit 1 on any difference")
    check.add_argument("--repair", action="store_true", help="also correct the differences found")


def add_channel_commands(commands: Commands) -> None:
    """``loyalty-bot <channel> <action>`` for each channel that has actions of its own."""
    for kind in kinds():
        if kind.commands:
            channel = commands.add_parser(kind.name, help=f"the {kind.label} bot account")
            actions = channel.add_subparsers(dest="channel_command", required=True)
            for command in kind.commands:
                actions.add_parser(command.name, help=command.help)


def add_demo_command(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo", help="fill an empty database with a demo coffee shop (a year of purchases)",
        description="Customers, a year of purchases, points and refunds written through the "
                    "shop's own sign-up, checkout and expiry, so /stats, /segments and the rest "
                    "have something to show. Only into a database without customers.")
    demo.add_argument("--customers", type=_positive_int, default=500, metavar="N",
                      help="how many customers (default: 500, a minute or two)")
    demo.add_argument("--seed", type=int, default=1, help="the same seed, the same shop (default: 1)")


async def run_triggers(settings: Settings, command: str, at: datetime | None) -> int:
    """``loyalty-bot triggers run|preview [--at]``: the pass or its preview, as a table."""
    from bot.app import build
    from bot.marketing.triggers import run_pass

    application = await build(settings)
    try:
        zone = application.core.services.timezone
        moment = application.core.services.clock.now() if at is None else (
            at if at.tzinfo else at.replace(tzinfo=zone))
        planned = await run_pass(application.core, moment.astimezone(UTC),
                                 send=command == "run")
    finally:
        await application.close()
    print(format_table(planned))
    print(format_summary(planned, command))
    return 0


def format_table(planned: Sequence[Planned]) -> str:
    from bot.marketing.triggers import named, trigger_name

    rows = [("trigger", "card", "why (episode)", "action", "points")] + [
        (trigger_name(p.trigger), p.card_number, f"{named(p.trigger).episode} {p.episode}",
         p.action, str(p.points))
        for p in planned]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.rjust(w) if i == 4 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                     for row in rows)


def format_summary(planned: Sequence[Planned], command: str) -> str:
    """Per trigger and in total: messages, held out, points (given, or that it would cost)."""
    from bot.marketing.triggers import ORDER, trigger_name

    def figures(some: Sequence[Planned]) -> str:
        return (f"{counted(sum(not p.held_out for p in some), 'message')}, "
                f"{sum(p.held_out for p in some)} held out, "
                f"{counted(sum(p.points for p in some), 'point')}")

    lines = [f"{trigger_name(trigger)}: {figures(mine)}" for trigger in ORDER
             if (mine := [p for p in planned if p.trigger == trigger])]
    verb = "given" if command == "run" else "it would cost"
    lines.append(f"total: {figures(planned)} {verb}")
    return "\n".join(lines)


async def rebuild_stats(settings: Settings) -> int:
    """``loyalty-bot stats rebuild``."""
    from zoneinfo import ZoneInfo

    from bot.storage.uow import UnitOfWork

    engine = database.create_engine(settings.database.url)
    try:
        async with UnitOfWork(database.session_factory(engine)) as uow:
            await uow.book.rebuild(ZoneInfo(settings.shop.timezone), datetime.now(UTC))
            await uow.commit()
    finally:
        await engine.dispose()
    print("the day book is counted again")
    return 0


async def check_stats(settings: Settings, repair: bool) -> int:
    """``loyalty-bot stats check [--repair]``: 0 when the kept book is the counted one."""
    from bot.storage import day_book
    from bot.storage.uow import UnitOfWork

    found = await day_book.check_database(settings.database.url)
    if not found.built:
        print("the day book is not built yet (the app builds it at its first start)")
        return 1
    if found.holds:
        print(f"the day book holds: {counted(len(found.kept), 'figure')} kept, each equal to "
              "the one counted from the stored rows")
        return 0
    print(f"the day book differs from the stored rows in {counted(len(found.wrong), 'figure')}:")
    print("\n".join(found.lines()))
    if repair:
        engine = database.create_engine(settings.database.url)
        try:
            async with UnitOfWork(database.session_factory(engine)) as uow:
                await uow.book.repair(found.wrong)
                await uow.commit()
        finally:
            await engine.dispose()
        print("repaired")
    return 1


async def run_db(settings: Settings, command: str, path: str | None) -> int:
    """``loyalty-bot db upgrade|backup|restore``."""
    from bot.storage import backup

    url = settings.database.url
    if command == "upgrade":
        await database.upgrade(url)
        print("database is up to date")
        return 0
    assert path is not None
    try:
        if command == "backup":
            copied = await asyncio.to_thread(backup.backup, url, Path(path))
            print(f"backed up {copied.database} (schema revision {copied.revision}) "
                  f"to {copied.file}")
            return 0
        restored = await backup.restore(url, Path(path))
    except backup.Refused as refused:
        print(f"loyalty-bot: {refused}", file=sys.stderr)
        return 1
    print(f"restored {restored.database} from {restored.file} "
          f"(schema revision {restored.revision})")
    if restored.migrated_to:
        print(f"migrated it to revision {restored.migrated_to}")
    if restored.previous:
        print(f"the database it replaced is kept at {restored.previous}")
    return 0


def invoked_as() -> str:
    """This program as it was typed (``.venv/bin/loyalty-bot``), for a command to copy."""
    typed = sys.argv[0] if sys.argv else ""
    return typed if Path(typed).name == "loyalty-bot" else "loyalty-bot"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"loyalty-bot: {exc}", file=sys.stderr)
        return 2
    if args.command == "db":
        return asyncio.run(run_db(settings, args.db_command, getattr(args, "path", None)))
    if args.command in ("outlets", "keys"):
        return asyncio.run(manage.run(args, settings))
    if args.command == "triggers":
        return asyncio.run(run_triggers(settings, args.triggers_command, args.at))
    if (kind := find(args.command)) is not None:
        [command] = [command for command in kind.commands if command.name == args.channel_command]
        return asyncio.run(command.run(settings))
    if args.command == "stats":
        if args.stats_command == "check":
            return asyncio.run(check_stats(settings, repair=args.repair))
        return asyncio.run(rebuild_stats(settings))
    if args.command == "demo":
        from bot.loyalty.demo import open_command, run_demo

        opener = open_command(args.config, os.environ, invoked_as())
        return asyncio.run(run_demo(settings, args.customers, args.seed, opener=opener))
    if args.command == "import":
        from bot.loyalty.importer import run_import

        return asyncio.run(run_import(
            settings, args.file, dry_run=args.dry_run, region=args.region,
            balance_days=args.balance_days, rejected_file=not args.no_rejected_file))
    from bot.app import serve

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, args.role))
    return 0


if __name__ == "__main__":
    sys.exit(main())
