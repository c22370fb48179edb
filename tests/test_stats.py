"""The owner's /stats: the formulas on the spec's examples, the SQL figures on a small
hand-made shop with exact numbers (SQLite and PostgreSQL), and the chat: an admin gets the
text and two PNG charts rendered off the event loop; anyone else is refused."""

from __future__ import annotations

import struct
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.console import charts
from bot.console.stats import Cohort, Week, crc, crr, gather, retention_spend
from bot.core.replies import Picture, Text
from bot.storage import day_book
from bot.storage.models import (
    Customer,
    OutboxMessage,
    Outlet,
    PointLot,
    PointOperation,
    Purchase,
    TriggerSend,
)
from bot.storage.uow import UnitOfWork
from tests.chat import OWNER, owner_settings, text_of

MOSCOW = ZoneInfo("Europe/Moscow")
DAY = timedelta(days=1)
START = datetime(2026, 3, 1, tzinfo=MOSCOW)  # the period: March 2026 in the shop's time zone
END = datetime(2026, 4, 1, tzinfo=MOSCOW)
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
MARCH_1, MARCH_31 = date(2026, 3, 1), date(2026, 3, 31)
SPEND = {"2026-02": 5000, "2026-03": 13000}


def at(day: str) -> datetime:
    return datetime.fromisoformat(day + "T12:00:00+00:00")


# --- the formulas ------------------------------------------------------------------------

def test_retention_rate_of_the_spec_example():
    # 90 at the start, 40 left, 25 new: 75 at the end
    assert crr(at_start=90, at_end=75, new=25) == Decimal("55.6")
    assert crr(at_start=0, at_end=10, new=10) is None
    assert crr(at_start=4, at_end=5, new=2) == Decimal("75.0")


def test_cost_of_retention_of_the_spec_example():
    per_customer = crc(130_000_00, 300)  # minor units
    assert per_customer == 433_33
    assert (Decimal(per_customer) / 100).quantize(Decimal("0.1")) == Decimal("433.3")
    assert crc(100_00, 0) is None


def test_retention_spend_covers_the_share_of_each_month_in_the_period():
    assert retention_spend(SPEND, START, END, MOSCOW) == 13_000_00
    # the last 14 days of February (28 days) and the first 14 of March (31 days)
    half = retention_spend(SPEND, datetime(2026, 2, 15, tzinfo=MOSCOW),
                           datetime(2026, 3, 15, tzinfo=MOSCOW), MOSCOW)
    assert half == round(5000_00 * 14 / 28 + 13000_00 * 14 / 31)
    assert retention_spend({}, START, END, MOSCOW) == 0


# --- a small shop with exact figures -----------------------------------------------------

class Shop:
    def __init__(self, session, outlet_id: int) -> None:  # type: ignore[no-untyped-def]
        self.session, self.outlet_id, self.n = session, outlet_id, 0

    async def customer(self, registered: str | None, spent: int = 0) -> int:
        self.n += 1
        moment = at(registered) if registered else at("2025-08-01")
        customer = Customer(card_number=f"4000{self.n:08d}", consent_at=moment,
                            registered_at=at(registered) if registered else None,
                            total_spent=spent, created_at=moment)
        self.session.add(customer)
        await self.session.flush()
        return customer.id

    def buy(self, customer_id: int | None, when: datetime, amount: int, refunded: int = 0) -> None:
        self.n += 1
        self.session.add(Purchase(
            outlet_id=self.outlet_id, receipt_id=f"r{self.n}", customer_id=customer_id,
            amount=amount, points_spent=0, points_earned=0, refunded_amount=refunded,
            balance_after=0, request_hash="x", source="pos", occurred_at=when, created_at=when))

    async def points(self, customer_id: int, when: datetime, amount: int, kind: str,
                     reason: str = "purchase") -> int:
        operation = PointOperation(customer_id=customer_id, kind=kind, reason=reason,
                                   amount=amount, created_at=when)
        self.session.add(operation)
        await self.session.flush()
        return operation.id

    def lot(self, customer_id: int, operation_id: int, remaining: int, expires: str,
            available: str = "2026-01-01") -> None:
        self.session.add(PointLot(customer_id=customer_id, operation_id=operation_id,
                                  reason="purchase", amount=max(remaining, 1000),
                                  remaining=remaining, created_at=at("2025-12-01"),
                                  available_at=at(available), expires_at=at(expires)))


