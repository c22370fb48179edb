"""Inbound throughput benchmark: /balance through the real Telegram channel vs. a bare
aiogram echo bot, both on the same in-process mocked Bot API session (no network).

    cd /work/main && .venv/bin/python bench/inbound.py [--customers 100000] [--updates 5000]
        [--warmup 500] [--concurrency 1] [--extra-concurrency 8] [--reuse PATH]
        [--profile [cprofile|pyinstrument]]

The database is seeded fresh into a temp dir each run (~15 s for 100k customers); with
``--reuse PATH`` it is seeded there once and reused afterwards. Also printed: the SQL
statements each core update runs, what the core and the floor spend in their statements and
outside them (bench/statements.py), and, with --profile, where time goes.

Targets (issue 15): core throughput >= 60 % of the echo + one transaction floor (the
least any update that writes does, measured in the same run), p99 <= 10 ms; also printed
against the bare echo. The figures are informational: the exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import logging
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.base import BaseSession  # noqa: E402
from aiogram.methods import TelegramMethod  # noqa: E402
from aiogram.types import Message, Update  # noqa: E402
from sqlalchemy import event, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bench.statements import StatementMeter, ceiling  # noqa: E402
from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.conversation import Core  # noqa: E402
from bot.loyalty.cards import new_card_number  # noqa: E402
from bot.storage import database  # noqa: E402
from bot.storage.models import (  # noqa: E402
    Customer,
    Identity,
    PointLot,
    PointOperation,
    PointSpend,
)

TOKEN = "123:ABC"
FIRST_USER_ID = 100_000_000
CHUNK = 10_000
TARGET_FLOOR_PERCENT = 60.0  # % of the echo + 1 transaction throughput
TARGET_P99_MS = 10.0


# --- the mocked Bot API session --------------------------------------------------------------

class MockedSession(BaseSession):
    """Answers every Bot API call in-process, the way aiogram's own test session does,
    but closer to the real path: the request is serialized like ``AiohttpSession``'s form
    data, and the answer goes through ``check_response`` (JSON → pydantic)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: Counter[str] = Counter()
        self.last_params: dict[str, Any] = {}
        self._message_ids = itertools.count(1)

    async def close(self) -> None:
        pass

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:
        files: dict[str, Any] = {}
        params = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        self.requests[method.__api_method__] += 1
        self.last_params = params
        content = json.dumps({"ok": True, "result": self._result(method, params)})
        return self.check_response(bot=bot, method=method, status_code=200, content=content).result

    def _result(self, method: TelegramMethod[Any], params: dict[str, Any]) -> Any:
        returning = method.__returning__
        if returning is bool:
            return True
        if returning is Message:
            chat_id = int(params.get("chat_id", 1))
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": 123, "is_bot": True, "first_name": "Bench bot"},
            }
            if "text" in params:
                message["text"] = params["text"]
            if "caption" in params:
                message["caption"] = params["caption"]
            return message
        raise NotImplementedError(f"the mocked session does not answer {method.__api_method__}")

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None,
                             timeout: int = 30, chunk_size: int = 65536,
                             raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield b""


# --- seeding ---------------------------------------------------------------------------------

