"""Customer segments: who belongs where as of a moment ``at``, as set-based SQL.

``catalog()`` lists every segment with its size (a handful of grouped queries, nothing is
loaded per customer); ``members()`` gives one segment as a ``SELECT`` of customer ids, usable
as a subquery (``Customer.id.in_(members(...))``) by broadcasts. Codes are short and stable
(at most 40 bytes, they travel in Telegram callback data).

Definitions, alike with the owner's figures (bot/console/stats.py):

- A *member* is a customer whose registration finished (``registered_at``) by ``at``.
- A *purchase* is a receipt not refunded in full (``amount > refunded_amount``) made by
  ``at``; its *net revenue* is ``amount − refunded_amount`` (refunds as they are now).
- *Tier* (``tier:<code>``, ``tier:member`` before any tier): ``bot.loyalty.tiers.current_tier`` of
  the stored purchase count / total spend, as a CASE over the configured thresholds. It is
  the tier now, whatever ``at`` says.
- *Days since the last purchase* (``lapsed:…``): never, 0–30, 31–60, 61–90, 91–180, 181+
  whole days (``lapsed:0-30`` = the last purchase is less than 31 days before ``at``).
- *Birthday month* (``birthday:<1..12>``); the catalog offers this month and the next one in
  the shop's time zone.
- *Channel* (``channel:<name>``): members with an identity in that channel.
- *Source* (``source:<text>``): ``customers.source``, where everyone invited by a friend's
  link (``ref-<code>``) is one source, ``source:ref-``; ``source:`` is no source; a source too
  long for a code is ``source:#<hash>``. The catalog lists the ten biggest sources.

RFM, ABC and XYZ look at the *last year*, ``(at − 365 days, at]``, split for XYZ into twelve
equal "months" of 365/12 days counted back from ``at`` (so there is no half-finished
calendar month and no time zone in it). *Buyers* are the members with a purchase in it.

- R, F, M are quintile scores 1–5 (``NTILE(5)``, 5 is best) among the buyers of: recency
  (the last purchase's moment, later is better), frequency (purchases in the year),
  monetary (net revenue in the year). Ties are broken by the customer id (lower id, lower
  score), so equal buyers can sit on both sides of a quintile border.
- RFM groups: the widely published R × F segment map (R rows, F columns), total and
  non-overlapping over the 25 cells, plus *lost* for members who bought before but not in
  the last year (they have no scores):

  ====  ==============  ==============  ==============  ==============  ==============
  R\\F   1               2               3               4               5
  ====  ==============  ==============  ==============  ==============  ==============
  5     new             potential       potential       champions       champions
  4     promising       potential       potential       loyal           loyal
  3     about_to_sleep  about_to_sleep  attention       loyal           loyal
  2     hibernating     hibernating     at_risk         at_risk         cant_lose
  1     hibernating     hibernating     at_risk         at_risk         cant_lose
  ====  ==============  ==============  ==============  ==============  ==============

- ABC (money): buyers by net revenue of the year, largest first (ties by id); a buyer is
  *A* while the revenue of those ranked ahead of them is below 80 % of the total (so A is
  the fewest top buyers who together bring 80 %), *B* while it is below 95 %, else *C*.
- XYZ (regularity): the coefficient of variation (population standard deviation / mean) of
  the buyer's purchase counts in the twelve months, months without a purchase counted as 0:
  *X* ≤ 10 %, *Y* ≤ 25 %, *Z* above. With S = Σ counts and Q = Σ counts², CV² =
  12·Q/S² − 1, so the database compares integers: X ⇔ 1200·Q ≤ 101·S², Y ⇔ 192·Q ≤ 17·S².
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, SQLColumnExpression, and_, case, exists, false, func, literal, null, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Subquery
from sqlalchemy.sql.elements import ColumnElement

from bot.channels.registry import label
from bot.config import ProgramSettings, Settings, Tier
from bot.core.i18n import N_
from bot.loyalty.money import MINOR_PER_UNIT
from bot.storage.models import Customer, Identity, Purchase
from bot.storage.uow import UnitOfWork

YEAR = timedelta(days=365)
MONTH = YEAR / 12  # one of the twelve XYZ periods
MAX_CODE_BYTES = 40
SOURCE_LIMIT = 10  # sources the catalog lists, the biggest first
REFERRAL_PREFIX = "ref-"  # bot.handlers.referral's (a core module does not import handlers)

GROUPS = ("all", "tier", "recency", "birthday", "channel", "source", "rfm", "abcxyz")
GROUP_TITLES = {
    "all": N_("Members"),
    "tier": N_("Tiers"),
    "recency": N_("Days since the last purchase"),
    "birthday": N_("Birthdays"),
    "channel": N_("Channels"),
    "source": N_("Sources"),
    "rfm": N_("RFM"),
    "abcxyz": N_("ABC × XYZ"),
}


@dataclass(frozen=True)
class Segment:
    code: str  # stable and short: "tier:gold", "lapsed:31-60", "rfm:champions", ...
    title: str  # an English msgid, translated when shown
    group: str  # one of GROUPS


# --- the fixed segments ----------------------------------------------------------------------

ALL = Segment("all", N_("All members"), "all")
NO_TIER = "member"  # before the first tier (a tier configured with this code would merge in)

# (code, title, days since the last purchase: from, to inclusive (None: no end)); "never" apart
LAPSED = (
    ("lapsed:0-30", N_("0–30 days"), 0, 30),
    ("lapsed:31-60", N_("31–60 days"), 31, 60),
    ("lapsed:61-90", N_("61–90 days"), 61, 90),
    ("lapsed:91-180", N_("91–180 days"), 91, 180),
    ("lapsed:181+", N_("Over 180 days"), 181, None),
)
NEVER = Segment("lapsed:never", N_("Never bought"), "recency")

MONTHS = (N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"),
          N_("July"), N_("August"), N_("September"), N_("October"), N_("November"),
          N_("December"))

SOURCE_TITLES = {None: N_("No source"), REFERRAL_PREFIX: N_("Invited by a friend"),
                 "import": N_("Imported"), "pos": N_("Enrolled at a till")}

# The R × F map: (group, R from–to, F from–to); see the table above. Every cell once.
RFM_MAP = (
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential", (4, 5), (2, 3)),
    ("new", (5, 5), (1, 1)),
    ("promising", (4, 4), (1, 1)),
    ("attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("at_risk", (1, 2), (3, 4)),
    ("cant_lose", (1, 2), (5, 5)),
    ("hibernating", (1, 2), (1, 2)),
)
LOST = "lost"
RFM_TITLES = {
    "champions": N_("Champions"),
    "loyal": N_("Loyal"),
    "potential": N_("Potential loyalists"),
    "new": N_("New customers"),
    "promising": N_("Promising"),
    "attention": N_("Need attention"),
    "about_to_sleep": N_("About to sleep"),
    "at_risk": N_("At risk"),
    "cant_lose": N_("Can't lose them"),
    "hibernating": N_("Hibernating"),
    LOST: N_("Lost"),
}
ABC = {"A": N_("A: most revenue"), "B": N_("B: middle revenue"), "C": N_("C: least revenue")}
XYZ = {"X": N_("X: steady"), "Y": N_("Y: varying"), "Z": N_("Z: irregular")}
ABC_XYZ = {a + x: title for a, x, title in (
    ("A", "X", N_("AX")), ("A", "Y", N_("AY")), ("A", "Z", N_("AZ")),
    ("B", "X", N_("BX")), ("B", "Y", N_("BY")), ("B", "Z", N_("BZ")),
    ("C", "X", N_("CX")), ("C", "Y", N_("CY")), ("C", "Z", N_("CZ")))}


def scored_segments() -> list[Segment]:
    """RFM groups, then ABC, XYZ and their pairs: the segments that move month to month."""
    return ([Segment(f"rfm:{code}", title, "rfm") for code, title in RFM_TITLES.items()]
            + [Segment(f"abc:{c}", t, "abcxyz") for c, t in ABC.items()]
            + [Segment(f"xyz:{c}", t, "abcxyz") for c, t in XYZ.items()]
            + [Segment(f"abcxyz:{c}", t, "abcxyz") for c, t in ABC_XYZ.items()])


# --- building blocks -------------------------------------------------------------------------

def _members_at(at: datetime) -> ColumnElement[bool]:
    return and_(Customer.registered_at.is_not(None), Customer.registered_at <= at)


def _bought(at: datetime) -> ColumnElement[bool]:
    """Purchases that count as of ``at``."""
    return and_(Purchase.customer_id.is_not(None), Purchase.occurred_at <= at,
                Purchase.amount > Purchase.refunded_amount)


def _tier_threshold(tier: Tier, program: ProgramSettings) -> int:
    return tier.min_spend if program.tier_basis == "spend" else tier.min_purchases


def _tier_expr(program: ProgramSettings) -> ColumnElement[str]:
    """``current_tier`` in SQL: the reached tier with the highest threshold (the first one
    listed among equal thresholds, as ``max`` picks it)."""
    ordered = sorted(program.tiers, key=lambda tier: _tier_threshold(tier, program), reverse=True)
    whens = []
    for tier in ordered:
        threshold = _tier_threshold(tier, program)
        reached = (Customer.total_spent >= threshold * MINOR_PER_UNIT  # ⇔ spent // unit ≥ t
                   if program.tier_basis == "spend" else Customer.purchase_count >= threshold)
        whens.append((and_(Customer.purchase_count > 0, reached), literal(tier.code)))
    return case(*whens, else_=literal(NO_TIER)) if whens else literal(NO_TIER)


def _tier_codes(program: ProgramSettings) -> list[str]:
    """Every tier, lowest first, after "member"; a code listed twice once."""
    ordered = sorted(program.tiers, key=lambda tier: _tier_threshold(tier, program))
    return list(dict.fromkeys([NO_TIER, *(tier.code for tier in ordered)]))


def lapsed_conditions(last_at: SQLColumnExpression[Any],
                      at: datetime) -> dict[str, ColumnElement[bool]]:
    """A condition per recency bucket on the moment of the last purchase (NULL: never)."""
    conditions: dict[str, ColumnElement[bool]] = {NEVER.code: last_at.is_(None)}
    for code, _title, first, last in LAPSED:
        after = last_at <= at - timedelta(days=first)  # at least ``first`` days ago
        conditions[code] = (after if last is None
                            else and_(after, last_at > at - timedelta(days=last + 1)))
    return conditions


def lapsed_case(last_at: SQLColumnExpression[Any], at: datetime) -> ColumnElement[str]:
    """The recency segment's code of a last purchase at ``last_at``, as of ``at``."""
    return case(*((condition, literal(code))
                  for code, condition in lapsed_conditions(last_at, at).items()))


