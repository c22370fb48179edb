"""The nightly snapshot of the scored segments and the /segments screens built on it, on the
hand-computed shop of tests/test_segments.py.

The snapshot must score exactly as the live definitions do (both ways of writing it, on
SQLite and PostgreSQL), keep the history, and count who moved between two snapshots. The
second day's move, by hand: customer 12 (hibernating, one purchase 120 days back) buys
again a day after AT. Recency ranks then put 12 at the top and push 3, 6 and 9 one
quintile down (R1 {15, 14, 13}, R2 {11, 10, 9}, R3 {8, 7, 6}, R4 {5, 4, 3}, R5 {2, 1, 12}),
and with two purchases 12 trades its F1 place with 3 (F1 {2, 5, 3}, F2 {8, 12, 14}), so:
3 potential → promising, 6 potential → attention, 9 loyal → at risk, 12 hibernating →
potential; everyone else stays, and ABC × XYZ does not change (12's revenue, 400, is still
C; customer 1 and 4 still buy in each of the twelve months, a day later).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.core.replies import Picture, Text
from bot.marketing import broadcasts, segment_snapshot
from bot.marketing.segment_snapshot import take_in, take_nightly
from bot.marketing.segments import catalog, scored_counts, scores
from bot.storage.models import Outlet, SegmentCount, SegmentScore, SegmentSnapshot
from tests.chat import OWNER, payloads_of, text_of
from tests.test_segments import (  # noqa: F401  (fixtures: the hand-computed shop, its admin)
    AT,
    DAY,
    SCORES,
    fill,
    ids_in,
    purchase,
    settings,
    shop,
)

NEXT_DAY = AT + DAY
MOVES = {  # the second day's: code → (came in, left)
    "rfm:potential": (1, 2), "rfm:promising": (1, 0), "rfm:attention": (1, 0),
    "rfm:loyal": (0, 1), "rfm:at_risk": (1, 0), "rfm:hibernating": (0, 1),
}


async def buy_again(app, ids: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Customer 12 buys for 200 an hour before the next day's moment."""
    async with app.core.unit_of_work() as uow:
        outlet = (await uow.session.execute(select(Outlet.id).where(Outlet.name == "Corner"))
                  ).scalar_one()
        uow.session.add(purchase(outlet, 5000, ids[12], NEXT_DAY - timedelta(hours=1), 200_00, 0))
        await uow.commit()


async def snapshot_rows(app) -> dict[int, tuple]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        rows = (await uow.session.execute(select(
            SegmentScore.customer_id, SegmentScore.rfm, SegmentScore.abc, SegmentScore.xyz))).all()
    return {row[0]: tuple(row[1:]) for row in rows}


async def snapshot_counts(app) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        newest = await segment_snapshot.latest(uow.session)
        rows = (await uow.session.execute(select(SegmentCount).where(
            SegmentCount.snapshot_id == newest.id))).scalars().all()
    return {row.code: (row.customers, row.moved_in, row.moved_out) for row in rows}


async def live(app, at):  # type: ignore[no-untyped-def]
    """(customer → (rfm, abc, xyz) of everyone who bought, the live counts)."""
    async with app.core.unit_of_work() as uow:
        scored = {row.customer_id: (row.rfm, row.abc, row.xyz)
                  for row in (await uow.session.execute(scores(at))).all()}
        counts = await scored_counts(uow, at)
        listed = {s.code: n for s, n in await catalog(uow, at, app.core.services.settings)}
    return scored, counts, listed


def expected_rows(ids: dict[int, int]) -> dict[int, tuple]:
    rows = {ids[n]: (group, abc, xyz) for n, (_r, _f, _m, group, abc, xyz) in SCORES.items()}
    rows[ids[16]] = ("lost", None, None)
    return rows


# --- the snapshot ------------------------------------------------------------------------