async def fill(session) -> None:  # type: ignore[no-untyped-def]
    """Members: A B C D F G L M (K joins after the period); see the expected figures below."""
    outlet = Outlet(name="Corner", created_at=at("2025-01-01"))
    session.add(outlet)
    await session.flush()
    shop = Shop(session, outlet.id)
    a = await shop.customer("2025-11-10", 1400_00)
    shop.buy(a, at("2025-12-15"), 1000_00)
    shop.buy(a, at("2026-03-05"), 500_00, refunded=100_00)  # 400.00 net
    b = await shop.customer("2025-10-01", 350_00)
    shop.buy(b, at("2025-12-20"), 300_00)
    shop.buy(b, START, 50_00)  # the first moment of the period: in it
    c = await shop.customer("2026-03-10", 500_00)
    shop.buy(c, at("2026-03-10"), 200_00)
    shop.buy(c, at("2026-03-20"), 300_00)
    d = await shop.customer("2026-03-15")
    shop.buy(d, at("2026-03-16"), 800_00, refunded=800_00)  # refunded in full: no purchase
    f = await shop.customer("2026-01-05", 320_00)
    shop.buy(f, at("2026-01-10"), 250_00)
    shop.buy(f, END, 70_00)  # the end is not in the period
    g = await shop.customer("2026-02-01")
    ell = await shop.customer("2025-09-01", 400_00)
    shop.buy(ell, at("2025-12-01"), 400_00)
    m = await shop.customer("2026-02-10", 120_00)
    shop.buy(m, at("2026-03-12"), 120_00)
    k = await shop.customer("2026-04-05", 600_00)
    shop.buy(k, at("2026-04-06"), 600_00)
    await shop.customer(None)  # never finished signing up: not a member
    shop.buy(None, at("2026-03-25"), 150_00)  # an erased customer's receipt
    # points
    # (the lots hold what the operations left: the ledger's invariant)
    old = await shop.points(a, at("2025-12-15"), 100, "earn")
    shop.lot(a, old, remaining=70, expires="2026-12-01")
    await shop.points(a, at("2026-03-05"), -30, "spend")
    newer = await shop.points(a, at("2026-03-05"), 25, "earn")
    shop.lot(a, newer, remaining=25, expires="2027-03-05")
    welcome = await shop.points(c, at("2026-03-10"), 100, "earn", "welcome")
    shop.lot(c, welcome, remaining=60, expires="2026-04-10")  # burnt by now
    await shop.points(c, at("2026-03-25"), -40, "expire", "expiry")
    await shop.points(d, at("2026-03-16"), 80, "earn")
    await shop.points(d, at("2026-03-17"), -80, "spend", "refund")
    shop.lot(f, await shop.points(f, END, 10, "earn"), remaining=10, expires="2027-04-01")  # after
    shop.lot(g, await shop.points(g, at("2026-03-20"), 15, "adjust", "manual"), remaining=15,
             expires="2027-03-20")
    shop.lot(ell, await shop.points(ell, at("2025-12-01"), 5, "earn"), remaining=0,
             expires="2026-12-01")
    await shop.points(ell, at("2026-03-21"), -5, "adjust", "manual")
    later = await shop.points(k, at("2026-04-06"), 230, "earn")
    shop.lot(k, later, remaining=200, expires="2027-04-06")
    shop.lot(k, later, remaining=30, expires="2027-04-06", available="2026-05-01")  # pending
    # a win-back sent to A (who came back) and held out from B (who did not)
    message = OutboxMessage(channel="telegram", external_id="a", category="marketing",
                            payload=[], status="sent", attempts=1, not_before=at("2026-03-02"),
                            created_at=at("2026-03-02"))
    session.add(message)
    await session.flush()
    session.add(TriggerSend(customer_id=a, trigger="win_back_30", episode="e", held_out=False,
                            outbox_message_id=message.id, created_at=at("2026-03-02")))
    session.add(TriggerSend(customer_id=b, trigger="win_back_30", episode="e", held_out=True,
                            created_at=at("2026-03-02")))


async def filled(sessions) -> None:  # type: ignore[no-untyped-def]
    """The shop above, and the day book built from it (no book yet while it is written)."""
    async with UnitOfWork(sessions) as uow:
        await fill(uow.session)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        await day_book.rebuild(uow.session, MOSCOW, NOW)
        await uow.commit()