def _last_purchase(at: datetime) -> Subquery:
    return (select(Purchase.customer_id.label("customer_id"),
                   func.max(Purchase.occurred_at).label("last_at"))
            .where(_bought(at)).group_by(Purchase.customer_id).subquery("last_purchase"))


def _source_key() -> ColumnElement[str | None]:
    """The source, with every friend's invitation link as one."""
    prefix = REFERRAL_PREFIX
    return case((func.substr(Customer.source, 1, len(prefix)) == prefix, literal(prefix)),
                else_=Customer.source)


def source_code(key: str | None) -> str:
    if key is None:
        return "source:"
    code = "source:" + key
    if len(code.encode()) <= MAX_CODE_BYTES and not key.startswith("#"):
        return code
    return "source:#" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _source_segment(key: str | None) -> Segment:
    return Segment(source_code(key), SOURCE_TITLES.get(key, key or ""), "source")


def _profile(at: datetime, *extra: ColumnElement[Any]) -> Subquery:
    """Per member: the last purchase (NULL: never bought), whether they bought in the last
    year (``active``) and, if so, their R, F, M scores, RFM group, ABC and XYZ classes;
    members who bought only before the year are ``rfm = "lost"`` with no classes. ``extra``
    columns of the customer are carried along.

    One pass: members, each with their purchases (by the customer's index), grouped by the
    member: besides the year's count and revenue, the purchases after each of the eleven
    inner month borders (cumulative counts, one comparison each), whose differences are the
    twelve monthly counts for XYZ."""
    p = Purchase
    start = at - YEAR
    since = [at - k * MONTH for k in range(1, 12)]  # the borders inside the year

    def counted(condition: ColumnElement[bool], value: Any = 1) -> ColumnElement[Any]:
        return func.sum(case((condition, value), else_=0))

    per_customer = (
        select(Customer.id.label("customer_id"), *extra,
               func.max(p.occurred_at).label("last_at"),
               counted(p.occurred_at > start).label("frequency"),
               counted(p.occurred_at > start, p.amount - p.refunded_amount).label("revenue"),
               *(counted(p.occurred_at > border).label(f"after_{k}")
                 for k, border in enumerate(since, start=1)))
        .select_from(Customer)
        .outerjoin(p, and_(p.customer_id == Customer.id, _bought(at)))
        .where(_members_at(at))
        .group_by(Customer.id).subquery("per_customer"))
    c = per_customer.c
    cumulative = [c[f"after_{k}"] for k in range(1, 12)] + [c.frequency]
    monthly = [cumulative[0], *(later - earlier
                                for earlier, later in itertools.pairwise(cumulative))]
    squares = sum((n * n for n in monthly[1:]), monthly[0] * monthly[0])
    active = c.frequency > 0

    def quintile(measure: ColumnElement[Any]) -> ColumnElement[int]:
        return func.ntile(5).over(partition_by=active, order_by=(measure, c.customer_id))

    carried = [c[column.name] for column in extra]
    ranked = select(
        c.customer_id, *carried, c.last_at, c.frequency, c.revenue, squares.label("squares"),
        case((active, 1), else_=0).label("active"),
        quintile(c.last_at).label("r"), quintile(c.frequency).label("f"),
        quintile(c.revenue).label("m"),
        func.sum(c.revenue).over(partition_by=active, order_by=(c.revenue.desc(), c.customer_id),
                                 rows=(None, 0)).label("running"),
        func.sum(c.revenue).over(partition_by=active).label("total"),
    ).subquery("ranked")
    s = ranked.c
    lapsed = s.active == 0
    ahead = s.running - s.revenue  # revenue of the buyers ranked ahead
    rfm = case((s.last_at.is_(None), null()), (lapsed, literal(LOST)), *(
        (and_(s.r.between(r_low, r_high), s.f.between(f_low, f_high)), literal(group))
        for group, (r_low, r_high), (f_low, f_high) in RFM_MAP))
    abc = case((lapsed, null()), (100 * ahead < 80 * s.total, literal("A")),
               (100 * ahead < 95 * s.total, literal("B")), else_=literal("C"))
    squared = s.frequency * s.frequency
    xyz = case((lapsed, null()), (1200 * s.squares <= 101 * squared, literal("X")),
               (192 * s.squares <= 17 * squared, literal("Y")), else_=literal("Z"))
    return select(s.customer_id, *(s[column.name] for column in extra), s.last_at, s.active,
                  s.r, s.f, s.m, rfm.label("rfm"), abc.label("abc"),
                  xyz.label("xyz")).subquery("profile")


