"""The nightly snapshot of the customer segments: what /segments and the broadcasts' segment
picker read, so they answer at once however many customers there are.

Scoring RFM and ABC × XYZ ranks every member against all the others over a year of
purchases (bot/marketing/segments.py), and even the plain counts (tiers, birthdays, channels,
sources) read every member: minutes and seconds at a million customers, too slow for a chat
answer. A snapshot does it all once, as of its ``taken_at``, and keeps

- per member who has bought (``SegmentScore``): the RFM group, ABC, XYZ and the moment of
  the last purchase; for the latest snapshot only;
- per segment (``SegmentCount``), for every snapshot (the history, about sixty rows a
  day): every segment's size, and for the scored ones how many came in and left since the
  snapshot before, from the rows of both snapshots compared customer by customer before
  the older ones are deleted.

The nightly job (04:45, and shortly after every start that finds today's missing) scores
through a reading connection of its own and writes in batches, each a short transaction,
so the app's single SQLite connection is never held for the whole scoring. A small shop
that asks before any snapshot exists gets one at once, in its own transaction (a new shop
is never empty); a bigger one is told to wait for the job.

Broadcasts pick the members of a scored or a recency segment from the same snapshot (the
segment the owner saw, as of the time the screen states); the other segments' members are
picked as they are now (bot/marketing/segments.py).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from bot.config import Settings
from bot.core.conversation import Core
from bot.marketing import segments
from bot.marketing.segments import NEVER, SOURCE_LIMIT, Segment, scored_codes, source_code
from bot.storage import database
from bot.storage.models import Customer, SegmentCount, SegmentScore, SegmentSnapshot
from bot.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

BATCH = 20_000  # scored members written per transaction by the nightly job
INLINE_MEMBERS = 20_000  # a shop this small is scored while the owner waits (seconds)
CHANGE = timedelta(days=30)  # "the change in 30 days": against the snapshot this much older
Reader = AsyncSession | AsyncConnection


@dataclass(frozen=True, slots=True)
class Tally:
    counts: Counter[str]  # every segment of the snapshot
    sources: list[tuple[str | None, int]]  # the biggest sources, the biggest first
    moved_in: dict[str, int] | None  # None: no snapshot before to compare with
    moved_out: dict[str, int] | None


# --- taking a snapshot ---------------------------------------------------------------------

async def latest(session: AsyncSession) -> SegmentSnapshot | None:
    """The newest complete snapshot."""
    return await _completed(session)


async def current(uow: UnitOfWork, now: datetime, settings: Settings) -> SegmentSnapshot | None:
    """The newest snapshot; a small shop that has none yet gets one now, in this
    transaction; None: a bigger one has to wait for the job."""
    newest = await latest(uow.session)
    if newest is not None:
        return newest
    if await _members(uow.session, now) > INLINE_MEMBERS:
        return None
    return await take_in(uow.session, now, settings)


async def take_in(session: AsyncSession, now: datetime, settings: Settings) -> SegmentSnapshot:
    """A snapshot as of ``now`` written in the caller's transaction, scored by the database
    in one ``INSERT … SELECT``."""
    previous = await latest(session)
    snapshot = await _begin(session, now, ZoneInfo(settings.shop.timezone))
    columns = segments.scored_rows(now).subquery("scored").c
    await session.execute(insert(SegmentScore).from_select(
        ["snapshot_id", "customer_id", "rfm", "abc", "xyz", "last_at"],
        select(literal(snapshot.id, SegmentScore.snapshot_id.type), columns.customer_id,
               columns.rfm, columns.abc, columns.xyz, columns.last_at)))
    await _finish(session, snapshot, await _tally(session, snapshot, previous, settings), now)
    return snapshot


async def take_nightly(core: Core) -> SegmentSnapshot | None:
    """The scheduler's job: a snapshot as of now unless today (the shop's day) has one.
    Scored through a reading connection of its own, written in batches."""
    now, settings = core.services.clock.now(), core.services.settings
    started = time.perf_counter()
    async with core.unit_of_work() as uow:
        newest = await latest(uow.session)
        if newest is not None and newest.day == now.astimezone(core.services.timezone).date():
            return None
        await uow.session.execute(  # one a stopped job left unfinished
            delete(SegmentSnapshot).where(SegmentSnapshot.completed_at.is_(None)))
        snapshot = await _begin(uow.session, now, core.services.timezone)
        await uow.commit()
    reader = database.create_reader(settings.database.url)
    try:
        async with reader.connect() as connection:  # one read transaction: one moment
            result = await connection.stream(segments.scored_rows(now))
            async for rows in result.partitions(BATCH):
                async with core.unit_of_work() as uow:
                    await uow.session.execute(insert(SegmentScore), [
                        {"snapshot_id": snapshot.id, "customer_id": row.customer_id,
                         "rfm": row.rfm, "abc": row.abc, "xyz": row.xyz, "last_at": row.last_at}
                        for row in rows])
                    await uow.commit()
        async with reader.connect() as connection:  # a new moment: the rows just written
            tally = await _tally(connection, snapshot, newest, settings)
    finally:
        await reader.dispose()
    async with core.unit_of_work() as uow:
        await _finish(uow.session, snapshot, tally, now)
        await uow.commit()
    log.info("segment snapshot %s as of %s: %d members, %.0f s", snapshot.id, now,
             tally.counts["all"], time.perf_counter() - started)
    return snapshot


async def _members(session: AsyncSession, now: datetime) -> int:
    return (await session.execute(select(func.count()).select_from(Customer).where(
        Customer.registered_at.is_not(None), Customer.registered_at <= now))).scalar_one()


async def _begin(session: AsyncSession, now: datetime, zone: tzinfo) -> SegmentSnapshot:
    snapshot = SegmentSnapshot(day=now.astimezone(zone).date(), taken_at=now, members=0)
    session.add(snapshot)
    await session.flush()
    return snapshot


async def _tally(reader: Reader, snapshot: SegmentSnapshot, previous: SegmentSnapshot | None,
                 settings: Settings) -> Tally:
    """Every segment's size: the members as they are (as of the snapshot), the scored and
    recency segments from the snapshot's rows; and, with a snapshot before it (whose rows
    are still there), who came into each scored segment and who left it."""
    plain = await segments.member_counts(reader, snapshot.taken_at, settings)
    counts = Counter(plain.codes)
    scores = SegmentScore
    buckets = segments.lapsed_case(scores.last_at, snapshot.taken_at)
    grouped = (select(scores.rfm, scores.abc, scores.xyz, buckets, func.count())
               .where(scores.snapshot_id == snapshot.id)
               .group_by(scores.rfm, scores.abc, scores.xyz, buckets))
    for rfm, abc, xyz, bucket, n in (await reader.execute(grouped)).all():
        for code in (*scored_codes(rfm, abc, xyz), bucket):
            counts[code] += n
    bought = sum(n for code, n in counts.items() if code.startswith("rfm:"))
    counts[NEVER.code] = counts["all"] - bought
    sources = plain.sources[:SOURCE_LIMIT]
    if previous is None:
        return Tally(counts, sources, None, None)
    before = Counter(dict((await reader.execute(
        select(SegmentCount.code, SegmentCount.customers)
        .where(SegmentCount.snapshot_id == previous.id))).all()))
    stayed = await _stayed(reader, snapshot, previous)
    scored = [segment.code for segment in segments.scored_segments()]
    return Tally(counts, sources, {code: counts[code] - stayed[code] for code in scored},
                 {code: before[code] - stayed[code] for code in scored})


async def _stayed(reader: Reader, snapshot: SegmentSnapshot,
                  previous: SegmentSnapshot) -> Counter[str]:
    """Per scored segment: the customers in it in both snapshots."""
    new, old = aliased(SegmentScore), aliased(SegmentScore)
    pairs = (new.rfm, new.abc, new.xyz, old.rfm, old.abc, old.xyz)
    stmt = (select(*pairs, func.count())
            .join(old, and_(old.snapshot_id == previous.id, old.customer_id == new.customer_id))
            .where(new.snapshot_id == snapshot.id).group_by(*pairs))
    stayed: Counter[str] = Counter()
    for rfm, abc, xyz, old_rfm, old_abc, old_xyz, n in (await reader.execute(stmt)).all():
        for code in set(scored_codes(rfm, abc, xyz)) & set(scored_codes(old_rfm, old_abc, old_xyz)):
            stayed[code] += n
    return stayed


def _count_rows(snapshot: SegmentSnapshot, tally: Tally) -> list[dict[str, Any]]:
    """Every segment of the catalog (a month's or a tier's empty one too), and the sources
    with their own text."""
    moved_in, moved_out = tally.moved_in or {}, tally.moved_out or {}
    codes = dict.fromkeys([
        "all", *(code for code in tally.counts if code.startswith(("tier:", "channel:"))),
        *(f"birthday:{month}" for month in range(1, 13)), NEVER.code,
        *(code for code, *_ in segments.LAPSED),
        *(segment.code for segment in segments.scored_segments())])
    rows = [{"snapshot_id": snapshot.id, "code": code, "customers": tally.counts[code],
             "moved_in": moved_in.get(code), "moved_out": moved_out.get(code), "label": None}
            for code in codes]
    rows += [{"snapshot_id": snapshot.id, "code": source_code(key), "customers": n,
              "moved_in": None, "moved_out": None, "label": key} for key, n in tally.sources]
    return rows


async def _finish(session: AsyncSession, snapshot: SegmentSnapshot, tally: Tally,
                  now: datetime) -> None:
    """Keep the sizes, mark the snapshot complete, and delete the older snapshots' rows."""
    await session.execute(insert(SegmentCount), _count_rows(snapshot, tally))
    await session.execute(update(SegmentSnapshot).where(SegmentSnapshot.id == snapshot.id)
                          .values(completed_at=now, members=tally.counts["all"])
                          .execution_options(synchronize_session=False))
    older = select(SegmentSnapshot.id).where(SegmentSnapshot.id != snapshot.id,
                                             SegmentSnapshot.taken_at <= snapshot.taken_at,
                                             SegmentSnapshot.completed_at.is_not(None))
    await session.execute(delete(SegmentScore).where(SegmentScore.snapshot_id.in_(older))
                          .execution_options(synchronize_session=False))  # not a million ids back
    snapshot.completed_at, snapshot.members = now, tally.counts["all"]