@pytest.mark.parametrize("way", ["nightly job", "in the transaction"])
async def test_a_snapshot_scores_as_the_live_definitions_do(shop, clock, way):
    app, ids = shop
    clock.set(AT)
    if way == "nightly job":
        assert await take_nightly(app.core) is not None
    else:
        async with app.core.unit_of_work() as uow:
            await take_in(uow.session, AT, app.core.services.settings)
            await uow.commit()
    assert await snapshot_rows(app) == expected_rows(ids)
    _scored, counts, listed = await live(app, AT)
    kept = await snapshot_counts(app)
    assert set(listed) <= set(kept), "the snapshot has every segment of the catalog"
    for code, (n, _in, _out) in kept.items():  # and each of its counts is the live one
        assert len(await ids_in(app, code)) == n, code
    assert {code: n for code, (n, _in, _out) in kept.items() if n and code.startswith(
        ("rfm:", "abc:", "xyz:", "abcxyz:"))} == {code: n for code, n in counts.items() if n}
    assert kept["rfm:champions"] == (1, None, None)  # the first one: nothing to compare with
    async with app.core.unit_of_work() as uow:
        [snapshot] = (await uow.session.execute(select(SegmentSnapshot))).scalars().all()
    assert (snapshot.taken_at, snapshot.members, snapshot.completed_at) == (AT, 17, AT)
    assert str(snapshot.day) == "2026-06-01"


async def test_the_next_day_counts_who_moved_and_keeps_the_history(shop, clock):
    app, ids = shop
    clock.set(AT)
    await take_nightly(app.core)
    clock.set(AT + timedelta(hours=3))
    assert await take_nightly(app.core) is None, "one a day"
    await buy_again(app, ids)
    clock.set(NEXT_DAY)
    await take_nightly(app.core)

    scored, _counts, _listed = await live(app, NEXT_DAY)
    assert {n: scored[ids[n]][0] for n in (3, 6, 9, 12)} == {
        3: "promising", 6: "attention", 9: "at_risk", 12: "potential"}  # the premise
    rows = await snapshot_rows(app)
    assert rows == {**scored, ids[16]: ("lost", None, None)}, "only the newest rows are kept"
    kept = await snapshot_counts(app)
    moved = {code: (came, left) for code, (_n, came, left) in kept.items()
             if not code.startswith("lapsed") and (came or left)}
    assert moved == MOVES
    for code, (n, _in, _out) in kept.items():
        assert len(await ids_in(app, code, NEXT_DAY)) == n, code
    async with app.core.unit_of_work() as uow:
        history = (await uow.session.execute(
            select(SegmentSnapshot.day, SegmentCount.customers).join(SegmentCount)
            .where(SegmentCount.code == "rfm:hibernating").order_by(SegmentSnapshot.day))).all()
    assert [(str(day), n) for day, n in history] == [("2026-06-01", 2), ("2026-06-02", 1)]


async def test_an_interrupted_snapshot_is_not_read_and_is_replaced(shop, clock):
    app, _ids = shop
    clock.set(AT)
    async with app.core.unit_of_work() as uow:  # as a job stopped half-way leaves it
        uow.session.add(SegmentSnapshot(day=AT.date(), taken_at=AT - DAY, members=99))
        await uow.commit()
        assert await segment_snapshot.latest(uow.session) is None
    await take_nightly(app.core)
    async with app.core.unit_of_work() as uow:
        members = (await uow.session.execute(select(SegmentSnapshot.members))).scalars().all()
        assert members == [17]
        assert (await uow.session.execute(
            select(func.count()).select_from(SegmentScore))).scalar_one() == 16


# --- /segments in the chat -----------------------------------------------------------------

SUMMARY_RU = """\
👥 Сегменты на 1 июня 2026 г., 15:00
17 участников
🛒 Покупали за 30 дней: 6 (35 %)
🏆 Чемпионы: 1 (5,9 %)
💚 Лояльные: 2 (12 %)
⚠️ В зоне риска: 3 (18 %)
🆘 Нельзя потерять: 1 (5,9 %)
💤 Спящие: 2 (12 %)
❌ Потерянные: 1 (5,9 %)
Подробнее — на кнопках ниже."""

SUMMARY_EN = """\
👥 Segments as of June 1, 2026, 15:00
17 members
🛒 Bought within 30 days: 6 (35%)
🏆 Champions: 1 (5.9%)
💚 Loyal: 2 (12%)
⚠️ At risk: 3 (18%)
🆘 Can't lose them: 1 (5.9%)
💤 Hibernating: 2 (12%)
❌ Lost: 1 (5.9%)
More on the buttons below."""

DETAILS = ["segments:tier", "segments:recency", "segments:birthday", "segments:channel",
           "segments:source", "segments:rfm", "segments:abcxyz"]