def scored_rows(at: datetime) -> Select[Any]:
    """Every member who has bought by ``at``: customer id, RFM group ("lost": not in the
    last year), ABC, XYZ (None for the lost) and the last purchase's moment: what a snapshot
    keeps (bot/marketing/segment_snapshot.py)."""
    c = _profile(at).c
    return select(c.customer_id, c.rfm, c.abc, c.xyz, c.last_at).where(c.last_at.is_not(None))


def scores(at: datetime) -> Select[Any]:
    """Every buyer of the last year: customer id, R, F, M, RFM group, ABC, XYZ (for checks
    and exports)."""
    profile = _profile(at)
    c = profile.c
    return (select(c.customer_id, c.r, c.f, c.m, c.rfm, c.abc, c.xyz)
            .where(c.active == 1).order_by(c.customer_id))


# --- the two entry points --------------------------------------------------------------------

async def scored_counts(uow: UnitOfWork, at: datetime) -> Counter[str]:
    """Sizes of the RFM, ABC, XYZ and ABC × XYZ segments as of ``at`` (absent: 0)."""
    profile = _profile(at)
    c = profile.c
    stmt = select(c.rfm, c.abc, c.xyz, func.count()).group_by(c.rfm, c.abc, c.xyz)
    counts: Counter[str] = Counter()
    for rfm, abc, xyz, n in (await uow.session.execute(stmt)).all():
        _count_scored(counts, rfm, abc, xyz, n)
    return counts