# --- reading ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Overview:
    """Everything /segments shows, as of the latest snapshot: the catalog, every count (all
    twelve birthday months), the change since about ``CHANGE`` ago and who moved since the
    snapshot before."""

    snapshot: SegmentSnapshot
    catalog: list[tuple[Segment, int]]
    counts: Counter[str]
    moved_in: dict[str, int]  # empty: no snapshot before this one
    moved_out: dict[str, int]
    previous: SegmentSnapshot | None  # the one the movement is counted from
    earlier: SegmentSnapshot | None  # the one the change is counted from
    earlier_counts: Counter[str]


async def overview(uow: UnitOfWork, now: datetime, settings: Settings) -> Overview | None:
    """None: there is no snapshot yet, and the shop is too big to take one now."""
    session = uow.session
    snapshot = await current(uow, now, settings)
    if snapshot is None:
        return None
    rows = (await session.execute(select(SegmentCount).where(
        SegmentCount.snapshot_id == snapshot.id))).scalars().all()
    counts = Counter({row.code: row.customers for row in rows})
    moved_in = {row.code: row.moved_in for row in rows if row.moved_in is not None}
    moved_out = {row.code: row.moved_out for row in rows if row.moved_out is not None}
    sources = sorted(((row.label, row.customers) for row in rows if row.code.startswith("source:")),
                     key=lambda pair: (-pair[1], pair[0] or ""))
    previous = await _completed(session, SegmentSnapshot.id != snapshot.id,
                                SegmentSnapshot.taken_at <= snapshot.taken_at)
    earlier = await _completed(session, SegmentSnapshot.day <= snapshot.day - CHANGE)
    earlier_counts: Counter[str] = Counter()
    if earlier is not None:
        earlier_counts.update(dict((await session.execute(
            select(SegmentCount.code, SegmentCount.customers)
            .where(SegmentCount.snapshot_id == earlier.id))).all()))
    return Overview(snapshot, segments.listing(counts, sources, now, settings), counts,
                    moved_in, moved_out, previous if moved_in else None, earlier, earlier_counts)


