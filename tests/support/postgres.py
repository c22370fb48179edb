"""Throwaway PostgreSQL server for tests.

Starts a real ``postgres`` from the system's binaries in a temporary directory,
on a free TCP port bound to 127.0.0.1, with durability switched off so that it
starts in a second or two. Nothing is left behind afterwards.

Usage::

    with TemporaryPostgres() as pg:
        engine = create_async_engine(pg.url)          # postgresql+asyncpg://...
        other_url = pg.create_database("reports")     # a second, separate database

pytest (session-scoped server, one fresh database per test)::

    from tests.support.postgres import pg_server, pg_database_url  # noqa: F401
    # or, in a conftest.py:  pytest_plugins = ["tests.support.postgres"]

    async def test_x(pg_database_url): ...

Binaries are looked up as: ``$POSTGRES_BIN_DIR`` if set, then ``initdb``/``pg_ctl``
on ``PATH`` (symlinks resolved), then the highest ``/usr/lib/postgresql/*/bin``.
``scripts/ensure-system-deps.sh`` installs them if missing.

``initdb`` refuses to run as root, so when the tests run as root (as here and in
CI) the server is initialised and run as the ``postgres`` system user if it
exists, else ``nobody``; the temporary directory is created under ``/tmp`` and
handed over to that user.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence

import pytest

__all__ = [
    "PostgresError",
    "TemporaryPostgres",
    "pg_database_url",
    "pg_server",
    "postgres_available",
]

_SUPERUSER = "postgres"
_HOST = "127.0.0.1"
_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The temporary server could not be set up, started or used."""


# --------------------------------------------------------------------------- #
# Locating binaries
# --------------------------------------------------------------------------- #


def _is_exe(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _usable_bin_dir(directory: str) -> bool:
    return all(_is_exe(os.path.join(directory, b)) for b in ("initdb", "pg_ctl", "postgres"))


def _version_key(directory: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric version, e.g. 9.6 -> (9, 6)
    version = os.path.basename(os.path.dirname(directory))
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)


def postgres_available() -> str | None:
    """Return the directory holding ``initdb``/``pg_ctl``/``postgres``, or None."""
    override = os.environ.get("POSTGRES_BIN_DIR")
    if override:
        return override if _usable_bin_dir(override) else None

    # On PATH. Debian's /usr/local/bin or pg_wrapper entries are symlinks, and
    # pg_ctl needs the ``postgres`` binary next to the real file, so resolve.
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        for exe in (initdb, pg_ctl):
            directory = os.path.dirname(os.path.realpath(exe))
            if _usable_bin_dir(directory):
                return directory

    candidates = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if _usable_bin_dir(d)]
    if candidates:
        return max(candidates, key=_version_key)
    return None


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


