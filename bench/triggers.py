"""Daily trigger pass benchmark: ``bot.marketing.triggers.run_pass`` over 250k, 500k and 1M customers
with ~10 purchases each on SQLite (seconds of the pass alone and the process's peak RSS),
side by side with a naive per-customer Python loop (separate queries per customer) on the
first 50k customers of the largest database, which decides the same triggers and must pick
exactly the same customers.

    cd /work/main && .venv/bin/python bench/triggers.py [--sizes 250000,500000,1000000]
        [--naive 50000] [--digest-size 250000] [--day 2025-06-10] [--digest-day 2025-06-01]
        [--cache /tmp/bench-triggers] [--reseed]

The data is seeded relative to the bench day with the stdlib sqlite3 module into a migrated
database and cached under --cache by size and day (seeding 10M purchases takes minutes);
each pass runs in its own subprocess on a fresh copy, because the pass writes. The history
of earlier passes (win-back stages already sent, birthdays of the last days, expiry warnings
already given) is seeded too, so the pass finds what a real daily pass finds: the customers
who crossed a threshold today. --digest-size 0 skips the digest-day pass (the 1st: the
balance digest goes to everyone). Targets: the 1M pass <= 30 s and <= 500 MB peak RSS,
about linear (seconds per 100k customers), >= 20x faster per customer than the naive
loop. The exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.app import build  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.clock import FrozenClock  # noqa: E402
from bot.delivery.notify import Notification  # noqa: E402
from bot.loyalty.ledger import Ledger  # noqa: E402
from bot.loyalty.tiers import next_tier  # noqa: E402
from bot.marketing import quiet_hours, triggers  # noqa: E402
from bot.marketing.triggers import base, birthday, review_request, runner, win_back  # noqa: E402
from bot.storage import database  # noqa: E402
from bot.storage.models import (  # noqa: E402
    Customer,
    Identity,
    PointLot,
    Purchase,
    Review,
    TriggerSend,
)

SEED_VERSION = 3  # bump when the seeded data changes: the cache is keyed by it
ZONE = ZoneInfo("Europe/Moscow")  # the default shop time zone: UTC+3 all year
RUN_AT = (10, 5)  # the default local time of the daily pass
CHUNK = 200_000
LOT_LIFETIME = 180  # days cashback points live
TARGET_SECONDS, TARGET_RSS_MB, TARGET_RATIO = 30.0, 500.0, 20.0
LINEAR_SLACK = 1.5  # "about linear": s/100k at the largest size within 1.5x of the smallest
SECRET = "bench-signing-key-0123456789"


def settings_for(path: Path) -> Settings:
    return Settings(database={"url": f"sqlite+aiosqlite:///{path}"}, web={"chat_enabled": False},
                    telegram={"token": "123456:bench-token"}, card={"secret": SECRET})


def pass_moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, *RUN_AT, tzinfo=ZONE).astimezone(UTC)


def rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- seeding: the stdlib sqlite3 module, big transactions, no journal --------------------------

def last_purchase_days(rng: random.Random) -> int:
    """Days since the last purchase: most customers are active, a tail has lapsed, so a few
    thousand per million cross each win-back threshold on any given day."""
    r = rng.random()
    if r < 0.65:
        return rng.randint(1, 30)  # none today: the pass runs as the shop opens
    if r < 0.75:
        return rng.randint(31, 60)
    if r < 0.83:
        return rng.randint(61, 90)
    if r < 0.90:
        return rng.randint(91, 120)
    return rng.randint(121, 365)


class Stamps:
    """SQLAlchemy's SQLite datetime text for UTC instants on a grid: day offsets from the
    bench day times ten-minute slots of the shop's opening hours (10:00-21:00 local)."""

    def __init__(self, day: date) -> None:
        self.opening = datetime(day.year, day.month, day.day, 10, tzinfo=ZONE).astimezone(UTC)
        self._cache: dict[tuple[int, int], str] = {}

    def at(self, days_ago: int, slot: int) -> str:
        key = (days_ago, slot)
        text = self._cache.get(key)
        if text is None:
            moment = self.opening - timedelta(days=days_ago) + timedelta(minutes=10 * slot)
            text = self._cache[key] = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        return text

    def local_date(self, days_ago: int) -> str:
        return (self.opening.astimezone(ZONE).date() - timedelta(days=days_ago)).isoformat()