async def _completed(session: AsyncSession, *where: Any) -> SegmentSnapshot | None:
    """The newest complete snapshot that meets ``where``."""
    return (await session.execute(
        select(SegmentSnapshot).where(SegmentSnapshot.completed_at.is_not(None), *where)
        .order_by(SegmentSnapshot.taken_at.desc(), SegmentSnapshot.id.desc()).limit(1))
    ).scalar_one_or_none()


def from_snapshot(code: str) -> bool:
    """Whether the segment's members are picked from the snapshot."""
    return code.partition(":")[0] in ("lapsed", "rfm", "abc", "xyz", "abcxyz")


async def members(uow: UnitOfWork, code: str, now: datetime, settings: Settings) -> Select[Any]:
    """The ids of segment ``code``'s members: the scored and recency segments as of the
    latest snapshot, the rest as of ``now``. One column, usable as a subquery; a code no
    segment has (or a snapshot segment while there is no snapshot) raises KeyError."""
    if not from_snapshot(code):
        return await segments.members(uow, code, now, settings)
    snapshot = await current(uow, now, settings)
    if snapshot is None:
        raise KeyError(code)
    scores = SegmentScore
    mine = scores.snapshot_id == snapshot.id
    if code == NEVER.code:
        return select(Customer.id).where(
            Customer.registered_at.is_not(None), Customer.registered_at <= snapshot.taken_at,
            ~exists().where(mine, scores.customer_id == Customer.id))
    condition = (segments.lapsed_conditions(scores.last_at, snapshot.taken_at).get(code)
                 if code.startswith("lapsed:") else segments.scored_condition(code))
    if condition is None:
        raise KeyError(code)
    if callable(condition):
        condition = condition(scores)
    return select(scores.customer_id).where(mine, condition)
