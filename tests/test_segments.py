"""Customer segments on a small shop whose every score is worked out by hand below, on
SQLite and PostgreSQL: RFM scores and groups, ABC and XYZ classes, now and a month ago; the
simple segments; ``members()`` as a subquery; /segments in the admin's chat.

The fifteen buyers of the last year (days before AT of their purchases; one amount each):

  id  purchases (days ago)               each   revenue  R  F  M  group            ABC XYZ
   1  1, 45, 76, …, 350 (one a "month")  1000    12000   5  5  5  champions        A   X
   2  2                                   300      300   5  1  1  new              C   Z
   3  3, 200                              400      800   5  2  2  potential        C   Z
   4  5, 8, 20 and two every other month   800    20000   4  5  5  loyal            A   Y
   5  6                                   150      150   4  1  1  promising        C   Z
   6  7, 60, 90                           500     1500   4  3  3  potential        B   Z
   7  40, 150, 250                        600     1800   3  3  3  attention        B   Z
   8  45, 300                             350      700   3  2  2  about_to_sleep   C   Z
   9  50, 100, 150, 200                   900     3600   3  4  4  loyal            A   Z
  10  100, 130, 160, 190                  700     2800   2  4  4  at_risk          A   Z
  11  110, 150, 200, 250, 300            2000     9500   2  5  5  cant_lose        A   Z
                                                (500 of the last refunded)
  12  120                                 200      200   2  1  1  hibernating      C   Z
  13  200, 220, 240                       450     1350   1  3  3  at_risk          B   Z
  14  250, 280 (+ one refunded in full     250      500   1  2  2  hibernating      C   Z
      half a day ago: not a purchase)
  15  300, 310, 320, 330                  550     2200   1  4  4  at_risk          B   Z

R: by the last purchase, three buyers a quintile (1 = the three oldest); F: by purchases
(1, 2, 3, 4 purchases → F 1–4, 5 and more → 5); M by revenue. ABC: total 57,400; the
revenue ranked ahead of customer 10 is 45,100 < 45,920 (80 %), ahead of 15 is 47,900 → B;
ahead of 3 is 54,750 ≥ 54,530 (95 %) → C. XYZ: 1 buys once in each of the twelve months
(CV 0 → X); 4 buys twice a month and three times in the last one (S 25, Q 53: CV 13 % → Y);
everyone else misses a month (CV ≥ 30 % → Z).
Also: 16 bought once, 400 days ago (lost); 17 never bought; 18 bought but never finished
signing up (not a member, counted nowhere).

A month earlier (AT − 30 days) thirteen were buyers (2 and 5 had not bought yet; 16 still
lost); by hand: champions 4, loyal 1, potential 7 and 8, about_to_sleep 6, attention 9 and
10, at_risk 11, 13, 15, hibernating 3, 12, 14; ABC A {1, 4, 9, 10, 11}, B {6, 7, 13, 15},
C {3, 8, 12, 14}; everyone Z (nobody had bought in each of the twelve months then).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build
from bot.config import Settings
from bot.loyalty.tiers import current_tier
from bot.marketing.segments import (
    MONTH,
    REFERRAL_PREFIX,
    RFM_MAP,
    Segment,
    catalog,
    members,
    rfm_cells,
    scored_counts,
    scores,
    source_code,
)
from bot.storage.models import Customer, Identity, Outlet, Purchase
from tests.chat import owner_settings, text_of

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LONG_SOURCE = "summer-2026-instagram-stories-coffee-lovers-campaign"

# id: (days ago of each purchase, amount in units)
PURCHASES: dict[int, tuple[list[float], int]] = {
    1: ([1, 45, 76, 106, 137, 167, 197, 228, 258, 289, 319, 350], 1000),
    2: ([2], 300),
    3: ([3, 200], 400),
    4: ([5, 8, 20] + [d + round(k * 365 / 12) for k in range(1, 12) for d in (8, 20)], 800),
    5: ([6], 150),
    6: ([7, 60, 90], 500),
    7: ([40, 150, 250], 600),
    8: ([45, 300], 350),
    9: ([50, 100, 150, 200], 900),
    10: ([100, 130, 160, 190], 700),
    11: ([110, 150, 200, 250, 300], 2000),
    12: ([120], 200),
    13: ([200, 220, 240], 450),
    14: ([250, 280], 250),
    15: ([300, 310, 320, 330], 550),
    16: ([400], 500),
    18: ([2], 5000),
}
BIRTH_MONTHS = {1: 6, 2: 6, 5: 7, 17: 6, 18: 6, 3: 1}
SOURCES = {1: "ref-AAAA", 2: "ref-BBBB", 3: "flyer", 4: "flyer", 5: "flyer", 6: "import",
           7: LONG_SOURCE, 18: "flyer"}
TELEGRAM = set(range(1, 11)) | {18}
WEB = {8, 9, 10, 11, 12, 17}

SCORES = {  # id: (R, F, M, RFM group, ABC, XYZ)
    1: (5, 5, 5, "champions", "A", "X"),
    2: (5, 1, 1, "new", "C", "Z"),
    3: (5, 2, 2, "potential", "C", "Z"),
    4: (4, 5, 5, "loyal", "A", "Y"),
    5: (4, 1, 1, "promising", "C", "Z"),
    6: (4, 3, 3, "potential", "B", "Z"),
    7: (3, 3, 3, "attention", "B", "Z"),
    8: (3, 2, 2, "about_to_sleep", "C", "Z"),
    9: (3, 4, 4, "loyal", "A", "Z"),
    10: (2, 4, 4, "at_risk", "A", "Z"),
    11: (2, 5, 5, "cant_lose", "A", "Z"),
    12: (2, 1, 1, "hibernating", "C", "Z"),
    13: (1, 3, 3, "at_risk", "B", "Z"),
    14: (1, 2, 2, "hibernating", "C", "Z"),
    15: (1, 4, 4, "at_risk", "B", "Z"),
}
MONTH_AGO = {  # the groups at AT − 30 days
    "rfm:champions": {4}, "rfm:loyal": {1}, "rfm:potential": {7, 8}, "rfm:new": set(),
    "rfm:promising": set(), "rfm:attention": {9, 10}, "rfm:about_to_sleep": {6},
    "rfm:at_risk": {11, 13, 15}, "rfm:cant_lose": set(), "rfm:hibernating": {3, 12, 14},
    "rfm:lost": {16},
    "abc:A": {1, 4, 9, 10, 11}, "abc:B": {6, 7, 13, 15}, "abc:C": {3, 8, 12, 14},
    "xyz:X": set(), "xyz:Y": set(), "xyz:Z": {1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
}


def admin_settings(url: str, **program) -> Settings:  # type: ignore[no-untyped-def]
    return owner_settings(url, program=program)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return admin_settings(db_url)


async def fill(app) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """The shop above; returns the database id of each customer of the table."""
    ids: dict[int, int] = {}
    async with app.core.unit_of_work() as uow:
        session = uow.session
        outlet = Outlet(name="Corner", created_at=AT - 500 * DAY)
        session.add(outlet)
        for n in range(1, 19):
            days, amount = PURCHASES.get(n, ([], 0))
            counted = len(days)
            customer = Customer(
                card_number=f"4000{n:08d}", consent_at=AT - 500 * DAY, created_at=AT - 500 * DAY,
                registered_at=None if n == 18 else AT - 450 * DAY, birth_month=BIRTH_MONTHS.get(n),
                source=SOURCES.get(n), purchase_count=counted,
                total_spent=counted * amount * 100 - (500_00 if n == 11 else 0))
            session.add(customer)
            await session.flush()
            ids[n] = customer.id
        receipt = 0
        for n, (days, amount) in PURCHASES.items():
            for ago in days:
                receipt += 1
                refunded = 500_00 if (n, ago) == (11, 300) else 0
                session.add(purchase(outlet.id, receipt, ids[n], AT - ago * DAY, amount * 100,
                                     refunded))
        session.add(purchase(outlet.id, 999, ids[14], AT - DAY / 2, 999_00, 999_00))
        for n in TELEGRAM:
            session.add(identity("telegram", n, ids[n]))
        for n in WEB:
            session.add(identity("web", n, ids[n]))
        await uow.commit()
    return ids


def purchase(outlet: int, receipt: int, customer: int, at: datetime, amount: int,
             refunded: int) -> Purchase:
    return Purchase(outlet_id=outlet, receipt_id=f"r{receipt}", customer_id=customer,
                    amount=amount, points_spent=0, points_earned=0, refunded_amount=refunded,
                    balance_after=0, request_hash="x", source="pos", occurred_at=at, created_at=at)


def identity(channel: str, n: int, customer: int) -> Identity:
    return Identity(channel=channel, external_id=f"c{n}", customer_id=customer,
                    created_at=AT - 450 * DAY, last_seen_at=AT - DAY)


@pytest.fixture
async def shop(any_db_url, clock):  # type: ignore[no-untyped-def]
    """(app, ids): the shop above, on SQLite and on PostgreSQL."""
    app = await build(admin_settings(any_db_url), clock)
    try:
        yield app, await fill(app)
    finally:
        await app.close()


async def ids_in(app, code: str, at: datetime = AT,  # type: ignore[no-untyped-def]
                 settings: Settings | None = None) -> set[int]:
    """The members of a segment, picked through ``Customer.id.in_(members(...))``."""
    async with app.core.unit_of_work() as uow:
        stmt = await members(uow, code, at, settings or app.core.services.settings)
        rows = await uow.session.execute(select(Customer.id).where(Customer.id.in_(stmt)))
        return set(rows.scalars())


def table_ids(ids: dict[int, int], numbers) -> set[int]:  # type: ignore[no-untyped-def]
    return {ids[n] for n in numbers}


def test_friends_links_are_read_as_the_referral_handler_writes_them():
    from bot.handlers import referral

    assert REFERRAL_PREFIX == referral.REFERRAL_PREFIX


def test_the_rfm_map_covers_every_cell_once():
    cells = [(r, f) for r, f, _ in rfm_cells()]
    assert sorted(cells) == [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert {group for group, _, _ in RFM_MAP} == {
        "champions", "loyal", "potential", "new", "promising", "attention", "about_to_sleep",
        "at_risk", "cant_lose", "hibernating"}


def test_the_xyz_months_split_the_year_evenly():
    assert MONTH * 12 == 365 * DAY
    # the dataset's customer 4 buys in each of them (the table's premise)
    days, _ = PURCHASES[4]
    months = sorted({int(ago * DAY / MONTH) for ago in days})
    assert months == list(range(12)) and len(days) == 25


async def test_scores_are_the_hand_computed_ones(shop):
    app, ids = shop
    async with app.core.unit_of_work() as uow:
        rows = (await uow.session.execute(scores(AT))).all()
    by_number = dict(ids.items())
    expected = {by_number[n]: score for n, score in SCORES.items()}
    assert {row[0]: tuple(row[1:]) for row in rows} == expected


async def test_members_of_each_scored_segment(shop):
    app, ids = shop
    for group in ("champions", "loyal", "potential", "new", "promising", "attention",
                  "about_to_sleep", "at_risk", "cant_lose", "hibernating"):
        expected = table_ids(ids, [n for n, s in SCORES.items() if s[3] == group])
        assert await ids_in(app, f"rfm:{group}") == expected, group
    assert await ids_in(app, "rfm:lost") == table_ids(ids, [16])
    assert await ids_in(app, "abc:A") == table_ids(ids, [1, 4, 9, 10, 11])
    assert await ids_in(app, "abc:B") == table_ids(ids, [6, 7, 13, 15])
    assert await ids_in(app, "abc:C") == table_ids(ids, [2, 3, 5, 8, 12, 14])
    assert await ids_in(app, "xyz:X") == table_ids(ids, [1])
    assert await ids_in(app, "xyz:Y") == table_ids(ids, [4])
    assert await ids_in(app, "xyz:Z") == table_ids(ids, set(SCORES) - {1, 4})
    assert await ids_in(app, "abcxyz:AX") == table_ids(ids, [1])
    assert await ids_in(app, "abcxyz:AY") == table_ids(ids, [4])
    assert await ids_in(app, "abcxyz:AZ") == table_ids(ids, [9, 10, 11])
    assert await ids_in(app, "abcxyz:BX") == set()


async def test_a_month_ago(shop):
    app, ids = shop
    month_ago = AT - 30 * DAY
    for code, numbers in MONTH_AGO.items():
        assert await ids_in(app, code, month_ago) == table_ids(ids, numbers), code
    async with app.core.unit_of_work() as uow:
        counts = await scored_counts(uow, month_ago)
    assert {code: counts[code] for code in MONTH_AGO} == {
        code: len(numbers) for code, numbers in MONTH_AGO.items()}
    assert (counts["abcxyz:AZ"], counts["abcxyz:BZ"], counts["abcxyz:CZ"]) == (5, 4, 4)


async def test_the_simple_segments(shop):
    app, ids = shop
    everyone = table_ids(ids, range(1, 18))
    assert await ids_in(app, "all") == everyone
    assert await ids_in(app, "tier:platinum") == table_ids(ids, [1, 4])
    assert await ids_in(app, "tier:gold") == table_ids(ids, [11])
    assert await ids_in(app, "tier:member") == table_ids(ids, [17])
    assert await ids_in(app, "tier:silver") == everyone - table_ids(ids, [1, 4, 11, 17])
    assert await ids_in(app, "lapsed:never") == table_ids(ids, [17])
    assert await ids_in(app, "lapsed:0-30") == table_ids(ids, [1, 2, 3, 4, 5, 6])
    assert await ids_in(app, "lapsed:31-60") == table_ids(ids, [7, 8, 9])
    assert await ids_in(app, "lapsed:61-90") == set()
    assert await ids_in(app, "lapsed:91-180") == table_ids(ids, [10, 11, 12])
    assert await ids_in(app, "lapsed:181+") == table_ids(ids, [13, 14, 15, 16])
    assert await ids_in(app, "birthday:6") == table_ids(ids, [1, 2, 17])
    assert await ids_in(app, "birthday:7") == table_ids(ids, [5])
    assert await ids_in(app, "channel:telegram") == table_ids(ids, range(1, 11))
    assert await ids_in(app, "channel:web") == table_ids(ids, WEB)
    assert await ids_in(app, "channel:viber") == set()
    assert await ids_in(app, "source:ref-") == table_ids(ids, [1, 2])
    assert await ids_in(app, "source:flyer") == table_ids(ids, [3, 4, 5])
    assert await ids_in(app, "source:") == everyone - table_ids(ids, [1, 2, 3, 4, 5, 6, 7])
    long_code = source_code(LONG_SOURCE)
    assert long_code.startswith("source:#") and len(long_code) <= 40
    assert await ids_in(app, long_code) == table_ids(ids, [7])
    assert await ids_in(app, "source:#000000000000") == set()
    # the edge of a bucket: 31 days after customer 7's last purchase, and a second before
    assert ids[7] in await ids_in(app, "lapsed:31-60", AT - 9 * DAY)
    assert ids[7] in await ids_in(app, "lapsed:0-30", AT - 9 * DAY - timedelta(seconds=1))


async def test_the_catalog_counts_what_members_picks(shop):
    app, _ids = shop
    settings = app.core.services.settings
    async with app.core.unit_of_work() as uow:
        listed = await catalog(uow, AT, settings)
    counts = {segment.code: count for segment, count in listed}
    assert len(counts) == len(listed), "codes are unique"
    assert all(len(code.encode()) <= 40 for code in counts)
    assert [code for code in counts if code.startswith(("all", "tier", "lapsed", "birthday",
                                                        "channel", "source"))] == [
        "all", "tier:member", "tier:silver", "tier:gold", "tier:platinum", "lapsed:never",
        "lapsed:0-30", "lapsed:31-60", "lapsed:61-90", "lapsed:91-180", "lapsed:181+",
        "birthday:6", "birthday:7", "channel:telegram", "channel:web", "source:",
        "source:flyer", "source:ref-", "source:import", source_code(LONG_SOURCE)]
    assert counts["all"] == 17 and counts["rfm:champions"] == 1 and counts["rfm:lost"] == 1
    assert (counts["abc:A"], counts["abc:B"], counts["abc:C"]) == (5, 4, 6)
    assert (counts["xyz:X"], counts["xyz:Y"], counts["xyz:Z"]) == (1, 1, 13)
    for segment, count in listed:
        assert isinstance(segment, Segment) and segment.title
        assert len(await ids_in(app, segment.code)) == count, segment.code


async def test_tiers_in_sql_agree_with_the_python_rule(shop):
    app, ids = shop
    for program in ({}, {"tier_basis": "spend", "tiers": [
            {"code": "silver", "min_purchases": 0, "min_spend": 1000, "cashback_percent": 3,
             "spend_share_percent": 25},
            {"code": "gold", "min_purchases": 0, "min_spend": 9500, "cashback_percent": 5,
             "spend_share_percent": 50}]}):
        settings = admin_settings("sqlite://", **program)
        async with app.core.unit_of_work() as uow:
            people = (await uow.session.execute(select(
                Customer.id, Customer.purchase_count, Customer.total_spent)
                .where(Customer.registered_at.is_not(None)))).all()
        expected: dict[str, set[int]] = {}
        for customer_id, purchases, spent in people:
            tier = current_tier(purchases, settings.program, spent)
            expected.setdefault(tier.code if tier else "member", set()).add(customer_id)
        for code in ["member", *(tier.code for tier in settings.program.tiers)]:
            picked = await ids_in(app, f"tier:{code}", settings=settings)
            assert picked == expected.get(code, set()), code
    assert expected["gold"] == table_ids(ids, [1, 4, 11])  # 12,000, 20,000 and 9,500 exactly


async def test_unknown_codes_raise_key_error(shop):
    app, _ = shop
    async with app.core.unit_of_work() as uow:
        for code in ("", "everyone", "tier:diamond", "lapsed:1-2", "birthday:13", "birthday:x",
                     "channel:", "rfm:sleepy", "abc:D", "xyz:", "abcxyz:XA", "source"):
            with pytest.raises(KeyError):
                await members(uow, code, AT, app.core.services.settings)


async def test_an_empty_shop(app):
    async with app.core.unit_of_work() as uow:
        listed = await catalog(uow, AT, app.core.services.settings)
        assert (await uow.session.execute(select(func.count()).select_from(
            (await members(uow, "rfm:champions", AT, app.core.services.settings)).subquery()))
        ).scalar_one() == 0
    assert all(count == 0 for _, count in listed)


async def test_anyone_else_is_refused(app, chat):
    ivan = chat("42")
    await ivan.sign_up()
    refusal = "Извините, это может сделать только администратор."
    assert text_of(await ivan.send("/segments")) == refusal
