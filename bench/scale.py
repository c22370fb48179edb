"""Scale benchmark: POS purchases/s and Telegram webhook updates/s through REAL
``loyalty-bot run --role web`` processes on one PostgreSQL, first with 1 web process, then
with 2, in the same run; and where the CPU went, so that the ceiling shows.

    cd /work/main && .venv/bin/python bench/scale.py [--quick] [--seconds 15] [--warmup 3]
        [--concurrency 32] [--customers 20000]

What runs: a throwaway PostgreSQL (tests/support/postgres.py: fsync off) seeded with
registered customers, each with a Telegram identity and 100 welcome points; N web
processes (``python -m bot.cli run --role web``, N = 1 then 2) with Telegram in webhook mode
against a fake Bot API on 127.0.0.1 (tests/fakes/telegram_api.py) that lives in this
process; no worker: the customers' purchase notices stay queued in the outbox, so the
figures are the web side's alone. This process is the load generator: one aiohttp client
(one keep-alive connector) with ``--concurrency`` requests in flight (a closed loop), bodies
built before the clock starts, spreading the requests round-robin over the web processes'
ports itself (no proxy in between).

- POS purchase: ``POST /api/v1/purchases`` (a till's key, a customer's card taken in turn,
  a unique receipt id, 5 points spent); its latency is the HTTP round trip.
- webhook /balance: a Telegram update "/balance" from a member (taken in turn, so no two in
  flight share a chat) POSTed to the webhook with the secret header; the webhook answers at
  once and handles the update after, so its latency runs until the reply reaches the fake
  Bot API, and a run counts the updates answered.

Printed per scenario and number of web processes: throughput, p50/p99 latency, failures,
and CPU as % of one core from /proc (utime + stime) — each web process, PostgreSQL (the
postmaster and its backends), this load generator (the client and the fake Bot API) — and
the machine's busy share of all its cores from /proc/stat ("other": everything else running
on the machine meanwhile). Target: 2 web processes >= 1.5x one. The exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.checkout import TABLES, rows  # noqa: E402
from bot.api.keys import create_key  # noqa: E402
from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.loyalty.cards import new_card_number  # noqa: E402
from bot.storage import database  # noqa: E402
from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402
from tests.support.postgres import TemporaryPostgres  # noqa: E402
from tests.support.process import BotProcess  # noqa: E402

TOKEN = "123:ABC"
WEBHOOK_SECRET = "bench-webhook-secret"
CARD_SECRET = "bench-signing-key-0123456789"
FIRST_USER_ID = 100_000_000
CHUNK = 5_000
TARGET_RATIO = 1.5
MAX_RATE = 4_000  # requests a second the pre-built bodies allow for (far above this machine's)
START_TIMEOUT = 60.0
REPLY_TIMEOUT = 10.0
TICKS = os.sysconf("SC_CLK_TCK")
Send = Callable[[int], Awaitable[bool]]  # request n -> whether it succeeded


# --- the database ----------------------------------------------------------------------------

async def seed(url: str, customers: int) -> list[str]:
    """Registered customers with 100 welcome points (bench/checkout.py's rows), each with a
    Telegram identity; their card numbers."""
    await database.upgrade(url)
    engine = database.create_engine(url)
    cards = list(dict.fromkeys(new_card_number() for _ in range(customers * 11 // 10)))[:customers]
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            for start in range(0, customers, CHUNK):
                batch = [rows(i + 1, cards[i], now) for i in range(start, min(start + CHUNK, customers))]
                for row in batch:
                    row["identities"].update(channel="telegram", consent_at=row["customers"]["consent_at"],
                                             external_id=str(FIRST_USER_ID + row["customers"]["id"]))
                for name, table in TABLES.items():  # parents first
                    await conn.execute(insert(table), [row[name] for row in batch])
            for table in TABLES.values():  # explicit ids: move the sequences past them
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                        f"'id'), (SELECT max(id) FROM {table.name}))"))
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await engine.dispose()
    return cards


async def till_key(url: str) -> str:
    """A till's key for the outlet "Main"; building the app once also builds the day book, so
    the web processes start on a ready database."""
    application = await build(Settings(database={"url": url}, card={"secret": CARD_SECRET}))
    try:
        async with application.core.unit_of_work() as uow:
            _, key = await create_key(uow, "Main", "bench", datetime.now(UTC))
            await uow.commit()
    finally:
        await application.close()
    return key


# --- the fake Bot API that tells when a reply arrived ----------------------------------------

class RepliesWatched(FakeBotAPI):
    """The fake Bot API; a sendMessage to a chat someone waits on resolves their future."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN)
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.last_reply: dict[str, Any] = {}

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        waiter = self.waiting.pop(str(params.get("chat_id")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())
        self.last_reply = params
        if len(self.calls) > 1_000:
            self.calls.clear()  # nobody reads them here: keep the memory flat
        return await super()._send_message(params)


# --- the web processes -----------------------------------------------------------------------

def web_process(url: str, api: FakeBotAPI, workdir: Path, name: str) -> BotProcess:
    settings = Settings(database={"url": url}, card={"secret": CARD_SECRET})
    env = {"LOYALTY_TELEGRAM__TOKEN": TOKEN, "LOYALTY_TELEGRAM__API_BASE": api.base_url,
           "LOYALTY_TELEGRAM__MODE": "webhook", "LOYALTY_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
           "LOYALTY_SHOP__NAME": "Coffee Point"}
    return BotProcess(settings, workdir, ["run", "--role", "web"], name=name, env=env,
                      timeout=START_TIMEOUT)


async def until_serving(session: ClientSession, process: BotProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            async with session.get(f"http://127.0.0.1:{process.port}/readyz") as response:
                if response.status == 200:
                    return
        except ClientError:
            pass
        if process.exited() or time.monotonic() > deadline:
            raise SystemExit(f"{process.name} did not start:\n{process.tail()}")
        await asyncio.sleep(0.2)


# --- CPU from /proc --------------------------------------------------------------------------

def postmaster_pid(server: TemporaryPostgres) -> int:
    return int(Path(server.data_dir or "", "postmaster.pid").read_text().split()[0])


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name: [0] is field 3 (state)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def server_cpu(postmaster: int) -> float:
    """The postmaster with its reaped children (cutime, cstime) and its live ones."""
    fields = _stat(postmaster)
    total = sum(int(value) for value in fields[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = _stat(int(entry.name))
            except (OSError, IndexError):
                continue  # gone meanwhile
            if child[1] == str(postmaster):
                total += int(child[11]) + int(child[12])
    return total / TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, all) seconds over every core since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass
class CpuSample:
    at: float
    web: list[float]
    postgres: float
    generator: float
    machine: tuple[float, float]


def sample(web_pids: Sequence[int], postmaster: int) -> CpuSample:
    return CpuSample(time.perf_counter(), [process_cpu(pid) for pid in web_pids],
                     server_cpu(postmaster), process_cpu(os.getpid()), machine_cpu())


@dataclass
class CpuUse:
    """% of one core over the run; machine: % of all cores busy."""

    web: list[float]
    postgres: float
    generator: float
    machine: float
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def other(self) -> float:
        """What else kept the machine busy, as % of one core."""
        return max(0.0, self.machine * self.cores - sum(self.web) - self.postgres - self.generator)


def cpu_use(before: CpuSample, after: CpuSample) -> CpuUse:
    wall = after.at - before.at

    def pct(start: float, end: float) -> float:
        return (end - start) / wall * 100

    busy = after.machine[0] - before.machine[0]
    every = after.machine[1] - before.machine[1]
    return CpuUse([pct(a, b) for a, b in zip(before.web, after.web, strict=True)],
                  pct(before.postgres, after.postgres), pct(before.generator, after.generator),
                  busy / every * 100 if every else 0.0)


# --- the load --------------------------------------------------------------------------------

@dataclass
class Result:
    scenario: str
    processes: int
    latencies: list[float]
    seconds: float
    failures: int
    cpu: CpuUse
    ran_out: bool = False

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


async def drive(send: Send, budget: int, concurrency: int, seconds: float
                ) -> tuple[list[float], float, int, bool]:
    """``concurrency`` requests in flight for ``seconds``: (latencies of the successes, the
    wall time, failures, whether the pre-built bodies ran out)."""
    numbers = itertools.count()
    latencies: list[float] = []
    failures = 0
    ran_out = False
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal failures, ran_out
        while clock() < deadline:
            n = next(numbers)
            if n >= budget:
                ran_out = True
                return
            t0 = clock()
            if await send(n):
                latencies.append(clock() - t0)
            else:
                failures += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, clock() - started, failures, ran_out


def purchases(session: ClientSession, ports: Sequence[int], key: str, cards: Sequence[str],
              run: str, budget: int) -> Send:
    urls = [f"http://127.0.0.1:{port}/api/v1/purchases" for port in ports]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [json.dumps({"card": cards[n % len(cards)], "amount": f"{500 + n % 4500}.50",
                          "spend_points": 5, "receipt_id": f"{run}-{n}"}).encode()
              for n in range(budget)]

    async def send(n: int) -> bool:
        async with session.post(urls[n % len(urls)], data=bodies[n], headers=headers) as response:
            await response.read()
            return response.status < 300

    return send


def update_body(update_id: int, user_id: int, now: int) -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id % 1_000_000_000, "date": now,
        "chat": {"id": user_id, "type": "private", "first_name": "Bench"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Bench", "language_code": "en"},
        "text": "/balance", "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
    }}).encode()


def webhook_updates(session: ClientSession, ports: Sequence[int], api: RepliesWatched,
                    users: Sequence[int], update_ids: itertools.count, budget: int) -> Send:
    urls = [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    now = int(time.time())
    chats = [users[n % len(users)] for n in range(budget)]
    bodies = [update_body(next(update_ids), chat, now) for chat in chats]
    loop = asyncio.get_running_loop()

    async def send(n: int) -> bool:
        chat = str(chats[n])
        replied = api.waiting[chat] = loop.create_future()
        async with session.post(urls[n % len(urls)], data=bodies[n], headers=headers) as response:
            await response.read()
            if response.status != 200:
                api.waiting.pop(chat, None)
                return False
        try:
            await asyncio.wait_for(replied, REPLY_TIMEOUT)
        except TimeoutError:
            api.waiting.pop(chat, None)
            return False
        return True

    return send


async def measure(scenario: str, make: Callable[[int], Send], processes: Sequence[BotProcess],
                  postmaster: int, args: argparse.Namespace) -> Result:
    """A warm-up, then the measured run with the CPU sampled around it."""
    await drive(make(int(args.warmup * MAX_RATE)), int(args.warmup * MAX_RATE), args.concurrency,
                args.warmup)
    budget = int(args.seconds * MAX_RATE)
    send = make(budget)
    pids = [process.process.pid for process in processes if process.process is not None]
    before = sample(pids, postmaster)
    latencies, seconds, failures, ran_out = await drive(send, budget, args.concurrency, args.seconds)
    cpu = cpu_use(before, sample(pids, postmaster))
    return Result(scenario, len(processes), latencies, seconds, failures, cpu, ran_out)


async def probe_balance(session: ClientSession, port: int, api: RepliesWatched, user: int,
                        update_ids: itertools.count) -> None:
    """One /balance answered with the balance (its buttons), not with sign-up or an error."""
    send = webhook_updates(session, [port], api, [user], update_ids, 1)
    if not await send(0):
        raise SystemExit("the probe /balance got no reply")
    markup = api.last_reply.get("reply_markup") or {}
    buttons = {b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row}
    if buttons != {"card", "menu"}:
        raise SystemExit(f"the probe /balance was not answered with the balance: {api.last_reply}")


async def with_web_processes(count: int, url: str, api: RepliesWatched, workdir: Path,
                             session: ClientSession,
                             body: Callable[[list[BotProcess]], Awaitable[list[Result]]]
                             ) -> list[Result]:
    processes = [web_process(url, api, workdir, f"web-{count}-{n + 1}") for n in range(count)]
    try:
        for process in processes:
            await process.start()
        for process in processes:
            await until_serving(session, process)
        return await body(processes)
    finally:
        for process in processes:
            if not process.exited():
                await process.stop()
            complain_of_errors(process)


def complain_of_errors(process: BotProcess) -> None:
    """A figure measured while a process logged errors is no figure: say so."""
    errors = [line for line in process.text().splitlines() if " ERROR " in line or "Traceback" in line]
    if errors:
        print(f"WARNING: {process.name} logged {len(errors)} error line(s), the first: {errors[0]}",
              file=sys.stderr)


# --- report ----------------------------------------------------------------------------------

def report(results: Sequence[Result], concurrency: int) -> None:
    cores = os.cpu_count() or 1
    print(f"\nconcurrency {concurrency}; CPU in % of one core (this machine has {cores}); "
          f"machine = busy share of all {cores} cores")
    header = (f"{'scenario':<18} {'web':>3} {'done':>6} {'per s':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'failed':>6} | {'web processes':>13} {'postgres':>8} {'load gen':>8} "
              f"{'other':>6} {'machine':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        web = "+".join(f"{pct:.0f}" for pct in r.cpu.web)
        print(f"{r.scenario:<18} {r.processes:>3} {len(r.latencies):>6} {r.rate:>7.0f} "
              f"{r.ms(50):>7.1f} {r.ms(99):>7.1f} {r.failures:>6} | {web:>13} "
              f"{r.cpu.postgres:>8.0f} {r.cpu.generator:>8.0f} {r.cpu.other:>6.0f} "
              f"{r.cpu.machine:>6.0f}%" + ("  (bodies ran out)" if r.ran_out else ""))
    print()
    for scenario in dict.fromkeys(r.scenario for r in results):
        one, two = (next(r for r in results if r.scenario == scenario and r.processes == n)
                    for n in (1, 2))
        ratio = two.rate / one.rate if one.rate else float("nan")
        print(f"{scenario}: 2 web processes / 1 = {ratio:.2f}x (target >= {TARGET_RATIO}x) "
              f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}")
    print("\nCPU per request (ms of one core) and the rate this machine's cores could give if "
          "nothing else ran:")
    for r in results:
        if r.rate:
            web, postgres, generator = (pct * 10 / r.rate for pct in
                                        (sum(r.cpu.web), r.cpu.postgres, r.cpu.generator))
            ceiling = cores * 1000 / (web + postgres + generator)
            print(f"  {r.scenario:<18} {r.processes} web: web {web:.1f} + postgres {postgres:.1f} "
                  f"+ load gen {generator:.1f} ms = ceiling ~{ceiling:.0f}/s")


def header(args: argparse.Namespace) -> None:
    print("bench/scale.py: POS purchases/s (POST /api/v1/purchases) and Telegram webhook "
          "updates/s (/balance, until the reply reaches the fake Bot API)")
    print(f"through 1, then 2 real `loyalty-bot run --role web` processes on one PostgreSQL "
          f"(fsync off), no worker; {args.customers:,} customers; {args.concurrency} requests "
          f"in flight, spread round-robin over the web ports by the load generator itself "
          f"(no proxy); {args.seconds:g} s measured after {args.warmup:g} s of warm-up each.")


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true",
                        help="5 s measured, 1 s warm-up, 5,000 customers")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.customers = 5.0, 1.0, 5_000
    logging.basicConfig(level=logging.WARNING)
    header(args)

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, TemporaryPostgres() as server:
        url = server.create_database("bench")
        postmaster = postmaster_pid(server)
        started = time.perf_counter()
        cards = await seed(url, args.customers)
        key = await till_key(url)
        print(f"seeded {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
        users = [FIRST_USER_ID + i for i in range(1, args.customers + 1)]
        update_ids = itertools.count(time.time_ns() // 1_000)
        runs = itertools.count(1)
        results: list[Result] = []
        connector = TCPConnector(limit=args.concurrency * 2, ttl_dns_cache=None)
        async with RepliesWatched() as api, ClientSession(
                connector=connector, timeout=ClientTimeout(total=REPLY_TIMEOUT * 3)) as session:

            async def both(processes: list[BotProcess]) -> list[Result]:
                ports = [process.port for process in processes]
                await probe_balance(session, ports[0], api, users[0], update_ids)
                tag = f"{time.time_ns()}"
                return [
                    await measure("POS purchase", lambda budget: purchases(
                        session, ports, key, cards, f"{tag}-{next(runs)}", budget),
                        processes, postmaster, args),
                    await measure("webhook /balance", lambda budget: webhook_updates(
                        session, ports, api, users, update_ids, budget),
                        processes, postmaster, args),
                ]

            for count in (1, 2):
                results.extend(await with_web_processes(count, url, api, Path(tmp), session, both))
                print(f"done with {count} web process{'es' if count > 1 else ''}", flush=True)
        report(results, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