def scored_codes(rfm: str | None, abc: str | None, xyz: str | None) -> list[str]:
    """The scored segments of a member with these classes."""
    codes = [f"rfm:{rfm}"] if rfm is not None else []
    if abc is not None:
        codes += [f"abc:{abc}", f"xyz:{xyz}", f"abcxyz:{abc}{xyz}"]
    return codes


def _count_scored(counts: Counter[str], rfm: str | None, abc: str | None, xyz: str | None,
                  n: int) -> None:
    for code in scored_codes(rfm, abc, xyz):
        counts[code] += n


async def catalog(uow: UnitOfWork, at: datetime, settings: Settings) -> list[tuple[Segment, int]]:
    """Every segment with its member count as of ``at``, in the order of ``GROUPS``, all of
    it counted live: the definitions. /segments and the broadcasts read the same figures
    faster from the nightly snapshot (bot/marketing/segment_snapshot.py)."""
    session, program = uow.session, settings.program
    profile = _profile(at, _tier_expr(program).label("tier"), Customer.birth_month.label("month"))
    p = profile.c
    base = select(p.tier, lapsed_case(p.last_at, at).label("lapsed"), p.month, p.rfm, p.abc,
                  p.xyz).subquery("base")
    columns = (base.c.tier, base.c.lapsed, base.c.month, base.c.rfm, base.c.abc, base.c.xyz)
    counts: Counter[str] = Counter()
    for tier, bucket, month, rfm, abc, xyz, n in (
            await session.execute(select(*columns, func.count()).group_by(*columns))).all():
        counts["all"] += n
        counts[f"tier:{tier}"] += n
        counts[bucket] += n
        if month is not None:
            counts[f"birthday:{month}"] += n
        _count_scored(counts, rfm, abc, xyz, n)
    counts.update(await _channel_counts(session, at))
    sources = await _source_counts(session, at)
    return listing(counts, sources, at, settings)


