"""Owner's console benchmark: /stats (the last 30 days) and /segments on 250k and 1M
customers with ~10 purchases each (the trigger benchmark's data, bench/triggers.py), on
SQLite and on PostgreSQL: seconds and the process's peak RSS, each in its own subprocess,
without and with the console indexes (migration 0009: purchases (occurred_at, customer_id,
amount, refunded_amount), point_operations(created_at), customers(registered_at)). /stats
reads the day book (bot/storage/day_book.py); the data is written in bulk, past it, so the
SQLite copy is migrated and its book built once first (the one-time cost of the first start
after the upgrade: its seconds and peak RSS are printed); PostgreSQL gets the book with the
other tables.

    cd /work/main && .venv/bin/python bench/stats.py [--sizes 250000,1000000]
        [--databases sqlite,postgresql] [--indexes without,with] [--day 2025-06-10]
        [--cache /tmp/bench-triggers] [--work /tmp/bench-stats] [--explain] [--timeout 600]
        [--pg-setting work_mem=64MB]

The /stats worker calls what its handler calls, ``bot.console.stats.gather``
(bot/handlers/console_stats.py), as of the bench day's pass moment. /segments reads the
nightly snapshot of the segments (bot/marketing/segment_snapshot.py): first the snapshot job
itself is timed, once per database and size with the console indexes (the app's schema):
the first snapshot (the day before, none earlier: what a shop's first night or the start
after the upgrade costs) and the next night's (the bench day, with the movement against
the first and the older rows deleted); then the /segments command goes through the app's
core as the admin sends it (the summary, and the RFM chart rendered: the first in the
process, so matplotlib is imported too) and the RFM details button after it. SQLite runs on
a copy of the cached database (under --work, kept for the next run, the three indexes
dropped or created per variant; the segment tables are not copied to PostgreSQL);
PostgreSQL is a temporary server (tests/support/postgres.py), migrated, filled from the
SQLite copy by COPY table by table (parents first, sequences moved past the ids), VACUUM
ANALYZEd, and gone at the end of the run. Each worker reports its slowest statement; with
--explain (or when a target is missed) its plan is printed. Targets: /stats <= 2 s on
PostgreSQL, <= 5 s on SQLite; /segments <= 3 s on both; peak RSS flat in the customer
count (the largest within 1.25x of the smallest). The snapshot job's seconds and peak RSS
are figures, without a target. The exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.triggers import pass_moment, rss_peak_mb, seeded  # noqa: E402
from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.console.stats import gather  # noqa: E402
from bot.core.clock import FrozenClock  # noqa: E402
from bot.core.context import ChannelInfo  # noqa: E402
from bot.core.events import Event, EventKind, UserRef  # noqa: E402
from bot.core.replies import Picture, Text  # noqa: E402
from bot.marketing.segment_snapshot import take_nightly  # noqa: E402
from bot.storage import database, day_book  # noqa: E402
from bot.storage.models import Base, SegmentCount, SegmentSnapshot  # noqa: E402

TARGET_SECONDS = {"sqlite": 5.0, "postgresql": 2.0}
SEGMENTS_TARGET = 3.0  # /segments, either database
ADMIN = UserRef("telegram", "1", "Owner", "ru")
TELEGRAM = ChannelInfo("telegram", True, deep_link=lambda payload: payload)
SECRET = "bench-signing-key-0123456789"
FLAT_SLACK = 1.25  # peak RSS at the largest size within 1.25x of the smallest
INDEXES = {  # migration 0009's console indexes
    "ix_purchases_occurred": "purchases (occurred_at, customer_id, amount, refunded_amount)",
    "ix_point_operations_created": "point_operations (created_at)",
    "ix_customers_registered": "customers (registered_at)",
}
COPY_BATCH = 50_000
NULL = "\\N"


# --- the measured work, in a worker process ----------------------------------------------------

class Statements:
    """Every statement the driver runs, with its seconds (to name the slowest one). Before
    each one its text and plan (EXPLAIN QUERY PLAN / EXPLAIN, not executed; not timed) go to
    stderr, so a worker stopped at the timeout still says what it was stuck in."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.seen: list[tuple[float, str, object]] = []
        self.live = False
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("SELECT") and self.live:
                try:
                    cursor.execute(prefix + statement, parameters)
                    plan = "\n".join(str(row[-1]) if len(row) > 1 else str(row[0])
                                     for row in cursor.fetchall())
                except Exception as exc:  # a plan is a courtesy
                    plan = f"(no plan: {exc})"
                print(f"-- statement\n{' '.join(statement.split())}\n-- plan\n{plan}",
                      file=sys.stderr, flush=True)
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            self.seen.append((time.perf_counter() - conn.info.pop("bench_started"), statement,
                              parameters))

    def slowest(self) -> tuple[float, str, object]:
        return max(self.seen, key=lambda seen: seen[0])


