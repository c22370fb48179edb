"""The command line: ``loyalty-bot [--config PATH] run | db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from bot.config import CONFIG_ENV, load_settings
from bot.storage import database


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="loyalty-bot", description="A loyalty program in messengers.")
    main.add_argument("--config", metavar="PATH",
                      help=f"TOML config file (default: ${CONFIG_ENV}, else ./config.toml if present)")
    main.add_argument("--log-level", default="INFO")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve the web chat and the configured messengers")
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations")
    return main


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
        asyncio.run(database.upgrade(settings.database.url))
        print("database is up to date")
        return 0
    from bot.app import serve

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