@dataclass(frozen=True)
class MemberCounts:
    """What is counted from the members as they are: ``codes`` has "all", every tier, every
    birthday month and every channel; ``sources`` every source key, the biggest first."""

    codes: Counter[str]
    sources: list[tuple[str | None, int]]


async def member_counts(session: AsyncSession | AsyncConnection, at: datetime,
                        settings: Settings) -> MemberCounts:
    """The segments that need no purchases, as of ``at``: one pass over the members (tier,
    birthday month and source together) and one over their identities."""
    members = (select(_tier_expr(settings.program).label("tier"),
                      Customer.birth_month.label("month"), _source_key().label("key"))
               .where(_members_at(at)).subquery("members"))
    m = members.c
    codes: Counter[str] = Counter()
    sources: Counter[str | None] = Counter()
    for tier, month, key, n in (await session.execute(
            select(m.tier, m.month, m.key, func.count()).group_by(m.tier, m.month, m.key))).all():
        codes["all"] += n
        codes[f"tier:{tier}"] += n
        if month is not None:
            codes[f"birthday:{month}"] += n
        sources[key] += n
    codes.update(await _channel_counts(session, at))
    return MemberCounts(codes, sorted(sources.items(), key=lambda kv: (-kv[1], kv[0] or "")))


async def _channel_counts(session: AsyncSession | AsyncConnection, at: datetime) -> Counter[str]:
    channels = (select(Identity.channel, func.count(func.distinct(Identity.customer_id)))
                .join(Customer, Customer.id == Identity.customer_id).where(_members_at(at))
                .group_by(Identity.channel))
    return Counter({f"channel:{channel}": n
                    for channel, n in (await session.execute(channels)).all()})


async def _source_counts(session: AsyncSession | AsyncConnection,
                         at: datetime) -> list[tuple[str | None, int]]:
    """The biggest sources (``SOURCE_LIMIT``), the biggest first."""
    keys = select(_source_key().label("key")).where(_members_at(at)).subquery("keys")
    sources = (select(keys.c.key, func.count().label("n")).group_by(keys.c.key)
               .order_by(func.count().desc(), keys.c.key).limit(SOURCE_LIMIT))
    return [(key, n) for key, n in (await session.execute(sources)).all()]