async def explain(application, statement: str, parameters: object) -> str:  # type: ignore[no-untyped-def]
    engine = application.engine
    prefix = ("EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite"
              else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ")
    async with engine.connect() as conn:
        rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
    if engine.dialect.name == "sqlite":
        return "\n".join(f"{'  ' * 0}{row[-1]}" for row in rows)
    return "\n".join(row[0] for row in rows)


async def measurement(application, statements: Statements, seconds: float,  # type: ignore[no-untyped-def]
                      figures: dict, want_plan: bool) -> dict:
    """What one timed request did: its time, memory, statements and the slowest one's plan."""
    slow_seconds, slow_sql, parameters = statements.slowest() if statements.seen else (0, "", ())
    plan = await explain(application, slow_sql, parameters) if want_plan and slow_sql else ""
    return {"seconds": seconds, "rss_mb": rss_peak_mb(), "statements": len(statements.seen),
            "slowest_s": slow_seconds, "slowest_sql": " ".join(slow_sql.split())[:400],
            "plan": plan, "figures": figures}


def bench_settings(url: str) -> Settings:
    return Settings(database={"url": url}, web={"chat_enabled": False}, card={"secret": SECRET},
                    admins=[f"{ADMIN.channel}:{ADMIN.external_id}"])


async def work(url: str, what: str, day: date, want_plan: bool) -> dict:
    if what == "segments":
        return await segments_screen(url, day, want_plan)
    at = pass_moment(day)
    settings = bench_settings(url)
    application = await build(settings, FrozenClock(at))
    statements = Statements(application.engine)
    figures: dict[str, int] = {}
    try:
        async with application.core.unit_of_work() as uow:
            await uow.session.execute(Base.metadata.tables["outlets"].select().limit(1))
            statements.seen.clear()  # the connection and its first statement are not the work
            statements.live = True
            started = time.perf_counter()
            if what == "stats":  # what /stats (the last 30 days) asks for
                console, zone = settings.console, application.core.services.timezone
                today = at.astimezone(zone).date()
                stats = await gather(uow, today - timedelta(days=29), today, at, zone,
                                     console.customer_days, console.retention_spend, at)
                figures = {"members": stats.members, "purchases": stats.purchases,
                           "active_90": stats.active_90, "outstanding": stats.points.outstanding}
            seconds = time.perf_counter() - started  # leaving rolls back: nothing written
        measured = await measurement(application, statements, seconds, figures, want_plan)
    finally:
        await application.close()
    return measured


async def segments_screen(url: str, day: date, want_plan: bool) -> dict:
    """/segments as the admin sends it, through the app's core (one transaction, the chart
    rendered), then the RFM details button; the admin's first message before (not timed)
    makes their identity, as it exists in a running shop."""
    application = await build(bench_settings(url), FrozenClock(pass_moment(day)))
    statements = Statements(application.engine)
    core = application.core
    try:
        await core.handle(Event.from_text(ADMIN, "/help"), TELEGRAM)
        statements.seen.clear()
        statements.live = True
        started = time.perf_counter()
        replies = await core.handle(Event.from_text(ADMIN, "/segments"), TELEGRAM)
        seconds = time.perf_counter() - started
        pressed = time.perf_counter()
        details = await core.handle(Event(ADMIN, EventKind.BUTTON, payload="segments:rfm"),
                                    TELEGRAM)
        button_seconds = time.perf_counter() - pressed
        statements.live = False
        summary = next(reply.text for reply in replies if isinstance(reply, Text))
        if not summary.startswith("👥"):
            raise RuntimeError(f"/segments did not answer with the summary: {summary}")
        charts = [reply for reply in replies if isinstance(reply, Picture)]
        figures = {"summary": summary.splitlines()[:4], "chart_bytes": len(charts[0].image)
                   if charts else 0, "rfm_lines": len(details[0].text.splitlines()),
                   "button_s": round(button_seconds, 2)}
        measured = await measurement(application, statements, seconds, figures, want_plan)
    finally:
        await application.close()
    return measured


async def snapshot(url: str, day: date, first: bool) -> dict:
    """The nightly snapshot job: the first one (the day before the bench day, every earlier
    snapshot deleted first, not timed) or the next night's (the bench day)."""
    at = pass_moment(day) - (timedelta(days=1) if first else timedelta(0))
    application = await build(bench_settings(url), FrozenClock(at))
    core = application.core
    try:
        async with core.unit_of_work() as uow:
            if first:
                await uow.session.execute(SegmentSnapshot.__table__.delete())
            else:  # a run before left the bench day's: the previous night's is the first one
                await uow.session.execute(SegmentSnapshot.__table__.delete().where(
                    SegmentSnapshot.taken_at >= at))
            await uow.commit()
        started = time.perf_counter()
        taken = await take_nightly(core)
        seconds = time.perf_counter() - started
        if taken is None:
            raise RuntimeError("the snapshot job took no snapshot")
        async with core.unit_of_work() as uow:
            kept = {row.code: (row.customers, row.moved_in, row.moved_out) for row in (
                await uow.session.execute(SegmentCount.__table__.select().where(
                    SegmentCount.snapshot_id == taken.id))).all()}
    finally:
        await application.close()
    return {"seconds": seconds, "rss_mb": rss_peak_mb(),
            "figures": {"members": taken.members, "champions": kept["rfm:champions"],
                        "at_risk": kept["rfm:at_risk"], "lost": kept["rfm:lost"]}}


async def build_book(url: str, day: date) -> dict:
    """Migrate the copy and build its day book, as the first start after the upgrade does."""
    await database.upgrade(url)
    engine = database.create_engine(url)
    started = time.perf_counter()
    try:
        async with database.session_factory(engine)() as session:
            built = await day_book.ensure(session, ZoneInfo(Settings(
                database={"url": url}).shop.timezone), pass_moment(day))
            await session.commit()
    finally:
        await engine.dispose()
    return {"seconds": time.perf_counter() - started, "rss_mb": rss_peak_mb(), "built": built}


async def idle(url: str) -> dict:
    """The floor: the app built, one statement, nothing counted."""
    application = await build(bench_settings(url))
    try:
        async with application.core.unit_of_work() as uow:
            await uow.session.execute(Base.metadata.tables["outlets"].select().limit(1))
    finally:
        await application.close()
    return {"rss_mb": rss_peak_mb()}


def worker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    if args.worker == "idle":
        result = asyncio.run(idle(args.url))
    elif args.worker == "book":
        result = asyncio.run(build_book(args.url, date.fromisoformat(args.day)))
    elif args.worker in ("snapshot-first", "snapshot-next"):
        result = asyncio.run(snapshot(args.url, date.fromisoformat(args.day),
                                      args.worker == "snapshot-first"))
    else:
        result = asyncio.run(work(args.url, args.worker, date.fromisoformat(args.day), args.explain))
    print(json.dumps(result))
    return 0


TIMEOUT = 600.0  # seconds a worker may take (--timeout)


def measure(what: str, url: str, day: date, want_plan: bool) -> dict:
    """One worker in its own process; at the timeout it is stopped and reported as such,
    with the statement it was running and that statement's plan."""
    command = [sys.executable, __file__, "--worker", what, "--url", url, "--day", day.isoformat()]
    started = time.perf_counter()
    try:
        done = subprocess.run(command + (["--explain"] if want_plan else []),
                              capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        stuck, _, plan = err.rpartition("-- statement\n")[2].partition("\n-- plan\n")
        return {"seconds": time.perf_counter() - started, "timeout": True, "rss_mb": float("nan"),
                "statements": err.count("-- statement"), "slowest_s": float("nan"),
                "slowest_sql": stuck[:400], "plan": plan.strip(), "figures": {}}
    if done.returncode != 0:
        raise RuntimeError(f"{what} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the databases -----------------------------------------------------------------------------

def sqlite_copy(source: Path, work_dir: Path, customers: int) -> Path:
    """A private copy of the cached trigger database (ours to add indexes to)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    copy = work_dir / f"stats-{source.stem}.db"
    if not copy.exists():
        print(f"copying {source.name} ({source.stat().st_size / 2**30:.2f} GiB) ...", flush=True)
        tmp = copy.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.rename(copy)
    return copy


def sqlite_indexes(path: Path, wanted: bool) -> float:
    """Drop or create the console indexes; returns the seconds it took."""
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # what the app's engine sets anyway
    for name, target in INDEXES.items():
        if wanted:
            db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
            db.execute(f"ANALYZE {name}")
        else:
            db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started


def _csv_rows(db: sqlite3.Connection, table: str, columns: list[str], booleans: set[str]):  # type: ignore[no-untyped-def]
    """The table as CSV chunks for COPY: NULL is \\N (so an empty string stays one), SQLite's
    0/1 booleans become f/t, timestamps stay SQLite's naive UTC text (the session is UTC)."""
    cursor = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
    flags = [column in booleans for column in columns]
    while rows := cursor.fetchmany(COPY_BATCH):
        out = io.StringIO()
        write = csv.writer(out, lineterminator="\n").writerow
        for row in rows:
            write([NULL if value is None else ("t" if value else "f") if flag else value
                   for value, flag in zip(row, flags, strict=True)])
        yield out.getvalue().encode()


async def fill_postgres(dsn: str, source: Path) -> dict[str, int]:
    """COPY every non-empty table of the SQLite database into the migrated PostgreSQL one,
    parents first; move the id sequences past the copied ids; VACUUM ANALYZE."""
    import asyncpg

    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    present = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn = await asyncpg.connect(dsn)
    copied: dict[str, int] = {}
    try:
        await conn.execute("SET TIME ZONE 'UTC'")  # SQLite holds naive UTC timestamps
        for table in Base.metadata.sorted_tables:  # parents first
            if table.name not in present or (table.name == "outlets" and await conn.fetchval(
                    "SELECT count(*) FROM outlets")):
                continue
            if table.name.startswith("segment_"):  # the snapshot job writes its own
                continue
            (count,) = db.execute(f"SELECT count(*) FROM {table.name}").fetchone()
            if not count:
                continue
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table.name})")}
            columns = [c.name for c in table.columns if c.name in have]
            booleans = {c.name for c in table.columns if c.type.python_type is bool}
            started = time.perf_counter()

            async def chunks(name=table.name, columns=columns, booleans=booleans):  # type: ignore[no-untyped-def]
                for chunk in _csv_rows(db, name, columns, booleans):
                    yield chunk

            await conn.copy_to_table(table.name, source=chunks(), columns=columns, format="csv",
                                     null=NULL)
            if "id" in columns:
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                   f"(SELECT max(id) FROM {table.name}))")
            copied[table.name] = count
            print(f"  copied {table.name}: {count:,} rows in {time.perf_counter() - started:.1f} s",
                  flush=True)
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await conn.close()
        db.close()
    return copied


