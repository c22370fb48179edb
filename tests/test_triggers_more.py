"""The balance digest on the 1st and 15th and holidays from the config's calendar, moving
the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from bot.config import Holiday
from bot.core.replies import Reply, Template, Text
from bot.marketing.triggers import run_pass
from bot.storage.models import Customer
from tests.test_triggers import day, only, sends, signed_up  # noqa: F401 - only is a fixture


@dataclass
class Phone:
    """The customer's channel: keeps the replies, buttons included."""

    name: str = "telegram"
    got: list[Reply] = field(default_factory=list)
    hints: list[Template] = field(default_factory=list)

    async def send(self, recipient: str, replies: list[Reply], message_id: int | None = None) -> None:
        self.got += [reply for reply in replies if not isinstance(reply, Template)]  # as Telegram
        self.hints += [reply for reply in replies if isinstance(reply, Template)]  # for WhatsApp

    deliver = send

    def text(self) -> str:
        last = self.got[-1]
        assert isinstance(last, Text)
        return last.text

    def payloads(self) -> list[str]:
        last = self.got[-1]
        assert isinstance(last, Text)
        return [button.payload for row in last.buttons for button in row]


@pytest.fixture
def phone(app) -> Phone:  # type: ignore[no-untyped-def]
    box = Phone()
    app.core.notifier.channels["telegram"] = box
    return box


async def delivered(app, clock, at: datetime) -> None:  # type: ignore[no-untyped-def]
    clock.set(at)
    await app.outbox.send_due()


# --- balance digest --------------------------------------------------------------------------

async def test_digest_on_the_1st_and_15th_once_a_date(app, chat, clock, only, phone):
    only("balance_digest")
    await signed_up(chat)  # the welcome bonus: 100 points
    assert await run_pass(app.core, day("2026-03-14")) == []
    [digest] = await run_pass(app.core, day("2026-03-15"))
    assert (digest.trigger, digest.episode, digest.points) == ("balance_digest", "2026-03-15", 0)
    assert await run_pass(app.core, day("2026-03-15") + timedelta(hours=5)) == []  # once a date
    await delivered(app, clock, day("2026-03-15"))
    text = phone.text()
    assert "100 баллов" in text and "Ваш уровень: Участник" in text
    assert "1 покупка до Серебряный" in text or "Серебр" in text
    [again] = await run_pass(app.core, day("2026-04-01"))
    assert again.episode == "2026-04-01"


async def test_digest_follows_its_own_opt_out_and_skips_empty_cards(app, chat, only, phone):
    only("balance_digest")
    await signed_up(chat)
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(update(Customer).values(notify_reminders=False))
        await uow.commit()
    assert len(await run_pass(app.core, day("2026-03-15"), send=False)) == 1  # reminders off: still
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(update(Customer).values(notify_reminders=True, notify_digest=False))
        await uow.commit()
    assert await run_pass(app.core, day("2026-03-15")) == []
    async with app.core.unit_of_work() as uow:
        await uow.session.execute(update(Customer).values(notify_digest=True))
        await uow.commit()
    assert await run_pass(app.core, day("2026-06-15")) == []  # the welcome bonus burnt, no purchase


# --- holidays --------------------------------------------------------------------------------

async def test_holiday_greeting_from_the_calendar_once_a_year(app, chat, clock, only, settings, phone):
    only("holidays")
    settings.triggers.holidays.dates = [Holiday(date="03-08", name="International Women's Day"),
                                        Holiday(date="04-12", name="Cosmonautics Day", gift_points=200)]
    await signed_up(chat)
    assert await run_pass(app.core, day("2026-03-07")) == []
    [greeting] = await run_pass(app.core, day("2026-03-08"))
    assert (greeting.trigger, greeting.episode, greeting.points) == ("holidays", "2026-03-08", 0)
    assert await run_pass(app.core, day("2026-03-08") + timedelta(hours=3)) == []
    await delivered(app, clock, day("2026-03-08"))
    assert "праздником — Международный женский день" in phone.text()
    [gift] = await run_pass(app.core, day("2026-04-12"))
    assert (gift.episode, gift.points, gift.action) == ("2026-04-12", 200, "gift")
    await delivered(app, clock, day("2026-04-12"))
    assert "Cosmonautics Day" in phone.text() and "200 баллов" in phone.text()
    hint = phone.hints[-1]  # the template WhatsApp sends instead outside its 24-hour window
    assert hint.key == "holidays"
    assert (dict(hint.params)["holiday"], dict(hint.params)["points"]) == ("Cosmonautics Day", "200 баллов")
    [next_year] = await run_pass(app.core, day("2027-03-08"))
    assert next_year.episode == "2027-03-08"


async def test_holiday_days_before_across_new_year(app, chat, clock, only, settings, phone):
    only("holidays")
    settings.triggers.holidays.days = 2
    settings.triggers.holidays.gift_points = 100
    await signed_up(chat)
    assert await run_pass(app.core, day("2026-12-29")) == []
    [greeting] = await run_pass(app.core, day("2026-12-30"))
    assert (greeting.episode, greeting.points) == ("2027-01-01", 100)
    assert await run_pass(app.core, day("2027-01-01")) == []  # the day itself: already greeted
    await delivered(app, clock, day("2026-12-30"))
    assert "праздником — Новый год" in phone.text() and "100 баллов" in phone.text()
    [next_year] = await run_pass(app.core, day("2027-12-30"))
    assert next_year.episode == "2028-01-01"