def listing(counts: Counter[str], sources: Iterable[tuple[str | None, int]], at: datetime,
            settings: Settings) -> list[tuple[Segment, int]]:
    """The catalog from its counts: every segment in the order of ``GROUPS``; the birthday
    months of ``at`` and the one after, the channels present, the biggest sources."""
    program = settings.program
    segments = [ALL]
    titles = {tier.code: tier.name or tier.code.title() for tier in program.tiers}
    segments += [Segment(f"tier:{code}", titles.get(code, N_("Member")), "tier")
                 for code in _tier_codes(program)]
    segments += [NEVER, *(Segment(code, title, "recency") for code, title, _, _ in LAPSED)]
    this_month = at.astimezone(ZoneInfo(settings.shop.timezone)).month
    segments += [Segment(f"birthday:{month}", MONTHS[month - 1], "birthday")
                 for month in (this_month, this_month % 12 + 1)]
    for code in sorted(code for code in counts if code.startswith("channel:")):
        channel = code.partition(":")[2]
        segments.append(Segment(code, label(channel) or channel, "channel"))
    biggest = [(_source_segment(key), n) for key, n in list(sources)[:SOURCE_LIMIT]]
    return ([(segment, counts[segment.code]) for segment in segments] + biggest
            + [(segment, counts[segment.code]) for segment in scored_segments()])


async def members(uow: UnitOfWork, code: str, at: datetime, settings: Settings) -> Select[Any]:
    """The ids of the members in segment ``code`` as of ``at``: one column, usable as a
    subquery. A code no segment has raises KeyError."""
    group, _, value = code.partition(":")
    ids = select(Customer.id).where(_members_at(at))
    if code == "all":
        return ids
    if group == "tier" and value in _tier_codes(settings.program):
        return ids.where(_tier_expr(settings.program) == value)
    if group == "lapsed":
        last = _last_purchase(at)
        condition = lapsed_conditions(last.c.last_at, at).get(code)
        if condition is not None:
            return ids.outerjoin(last, last.c.customer_id == Customer.id).where(condition)
    if group == "birthday" and value.isdecimal() and 1 <= int(value) <= 12:
        return ids.where(Customer.birth_month == int(value))
    if group == "channel" and value:
        return ids.where(exists().where(Identity.customer_id == Customer.id,
                                        Identity.channel == value))
    if group == "source" and ":" in code:
        key = _source_key()
        if not value:
            return ids.where(Customer.source.is_(None))
        if value.startswith("#"):
            found = await _long_source(uow, code)
            return ids.where(key == found) if found is not None else ids.where(false())
        return ids.where(key == value)
    scored = scored_condition(code)
    if scored is not None:
        profile = _profile(at)
        return select(profile.c.customer_id).where(scored(profile.c))
    raise KeyError(code)


async def _long_source(uow: UnitOfWork, code: str) -> str | None:
    """The source behind a ``source:#<hash>`` code (looked up among the distinct sources)."""
    keys = select(_source_key()).where(Customer.source.is_not(None)).distinct()
    for key in (await uow.session.execute(keys)).scalars():
        if source_code(key) == code:
            return key
    return None


def scored_condition(code: str) -> Callable[[Any], ColumnElement[bool]] | None:
    """The condition on a scored row's columns (a profile's ``.c``, or ``SegmentScore``)."""
    group, _, value = code.partition(":")
    if group == "rfm" and value in RFM_TITLES:
        return lambda c: c.rfm == value
    if group == "abc" and value in ABC:
        return lambda c: c.abc == value
    if group == "xyz" and value in XYZ:
        return lambda c: c.xyz == value
    if group == "abcxyz" and value in ABC_XYZ:
        return lambda c: and_(c.abc == value[0], c.xyz == value[1])
    return None


def rfm_cells() -> Iterable[tuple[int, int, str]]:
    """(R, F, group) for the map's cells, for checking that it covers each cell once."""
    for group, (r_low, r_high), (f_low, f_high) in RFM_MAP:
        for r in range(r_low, r_high + 1):
            for f in range(f_low, f_high + 1):
                yield r, f, group
