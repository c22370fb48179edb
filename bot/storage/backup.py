"""Backing up a SQLite database and putting a backup back (``loyalty-bot db backup|restore``).

A backup is SQLite's online backup of the file, taken in one step under one read
transaction: it is the database as of one moment even while the app keeps writing (in WAL
mode a reader neither waits for the writer nor holds it up). It is written to a temporary
file beside the target and renamed, so a half-written backup never carries its name.

A restore puts a backup of this program in place of the database — the app must be stopped,
which nothing here can tell for sure — after keeping the database it replaces beside it
(``loyalty.db.before-restore``), then migrates it when the backup is from an older version.
A file that is not a database of this program, or whose schema is newer than this code
knows, is refused before anything is touched.

PostgreSQL has its own tools for this (pg_dump, pg_restore); ``postgres_commands`` says
which to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from bot.storage import database

BEFORE_RESTORE = ".before-restore"


class Refused(Exception):
    """A backup or restore that is not done; the message says why, in plain English."""


@dataclasses.dataclass(frozen=True)
class Copied:
    database: Path
    file: Path
    revision: str


@dataclasses.dataclass(frozen=True)
class Restored:
    database: Path
    file: Path
    revision: str  # the backup's
    migrated_to: str | None  # the head, when the backup was older
    previous: Path | None  # where the replaced database is kept


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def database_file(url: str, file: Path) -> Path:
    """The SQLite database's file; for a server database, the commands to use instead
    (with ``file`` for the dump)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise Refused(postgres_commands(url, file))
    if not parsed.database or parsed.database == ":memory:":
        raise Refused("an in-memory database has nothing to back up or restore")
    return Path(parsed.database).resolve()


def backup(url: str, target: Path) -> Copied:
    """Copy the database at ``url`` to ``target`` (replacing a file there), consistently,
    while the app may be writing."""
    source, target = database_file(url, target), target.resolve()
    if target == source:
        raise Refused(f"{target} is the database itself; back it up to another file")
    with _opened(source, "no database", "rw") as connection:
        revision = _revision_of(connection, source)
        _copy(connection, target)
    return Copied(source, target, revision)


async def restore(url: str, backup_file: Path) -> Restored:
    """Put ``backup_file`` in place of the database at ``url`` (the app stopped), then
    migrate it to this code's schema."""
    restored = await asyncio.to_thread(_put_back, url, backup_file)
    head = database.head_revision()
    if restored.revision == head:
        return restored
    await database.upgrade(url)
    return dataclasses.replace(restored, migrated_to=head)


def _put_back(url: str, backup_file: Path) -> Restored:
    target, backup_file = database_file(url, backup_file), backup_file.resolve()
    if backup_file == target:
        raise Refused(f"{backup_file} is the database itself")
    with _opened(backup_file, "no backup") as connection:
        revision = _revision_of(connection, backup_file)
        if revision not in database.revisions()[1]:
            raise Refused(f"{backup_file} is at schema revision {revision}, which this version of "
                          "the program does not know (a backup made by a newer version?); "
                          "restore it with that version")
        previous = _keep_previous(target)
        _copy(connection, target, replacing_database=True)
    return Restored(target, backup_file, revision, None, previous)


def postgres_commands(url: str, file: Path) -> str:
    """What to run instead, for a PostgreSQL database (the password is not shown: pg_dump
    takes it from PGPASSWORD or ~/.pgpass)."""
    parsed = make_url(url)
    query = {"sslmode" if key == "ssl" else key: value for key, value in parsed.query.items()}
    server = URL.create("postgresql", username=parsed.username, host=parsed.host,
                        port=parsed.port, database=parsed.database, query=query)
    address, dump = shlex.quote(server.render_as_string(hide_password=False)), shlex.quote(str(file))
    return ("this command backs up and restores a SQLite database; a PostgreSQL database is "
            "backed up and restored with PostgreSQL's own tools (the password from PGPASSWORD "
            "or ~/.pgpass):\n"
            f"  pg_dump --format=custom --file={dump} {address}\n"
            "and, with the app stopped:\n"
            f"  pg_restore --clean --if-exists --no-owner -d {address} {dump}\n"
            "then `loyalty-bot db upgrade` if the dump is from an older version")


@contextlib.contextmanager
def _opened(path: Path, missing: str, mode: str = "ro") -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` that never creates an empty database there. ``rw`` for the
    live database: it only reads, and as the last connection to close it tidies the
    ``-wal`` and ``-shm`` files away, which a read-only one cannot."""
    if not path.is_file():
        raise Refused(f"{missing} at {path}")
    try:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode={mode}", uri=True)
    except sqlite3.Error as error:
        raise Refused(f"can't open {path}: {error}") from error
    try:
        yield connection
    except sqlite3.DatabaseError as error:  # not a database, damaged
        raise Refused(f"{path} is not a SQLite database ({error})") from error
    finally:
        connection.close()


def _revision_of(connection: sqlite3.Connection, path: Path) -> str:
    """The file's schema revision; refused if it is no database of this program."""
    found = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone()
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone() if found else None
    if row is None:
        raise Refused(f"{path} is not a database of this program (it has no schema revision)")
    return str(row[0])


def _copy(source: sqlite3.Connection, target: Path, replacing_database: bool = False) -> None:
    """Write ``source`` to a temporary file beside ``target``, then rename it into place."""
    if not target.parent.is_dir():
        raise Refused(f"no folder {target.parent} to write {target.name} in")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _write(source, temporary)
        if replacing_database:  # the replaced database's journal would be applied to the new one
            for journal in ("-wal", "-shm", "-journal"):
                target.with_name(target.name + journal).unlink(missing_ok=True)
        os.replace(temporary, target)
    except (OSError, sqlite3.Error) as error:  # a full disk, no permission
        raise Refused(f"can't write {target}: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)


def _write(source: sqlite3.Connection, file: Path) -> None:
    destination = sqlite3.connect(file)
    try:
        source.backup(destination)  # all pages in one step: one consistent moment
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        destination.close()


def _keep_previous(target: Path) -> Path | None:
    """The database a restore replaces, kept beside it (with what its journal held)."""
    if not target.exists():
        return None
    kept = target.with_name(target.name + BEFORE_RESTORE)
    try:
        with _opened(target, "no database", "rw") as connection:
            _copy(connection, kept)
    except Refused:  # damaged, perhaps why it is restored: keep its bytes as they are
        kept.write_bytes(target.read_bytes())
    return kept