@pytest.mark.parametrize(("language", "summary", "caption"), [
    ("ru", SUMMARY_RU, "RFM-группы участников на 1 июня 2026 г., 15:00"),
    ("en", SUMMARY_EN, "RFM groups of the members, as of June 1, 2026, 15:00"),
])
async def test_the_summary_comes_first_then_the_chart(app, chat, clock, language, summary,
                                                      caption):
    await fill(app)
    clock.set(AT)
    replies = await chat(OWNER, language=language).send("/segments")
    first, picture = replies
    assert isinstance(first, Text) and text_of([first]) == summary
    assert [[button.payload for button in row] for row in first.buttons] == [
        DETAILS[0:2], DETAILS[2:4], DETAILS[4:6], DETAILS[6:]]
    assert isinstance(picture, Picture) and picture.image.startswith(b"\x89PNG")
    assert text_of([picture]) == caption
    assert max(len(row) for row in summary.splitlines()) <= 40, "short lines for a phone"


async def test_each_detail_opens_on_a_button_and_leads_back(app, chat, clock):
    await fill(app)
    clock.set(AT)
    owner = chat(OWNER)
    await owner.send("/segments")
    tiers = await owner.press("segments:tier")
    assert text_of(tiers) == ("🏅 Уровни на 1 июня 2026 г., 15:00:\nУчастник: 1 (5,9 %)\n"
                              "Серебро: 13 (76 %)\nЗолото: 1 (5,9 %)\nПлатина: 2 (12 %)")
    assert payloads_of(tiers) == ["segments"]
    assert "◀ Назад" in [button.label for row in tiers[0].buttons for button in row]
    assert text_of(await owner.press("segments")) == SUMMARY_RU
    recency = text_of(await owner.press("segments:recency"))
    assert recency.splitlines()[0] == "🕒 Дней с последней покупки, на 1 июня 2026 г., 15:00:"
    assert "0–30 дн.: 6 (35 %)" in recency and "Больше 180 дн.: 4 (24 %)" in recency
    birthdays = text_of(await owner.press("segments:birthday"))
    assert "Июнь: 3 (18 %)\nИюль: 1 (5,9 %)" in birthdays and "Не указан: 12 (71 %)" in birthdays
    assert "Веб-чат: 6 (35 %)" in text_of(await owner.press("segments:channel"))
    assert "По приглашению друга: 2 (12 %)" in text_of(await owner.press("segments:source"))
    abc = text_of(await owner.press("segments:abcxyz"))
    assert "A: X 1 · Y 1 · Z 3\nB: X 0 · Y 0 · Z 4\nC: X 0 · Y 0 · Z 6" in abc
    rfm = text_of(await owner.press("segments:rfm"))
    assert "😴 Засыпающие: 1 (5,9 %)" in rfm
    assert rfm.splitlines()[-1] == "Переходы между группами — со следующего ночного снимка."
    for payload in DETAILS:
        shown = await owner.press(payload)
        assert payloads_of(shown) == ["segments"], payload
        assert max(len(row) for row in text_of(shown).splitlines()) <= 64, payload


async def test_the_rfm_screen_shows_who_moved_since_the_snapshot_before(app, chat, clock):
    ids = await fill(app)
    clock.set(AT)
    owner = chat(OWNER, language="en")
    await owner.send("/segments")  # the first snapshot, taken on first use
    await buy_again(app, ids)
    clock.set(NEXT_DAY + timedelta(hours=1))
    await take_nightly(app.core)  # the next night's
    rfm = text_of(await owner.press("segments:rfm"))
    assert rfm.splitlines()[:2] == ["📊 RFM groups, as of June 2, 2026, 16:00",
                                    "(share of members)"]
    assert "🌱 Potential loyalists: 1 (5.9%)" in rfm
    assert rfm.split("Moved since June 1, 2026, 15:00:\n")[1].splitlines() == [
        "💚 Loyal: 0 in, 1 out",
        "🌱 Potential loyalists: 1 in, 2 out",
        "🙂 Promising: 1 in, 0 out",
        "👀 Need attention: 1 in, 0 out",
        "⚠️ At risk: 1 in, 0 out",
        "💤 Hibernating: 0 in, 1 out",
    ]
    assert "Nobody moved between groups since June 1, 2026, 15:00." in text_of(
        await owner.press("segments:abcxyz"))
    owner.language = "ru"
    assert "💤 Спящие: пришли 0, ушли 1" in text_of(await owner.press("segments:rfm"))