def birthdays_sent_before(day: date, days: int) -> dict[tuple[int, int], date]:
    """Birthdays an earlier daily pass (yesterday or before) already greeted."""
    done: dict[tuple[int, int], date] = {}
    for back in range(1, days + 1):
        done.update(birthday.birthdays_ahead(day - timedelta(days=back), days))
    return done


def nudged_counts(settings: Settings) -> dict[int, str]:
    """Purchase counts one short of the next tier, with the tier nudge's episode prefix."""
    program, short = settings.program, {}
    for tier in program.tiers:
        count = tier.min_purchases - 1
        upcoming = next_tier(count, program) if count >= 1 else None
        if upcoming is not None and upcoming[1] == 1 and upcoming[0].code == tier.code:
            short[count] = tier.code
    return short if program.tier_basis == "purchases" else {}


def customer_rows(i: int, rng: random.Random, stamps: Stamps, out: dict[str, list],
                  ids: Counter, greeted: dict[tuple[int, int], date], short: dict[int, str]) -> None:
    last = last_purchase_days(rng)
    registered = rng.randint(max(last, 1), 730)
    slot = rng.randrange(66)
    joined = stamps.at(registered, slot)
    born = date(2000, 1, 1) + timedelta(days=rng.randrange(366))  # 2000 is leap: 29.02 too
    first = min(registered, 365)
    count = max(1, min(rng.randint(5, 15), first - last + 1))
    days = sorted([last] + [rng.randint(last, first) for _ in range(count - 1)], reverse=True)
    total = 0
    for n, ago in enumerate(days):  # oldest first
        ids["purchase"] += 1
        amount = rng.randrange(20_000, 500_000)
        total += amount
        moment = stamps.at(ago, rng.randrange(66))
        out["purchases"].append((ids["purchase"], ids["purchase"], i, amount, amount // 20,
                                 moment, moment))
        if ago <= 2:  # the hourly review-request job asked about it already
            out["sends"].append((i, "review_request", str(ids["purchase"])))
        if n >= len(days) - 3 and ago < LOT_LIFETIME:  # the last three purchases' cashback lives
            ids["lot"] += 1
            points = amount // 2000 or 1
            expires = stamps.at(ago - LOT_LIFETIME, rng.randrange(66))
            out["operations"].append((ids["lot"], i, points, moment))
            out["lots"].append((ids["lot"], i, ids["lot"], points, moment, expires))
            burns_in = LOT_LIFETIME - ago  # days from the bench day
            warned = (i, "expiry_warning", stamps.local_date(ago - LOT_LIFETIME))
            if 0 <= burns_in < 10 and warned not in out["sends"][-3:]:  # an earlier pass warned
                out["sends"].append(warned)  # about its burn day
    phone = f"+7900{i:07d}"
    out["customers"].append((i, f"9{i:015d}", phone, f"Customer {i}", born.day, born.month,
                             1960 + rng.randrange(45), joined, joined, len(days), total,
                             int(rng.random() > 0.05), int(rng.random() > 0.03),
                             int(rng.random() > 0.05), joined))
    out["identities"].append((i, "telegram", str(1_000_000_000 + i), i,
                              int(rng.random() > 0.02), joined, stamps.at(last, slot)))
    episode = stamps.local_date(last)
    for stage, threshold in (("win_back_30", 31), ("win_back_60", 61), ("win_back_90", 91)):
        if last > threshold:  # crossed it before today: an earlier pass sent it
            out["sends"].append((i, stage, episode))
    if len(days) in short and last >= 2:  # nudged by the pass after that purchase
        out["sends"].append((i, "tier_nudge", f"{short[len(days)]}:{len(days)}"))
    when = greeted.get((born.month, born.day))
    if when is not None:
        out["sends"].append((i, "birthday", str(when.year)))