def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def card_numbers(count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(new_card_number())
    return list(seen)


def seed_rows(i: int, card: str, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """One registered customer ``i`` (1-based): identity, 3 earn operations with their
    lots (one still pending), one spend operation taking from the welcome lot."""
    registered = now - timedelta(days=i % 60 + 4, seconds=i % 86_400)
    op, lot = (i - 1) * 4, (i - 1) * 3
    welcome, purchase1, purchase2 = 100, 10 + i % 500, 20 + i % 300
    year, ninety = timedelta(days=365), timedelta(days=90)
    return {
        "customers": [dict(
            id=i, card_number=card, phone=f"+7900{i:07d}", phone_verified=True,
            name=f"Customer {i}", birth_day=i % 28 + 1, birth_month=i % 12 + 1, birth_year=None,
            locale=None, source=None, consent_at=registered, registered_at=registered,
            purchase_count=2, notify_promotions=True, notify_reminders=True, notify_digest=True,
            created_at=registered,
        )],
        "identities": [dict(
            id=i, channel="telegram", external_id=str(FIRST_USER_ID + i), customer_id=i,
            locale=("ru", "en")[i % 2], consent_at=registered, source=None, reachable=True,
            created_at=registered, last_seen_at=registered,
        )],
        "operations": [
            dict(id=op + 1, customer_id=i, kind="earn", reason="welcome", amount=welcome,
                 reference=None, note=None, created_at=registered),
            dict(id=op + 2, customer_id=i, kind="earn", reason="purchase", amount=purchase1,
                 reference=f"chk-{i}-1", note=None, created_at=registered + timedelta(days=1)),
            dict(id=op + 3, customer_id=i, kind="earn", reason="purchase", amount=purchase2,
                 reference=f"chk-{i}-2", note=None, created_at=registered + timedelta(days=2)),
            dict(id=op + 4, customer_id=i, kind="spend", reason="purchase", amount=-50,
                 reference=f"chk-{i}-3", note=None, created_at=registered + timedelta(days=3)),
        ],
        "lots": [
            dict(id=lot + 1, customer_id=i, operation_id=op + 1, reason="welcome", amount=welcome,
                 remaining=welcome - 50, created_at=registered, available_at=registered,
                 expires_at=registered + ninety),
            dict(id=lot + 2, customer_id=i, operation_id=op + 2, reason="purchase",
                 amount=purchase1, remaining=purchase1, created_at=registered + timedelta(days=1),
                 available_at=registered + timedelta(days=1), expires_at=registered + year),
            dict(id=lot + 3, customer_id=i, operation_id=op + 3, reason="purchase",
                 amount=purchase2, remaining=purchase2, created_at=registered + timedelta(days=2),
                 # held for two weeks: recent customers have pending points
                 available_at=registered + timedelta(days=16),
                 expires_at=registered + timedelta(days=2) + year),
        ],
        "spends": [dict(operation_id=op + 4, lot_id=lot + 1, amount=50)],
    }


async def seed(path: Path, customers: int) -> None:
    url = sqlite_url(path)
    await database.upgrade(url)
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def fast_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    tables = {
        "customers": Customer.__table__, "identities": Identity.__table__,
        "operations": PointOperation.__table__, "lots": PointLot.__table__,
        "spends": PointSpend.__table__,
    }
    now = datetime.now(UTC)
    cards = card_numbers(customers)
    try:
        async with engine.begin() as conn:
            for start in range(1, customers + 1, CHUNK):
                batch: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
                for i in range(start, min(start + CHUNK, customers + 1)):
                    for name, rows in seed_rows(i, cards[i - 1], now).items():
                        batch[name].extend(rows)
                for name, table in tables.items():  # parents first (foreign keys)
                    rows = batch[name]
                    for offset in range(0, len(rows), CHUNK):
                        await conn.execute(insert(table), rows[offset: offset + CHUNK])
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
    finally:
        await engine.dispose()


async def telegram_user_ids(path: Path) -> list[int]:
    engine = create_async_engine(sqlite_url(path))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Identity.external_id)
                .join(Customer, Customer.id == Identity.customer_id)
                .where(Identity.channel == "telegram", Customer.registered_at.is_not(None))
            )
            return [int(external_id) for (external_id,) in rows]
    finally:
        await engine.dispose()


# --- updates and measurement -----------------------------------------------------------------