END_UTC = END.astimezone(UTC)
WEEKS = (250_00, 0, 0, 0, 0, 0, 0, 50_00, 600_00, 120_00, 300_00, 150_00)
WEEK_BUYERS = (1, 0, 0, 0, 0, 0, 0, 1, 2, 1, 1, 0)
COHORTS = {  # registration month: members, revenue to date, who bought in month 0, 1, …
    (2025, 9): (1, 400_00, (0, 0, 0, 1, 0, 0, 0)),
    (2025, 10): (1, 350_00, (0, 0, 1, 0, 0, 1)),
    (2025, 11): (1, 1400_00, (0, 1, 0, 0, 1)),
    (2025, 12): (0, 0, (0, 0, 0, 0)),
    (2026, 1): (1, 320_00, (1, 0, 0)),
    (2026, 2): (2, 120_00, (0, 1)),
    (2026, 3): (2, 500_00, (1,)),
}


async def test_the_figures_are_exact_on_each_database(sessions):
    await filled(sessions)
    async with UnitOfWork(sessions) as uow:
        stats = await gather(uow, MARCH_1, MARCH_31, NOW, MOSCOW, 90, SPEND)
    assert (stats.members, stats.new_members) == (8, 2)  # A B C D F G L M; new: C D
    assert (stats.active_30, stats.active_90) == (3, 5)  # A C M; and B F
    assert (stats.purchases, stats.revenue, stats.average_check) == (6, 1220_00, 203_33)
    assert (stats.buyers, stats.repeat_buyers, stats.repeat_rate) == (4, 3, Decimal("75.0"))
    # at the start A B F L; at the end A B C F M: A B F stayed, C M are new, L left
    assert (stats.customers_at_start, stats.customers_at_end, stats.retained) == (4, 5, 3)
    assert (stats.new_customers, stats.crr) == (2, Decimal("75.0"))
    assert (stats.retention_spend, stats.crc) == (13_000_00, 3_250_00)
    assert (stats.lifetime_revenue, stats.ltv) == (3090_00, 386_25)
    assert (stats.points.issued, stats.points.spent, stats.points.expired,
            stats.points.outstanding) == (220, 115, 40, 350)  # C's 60 are past due
    recipients, holdout, sent = stats.triggers
    assert (sent, recipients.size, recipients.came_back, holdout.size, holdout.came_back) == (
        1, 1, 1, 1, 0)
    assert stats.weeks == tuple(
        Week(END_UTC - 7 * DAY * (12 - i), revenue, buyers)
        for i, (revenue, buyers) in enumerate(zip(WEEKS, WEEK_BUYERS, strict=True)))
    assert len(stats.cohorts) == 12
    assert [c.month.isoformat() for c in stats.cohorts][:2] == ["2025-04-01", "2025-05-01"]
    for cohort in stats.cohorts:
        members, revenue, buying = COHORTS.get((cohort.month.year, cohort.month.month),
                                               (0, 0, None))
        expected = buying or (0,) * (12 - stats.cohorts.index(cohort))
        assert cohort == Cohort(cohort.month, members, revenue, expected), cohort.month
    assert stats.cohorts[-1].ltv == 250_00


async def test_a_period_of_days_ending_now(sessions):
    await filled(sessions)
    async with UnitOfWork(sessions) as uow:  # 31 March to 20 April: F's and K's receipts
        stats = await gather(uow, MARCH_31, NOW.date(), NOW, MOSCOW, 90, SPEND)
    assert (stats.members, stats.new_members, stats.purchases, stats.revenue) == (9, 1, 2, 670_00)
    assert (stats.buyers, stats.repeat_buyers) == (2, 1)  # F bought in January as well
    # the whole of 31 March (24 of its 744 hours) is in the period: that share of its spend
    assert (stats.retention_spend, stats.crc) == (41_935, 20_968)


# --- the chat ----------------------------------------------------------------------------

@pytest.fixture
def settings(db_url: str) -> Settings:
    return owner_settings(db_url, console={"retention_spend": SPEND})


@pytest.fixture
async def shop(app, clock) -> None:  # type: ignore[no-untyped-def]
    await filled(app.core.sessions)
    clock.set(NOW)


