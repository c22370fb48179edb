"""The trigger pass, moving the clock, not the wall: win-back 30/60/91, birthday −3 (29
February, New Year), expiry −10, once per episode, quiet hours, cap, opt-outs, holdout,
preview and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot import cli
from bot.cli import run_triggers as run_command
from bot.core.clock import FrozenClock
from bot.loyalty.ledger import Ledger
from bot.marketing.triggers import ORDER, run_pass
from bot.storage.models import Customer, Identity, OutboxMessage, Outlet, PointLot, Purchase, TriggerSend
from bot.storage.session import COUNTED
from tests.test_cashier_chat import Outbox, outbox  # noqa: F401 - outbox is a fixture

MORNING = timedelta(hours=8, minutes=5)  # 11:05 in Moscow: outside quiet hours


@pytest.fixture(autouse=True)
def only(settings):  # type: ignore[no-untyped-def]
    """No holdout; each test switches on the triggers it is about."""
    settings.triggers.holdout_percent = 0

    def enable(*names: str) -> None:
        for name in ORDER:
            getattr(settings.triggers, name).enabled = name in names

    return enable


def day(d: str) -> datetime:
    """A date at 11:05 Moscow time (08:05 UTC)."""
    return datetime.fromisoformat(d).replace(tzinfo=UTC) + MORNING


async def customer_id(app) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(Customer.id).order_by(Customer.id))).scalars().first()


async def buy(app, at: datetime, receipt: str = "r1", customer: int | None = None) -> None:  # type: ignore[no-untyped-def]
    customer = customer or await customer_id(app)
    async with app.core.unit_of_work() as uow:
        outlet = (await uow.session.execute(select(Outlet))).scalars().first()
        if outlet is None:
            outlet = Outlet(name="Main", created_at=at)
            uow.session.add(outlet)
            await uow.session.flush()
        uow.session.add(Purchase(
            outlet_id=outlet.id, receipt_id=receipt, customer_id=customer,
            amount=100_00, points_spent=0, points_earned=0, balance_after=0, request_hash="x",
            source="pos", occurred_at=at, created_at=at))
        await uow.commit()


async def sends(app) -> list[TriggerSend]:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return list((await uow.session.execute(select(TriggerSend).order_by(TriggerSend.id))).scalars())


async def count(app, what) -> int:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        return (await uow.session.execute(select(func.count()).select_from(what))).scalar_one()


async def signed_up(chat, birthday: str | None = "14.03.1990"):  # type: ignore[no-untyped-def]
    ivan = chat("42")
    await ivan.sign_up(birthday=birthday)
    return ivan


async def test_win_back_day_31_61_91(app, chat, clock, only, outbox: Outbox):
    only("win_back_30", "win_back_60", "win_back_90")
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    assert await run_pass(app.core, day("2026-04-01")) == []  # day 30
    [reminder] = await run_pass(app.core, day("2026-04-02"))  # day 31
    assert (reminder.trigger, reminder.episode, reminder.points) == ("win_back_30", "2026-03-02", 0)
    clock.set(day("2026-04-02"))
    await app.outbox.send_due()
    assert "мы скучаем" in outbox.to("42")[-1] and "100 баллов" in outbox.to("42")[-1]
    assert await run_pass(app.core, day("2026-05-01")) == []  # day 60
    [gift] = await run_pass(app.core, day("2026-05-02"))  # day 61
    assert (gift.trigger, gift.points, gift.action) == ("win_back_60", 300, "gift")
    [last] = await run_pass(app.core, day("2026-06-01"))  # day 91
    assert (last.trigger, last.points) == ("win_back_90", 300)
    async with app.core.unit_of_work() as uow:
        lot = (await uow.session.execute(select(PointLot).order_by(PointLot.id.desc()))).scalars().first()
    assert lot.expires_at == day("2026-06-01") + timedelta(days=14)
    clock.set(day("2026-06-01"))
    await app.outbox.send_due()
    assert "300 баллов" in outbox.to("42")[-1] and "до 15 июня 2026 г." in outbox.to("42")[-1]


async def test_a_purchase_starts_a_new_episode_and_a_pass_fires_once(app, chat, only, outbox):
    only("win_back_30")
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    assert len(await run_pass(app.core, day("2026-04-02"))) == 1
    assert await run_pass(app.core, day("2026-04-02")) == []  # the same pass again
    assert await run_pass(app.core, day("2026-04-03")) == []  # and the next day
    await buy(app, day("2026-04-05"), receipt="r2")
    assert await run_pass(app.core, day("2026-05-05")) == []  # day 30 of the new episode
    [again] = await run_pass(app.core, day("2026-05-06"))
    assert again.episode == "2026-04-05"
    assert [s.episode for s in await sends(app)] == ["2026-03-02", "2026-04-05"]
    assert await count(app, OutboxMessage) == 2


@pytest.mark.parametrize(("birthday", "pass_on", "episode"), [
    ("14.03.1990", "2026-03-11", "2026"),
    ("29.02.1992", "2027-02-25", "2027"),  # non-leap year: celebrated on 28 February
    ("29.02.1992", "2028-02-26", "2028"),  # leap year: on 29 February
    ("01.01.1990", "2026-12-29", "2027"),  # across New Year
])
async def test_birthday_three_days_before(app, chat, clock, only, outbox, birthday, pass_on,
                                          episode):
    only("birthday")
    await signed_up(chat, birthday)
    before = datetime.fromisoformat(pass_on).replace(tzinfo=UTC) + MORNING - timedelta(days=1)
    assert await run_pass(app.core, before) == []
    [greeting] = await run_pass(app.core, before + timedelta(days=1))
    assert (greeting.trigger, greeting.episode, greeting.points) == ("birthday", episode, 500)
    assert await run_pass(app.core, before + timedelta(days=2)) == []  # once a year
    clock.set(before + timedelta(days=1))
    await app.outbox.send_due()
    assert "скоро ваш день рождения" in outbox.to("42")[-1]


async def test_expiry_warning_ten_days_before(app, chat, only, outbox, clock):
    only("expiry_warning")
    await signed_up(chat)  # the welcome bonus: 100 points that burn in 90 days
    burns = clock.now() + timedelta(days=90)
    assert await run_pass(app.core, burns - timedelta(days=11)) == []
    [warning] = await run_pass(app.core, burns - timedelta(days=10))
    assert warning.trigger == "expiry_warning"
    assert await run_pass(app.core, burns - timedelta(days=9)) == []  # once per lot
    clock.set(burns - timedelta(days=10))
    await app.outbox.send_due()
    assert "100 баллов на вашей карте сгорят 31 мая 2026 г." in outbox.to("42")[-1]


async def test_opted_out_and_unconsented_customers_get_nothing(app, chat, only, outbox):
    only("win_back_30")
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(update(Customer).values(notify_reminders=False))
        await uow.commit()
    assert await run_pass(app.core, day("2026-04-02")) == []
    async with app.core.unit_of_work() as uow:
        # membership taken back by hand (the day book is not looked at here)
        await uow.session.execute(update(Customer).values(notify_reminders=True, registered_at=None)
                                  .execution_options(day_book=COUNTED))
        await uow.commit()
    assert await run_pass(app.core, day("2026-04-02")) == []
    assert await sends(app) == []


async def test_holdout_is_recorded_and_gets_nothing(app, chat, only, settings, outbox):
    only("win_back_60")
    settings.triggers.holdout_percent = 100
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    [planned] = await run_pass(app.core, day("2026-05-02"))
    assert (planned.held_out, planned.points, planned.action) == (True, 0, "held out")
    [send] = await sends(app)
    assert (send.held_out, send.outbox_message_id, send.points_given) == (True, None, 0)
    assert await count(app, OutboxMessage) == 0
    assert await run_pass(app.core, day("2026-05-03")) == []  # held out for the whole episode


async def test_quiet_hours_and_the_daily_cap(app, chat, only, outbox):
    only("win_back_30", "birthday")
    await signed_up(chat, "05.04.1990")
    await buy(app, day("2026-03-02"))
    late = datetime(2026, 4, 2, 19, 30, tzinfo=UTC)  # 22:30 in Moscow
    [first] = await run_pass(app.core, late)
    assert first.trigger == "birthday"  # the cap: one marketing message a day
    async with app.core.unit_of_work() as uow:
        message = (await uow.session.execute(select(OutboxMessage))).scalars().one()
    assert message.category == "marketing"
    assert message.not_before == datetime(2026, 4, 3, 7, 0, tzinfo=UTC)  # 10:00 the next morning
    # the cap counts the day the customer receives it: the 3rd has its message already
    assert await run_pass(app.core, day("2026-04-03")) == []
    [second] = await run_pass(app.core, day("2026-04-04"))
    assert second.trigger == "win_back_30"


async def test_preview_writes_nothing(app, chat, only, outbox):
    only("win_back_60")
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    [planned] = await run_pass(app.core, day("2026-05-02"), send=False)
    assert (planned.trigger, planned.points) == ("win_back_60", 300)
    assert await sends(app) == [] and await count(app, OutboxMessage) == 0
    assert await count(app, PointLot) == 1  # only the welcome bonus


async def test_cli_preview_prints_the_table(app, chat, only, settings, capsys):
    only("win_back_30")
    await signed_up(chat)
    await buy(app, day("2026-03-02"))
    async with app.core.unit_of_work() as uow:  # reachable by a channel the CLI builds too
        await uow.session.execute(update(Identity).values(channel="web"))
        await uow.commit()
    args = cli.parser().parse_args(["triggers", "preview", "--at", "2026-04-02T11:05"])
    assert await run_command(settings, args.triggers_command, args.at) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["trigger", "card", "why", "(episode)", "action", "points"]
    assert out[1].startswith("Win-back, 1st stage  ")
    _, _, _, _, *why, action, points = out[1].split()
    assert (why, action, points) == (["last", "purchase", "2026-03-02"], "message", "0")
    assert out[-2:] == ["Win-back, 1st stage: 1 message, 0 held out, 0 points",
                        "total: 1 message, 0 held out, 0 points it would cost"]
    assert await sends(app) == []


async def test_a_pass_goes_through_the_customers_in_id_ranges(app, chat, only, outbox, monkeypatch):
    only("win_back_30", "birthday")
    monkeypatch.setattr("bot.marketing.triggers.runner.ID_RANGE", 1)  # one customer per range
    for person in ("42", "43", "44"):
        await chat(person).sign_up(birthday="05.04.1990")
    async with app.core.unit_of_work() as uow:
        ids = list((await uow.session.execute(select(Customer.id).order_by(Customer.id))).scalars())
    for n, customer in enumerate(ids):
        await buy(app, day("2026-03-02"), receipt=f"r{n}", customer=customer)
    fired = await run_pass(app.core, day("2026-04-02"))
    assert sorted((p.customer_id, p.trigger) for p in fired) == [
        (customer, "birthday") for customer in ids]  # the cap: one a day, birthday first
    fired = await run_pass(app.core, day("2026-04-03"))
    assert sorted((p.customer_id, p.trigger) for p in fired) == [
        (customer, "win_back_30") for customer in ids]


def test_a_schedule_that_runs_into_quiet_hours_goes_on_in_the_morning(settings):
    from zoneinfo import ZoneInfo

    from bot.marketing.quiet_hours import past_quiet

    moscow, quiet = ZoneInfo("Europe/Moscow"), settings.triggers  # quiet 21:00–10:00
    evening = datetime(2026, 4, 2, 17, 59, tzinfo=UTC)  # 20:59 in Moscow: not quiet yet
    assert past_quiet(evening, quiet, moscow) == evening
    late = datetime(2026, 4, 2, 18, 0, 30, tzinfo=UTC)  # 30 s into the quiet hours
    assert past_quiet(late, quiet, moscow) == datetime(2026, 4, 3, 7, 0, 30, tzinfo=UTC)
    after_midnight = datetime(2026, 4, 2, 21, 30, tzinfo=UTC)  # 00:30, 3.5 h into them
    assert past_quiet(after_midnight, quiet, moscow) == datetime(2026, 4, 3, 10, 30, tzinfo=UTC)


# --- expiry warnings: one episode per burn day, told once, exactly ten shop days before ----------

async def gift(app, lifetime_days: float, points: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    async with app.core.unit_of_work() as uow:
        await Ledger(uow, FrozenClock(at)).earn(await customer_id(app), points, "gift",
                                                timedelta(days=lifetime_days))
        await uow.commit()


async def test_an_expiry_warning_tells_every_lot_of_its_day_once(app, chat, only, outbox, clock):
    only("expiry_warning")
    await signed_up(chat)  # the welcome bonus burns on 31 May
    given = day("2026-03-02")
    await gift(app, 60, 70, given)  # burns 1 May, 11:05
    await gift(app, 60, 30, given - timedelta(hours=9))  # 1 May, 02:05: the same shop day
    await gift(app, 63, 150, given)  # 4 May
    assert await run_pass(app.core, day("2026-04-20")) == []  # 11 days before
    [warning] = await run_pass(app.core, day("2026-04-21"))  # exactly 10 days before 1 May
    assert (warning.episode, warning.trigger) == ("2026-05-01", "expiry_warning")
    clock.set(day("2026-04-21"))
    await app.outbox.send_due()
    assert "100 баллов на вашей карте сгорят 1 мая 2026 г." in outbox.to("42")[-1]
    assert await run_pass(app.core, day("2026-04-22")) == []  # told once
    [later] = await run_pass(app.core, day("2026-04-24"))  # 10 days before 4 May
    assert later.episode == "2026-05-04"


async def test_the_first_lot_to_burn_is_the_episode_not_the_oldest(app, chat, only, outbox):
    only("expiry_warning")
    await signed_up(chat)
    await gift(app, 70, 50, day("2026-03-02"))  # the older lot burns later: 11 May
    await gift(app, 60, 20, day("2026-03-05"))  # the newer one first: 4 May
    [warning] = await run_pass(app.core, day("2026-04-24"))
    assert warning.episode == "2026-05-04"


async def test_a_held_out_burn_stays_held_out(app, chat, only, outbox, settings):
    only("expiry_warning")
    await signed_up(chat)
    await gift(app, 60, 70, day("2026-03-02"))
    await gift(app, 60, 30, day("2026-03-02") + timedelta(hours=1))  # the same day, a later lot
    settings.triggers.holdout_percent = 100
    [held] = await run_pass(app.core, day("2026-04-21"))
    assert held.held_out and held.episode == "2026-05-01"
    settings.triggers.holdout_percent = 0
    for later in ("2026-04-22", "2026-04-25", "2026-04-30"):
        assert await run_pass(app.core, day(later)) == []  # the control group stays clean
    assert await count(app, OutboxMessage) == 0


async def test_points_given_for_less_than_ten_days_are_not_warned_about(app, chat, only, outbox):
    only("expiry_warning")
    await signed_up(chat)
    await gift(app, 7, 300, day("2026-04-01"))  # the gift's own message says when it burns
    for moment in ("2026-04-01", "2026-04-03", "2026-04-07"):
        assert await run_pass(app.core, day(moment)) == []