def _clean_env(user: pwd.struct_passwd | None = None) -> dict[str, str]:
    """Environment without PG* variables (PGDATA, PGPORT... would interfere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["LC_ALL"] = "C"
    if user is not None:
        env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    return env


def _run(
    argv: Sequence[str],
    *,
    what: str,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    **popen_kwargs: object,
) -> str:
    # Output goes to a file, not a pipe: ``pg_ctl start`` leaves a daemon behind
    # and a daemon inheriting a pipe would make us wait for EOF forever.
    with tempfile.TemporaryFile(mode="w+b") as out:
        try:
            proc = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                timeout=timeout,
                check=False,
                **popen_kwargs,  # type: ignore[arg-type]
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{what} timed out after {timeout}s: {shlex.join(argv)}") from exc
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise PostgresError(
            f"{what} failed (exit {proc.returncode}): {shlex.join(argv)}\n{text.strip()}"
        )
    return text


# --------------------------------------------------------------------------- #
# The server
# --------------------------------------------------------------------------- #


class TemporaryPostgres:
    """A private PostgreSQL server living in a temporary directory.

    Attributes once started: ``url`` (SQLAlchemy asyncpg URL of ``dbname``),
    ``dsn`` (plain ``postgresql://`` DSN for asyncpg/psql), ``host``, ``port``,
    ``user``, ``dbname``, ``bin_dir``, ``base_dir``, ``data_dir``, ``socket_dir``,
    ``log_file``, ``run_as`` (system user running the server, or None).
    """

    def __init__(
        self,
        dbname: str = "test",
        *,
        bin_dir: str | None = None,
        run_as: str | None = None,
        start_timeout: float = 60,
    ) -> None:
        """``run_as`` forces the system user for initdb/pg_ctl (default: only when
        root, ``postgres`` if it exists else ``nobody``)."""
        _check_db_name(dbname)
        self.dbname = dbname
        self.host = _HOST
        self.user = _SUPERUSER
        self.port: int | None = None
        self.bin_dir = bin_dir
        self.start_timeout = start_timeout
        self._run_as_name = run_as
        self._account: pwd.struct_passwd | None = None
        self.base_dir: str | None = None
        self.data_dir: str | None = None
        self.socket_dir: str | None = None
        self.log_file: str | None = None
        self.startup_seconds: float | None = None
        self._running = False

    # -- public API -------------------------------------------------------- #

    @property
    def run_as(self) -> str | None:
        return self._account.pw_name if self._account else None

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy asyncpg URL for database ``dbname`` on this server."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self._require_port()}/{dbname}"

    def dsn_for(self, dbname: str) -> str:
        """libpq/asyncpg DSN for database ``dbname`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self._require_port()}/{dbname}"

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a new database and return its SQLAlchemy asyncpg URL: empty, or a copy
        of ``template`` (a database nobody is connected to).

        ``name`` defaults to a unique ``test_<hex>``. Safe to call from inside a
        running event loop (it never awaits on the caller's loop).
        """
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        _check_db_name(name)
        if template is not None:
            _check_db_name(template)
        port = str(self._require_port())
        createdb = os.path.join(self.bin_dir or "", "createdb")
        psql = os.path.join(self.bin_dir or "", "psql")
        create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        if _is_exe(createdb):
            _run(
                [createdb, "-h", self.host, "-p", port, "-U", self.user,
                 *(["-T", template] if template else []), "--", name],
                what="createdb",
                env=_clean_env(),
            )
        elif _is_exe(psql):
            _run(
                [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", port,
                 "-U", self.user, "-d", "postgres", "-c", create],
                what="psql CREATE DATABASE",
                env=_clean_env(),
            )
        else:
            _run_coroutine_blocking(self._create_database_asyncpg(create))
        return self.url_for(name)

    def start(self) -> TemporaryPostgres:
        if self._running:
            return self
        started = time.monotonic()
        self.bin_dir = self.bin_dir or postgres_available()
        if not self.bin_dir or not _usable_bin_dir(self.bin_dir):
            raise PostgresError(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH "
                "or in /usr/lib/postgresql/*/bin; run scripts/ensure-system-deps.sh "
                "(or apt-get install postgresql)."
            )
        self._account = self._pick_account()
        try:
            self._make_dirs()
            self._initdb()
            self._start_server()
            self._running = True
            atexit.register(self.stop)
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop the server (immediate mode) and delete its directory. Idempotent."""
        atexit.unregister(self.stop)
        if self._running and self.data_dir:
            self._running = False
            try:
                self._as_owner(
                    [self._bin("pg_ctl"), "-D", self.data_dir, "-m", "immediate", "-w",
                     "-t", "30", "stop"],
                    what="pg_ctl stop",
                    timeout=60,
                )
            except PostgresError:
                self._kill_postmaster()
        if self.base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self._running else "stopped"
        return f"<TemporaryPostgres {state} dbname={self.dbname!r} bin_dir={self.bin_dir!r}>"

    # -- internals --------------------------------------------------------- #

    def _require_port(self) -> int:
        if self.port is None:
            raise PostgresError("server not started")
        return self.port

    def _bin(self, name: str) -> str:
        assert self.bin_dir
        return os.path.join(self.bin_dir, name)

    def _pick_account(self) -> pwd.struct_passwd | None:
        if self._run_as_name:
            return pwd.getpwnam(self._run_as_name)
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise PostgresError(
            "running as root, and neither a 'postgres' nor a 'nobody' user exists to run "
            "initdb/postgres as (initdb refuses to run as root)"
        )

    def _make_dirs(self) -> None:
        # As root the unprivileged owner must be able to reach the directory, so
        # use /tmp (world-traversable) rather than e.g. a TMPDIR under /root.
        parent = "/tmp" if self._account is not None else None
        self.base_dir = tempfile.mkdtemp(prefix="pgtest-", dir=parent)
        self.data_dir = os.path.join(self.base_dir, "data")
        self.socket_dir = os.path.join(self.base_dir, "sock")
        self.log_file = os.path.join(self.base_dir, "postgres.log")
        os.mkdir(self.socket_dir, 0o700)
        if self._account is not None:
            uid, gid = self._account.pw_uid, self._account.pw_gid
            os.chmod(self.base_dir, 0o755)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, uid, gid)
            if not _traversable_by_others(self.base_dir):
                raise PostgresError(
                    f"{self.base_dir} is not reachable by user {self._account.pw_name!r}"
                )

    def _initdb(self) -> None:
        assert self.data_dir
        self._as_owner(
            [self._bin("initdb"), "-D", self.data_dir, "-U", self.user, "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            what="initdb",
        )

    def _start_server(self) -> None:
        assert self.data_dir and self.socket_dir and self.log_file
        last_error: PostgresError | None = None
        for _attempt in range(5):
            self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {shlex.quote(self.socket_dir)}",
                    f"-c listen_addresses={_HOST}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            try:
                self._as_owner(
                    [self._bin("pg_ctl"), "-D", self.data_dir, "-l", self.log_file,
                     "-o", options, "-w", "-t", str(int(self.start_timeout)), "start"],
                    what="pg_ctl start",
                    timeout=self.start_timeout + 30,
                )
                return
            except PostgresError as exc:
                log = self._log_tail()
                last_error = PostgresError(f"{exc}\n--- {self.log_file} ---\n{log}")
                self._kill_postmaster()
                if "already in use" not in log and "could not bind" not in log:
                    break  # not a port race: retrying won't help
        self.port = None
        assert last_error is not None
        raise last_error

    def _as_owner(self, argv: list[str], *, what: str, timeout: float = 120) -> str:
        """Run a server-side command, as the unprivileged account when root."""
        account = self._account
        if account is None:
            return _run(argv, what=what, cwd=self.base_dir, env=_clean_env(), timeout=timeout)
        env = _clean_env(account)
        runuser = shutil.which("runuser") or _first_exe("/usr/sbin/runuser", "/sbin/runuser")
        if runuser:
            argv = [runuser, "-u", account.pw_name, "--", *argv]
            return _run(argv, what=what, cwd=self.base_dir, env=env, timeout=timeout)
        setpriv = shutil.which("setpriv")
        if setpriv:
            argv = [setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                    "--init-groups", "--", *argv]
            return _run(argv, what=what, cwd=self.base_dir, env=env, timeout=timeout)
        # No util-linux: let the interpreter drop privileges in the child.
        return _run(
            argv, what=what, cwd=self.base_dir, env=env, timeout=timeout,
            user=account.pw_uid, group=account.pw_gid, extra_groups=[],
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_file or "", encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def _kill_postmaster(self) -> None:
        try:
            with open(os.path.join(self.data_dir or "", "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)  # children exit once the postmaster is gone
        except OSError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.05)

    async def _create_database_asyncpg(self, create: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn_for("postgres"))
        try:
            await conn.execute(create)
        finally:
            await conn.close()


def _check_db_name(name: str) -> None:
    if not _DB_NAME_RE.match(name):
        raise ValueError(f"invalid database name {name!r} (use letters, digits, underscore)")


def _first_exe(*paths: str) -> str | None:
    return next((p for p in paths if _is_exe(p)), None)


def _traversable_by_others(path: str) -> bool:
    path = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _run_coroutine_blocking(coro: object) -> None:
    """asyncio.run(coro), in a helper thread if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)  # type: ignore[arg-type]
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    thread = threading.Thread(target=target, name="pg-createdb")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------- #
# pytest fixtures
# --------------------------------------------------------------------------- #


def _in_ci() -> bool:
    value = os.environ.get("CI")
    return value is not None and value.strip().lower() not in ("0", "false", "no")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TemporaryPostgres]:
    """One throwaway PostgreSQL server for the whole test session.

    Without server binaries: skipped locally, but a hard failure when ``CI`` is set
    (so CI can never silently skip the database tests).
    """
    bin_dir = postgres_available()
    if bin_dir is None:
        message = (
            "PostgreSQL server binaries (initdb/pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin. Install them with scripts/ensure-system-deps.sh "
            "(apt-get install -y postgresql)."
        )
        if _in_ci():
            pytest.fail(f"CI is set but {message}", pytrace=False)
        pytest.skip(message)
    with TemporaryPostgres(bin_dir=bin_dir) as server:
        yield server


@pytest.fixture
def pg_database_url(pg_server: TemporaryPostgres) -> str:
    """SQLAlchemy asyncpg URL of a fresh, empty database (one per test)."""
    return pg_server.create_database()


MIGRATED = "migrated_template"


@pytest.fixture(scope="session")
def pg_migrated_template(pg_server: TemporaryPostgres) -> str:
    """A database migrated to the head once per session, copied for each test that wants a
    migrated one (a copy takes ~0.1 s, a migration from nothing ~0.5 s)."""
    from bot.storage import database  # the app's migrations, as the tests' copies need them

    _run_coroutine_blocking(database.upgrade(pg_server.create_database(MIGRATED)))
    return MIGRATED


@pytest.fixture
def pg_migrated_url(pg_server: TemporaryPostgres, pg_migrated_template: str) -> str:
    """SQLAlchemy asyncpg URL of a fresh database migrated to the head (one per test)."""
    return pg_server.create_database(template=pg_migrated_template)