async def _alter_database(dsn: str, dbname: str, name: str, value: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"ALTER DATABASE {dbname} SET {name} = '{value}'")
    finally:
        await conn.close()


async def postgres_indexes(dsn: str, wanted: bool) -> float:
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        for name, target in INDEXES.items():
            if wanted:
                await conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
            else:
                await conn.execute(f"DROP INDEX IF EXISTS {name}")
        if wanted:
            await conn.execute("VACUUM ANALYZE purchases, point_operations, customers")
    finally:
        await conn.close()
    return time.perf_counter() - started


# --- report ------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run_variants(kind: str, url: str, customers: int, variants: list[str], day: date,
                 set_indexes, always_plan: bool) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = []
    floor = measure("idle", url, day, False)["rss_mb"]
    set_indexes(True)  # the app's schema
    snapshots = {what: measure(what, url, day, False)
                 for what in ("snapshot-first", "snapshot-next")}
    for what, m in snapshots.items():
        print(f"  {kind} {customers:,}: {what} {_seconds(m)} s, peak RSS {m['rss_mb']:.0f} MB: "
              f"{m['figures']}", flush=True)
    for variant in variants:
        took = set_indexes(variant == "with")
        print(f"  {kind} {customers:,}: indexes {variant} ({took:.1f} s to set)", flush=True)
        stats = measure("stats", url, day, always_plan)
        if not always_plan and not stats.get("timeout") and stats["seconds"] > TARGET_SECONDS[kind]:
            stats = measure("stats", url, day, True)  # again, to show where the time goes
        segments = measure("segments", url, day, always_plan)
        row = {"database": kind, "customers": customers, "indexes": variant, "floor": floor,
               "stats": stats, "segments": segments, **snapshots}
        print(f"    /stats {_seconds(stats)} s, /segments {_seconds(segments)} s "
              f"(the RFM button {segments['figures'].get('button_s', '?')} s), "
              f"RSS {stats['rss_mb']:.0f} / {segments['rss_mb']:.0f} MB", flush=True)
        rows.append(row)
    return rows