def png_size(image: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (signature, then the IHDR chunk)."""
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert image[12:16] == b"IHDR"
    width, height = struct.unpack(">II", image[16:24])
    return width, height


async def test_an_admin_gets_the_figures_and_two_charts(app, chat, shop, monkeypatch):
    threads: list[tuple[str, bool]] = []
    for name in ("weekly_png", "cohort_png"):
        render = getattr(charts, name)

        def spy(*args, _render=render, _name=name):  # type: ignore[no-untyped-def]
            threads.append((_name, threading.current_thread() is threading.main_thread()))
            return _render(*args)

        monkeypatch.setattr(charts, name, spy)
    replies = await chat(OWNER).send("/stats 2026-03")
    assert [type(reply) for reply in replies] == [Text, Picture, Picture]
    text = text_of(replies[:1])
    assert "📊 Показатели за март 2026" in text
    assert "Участников: 8, новых за период: 2" in text
    assert "Активных (покупали за 30 дней): 3, за 90 дней: 5" in text
    assert "Покупок: 6 на 1 220,00 ₽ (за вычетом возвратов), средний чек 203,33 ₽" in text
    assert "Повторные покупки: 75 % из 4 покупателей купили хотя бы дважды" in text
    assert ("Удержание (CRR): 75 %; клиентов в начале 4, в конце 5, из них новых 2 (клиент — тот, "
            "кто покупал за 90 дней)") in text
    assert ("Стоимость удержания (CRC): 3 250,00 ₽ на покупателя (13 000,00 ₽ на удержание / 4 "
            "покупателя)") in text
    assert "(LTV): 386,25 ₽ на участника" in text
    assert "март 2026 — 250,00 ₽ (2)" in text
    assert ("Баллы: начислено 220, списано 115, сгорело 40; остаток сейчас 350 "
            "(обязательство 350,00 ₽)") in text
    assert "Триггеры: отправлено 1, вернулись 1 из 1 (100 %), контрольная группа 0 %" in text
    weekly, cohorts = replies[1], replies[2]
    assert png_size(weekly.image) == charts.WEEKLY_SIZE
    assert png_size(cohorts.image) == charts.COHORT_SIZE
    assert weekly.caption and cohorts.caption
    assert threads == [("weekly_png", False), ("cohort_png", False)]  # not on the loop's thread


async def test_the_default_period_and_days(app, chat, shop):
    owner = chat(OWNER)
    text = text_of(await owner.send("/stats"))
    assert "📊 За последние 30 дней (22 марта 2026 г. – 20 апреля 2026 г.)" in text
    assert "Покупок: 3 на 820,00 ₽" in text
    assert "Триггеры: не срабатывали за период" in text
    assert "За последние 90 дней" in text_of(await owner.send("/stats 90"))
    assert "📊 За последний 1 день (20 апреля 2026 г. – 20 апреля 2026 г.)" in text_of(
        await owner.send("/stats 1"))
    assert "📊 За последние 2 дня" in text_of(await owner.send("/stats 2"))
    assert "📊 Показатели за апрель 2026 (пока)" in text_of(await owner.send("/stats 2026-04"))


@pytest.mark.parametrize("typed", ["/stats lots", "/stats 0", "/stats 367", "/stats 2026-13",
                                   "/stats 2026-05", "/stats 03.2026", "/stats ²", "/stats 0000-01",
                                   "/stats 9999-12"])
async def test_a_bad_period_gets_a_hint(app, chat, shop, typed):
    replies = await chat(OWNER).send(typed)
    assert len(replies) == 1
    assert text_of(replies) == ("Отправьте /stats — за последние 30 дней, /stats <дни> (от 1 до "
                                "366) или /stats <месяц>, например /stats 2026-04, за уже "
                                "начавшийся месяц.")


async def test_anyone_else_is_refused_and_nothing_happens(app, chat, shop, monkeypatch):
    def no_rendering(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("rendered for a customer")

    monkeypatch.setattr(charts, "weekly_png", no_rendering)
    ivan = chat("42")
    await ivan.sign_up()
    replies = await ivan.send("/stats")
    assert replies == [Text("Извините, это может сделать только администратор.")]


# --- what the charts show, and when there is nothing to draw ------------------------------

def no_rendering(*args):  # type: ignore[no-untyped-def]
    raise AssertionError("an empty chart was drawn")


@pytest.mark.parametrize(("language", "sentence"), [
    ("ru", ("Графиков нет: за 12 недель по 2 марта 2026 г. никто ничего не купил, рисовать "
            "нечего. Они появятся здесь, как только участники начнут покупать.")),
    ("en", ("No charts: nobody bought in the 12 weeks up to March 2, 2026, so there is nothing "
            "to draw. They appear here once members buy.")),
])
async def test_an_empty_shop_gets_a_sentence_instead_of_empty_charts(app, chat, monkeypatch,
                                                                     language, sentence):
    monkeypatch.setattr(charts, "weekly_png", no_rendering)
    monkeypatch.setattr(charts, "cohort_png", no_rendering)
    replies = await chat(OWNER, language=language).send("/stats")
    assert [type(reply) for reply in replies] == [Text, Text]
    assert text_of(replies[1:]) == sentence


async def test_a_chart_with_nothing_on_it_is_a_sentence_and_the_other_is_drawn(app, chat, monkeypatch):
    """A member of long ago bought last week: the week is drawn, while nobody who joined in
    the last 12 months has bought, so there is no cohort chart."""
    async with UnitOfWork(app.core.sessions) as uow:
        outlet = Outlet(name="Corner", created_at=at("2024-01-01"))
        uow.session.add(outlet)
        await uow.session.flush()
        shop = Shop(uow.session, outlet.id)
        shop.buy(await shop.customer("2024-05-01", 300_00), at("2026-02-25"), 300_00)
        await uow.commit()
    async with UnitOfWork(app.core.sessions) as uow:
        await day_book.rebuild(uow.session, MOSCOW, at("2026-03-02"))
        await uow.commit()
    monkeypatch.setattr(charts, "cohort_png", no_rendering)
    replies = await chat(OWNER).send("/stats")
    assert [type(reply) for reply in replies] == [Text, Picture, Text]
    assert "по неделям" in replies[1].caption
    assert text_of(replies[2:]) == ("Графика по когортам нет: никто из участников, вступивших "
                                    "за 12 месяцев по 2 марта 2026 г., не покупал.")


@pytest.mark.parametrize(("language", "note"), [
    ("ru", "Заштрихован апрель — текущий месяц, он ещё не закончился."),
    ("en", "Hatched: April, the current month, not over yet."),
])
async def test_the_month_still_running_is_marked_partial_on_the_cohort_chart(
        app, chat, shop, monkeypatch, language, note):
    partial: list[bool] = []
    render = charts.cohort_png

    def spy(cohorts, t, marked):  # type: ignore[no-untyped-def]
        partial.append(marked)
        return render(cohorts, t, marked)

    monkeypatch.setattr(charts, "cohort_png", spy)
    owner = chat(OWNER, language=language)
    this_month = (await owner.send("/stats"))[2]  # the last 30 days, up to 20 April
    assert isinstance(this_month, Picture) and this_month.caption.endswith("\n" + note)
    march = (await owner.send("/stats 2026-03"))[2]  # over by now
    assert isinstance(march, Picture) and note not in march.caption
    assert partial == [True, False]


@pytest.mark.parametrize(("locale", "label"), [("ru", "текущий месяц, неполный"),
                                               ("en", "current month, partial")])
def test_the_cohort_chart_hatches_each_rows_current_month_with_a_legend(locale, label):
    from bot.core.i18n import I18n

    t = I18n(["ru", "en"], "ru").translator(locale)
    months = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    cohorts = [Cohort(months[0], 4, 0, (1, 2, 1)), Cohort(months[1], 0, 0, (0, 0)),
               Cohort(months[2], 2, 0, (1,))]

    def hatched(figure) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
        return [(patch.get_x() + 0.5, patch.get_y() + 0.5) for patch in figure.axes[0].patches
                if patch.get_hatch()]

    marked = charts.cohort_figure(cohorts, t, partial=True)
    assert hatched(marked) == [(2, 0), (0, 2)]  # March of January's row and of March's own
    assert [text.get_text() for text in marked.axes[0].get_legend().get_texts()] == [label]
    plain = charts.cohort_figure(cohorts, t, partial=False)
    assert hatched(plain) == [] and plain.axes[0].get_legend() is None