def seed(path: Path, customers: int, day: date) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    asyncio.run(database.upgrade(f"sqlite+aiosqlite:///{tmp}"))
    db = sqlite3.connect(tmp, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-400000")
    rng, stamps, ids = random.Random(20250610), Stamps(day), Counter()
    greeted = birthdays_sent_before(day, Settings().triggers.birthday.days)
    short = nudged_counts(Settings())
    created = stamps.at(800, 0)
    db.execute("BEGIN")
    db.execute("INSERT OR IGNORE INTO outlets (id, name, created_at) VALUES (1, 'Main', ?)",
               (created,))  # a migration may have made it
    sql = {
        "customers": "INSERT INTO customers (id, card_number, phone, phone_verified, name, "
                     "birth_day, birth_month, birth_year, consent_at, registered_at, "
                     "purchase_count, total_spent, notify_promotions, notify_reminders, "
                     "notify_digest, created_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                     "?, ?, ?)",
        "identities": "INSERT INTO identities (id, channel, external_id, customer_id, reachable, "
                      "created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "purchases": "INSERT INTO purchases (id, outlet_id, receipt_id, customer_id, amount, "
                     "points_spent, points_earned, refunded_amount, points_returned, "
                     "points_reversed, balance_after, request_hash, source, occurred_at, "
                     "created_at) VALUES (?, 1, ?, ?, ?, 0, ?, 0, 0, 0, 0, 'bench', 'pos', ?, ?)",
        "operations": "INSERT INTO point_operations (id, customer_id, kind, reason, amount, "
                      "created_at) VALUES (?, ?, 'earn', 'purchase', ?, ?)",
        "lots": "INSERT INTO point_lots (id, customer_id, operation_id, reason, amount, remaining, "
                "created_at, available_at, expires_at) VALUES (?1, ?2, ?3, 'purchase', ?4, ?4, ?5, "
                "?5, ?6)",
    }
    send_sql = ("INSERT INTO trigger_sends (customer_id, trigger, episode, held_out, points_given, "
                "created_at) VALUES (?, ?, ?, 0, 0, ?)")
    for start in range(1, customers + 1, CHUNK):
        out: dict[str, list] = {name: [] for name in (*sql, "sends")}
        for i in range(start, min(start + CHUNK, customers + 1)):
            customer_rows(i, rng, stamps, out, ids, greeted, short)
        for name, statement in sql.items():  # parents first
            db.executemany(statement, out[name])
        db.executemany(send_sql, [(*row, stamps.at(1, 0)) for row in out["sends"]])
        print(f"  seeded {min(start + CHUNK - 1, customers):,} customers, "
              f"{ids['purchase']:,} purchases", flush=True)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()
    tmp.rename(path)


def seeded(cache: Path, customers: int, day: date, reseed: bool) -> Path:
    path = cache / f"triggers-v{SEED_VERSION}-{customers}-{day.isoformat()}.db"
    if reseed:
        path.unlink(missing_ok=True)
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        print(f"seeding {customers:,} customers for {day} into {path} ...", flush=True)
        seed(path, customers, day)
        print(f"seeded {customers:,} customers in {time.perf_counter() - started:.1f} s "
              f"({path.stat().st_size / 2**30:.2f} GiB)", flush=True)
    return path


# --- the measured runs, each in its own process ------------------------------------------------

async def run_pass(db: Path, day: date, slice_ids: int) -> dict:
    application = await build(settings_for(db), FrozenClock(pass_moment(day)))
    try:
        started = time.perf_counter()
        planned = await triggers.run_pass(application.core, pass_moment(day))
        seconds = time.perf_counter() - started
    finally:
        await application.close()
    picked = Counter(p.trigger for p in planned)
    in_slice = sorted([p.trigger, p.customer_id, p.episode, p.held_out] for p in planned
                      if p.customer_id <= slice_ids)
    return {"seconds": seconds, "rss_mb": rss_peak_mb(), "picked": picked,
            "held_out": sum(p.held_out for p in planned), "slice": in_slice}


async def naive_candidates(uow, customer: Customer, at: datetime, day: base.Day,  # type: ignore[no-untyped-def]
                           settings: Settings, channels: list[str]) -> list[base.Candidate]:
    """One customer's triggers, each decided with its own queries, in the pass's order."""
    config, session, found = settings.triggers, uow.session, []
    short = {count: next(t for t in settings.program.tiers if t.code == code)
             for count, code in nudged_counts(settings).items()}
    reachable = (await session.execute(select(func.count()).select_from(Identity).where(
        Identity.customer_id == customer.id, Identity.reachable.is_(True),
        Identity.channel.in_(channels)))).scalar_one()
    if not reachable or customer.registered_at is None or customer.registered_at > at \
            or customer.consent_at is None:
        return []

    async def sent(trigger: str, episode: str) -> bool:
        return (await session.execute(select(TriggerSend.id).where(
            TriggerSend.customer_id == customer.id, TriggerSend.trigger == trigger,
            TriggerSend.episode == episode))).first() is not None

    ahead = birthday.birthdays_ahead(day.today, config.birthday.days)
    when = ahead.get((customer.birth_month, customer.birth_day))
    if customer.notify_reminders and when is not None and not await sent("birthday", str(when.year)):
        found.append(base.Candidate("birthday", customer, str(when.year)))
    if customer.notify_reminders:
        lots = (await session.execute(select(PointLot).where(
            PointLot.customer_id == customer.id, PointLot.remaining > 0, PointLot.expires_at > at,
            PointLot.expires_at < day.start(config.expiry_warning.days + 1)))).scalars().all()
        by_day: dict[date, list] = {}  # type: ignore[type-arg]
        for lot in lots:
            by_day.setdefault(base.as_utc(lot.expires_at).astimezone(day.zone).date(), []).append(lot)
        for on in sorted(by_day):
            in_time = any(base.as_utc(lot.created_at).astimezone(day.zone).date()
                          <= on - timedelta(days=config.expiry_warning.days) for lot in by_day[on])
            if in_time and not await sent("expiry_warning", on.isoformat()):
                found.append(base.Candidate(
                    "expiry_warning", customer, on.isoformat(),
                    sum(lot.remaining for lot in by_day[on]),
                    min(lot.expires_at for lot in by_day[on])))
                break
        last = (await session.execute(select(func.max(Purchase.occurred_at)).where(
            Purchase.customer_id == customer.id, Purchase.occurred_at <= at))).scalar_one()
        if last is not None:
            since = (day.today - base.as_utc(last).astimezone(day.zone).date()).days
            episode = base.as_utc(last).astimezone(day.zone).date().isoformat()
            for stage, until in (("win_back_90", config.win_back_90.days + win_back.LAST_CATCH_UP),
                                 ("win_back_60", config.win_back_90.days),
                                 ("win_back_30", config.win_back_60.days)):
                if getattr(config, stage).days <= since < until and not await sent(stage, episode):
                    found.append(base.Candidate(stage, customer, episode))
        if config.review_request.enabled:
            recent = (await session.execute(select(Purchase).where(
                Purchase.customer_id == customer.id,
                Purchase.occurred_at <= at - timedelta(hours=config.review_request.hours),
                Purchase.occurred_at > at - review_request.REVIEW_WINDOW, Purchase.refunded_amount == 0,
                Purchase.source != "import").order_by(Purchase.id))).scalars().all()
            for purchase in recent:
                rated = (await session.execute(select(Review.id).where(
                    Review.purchase_id == purchase.id))).first()
                if rated is None and not await sent("review_request", str(purchase.id)):
                    found.append(base.Candidate("review_request", customer, str(purchase.id),
                                                     purchase=purchase))
        tier = short.get(customer.purchase_count) if config.tier_nudge.enabled else None
        if tier is not None and not await sent(
                "tier_nudge", episode := f"{tier.code}:{customer.purchase_count}"):
            found.append(base.Candidate("tier_nudge", customer, episode, tier=tier))
    if customer.notify_digest and day.today.day in config.balance_digest.days_of_month:
        episode = day.today.isoformat()
        lots_left = (await session.execute(select(func.count()).select_from(PointLot).where(
            PointLot.customer_id == customer.id, PointLot.remaining > 0,
            PointLot.expires_at > at))).scalar_one()
        bought = (await session.execute(select(func.count()).select_from(Purchase).where(
            Purchase.customer_id == customer.id))).scalar_one()
        if (customer.purchase_count or bought or lots_left) and not await sent("balance_digest", episode):
            found.append(base.Candidate("balance_digest", customer, episode))
    return found


async def run_naive(db: Path, day: date, slice_ids: int) -> dict:
    """The same triggers decided customer by customer, then the same writes as the pass."""
    application = await build(settings_for(db), FrozenClock(pass_moment(day)))
    core, at = application.core, pass_moment(day)
    services, fired = core.services, []
    settings = services.settings.triggers
    zone, channels = services.timezone, list(core.notifier.channels)
    day_ = base.Day(at, zone)
    try:
        started = time.perf_counter()
        async with core.unit_of_work() as uow:
            ledger, not_before = Ledger(uow, FrozenClock(at)), quiet_hours.quiet_until(at, settings, zone)
            for customer_id in range(1, slice_ids + 1):
                customer = await uow.session.get(Customer, customer_id)
                if customer is None:
                    continue
                today = (await uow.session.execute(select(func.count()).select_from(TriggerSend).where(
                    TriggerSend.customer_id == customer_id, TriggerSend.held_out.is_(False),
                    TriggerSend.outbox_message_id.is_not(None),
                    TriggerSend.created_at >= day_.start(0),
                    TriggerSend.created_at < day_.start(1)))).scalar_one()
                for candidate in await naive_candidates(uow, customer, at, day_, services.settings,
                                                        channels):
                    trigger, config = candidate.trigger, getattr(settings, candidate.trigger)
                    hold = triggers.held_out(services.secret, settings.holdout_percent, customer_id,
                                             trigger, candidate.episode)
                    if not hold and today >= settings.daily_marketing_cap:
                        continue
                    today += not hold
                    gift = 0 if hold else config.gift_points
                    fired.append([trigger, customer_id, candidate.episode, hold])
                    message_id = None
                    if not hold:
                        if gift:
                            await ledger.earn(customer_id, gift, "gift",
                                              timedelta(days=config.gift_days),
                                              reference=f"trigger:{trigger}:{candidate.episode}")
                        balance = await uow.lots.available_balance(customer_id, at)
                        expires = candidate.burns_at or at + timedelta(days=config.gift_days)
                        render = runner.renderer(candidate, services.settings, balance,
                                                    gift or candidate.points,
                                                    expires.astimezone(zone).date(), zone)
                        rows = await core.notifier.enqueue_one(
                            uow, Notification(render, customer_id=customer_id, category="marketing"),
                            at, not_before=not_before)
                        message_id = rows[0].id if rows else None
                    uow.session.add(TriggerSend(customer_id=customer_id, trigger=trigger,
                                                episode=candidate.episode, held_out=hold,
                                                outbox_message_id=message_id, points_given=gift,
                                                created_at=at))
                    await uow.session.flush()
                uow.session.expunge_all()  # a loop over customers keeps none of them
            await uow.commit()
        seconds = time.perf_counter() - started
    finally:
        await application.close()
    return {"seconds": seconds, "rss_mb": rss_peak_mb(), "picked": Counter(f[0] for f in fired),
            "held_out": sum(f[3] for f in fired), "slice": sorted(fired)}


def worker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    day = date.fromisoformat(args.day)
    job = run_naive if args.worker == "naive" else run_pass
    print(json.dumps(asyncio.run(job(Path(args.db), day, args.slice))))
    return 0


def measure(kind: str, source: Path, day: date, slice_ids: int, cache: Path) -> dict:
    """Run one pass in a fresh process on a fresh copy of the seeded database."""
    copy = cache / f"run-{kind}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, copy)
    done = subprocess.run([sys.executable, __file__, "--worker", kind, "--db", str(copy),
                           "--day", day.isoformat(), "--slice", str(slice_ids)],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} pass failed:\n{done.stderr[-3000:]}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ------------------------------------------------------------------------------------

PICKS = ("birthday", "holidays", "expiry_warning", "win_back_90", "win_back_60", "win_back_30",
         "review_request", "tier_nudge", "balance_digest")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(rows: list[tuple[str, int, dict]]) -> None:
    short = {"birthday": "bday", "expiry_warning": "expiry", "win_back_30": "wb30",
             "win_back_60": "wb60", "win_back_90": "wb90", "balance_digest": "digest",
             "holidays": "holiday", "review_request": "review", "tier_nudge": "nudge"}
    print(f"{'run':<26} {'customers':>9} {'seconds':>8} {'s/100k':>7} {'ms/cust':>8} "
          f"{'RSS MB':>7} {'fired':>7} {'held':>6}  " + " ".join(f"{short[t]:>7}" for t in PICKS))
    for name, customers, r in rows:
        print(f"{name:<26} {customers:>9,} {r['seconds']:>8.2f} "
              f"{r['seconds'] / customers * 100_000:>7.2f} {r['seconds'] / customers * 1000:>8.4f} "
              f"{r['rss_mb']:>7.0f} {sum(r['picked'].values()):>7,} {r['held_out']:>6,}  "
              + " ".join(f"{r['picked'].get(t, 0):>7,}" for t in PICKS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[250_000, 500_000, 1_000_000])
    parser.add_argument("--naive", type=int, default=50_000, help="customers in the naive slice")
    parser.add_argument("--digest-size", type=int, default=250_000)
    parser.add_argument("--day", default="2025-06-10")
    parser.add_argument("--digest-day", default="2025-06-01")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench-triggers"))
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--worker", choices=["pass", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--slice", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    day, sizes = date.fromisoformat(args.day), sorted(args.sizes)
    biggest = sizes[-1]
    dbs = {n: seeded(args.cache, n, day, args.reseed) for n in sizes}
    rows = []
    for n in sizes:
        result = measure("pass", dbs[n], day, args.naive if n == biggest else 0, args.cache)
        rows.append((f"pass {day}", n, result))
        print(f"  pass over {n:,} customers: {result['seconds']:.2f} s", flush=True)
    naive = None
    if args.naive:
        naive = measure("naive", dbs[biggest], day, args.naive, args.cache)
        rows.append((f"naive loop {day}", args.naive, naive))
    if args.digest_size:
        digest_day = date.fromisoformat(args.digest_day)
        db = seeded(args.cache, args.digest_size, digest_day, args.reseed)
        rows.append((f"pass {digest_day} (digest)", args.digest_size,
                     measure("pass", db, digest_day, 0, args.cache)))
    print(f"\n== daily trigger pass on SQLite, ~10 purchases a customer, day {day} ==")
    table(rows)
    big = rows[len(sizes) - 1][2]
    per_100k = [r["seconds"] / n * 100_000 for _, n, r in rows[:len(sizes)]]
    print(f"\n{biggest:,} customers: {big['seconds']:.2f} s (target <= {TARGET_SECONDS:.0f}) "
          f"{verdict(big['seconds'] <= TARGET_SECONDS)}; peak RSS {big['rss_mb']:.0f} MB "
          f"(target <= {TARGET_RSS_MB:.0f}) {verdict(big['rss_mb'] <= TARGET_RSS_MB)}")
    growth = per_100k[-1] / per_100k[0]
    print("growth: " + ", ".join(f"{n:,}: {s:.2f} s/100k" for n, s in zip(sizes, per_100k, strict=True))
          + f"; largest/smallest {growth:.2f}x (about linear: <= {LINEAR_SLACK}x) "
          + verdict(growth <= LINEAR_SLACK))
    if naive is not None:
        pass_each = big["seconds"] / biggest
        naive_each = naive["seconds"] / args.naive
        ratio = naive_each / pass_each
        same = naive["slice"] == big["slice"]
        print(f"per customer: pass {pass_each * 1e6:.1f} us, naive loop {naive_each * 1e6:.1f} us: "
              f"{ratio:.1f}x faster (target >= {TARGET_RATIO:.0f}x) {verdict(ratio >= TARGET_RATIO)}; "
              f"same picks on the first {args.naive:,} customers: "
              f"{'yes' if same else 'NO'} ({len(big['slice'])} by the pass, "
              f"{len(naive['slice'])} by the loop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