def _seconds(m: dict) -> str:
    return f">{m['seconds']:.0f}" if m.get("timeout") else f"{m['seconds']:.2f}"


def report(rows: list[dict], day: date) -> None:
    print(f"\n== /stats (last 30 days) and /segments as of {pass_moment(day):%Y-%m-%d %H:%M} UTC, "
          f"~10 purchases a customer ==")
    print(f"{'database':<10} {'customers':>9} {'indexes':>7} {'/stats s':>8} {'segments s':>10} "
          f"{'RSS stats':>9} {'RSS segm':>8} {'RSS idle':>8}  {'/stats target':<18} "
          f"{'/segments target':<16}")
    for r in rows:
        target = TARGET_SECONDS[r["database"]]
        print(f"{r['database']:<10} {r['customers']:>9,} {r['indexes']:>7} "
              f"{_seconds(r['stats']):>8} {_seconds(r['segments']):>10} "
              f"{r['stats']['rss_mb']:>9.0f} {r['segments']['rss_mb']:>8.0f} {r['floor']:>8.0f}  "
              f"<= {target:.0f} s {verdict(r['stats']['seconds'] <= target):<10} "
              f"<= {SEGMENTS_TARGET:.0f} s {verdict(r['segments']['seconds'] <= SEGMENTS_TARGET)}")
    print("\nthe segment snapshot job (seconds, peak RSS), with the console indexes:")
    seen: set[tuple[str, int]] = set()
    for r in rows:
        if (r["database"], r["customers"]) in seen:
            continue
        seen.add((r["database"], r["customers"]))
        first, following = r["snapshot-first"], r["snapshot-next"]
        print(f"  {r['database']:<10} {r['customers']:>9,}: the first {_seconds(first)} s "
              f"({first['rss_mb']:.0f} MB), the next night's {_seconds(following)} s "
              f"({following['rss_mb']:.0f} MB); champions (members, came in, left) "
              f"{following['figures'].get('champions')}")
    print("\nslowest statement of each run:")
    for r in rows:
        for what in ("stats", "segments"):
            m = r[what]
            took = (f"stopped at the timeout ({m['seconds']:.0f} s) in statement {m['statements']}"
                    if m.get("timeout") else f"{m['slowest_s']:.2f} s of {m['seconds']:.2f} s "
                                             f"({m['statements']} statements)")
            print(f"  {r['database']} {r['customers']:,} {r['indexes']} {what}: {took}: "
                  f"{m['slowest_sql'][:160]}")
    print("\nmemory, flat in the customer count (peak RSS, largest / smallest size):")
    groups: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for r in rows:
        for what in ("stats", "segments"):
            groups.setdefault((r["database"], r["indexes"], what), []).append(
                (r["customers"], r[what]["rss_mb"]))
    for (kind, variant, what), sizes in groups.items():
        if len(sizes) < 2 or any(mb != mb for _, mb in sizes):  # NaN: a worker timed out
            continue
        (small, small_mb), (big, big_mb) = min(sizes), max(sizes)
        ratio = big_mb / small_mb
        print(f"  {kind:<10} indexes {variant:<7} {what:<8} {small:,}: {small_mb:.0f} MB, "
              f"{big:,}: {big_mb:.0f} MB: {ratio:.2f}x (<= {FLAT_SLACK}x) {verdict(ratio <= FLAT_SLACK)}")
    plans = [(r, what) for r in rows for what in ("stats", "segments") if r[what]["plan"]]
    for r, what in plans:
        m = r[what]
        took = (f"still running at {m['seconds']:.0f} s" if m.get("timeout")
                else f"{m['slowest_s']:.2f} s")
        print(f"\n-- plan of the {'stuck' if m.get('timeout') else 'slowest'} {what} statement, "
              f"{r['database']} {r['customers']:,} customers, indexes {r['indexes']} ({took}):")
        print(r[what]["slowest_sql"])
        print(r[what]["plan"])


