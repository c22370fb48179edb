"""POS checkout benchmark: POST /api/v1/purchases through the real aiohttp app over HTTP on
127.0.0.1, on SQLite and on PostgreSQL with 100,000 seeded customers, side by side with a
bare aiohttp JSON endpoint and with an endpoint that does one database transaction (the
floor of any durable write), all through the same client in the same run.

    cd /work/main && .venv/bin/python bench/checkout.py [--customers 100000]
        [--requests 3000] [--warmup 300] [--concurrency 1,8] [--databases sqlite,postgresql]

Judged at each concurrency: purchases/s >= 40 % of the one-transaction floor's (measured in
the same run), and on PostgreSQL purchases/s at the highest concurrency >= 2x at the lowest
(the day book's rows must not serialise the tills); also printed: purchases/s against the
bare endpoint, p99, the SQL statements one purchase runs, and what a purchase and the floor
spend in their statements and outside them (one metered pass each, bench/statements.py): the
ceiling a purchase would reach if the database cost nothing.
The test PostgreSQL runs with fsync off (tests/support/postgres.py), so its commits are
cheaper than on a production server. The exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.statements import Split, StatementMeter, ceiling  # noqa: E402
from bot.api.keys import create_key  # noqa: E402
from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.conversation import Core  # noqa: E402
from bot.loyalty.cards import new_card_number  # noqa: E402
from bot.storage import database  # noqa: E402
from bot.storage.models import Customer, Identity, PointLot, PointOperation  # noqa: E402
from tests.support.postgres import TemporaryPostgres  # noqa: E402

CHUNK = 5_000
TARGET_FLOOR_PERCENT, TARGET_SCALING = 40.0, 2.0
COUNTED = 200  # requests of each metered pass
Call = Callable[[ClientSession, int], Awaitable[int]]  # (session, n) -> HTTP status


# --- seeding: bulk inserts of registered customers with 100 welcome points each ----------------

def rows(i: int, card: str, now: datetime) -> dict[str, dict]:
    joined = now - timedelta(days=i % 300 + 1)
    return {
        "customers": dict(id=i, card_number=card, phone=f"+7900{i:07d}", phone_verified=True,
                          name=f"Customer {i}", consent_at=joined, registered_at=joined,
                          purchase_count=i % 10, total_spent=0, notify_promotions=True,
                          notify_reminders=True, notify_digest=True, created_at=joined),
        "identities": dict(id=i, channel="web", external_id=f"visitor-{i}", customer_id=i,
                           reachable=True, created_at=joined, last_seen_at=joined),
        "operations": dict(id=i, customer_id=i, kind="earn", reason="welcome", amount=100,
                           created_at=joined),
        "lots": dict(id=i, customer_id=i, operation_id=i, reason="welcome", amount=100,
                     remaining=100, created_at=joined, available_at=joined,
                     expires_at=now + timedelta(days=90)),
    }


TABLES = {"customers": Customer.__table__, "identities": Identity.__table__,
          "operations": PointOperation.__table__, "lots": PointLot.__table__}


async def seed(url: str, customers: int) -> list[str]:
    await database.upgrade(url)
    engine = database.create_engine(url)
    cards = list(dict.fromkeys(new_card_number() for _ in range(customers * 11 // 10)))[:customers]
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for start in range(0, customers, CHUNK):
            batch = [rows(i + 1, cards[i], now) for i in range(start, min(start + CHUNK, customers))]
            for name, table in TABLES.items():  # parents first
                await conn.execute(insert(table), [row[name] for row in batch])
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in TABLES.values():
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                        f"'id'), (SELECT max(id) FROM {table.name}))"))
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    await engine.dispose()
    return cards


# --- the three endpoints and the client ---------------------------------------------------------

def baseline_app(core: Core) -> web.Application:
    async def bare(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def one_transaction(request: web.Request) -> web.Response:
        body = await request.json()
        async with core.unit_of_work() as uow:
            await uow.processed_events.claim("bench", body["id"], core.services.clock.now())
            await uow.commit()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/bare", bare)
    app.router.add_post("/tx", one_transaction)
    return app


@dataclass
class Result:
    name: str
    concurrency: int
    latencies: list[float]
    seconds: float
    failures: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


async def measure(name: str, session: ClientSession, call: Call, count: int, concurrency: int,
                  numbers: itertools.count) -> Result:
    latencies: list[float] = []
    failures = 0
    left = iter(range(count))

    async def worker() -> None:
        nonlocal failures
        for _ in left:
            started = time.perf_counter()
            status = await call(session, next(numbers))
            latencies.append(time.perf_counter() - started)
            failures += status >= 300

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, concurrency, latencies, time.perf_counter() - started, failures)


def calls(pos_url: str, base_url: str, key: str, cards: list[str], run: str) -> dict[str, Call]:
    headers = {"Authorization": f"Bearer {key}"}
    pick = random.Random(7).choice

    async def post(session: ClientSession, url: str, body: dict, auth: bool = False) -> int:
        async with session.post(url, json=body, headers=headers if auth else None) as response:
            await response.read()
            return response.status

    return {
        "bare aiohttp JSON": lambda s, n: post(s, f"{base_url}/bare", {"id": n}),
        "1 transaction": lambda s, n: post(s, f"{base_url}/tx", {"id": f"{run}-{n}"}),
        "POS purchase": lambda s, n: post(s, f"{pos_url}/api/v1/purchases", {
            "card": pick(cards), "amount": f"{500 + n % 4500}.50", "spend_points": 5,
            "receipt_id": f"{run}-{n}"}, auth=True),
    }


async def metered(meter: StatementMeter, name: str, session: ClientSession, call: Call,
                  numbers: itertools.count) -> Split:
    """One pass of ``COUNTED`` requests at concurrency 1 with the statements metered (apart
    from the measured runs, which the meter would slow down)."""
    meter.reset()
    meter.record(True)
    result = await measure("counted", session, call, COUNTED, 1, numbers)
    meter.record(False)
    return meter.split(name, COUNTED, result.seconds)


async def bench(url: str, cards: list[str], args: argparse.Namespace
                ) -> tuple[list[Result], Counter[str], list[Split]]:
    settings = Settings(database={"url": url}, card={"secret": "bench-signing-key-0123456789"})
    application = await build(settings)
    async with application.core.unit_of_work() as uow:
        _, key = await create_key(uow, "Main", "bench", datetime.now(UTC))
        await uow.commit()
    pos = TestServer(application.web, host="127.0.0.1")
    base = TestServer(baseline_app(application.core), host="127.0.0.1")
    await pos.start_server()
    await base.start_server()
    results = []
    try:
        async with ClientSession() as session:
            scenarios = calls(str(pos.make_url("")), str(base.make_url("")), key, cards,
                              run=f"{time.time_ns()}")
            numbers = itertools.count()
            meter = StatementMeter(application.engine)
            splits = [await metered(meter, name, session, scenarios[name], numbers)
                      for name in ("1 transaction", "POS purchase")]
            statements = meter.counts.copy()  # the purchases': the last pass
            for concurrency in args.concurrency:
                for name, call in scenarios.items():
                    await measure(name, session, call, args.warmup, concurrency, numbers)
                    results.append(await measure(name, session, call, args.requests,
                                                 concurrency, numbers))
    finally:
        await pos.close()  # waits for the customers' notices too
        await base.close()
        await application.close()
    return results, statements, splits


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(database_name: str, results: list[Result], statements: Counter[str],
           splits: list[Split]) -> None:
    print(f"\n== {database_name} ==")
    print(f"{'endpoint':<20} {'conc':>4} {'requests':>8} {'req/s':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'failed':>6}")
    for r in results:
        print(f"{r.name:<20} {r.concurrency:>4} {len(r.latencies):>8} {r.rate:>8.0f} "
              f"{r.ms(50):>7.2f} {r.ms(99):>7.2f} {r.failures:>6}")
    purchases = {}
    for concurrency in dict.fromkeys(r.concurrency for r in results):
        bare, tx, pos = (r for r in results if r.concurrency == concurrency)
        purchases[concurrency] = pos
        floor = pos.rate / tx.rate * 100
        print(f"concurrency {concurrency}: purchases {pos.rate:.0f}/s = {floor:5.1f} % of the "
              f"1-transaction floor ({tx.rate:.0f}/s; target >= {TARGET_FLOOR_PERCENT:.0f} %) "
              f"{verdict(floor >= TARGET_FLOOR_PERCENT)}; {pos.rate / bare.rate * 100:.1f} % of "
              f"bare; p99 {pos.ms(99):.2f} ms")
    lowest, highest = min(purchases), max(purchases)
    if database_name == "postgresql" and lowest != highest:
        scaling = purchases[highest].rate / purchases[lowest].rate
        print(f"purchases at concurrency {highest} / at {lowest}: {scaling:.2f}x "
              f"(target >= {TARGET_SCALING:.0f}x) {verdict(scaling >= TARGET_SCALING)}")
    print(f"per request at concurrency 1 (a pass of {COUNTED} each, statements timed):")
    for split in splits:
        print(f"  {split.line()}")
    print(f"  {ceiling(*splits, TARGET_FLOOR_PERCENT)}")
    print(f"SQL statements per purchase: {sum(statements.values()) / COUNTED:.1f} "
          f"(BEGIN included, COMMIT not)")
    for statement, n in statements.most_common():
        print(f"  {n / COUNTED:5.2f}  {statement}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 8])
    parser.add_argument("--databases", type=lambda s: s.split(","), default=["sqlite", "postgresql"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in args.databases:
        with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
            server = TemporaryPostgres().start() if name == "postgresql" else None
            try:
                url = server.create_database("bench") if server else \
                    f"sqlite+aiosqlite:///{Path(tmp) / 'loyalty.db'}"
                started = time.perf_counter()
                cards = await seed(url, args.customers)
                print(f"{name}: seeded {args.customers:,} customers in "
                      f"{time.perf_counter() - started:.1f} s")
                report(name, *await bench(url, cards, args))
            finally:
                if server:
                    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
