"""Outbox delivery benchmark: the real OutboxSender and the real aiogram Telegram adapter send
queued messages to a fake Bot API on 127.0.0.1 that enforces a rate limit (a sliding one-second
window; a call over the limit, or one made before an earlier 429's retry_after has passed, is
answered 429 and counted as "caused").

    cd /work/main && .venv/bin/python bench/outbox.py [--quick] [--payload-messages 2000]
        [--messages-1000 10000] [--messages-429 600] [--injected 3] [--retry-after 2]
        [--baseline 10000] [--postgresql]

The messages the program really queues, at Telegram's 30/s with the default 10 % of it kept
for replies to people who just wrote (the outbox may use 27/s):
    trigger    a balance digest: its text and the WhatsApp template hint
    broadcast  a picture with its caption and a link button, and the template hint
    notice     a purchase notice with the rating buttons
each printed as ``<scenario>: <rate>/s = <pct> % of the limit, <n> caused 429s`` (the limit is
the whole 30/s). Target: >= 95 % of what the outbox may use (>= 85.5 % of the limit), 0 caused.
``--quick`` runs only these, 200 messages each (under a minute).

Then the sender alone at the whole limit (no share kept for replies):
    B  limit 1000/s, sender at 1000/s
    C  limit 30/s, sender at 30/s, with --injected 429s of --retry-after s spread over the run
and a baseline: the fake API's bare capacity, a plain aiohttp client at concurrency 20.
The fake API runs in a process of its own (as Telegram does), so the sender has its core.
The database is a temporary SQLite file (the limits in the sender's memory), or with
``--postgresql`` a fresh database on a throwaway PostgreSQL server (tests/support/
postgres.py) for each run: the limits shared through it (bot/delivery/pace.py).

Every message goes to its own chat, so the per-chat limit (1/s) never binds. With injected
429s the total time must be close to ideal + sum of retry_after (within 5 %). The exit code
is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import segno  # noqa: E402
from aiohttp import ClientSession  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.core.i18n import I18n  # noqa: E402
from bot.core.replies import Picture, Reply, Text, to_json  # noqa: E402
from bot.handlers.notices import purchase_notifications  # noqa: E402
from bot.loyalty.checkout import PurchaseResult  # noqa: E402
from bot.marketing import broadcasts  # noqa: E402
from bot.marketing.triggers.base import Candidate, Picked  # noqa: E402
from bot.marketing.triggers.runner import renderer  # noqa: E402
from bot.storage import database  # noqa: E402
from bot.storage.models import Broadcast, OutboxMessage  # noqa: E402
from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402

TOKEN = "123456:BENCH"
CHUNK = 5_000
TARGET_SHARE, TARGET_429_SLACK = 95.0, 5.0  # % of the limit; % over ideal + sum(retry_after)


@dataclass
class Row:
    scenario: str
    messages: int
    limit: float
    elapsed: float
    caused: int
    ideal: float
    verdict: str

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed

    def share(self) -> float:
        return self.rate / self.limit * 100 if self.limit else float("nan")


# --- a migrated temporary database with N pending messages, one per chat ---------------------

PLAIN = [Text("Your points are waiting for you")]
PICTURE = segno.make("https://example.com/menu").png_data_uri(scale=8)  # a small real PNG


def payloads(settings: Settings) -> dict[str, list[Reply]]:
    """The replies the program queues for one recipient, made by its own code."""
    t = I18n(settings.locale.available, settings.locale.default).translator("ru")
    person = Picked(1, "9000000000017", "Anna", 4, 1_200_00, 3, 14)
    digest = renderer(Candidate("balance_digest", person, "2026-12-01"),
                      settings, 420, 0, date(2026, 12, 31), ZoneInfo("Europe/Moscow"))
    broadcast = Broadcast(id=1, text="New winter menu: 20 % off hot drinks this week!",
                          image=base64.b64decode(PICTURE.partition(",")[2]),
                          button_label="Menu", button_url="https://example.com/menu")
    bought = PurchaseResult(1, "C-7K3Q9X", 1, 1_500_00, 45, 0, 465, "silver", "silver", False)
    [notice] = purchase_notifications(bought, settings)
    return {"trigger": digest(t), "broadcast": broadcasts.recipient_replies(
                broadcast, broadcasts.unsubscribe_button(t, broadcast.id)),
            "notice": notice.render(t)}


async def seed_outbox(url: str, messages: int, replies: list[Reply] = PLAIN,
                      picture: bytes | None = None) -> None:
    await database.upgrade(url)
    engine = database.create_engine(url)
    now = datetime.now(UTC)
    payload = [to_json(reply) for reply in replies]
    async with engine.begin() as conn:
        if picture is not None:  # a broadcast's picture is kept once, by reference
            await conn.execute(insert(Broadcast.__table__).values(
                id=1, status="sending", text="", image=picture, audience=messages,
                created_at=now))
        for start in range(0, messages, CHUNK):
            await conn.execute(insert(OutboxMessage.__table__), [
                dict(channel="telegram", external_id=str(1_000_000 + i), identity_id=None,
                     category="service", payload=payload, status="pending", attempts=0,
                     not_before=now, created_at=now)
                for i in range(start, min(start + CHUNK, messages))])
    await engine.dispose()


def bench_settings(url: str, api: RemoteFakeAPI | None, per_second: float,
                   reply_share: int = 0) -> Settings:
    return Settings(database={"url": url}, card={"secret": "bench-signing-key-0123456789"},
                    telegram={"token": TOKEN, "api_base": api.base_url if api else "http://x"},
                    outbox={"telegram_per_second": per_second, "telegram_per_chat_per_second": 1,
                            "reply_share_percent": reply_share})


# --- the fake API in a process of its own, read and steered over HTTP --------------------------

def _serve_fake(rate_limit: float | None, urls: Any) -> None:
    async def serve() -> None:
        async with FakeBotAPI(token=TOKEN, rate_limit=rate_limit) as api:
            stop = asyncio.Event()

            async def stats(params: dict[str, Any]) -> dict[str, Any]:
                return {"accepted": len(api.accepted_at), "limited": api.limited,
                        "last": api.accepted_at[-1] if api.accepted_at else None,
                        "times": api.accepted_at if params.get("times") else []}

            async def fail(params: dict[str, Any]) -> bool:
                api.fail_next("sendMessage", 429, parameters={"retry_after": int(params["retry_after"])})
                return True

            async def shutdown(params: dict[str, Any]) -> bool:
                stop.set()
                return True

            api._handlers |= {"benchstats": stats, "benchfail": fail, "benchstop": shutdown}
            urls.put(api.base_url)
            await stop.wait()
            await asyncio.sleep(0.1)  # let the answer to benchStop go out

    asyncio.run(serve())


class RemoteFakeAPI:
    """``FakeBotAPI(rate_limit=...)`` in a child process; ``accepted`` etc. over HTTP.
    Times are ``time.monotonic()``, one clock for every process on Linux."""

    def __init__(self, rate_limit: float | None) -> None:
        self.rate_limit = rate_limit
        context = multiprocessing.get_context("spawn")
        self._urls = context.Queue()
        self._process = context.Process(target=_serve_fake, args=(rate_limit, self._urls), daemon=True)
        self.base_url = ""
        self._session: ClientSession | None = None

    async def __aenter__(self) -> RemoteFakeAPI:
        self._process.start()
        self.base_url = await asyncio.to_thread(self._urls.get, True, 30)
        self._session = ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._call("benchStop")
        assert self._session is not None
        await self._session.close()
        await asyncio.to_thread(self._process.join, 10)

    async def _call(self, method: str, **params: Any) -> Any:
        assert self._session is not None
        async with self._session.post(f"{self.base_url}/bot{TOKEN}/{method}", data=params) as answer:
            return (await answer.json())["result"]

    async def stats(self, times: bool = False) -> dict[str, Any]:
        return await self._call("benchStats", **({"times": "1"} if times else {}))

    async def fail_next(self, retry_after: int) -> None:
        await self._call("benchFail", retry_after=str(retry_after))


# --- one delivery run: the sender's own loop, until the fake has accepted every message ------

async def inject_429s(api: RemoteFakeAPI, messages: int, count: int, retry_after: int) -> None:
    """One 429 each time another 1/(count + 1) of the messages has gone through."""
    for k in range(1, count + 1):
        while (await api.stats())["accepted"] < k * messages // (count + 1):
            await asyncio.sleep(0.01)
        await api.fail_next(retry_after)


def sqlite_database(tmp: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp / 'loyalty.db'}"


new_database: Callable[[Path], str] = sqlite_database  # --postgresql: a fresh one on its server


async def deliver(messages: int, limit: float, sender_rate: float, injected: int = 0,
                  retry_after: int = 0, replies: list[Reply] = PLAIN, reply_share: int = 0,
                  picture: bytes | None = None) -> tuple[float, int, int]:
    """(elapsed s from the sender's start to the last accepted message, 429s caused,
    most accepted in any one-second window). Gives up after three times the ideal."""
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        url = new_database(Path(tmp))
        await seed_outbox(url, messages, replies, picture)
        async with RemoteFakeAPI(limit) as api:
            application = await build(bench_settings(url, api, sender_rate, reply_share),
                                      SystemClock())
            injector = asyncio.create_task(inject_429s(api, messages, injected, retry_after))
            try:
                started = time.monotonic()
                deadline = started + 3 * (messages / limit + injected * retry_after) + 30
                await application.outbox.start()
                while (await api.stats())["accepted"] < messages and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            finally:
                injector.cancel()
                await application.close()
            final = await api.stats(times=True)
            if final["accepted"] < messages:
                print(f"  gave up: only {final['accepted']} of {messages} accepted")
            return final["last"] - started, final["limited"], busiest_second(final["times"])


def busiest_second(times: list[float]) -> int:
    busiest, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


# --- baseline: what the fake API answers to a bare aiohttp client ----------------------------

async def bare_capacity(requests: int, concurrency: int = 20) -> tuple[float, int]:
    """(elapsed s, non-200 answers) for sendMessage posted straight at an unlimited fake."""
    async with RemoteFakeAPI(None) as api, ClientSession() as session:
        url = f"{api.base_url}/bot{TOKEN}/sendMessage"
        left, failures = iter(range(requests)), 0

        async def worker() -> None:
            nonlocal failures
            for n in left:
                form = {"chat_id": str(1_000_000 + n), "text": "Your points are waiting for you"}
                async with session.post(url, data=form) as response:
                    await response.read()
                    failures += response.status != 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.monotonic() - started, failures


# --- scenarios and the report ----------------------------------------------------------------

def judge_rate(share: float, caused: int, target: float = TARGET_SHARE) -> str:
    return "PASS" if share >= target and caused == 0 else "MISS"


async def payload_run(name: str, messages: int, replies: list[Reply], reply_share: int) -> Row:
    """The real payload at 30/s with ``reply_share`` % kept for replies."""
    picture = next((base64.b64decode(PICTURE.partition(",")[2])
                    for reply in replies if isinstance(reply, Picture) and reply.stored), None)
    elapsed, caused, _busiest = await deliver(messages, 30, 30, replies=replies,
                                              reply_share=reply_share, picture=picture)
    row = Row(name, messages, 30, elapsed, caused, messages / 30, "")
    usable = 100 - reply_share
    row.verdict = judge_rate(row.share(), caused, TARGET_SHARE * usable / 100)
    print(f"{name}: {row.rate:.1f}/s = {row.share():.1f} % of the limit, {caused} caused 429s "
          f"({row.share() / usable * 100:.1f} % of the {usable} % the outbox may use) "
          f"{row.verdict}", flush=True)
    return row


async def limited_run(name: str, messages: int, limit: float, sender_rate: float) -> Row:
    elapsed, caused, busiest = await deliver(messages, limit, sender_rate)
    row = Row(name, messages, limit, elapsed, caused, messages / limit, "")
    row.verdict = judge_rate(row.share(), caused)
    print(f"  {name}: done in {elapsed:.1f} s, busiest second {busiest} sends", flush=True)
    return row


async def injected_run(name: str, messages: int, limit: float, injected: int,
                       retry_after: int) -> Row:
    elapsed, caused, busiest = await deliver(messages, limit, limit, injected, retry_after)
    ideal = messages / limit + injected * retry_after
    over = (elapsed - ideal) / ideal * 100
    row = Row(name, messages, limit, elapsed, caused, ideal, "")
    row.verdict = "PASS" if over <= TARGET_429_SLACK and caused == 0 else "MISS"
    print(f"  {name}: done in {elapsed:.1f} s = ideal {messages / limit:.1f} s + "
          f"{injected} x {retry_after} s retry_after {elapsed - ideal:+.2f} s ({over:+.1f} %), "
          f"busiest second {busiest} sends", flush=True)
    return row


def report(rows: list[Row]) -> None:
    print(f"\n{'scenario':<34} {'messages':>8} {'limit/s':>7} {'elapsed s':>9} "
          f"{'achieved/s':>10} {'% limit':>7} {'429 caused':>10} {'ideal s':>8}  verdict")
    for r in rows:
        limit = f"{r.limit:.0f}" if r.limit else "-"
        share = f"{r.share():.1f}" if r.limit else "-"
        print(f"{r.scenario:<34} {r.messages:>8} {limit:>7} {r.elapsed:>9.2f} {r.rate:>10.1f} "
              f"{share:>7} {r.caused:>10} {r.ideal:>8.2f}  {r.verdict}")
    print(f"\ntargets: achieved >= {TARGET_SHARE:.0f} % of what the outbox may use with 0 caused "
          f"429s; with injected 429s elapsed <= (N/limit + sum retry_after) + "
          f"{TARGET_429_SLACK:.0f} %")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, help="one count for every scenario")
    parser.add_argument("--quick", action="store_true",
                        help="only the real payloads, 200 messages each (under a minute)")
    parser.add_argument("--payload-messages", type=int, default=2_000)
    parser.add_argument("--reply-share", type=int, default=10,
                        help="%% of the limit kept for replies (the product's default: 10)")
    parser.add_argument("--messages-1000", type=int, default=10_000)
    parser.add_argument("--messages-429", type=int, default=600)
    parser.add_argument("--injected", type=int, default=3)
    parser.add_argument("--retry-after", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=10_000, help="bare client requests")
    parser.add_argument("--postgresql", action="store_true",
                        help="each run on a fresh database of a temporary PostgreSQL server")
    args = parser.parse_args()
    if args.postgresql:
        return await on_postgresql(args)
    return await run(args)


async def on_postgresql(args: argparse.Namespace) -> int:
    global new_database
    from tests.support.postgres import TemporaryPostgres

    with TemporaryPostgres() as server:
        new_database = lambda tmp: server.create_database()  # noqa: E731
        return await run(args)


async def run(args: argparse.Namespace) -> int:
    if args.messages:
        args.payload_messages = args.messages_1000 = args.messages_429 = args.messages
    if args.quick:
        args.payload_messages = 200
    logging.basicConfig(level=logging.ERROR)

    real = payloads(bench_settings("sqlite+aiosqlite://", None, 30))
    rows = [await payload_run(name, args.payload_messages, replies, args.reply_share)
            for name, replies in real.items()]
    if args.quick:
        report(rows)
        return 0
    elapsed, failures = await bare_capacity(args.baseline)
    rows.append(Row("baseline: bare aiohttp client, c=20", args.baseline, 0, elapsed, failures, 0, "-"))
    print(f"  baseline: fake API answers {args.baseline / elapsed:.0f} sendMessage/s", flush=True)
    rows.append(await limited_run("B: limit 1000/s, sender 1000/s", args.messages_1000, 1000,
                                  1000))
    rows.append(await injected_run(f"C: 30/s + {args.injected} x 429 ({args.retry_after} s)",
                                   args.messages_429, 30, args.injected, args.retry_after))
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