async def test_the_change_in_30_days_comes_from_the_history(app, chat, clock):
    ids = await fill(app)
    clock.set(AT - 30 * DAY)
    await take_nightly(app.core)  # the figures a month ago (tests/test_segments.py's MONTH_AGO)
    clock.set(AT)
    await take_nightly(app.core)
    rfm = text_of(await chat(OWNER).press("segments:rfm"))
    assert "🏆 Чемпионы: 1 (5,9 %)\n💚 Лояльные: 2 (12 %), +1" in rfm
    assert "💤 Спящие: 2 (12 %), −1" in rfm and "❌ Потерянные: 1 (5,9 %)\n" in rfm
    assert "+/−: изменение с 2 мая 2026 г., 15:00." in rfm
    assert ids


async def test_a_bigger_shop_waits_for_the_job(app, chat, clock, monkeypatch):
    """Scoring a big shop takes minutes: not while the owner waits (nor holding SQLite's one
    connection); the job that runs shortly after the start writes the first snapshot."""
    monkeypatch.setattr(segment_snapshot, "INLINE_MEMBERS", 16)
    await fill(app)
    clock.set(AT)
    owner = chat(OWNER)
    wait = "Сегменты считаются впервые: при таком числе клиентов это займёт несколько минут."
    assert text_of(await owner.send("/segments")).startswith(wait)
    assert text_of(await owner.press("segments:rfm")).startswith(wait)
    await owner.send("/broadcast")
    asked = await owner.send("Скидки!")
    groups = await owner.press(next(p for p in payloads_of(asked) if p.startswith("bc.groups:")))
    assert text_of(groups).startswith("Сегменты считаются впервые") and any(
        p.startswith("bc.groups:") for p in payloads_of(groups)), "with a button to try again"
    await take_nightly(app.core)
    assert text_of(await owner.send("/segments")).startswith(SUMMARY_RU)


async def test_a_new_shop_gets_its_first_snapshot_when_first_asked(app, chat, clock):
    replies = await chat(OWNER).send("/segments")
    assert [type(reply) for reply in replies] == [Text], "no chart while nobody has bought"
    assert text_of(replies).startswith("👥 Сегменты на 2 марта 2026 г., 12:00\n0 участников\n")
    async with app.core.unit_of_work() as uow:
        assert (await segment_snapshot.latest(uow.session)).taken_at == clock.now()


# --- broadcasts pick the snapshot's members ----------------------------------------------------

async def test_a_broadcast_to_a_scored_segment_goes_to_the_snapshots_members(app, chat, clock):
    """Customer 12 is hibernating in the snapshot; after buying again the live scoring puts
    them among the potential loyalists, but the owner picks the segment the screen showed.
    Of the hibernating, only 12 can be reached (14 has no chat)."""
    ids = await fill(app)
    clock.set(AT)
    owner = chat(OWNER)
    await owner.send("/segments")
    await buy_again(app, ids)
    clock.set(NEXT_DAY)  # no nightly job has run since
    await owner.send("/broadcast")
    asked = await owner.send("Возвращайтесь!")
    groups = await owner.press(next(p for p in payloads_of(asked) if p.startswith("bc.groups:")))
    draft = next(p for p in payloads_of(groups) if p.startswith("bc.grp:")).split(":")[1]
    rfm = await owner.press(f"bc.grp:{draft}:rfm")
    assert f"bc.seg:{draft}:rfm:hibernating" in payloads_of(rfm)
    assert "Спящие · 2" in [button.label for row in rfm[0].buttons for button in row]
    chosen = text_of(await owner.press(f"bc.seg:{draft}:rfm:hibernating"))
    assert "Участники — по ночному снимку на 1 июня 2026 г., 15:00 (как в /segments)." in chosen
    assert "Получит 1 клиент" in chosen
    async with app.core.unit_of_work() as uow:
        settings = app.core.services.settings
        assert await broadcasts.audience(uow, "rfm:potential", clock.now(), settings) == 2
        live = await live_members(uow, "rfm:hibernating", clock.now(), settings)
    assert live == {ids[14]}, "live, 12 has left"


async def live_members(uow, code, at, settings) -> set[int]:  # type: ignore[no-untyped-def]
    from bot.marketing import segments

    stmt = await segments.members(uow, code, at, settings)
    return set((await uow.session.execute(stmt)).scalars())