def main() -> int:
    global TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[250_000, 1_000_000])
    parser.add_argument("--databases", type=lambda s: s.split(","), default=["sqlite", "postgresql"])
    parser.add_argument("--indexes", type=lambda s: s.split(","), default=["without", "with"])
    parser.add_argument("--day", default="2025-06-10")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench-triggers"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-stats"))
    parser.add_argument("--explain", action="store_true", help="print every slowest plan")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting for the bench databases (e.g. work_mem=64MB); "
                             "repeatable; default: the server's defaults")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help="seconds a worker may take before it is stopped (default: 600)")
    parser.add_argument("--worker", choices=["stats", "segments", "idle", "book",
                                             "snapshot-first", "snapshot-next"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    TIMEOUT = args.timeout
    day, sizes = date.fromisoformat(args.day), sorted(args.sizes)
    rows: list[dict] = []
    copies = {n: sqlite_copy(seeded(args.cache, n, day, False), args.work, n) for n in sizes}
    for n, path in copies.items():
        sqlite_indexes(path, False)  # a cache made before migration 0009 has them unmigrated
        book = measure("book", f"sqlite+aiosqlite:///{path}", day, False)
        print(f"day book of {n:,} customers: " + (
            f"built in {book['seconds']:.1f} s, peak RSS {book['rss_mb']:.0f} MB"
            if book["built"] else "built before (kept with the copy)"), flush=True)
    if "sqlite" in args.databases:
        for n in sizes:
            path = copies[n]
            rows += run_variants("sqlite", f"sqlite+aiosqlite:///{path}", n, args.indexes, day,
                                 lambda wanted, path=path: sqlite_indexes(path, wanted),
                                 args.explain)
    if "postgresql" in args.databases:
        from tests.support.postgres import TemporaryPostgres

        with TemporaryPostgres("bench") as pg:
            for n in sizes:
                url = pg.create_database(f"stats_{n}")
                dsn = url.replace("postgresql+asyncpg://", "postgresql://")
                started = time.perf_counter()
                asyncio.run(database.upgrade(url))
                print(f"filling PostgreSQL with {n:,} customers from {copies[n].name} ...",
                      flush=True)
                asyncio.run(fill_postgres(dsn, copies[n]))
                for setting in args.pg_setting:  # e.g. work_mem=64MB, for every new session
                    name, _, value = setting.partition("=")
                    asyncio.run(_alter_database(dsn, f"stats_{n}", name, value))
                print(f"  filled in {time.perf_counter() - started:.1f} s", flush=True)
                rows += run_variants("postgresql", url, n, args.indexes, day,
                                     lambda wanted, dsn=dsn: asyncio.run(postgres_indexes(dsn, wanted)),
                                     args.explain)
    report(rows, day)
    return 0


if __name__ == "__main__":
    sys.exit(main())