class UpdateFactory:
    """Private-chat text messages with unique update ids (unique across runs too, so a
    reused database never sees a redelivery)."""

    def __init__(self, user_ids: Sequence[int], seed: int = 1) -> None:
        self.user_ids = user_ids
        self.rng = random.Random(seed)
        self.update_ids = itertools.count(time.time_ns() // 1_000)

    def make(self, bot: Bot, count: int, text: str) -> list[Update]:
        now = int(time.time())
        updates = []
        for _ in range(count):
            user_id = self.rng.choice(self.user_ids)
            update_id = next(self.update_ids)
            updates.append(Update.model_validate({
                "update_id": update_id,
                "message": {
                    "message_id": update_id % 1_000_000_000,
                    "date": now,
                    "chat": {"id": user_id, "type": "private", "first_name": "Bench"},
                    "from": {"id": user_id, "is_bot": False, "first_name": "Bench",
                             "last_name": str(user_id), "language_code": "en"},
                    "text": text,
                    "entities": ([{"type": "bot_command", "offset": 0, "length": len(text)}]
                                 if text.startswith("/") else None),
                },
            }, context={"bot": bot}))  # mounted on the bot: feed_update does no JSON round trip
        return updates


@dataclass
class Result:
    scenario: str
    concurrency: int
    latencies: list[float]  # seconds
    seconds: float

    @property
    def updates(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


async def run(dispatcher: Dispatcher, bot: Bot, updates: Sequence[Update],
              concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    clock = time.perf_counter
    if concurrency <= 1:
        started = clock()
        for update in updates:
            t0 = clock()
            await dispatcher.feed_update(bot, update)
            latencies.append(clock() - t0)
        return latencies, clock() - started

    queue = iter(updates)

    async def worker() -> None:
        for update in queue:  # shared iterator: each worker takes the next update
            t0 = clock()
            await dispatcher.feed_update(bot, update)
            latencies.append(clock() - t0)

    started = clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, clock() - started


@dataclass
class Scenario:
    name: str
    dispatcher: Dispatcher
    bot: Bot
    session: MockedSession
    text: str


async def measure(scenario: Scenario, factory: UpdateFactory, warmup: int, count: int,
                  concurrency: int, profile: Any = None,
                  recording: Callable[[bool], None] | None = None) -> Result:
    await run(scenario.dispatcher, scenario.bot,
              factory.make(scenario.bot, warmup, scenario.text), concurrency)
    updates = factory.make(scenario.bot, count, scenario.text)
    sent_before = scenario.session.requests["sendMessage"]
    if recording is not None:
        recording(True)
    if profile is not None:
        profile.start()
    latencies, seconds = await run(scenario.dispatcher, scenario.bot, updates, concurrency)
    if profile is not None:
        profile.stop()
    if recording is not None:
        recording(False)
    sent = scenario.session.requests["sendMessage"] - sent_before
    if sent != count:
        print(f"WARNING: {scenario.name}: {sent} replies sent for {count} updates", file=sys.stderr)
    return Result(scenario.name, concurrency, latencies, seconds)


def echo_scenario() -> Scenario:
    session = MockedSession()
    bot = Bot(TOKEN, session=session)
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return Scenario("echo (bare aiogram)", dispatcher, bot, session, "/balance")


def transaction_echo_scenario(core: Core) -> Scenario:
    """The echo plus the least durable work any handled update does: one SQLite write
    transaction (recording the update id) through the application's own engine."""
    session = MockedSession()
    bot = Bot(TOKEN, session=session)
    router = Router(name="echo-tx")

    @router.message()
    async def echo(message: Message, event_update: Update) -> None:
        async with core.unit_of_work() as uow:
            await uow.processed_events.claim("bench", str(event_update.update_id),
                                             core.services.clock.now())
            await uow.commit()
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return Scenario("echo + 1 transaction", dispatcher, bot, session, "/balance")


# --- report ----------------------------------------------------------------------------------

def table(results: Sequence[Result]) -> str:
    header = (f"{'scenario':<28} {'conc':>4} {'updates':>8} {'seconds':>8} {'updates/s':>10} "
              f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    lines = [header, "-" * len(header)]
    lines.extend(f"{r.scenario:<28} {r.concurrency:>4} {r.updates:>8} {r.seconds:>8.2f} "
                 f"{r.rate:>10.0f} {r.percentile(50):>8.2f} {r.percentile(99):>8.2f} "
                 f"{max(r.latencies) * 1000:>8.2f}" for r in results)
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class CProfiler:
    def __init__(self) -> None:
        self.profile = cProfile.Profile()

    def start(self) -> None:
        self.profile.enable()

    def stop(self) -> None:
        self.profile.disable()

    def report(self, limit: int) -> None:
        print_cprofile(self.profile, limit)


class PyInstrumentProfiler:
    def __init__(self) -> None:
        from pyinstrument import Profiler

        self.profiler = Profiler(interval=0.0005, async_mode="enabled")

    def start(self) -> None:
        self.profiler.start()

    def stop(self) -> None:
        self.profiler.stop()

    def report(self, limit: int) -> None:
        print("\n--- pyinstrument (wall clock) of the measured core run ---")
        print(self.profiler.output_text(unicode=True, color=False, show_all=False))


def package_of(filename: str) -> str:
    """The top-level package a profiled function belongs to ("sqlalchemy", "bot", ...)."""
    if filename.startswith(("~", "<")):
        return "builtins (C)"
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return parts[parts.index(marker) + 1].removesuffix(".py")
    if str(ROOT) in filename:
        relative = Path(filename).relative_to(ROOT).parts
        return "/".join(relative[:2]) if relative[0] == "bot" else relative[0]
    return "stdlib:" + Path(filename).stem


def print_cprofile(profile: cProfile.Profile, limit: int) -> None:
    stats = pstats.Stats(profile)
    by_package: Counter[str] = Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[package_of(filename)] += tottime
    total = sum(by_package.values()) or 1.0
    print("\n--- cProfile of the measured core run: own time by package (main thread only; "
          "time in the aiosqlite thread shows up as waiting in select/epoll) ---")
    for package, seconds in by_package.most_common(15):
        print(f"  {seconds:8.3f} s  {seconds / total * 100:5.1f} %  {package}")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(limit)
        print(f"\n--- cProfile of the measured core run, by {key} ---")
        print(out.getvalue().split("\n", 4)[-1].rstrip())  # drop the summary header lines


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="concurrent updates in flight for the judged run (1: sequential)")
    parser.add_argument("--extra-concurrency", type=int, default=8,
                        help="also measure both scenarios at this concurrency (0: skip)")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="use this database file; seeded (with --customers) when missing")
    parser.add_argument("--profile", nargs="?", const="cprofile", default=None,
                        choices=("cprofile", "pyinstrument"),
                        help="profile the judged core run (cProfile by default; pyinstrument "
                             "gives wall-clock time including awaits, if installed)")
    parser.add_argument("--profile-limit", type=int, default=30)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)

    tmp = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    try:
        if args.reuse is not None and args.reuse.exists():
            path = args.reuse
            print(f"database: reusing {path}")
        else:
            path = args.reuse or tmp / "loyalty.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            await seed(path, args.customers)
            print(f"database: seeded {args.customers:,} customers into {path} in "
                  f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
        user_ids = await telegram_user_ids(path)
        if not user_ids:
            raise SystemExit("no registered telegram customers in the database")
        print(f"customers with a telegram identity: {len(user_ids):,}")

        settings = Settings(
            database={"url": sqlite_url(path)},
            card={"secret": "bench-signing-key-0123456789"},
            shop={"name": "Coffee Point"},
            telegram={"token": TOKEN},
        )
        application = await build(settings)
        echo = echo_scenario()
        try:
            channel = application.channel("telegram")
            assert channel is not None
            await channel.bot.session.close()  # the aiohttp session never opened a connection
            core_session = MockedSession()
            channel.bot.session = core_session
            core = Scenario("core /balance (telegram)", channel.dispatcher, channel.bot,
                            core_session, "/balance")
            factory = UpdateFactory(user_ids)
            statements = StatementMeter(application.engine)

            # sanity: one /balance answers with the ledger, not with sign-up or an error
            probe = factory.make(core.bot, 1, "/balance")[0]
            await core.dispatcher.feed_update(core.bot, probe)
            replies = core_session.requests["sendMessage"]
            markup = json.loads(core_session.last_params.get("reply_markup", "{}"))
            buttons = {b.get("callback_data") for row in markup.get("inline_keyboard", [])
                       for b in row}
            if replies != 1 or buttons != {"card", "menu"}:
                raise SystemExit(f"the probe /balance was not answered with the balance "
                                 f"({replies} replies, last: {core_session.last_params})")

            profile = {None: lambda: None, "cprofile": CProfiler,
                       "pyinstrument": PyInstrumentProfiler}[args.profile]()
            results = [await measure(echo, factory, args.warmup, args.updates, args.concurrency)]
            results.append(await measure(core, factory, args.warmup, args.updates,
                                         args.concurrency, profile, statements.record))
            if args.extra_concurrency and args.extra_concurrency != args.concurrency:
                results.extend([await measure(scenario, factory, args.warmup, args.updates,
                                              args.extra_concurrency) for scenario in (echo, core)])
            tx_echo = transaction_echo_scenario(application.core)
            splits = [statements.split(core.name, args.updates, results[1].seconds)]
            core_counts = statements.counts.copy()
            statements.reset()
            floor = await measure(tx_echo, factory, args.warmup, args.updates, args.concurrency,
                                  recording=statements.record)
            splits.insert(0, statements.split(tx_echo.name, args.updates, floor.seconds))
            await tx_echo.bot.session.close()
        finally:
            await application.close()
            await echo.bot.session.close()

        print()
        print(table([*results, floor]))
        echo_result, core_result = results[0], results[1]
        ratio = core_result.rate / echo_result.rate * 100
        p99 = core_result.percentile(99)
        print()
        floor_percent = core_result.rate / floor.rate * 100
        print(f"judged at concurrency {args.concurrency}:")
        print(f"  core / (echo + 1 transaction): {floor_percent:6.1f} %   target >= "
              f"{TARGET_FLOOR_PERCENT:.0f} %   {verdict(floor_percent >= TARGET_FLOOR_PERCENT)}   "
              f"(the floor of any update that writes to SQLite: {floor.rate:.0f} updates/s)")
        print(f"  core p99 latency:     {p99:6.2f} ms  target <= {TARGET_P99_MS:.0f} ms  "
              f"{verdict(p99 <= TARGET_P99_MS)}")
        print(f"  core/echo throughput: {ratio:6.1f} %")
        if len(results) == 4:
            extra_ratio = results[3].rate / results[2].rate * 100
            print(f"  (at concurrency {args.extra_concurrency}: core/echo {extra_ratio:.1f} %, "
                  f"core p99 {results[3].percentile(99):.2f} ms)")
        print(f"\nper update at concurrency {args.concurrency} (statements timed in both runs):")
        for split in splits:
            print(f"  {split.line()}")
        print(f"  {ceiling(*splits, TARGET_FLOOR_PERCENT)}")
        print(f"\nSQL statements per core update: {sum(core_counts.values()) / args.updates:.1f}")
        for statement, n in core_counts.most_common(12):
            print(f"  {n / args.updates:5.2f}  {statement}")
        if profile is not None:
            profile.report(args.profile_limit)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
